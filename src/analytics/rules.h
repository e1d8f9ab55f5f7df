// What decides, row by row, whether a row goes on to the sinks: the filter (--where), the
// data-quality rules (rule:) and the lateness bounds of the aggregations (aggregate.h).
//
// A rule is a named predicate a good row satisfies ("valid_email: email matches '^[^@]+@'"):
//   action reject: a row that breaks it becomes a dead letter whose reason starts with
//                  "rule NAME:" (so metrics class it as rule_NAME); it is not stored.
//   action count:  the row is stored and the violation counted.
// A row that fails the filter is dropped and counted as filtered (not rejected: nothing is
// wrong with it). A row whose event time (ingested_at) is older than an aggregation's
// watermark (the latest event time of the rows that got past the filter and the reject
// rules, this one included, less that aggregation's lateness) is a dead letter "late: ..."
// and not stored, so that every aggregate stays equal to a GROUP BY over the stored rows.
//
// Order: filter, then reject rules in declaration order (the first broken one is the
// reason), then count rules (all counted), then lateness.
//
// Config items (Config's `rule` list): a JSON object made from a YAML mapping,
//   {"name": "valid_email", "check": "email matches '^[^@]+@[^@]+$'", "action": "reject"}
// (action defaults to reject), or the flag shorthand "NAME:ACTION:CHECK".
//
// Thread-safety: RowGate is used by one thread (the process stage); counts() copies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/expr.h"
#include "core/record.h"
#include "core/status.h"

namespace spate {

struct AggregationSpec;

enum class RuleAction { kReject, kCount };

struct QualityRule {
  // [a-z][a-z0-9_]*, at most 43 bytes: with "rule_" in front it is the dead letters' reason
  // label, which ReasonClass cuts at 48.
  std::string name;
  Predicate check;  // A good row satisfies it.
  RuleAction action = RuleAction::kReject;
};

// Parses one config item (see above). Errors name the rule and what to fix.
Result<QualityRule> ParseRule(std::string_view item);

class RowGate {
 public:
  enum class Verdict { kKeep, kFiltered, kReject };

  // `aggregations` only for their lateness; the gate keeps what it needs.
  RowGate(std::optional<Predicate> filter, std::vector<QualityRule> rules,
          const std::vector<AggregationSpec>& aggregations);

  // True when the gate lets every row through unchecked (no filter, rules or lateness):
  // the pipeline then skips it.
  bool empty() const;

  // Decides for one row. On kReject, *reason is the dead letter's reason.
  Verdict Check(const Row& row, std::string* reason);

  struct Counts {
    uint64_t filtered = 0;
    uint64_t late = 0;
    std::vector<uint64_t> violations;  // Per rule, in rules() order.
  };
  const Counts& counts() const { return counts_; }
  const std::vector<QualityRule>& rules() const { return rules_; }

 private:
  std::optional<Predicate> filter_;
  std::vector<QualityRule> rules_;
  struct Lateness {
    std::string aggregation;
    int64_t lateness_ms;
  };
  std::vector<Lateness> lateness_;
  int64_t max_event_ms_ = INT64_MIN;  // The latest ingested_at seen.
  Counts counts_;
};

}  // namespace spate
