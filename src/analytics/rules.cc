#include "analytics/rules.h"

#include <simdjson.h>

#include <limits>
#include <utility>

#include <fmt/format.h>

#include "analytics/aggregate.h"
#include "core/clock.h"

namespace spate {

namespace {

constexpr size_t kMaxRuleName = 43;

bool ValidRuleName(std::string_view name) {
  if (name.empty() || name.size() > kMaxRuleName || name[0] < 'a' || name[0] > 'z') return false;
  for (const char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The name as a message may show it: the input's bytes, without control characters, cut.
std::string Shown(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (text.size() > 60) out += "...";
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

Result<QualityRule> MakeRule(std::string_view name, std::string_view action,
                             std::string_view check) {
  if (!ValidRuleName(name)) {
    return Status::Fatal(fmt::format(
        "rule '{}': a rule name is a lower-case letter, then lower-case letters, digits or _, "
        "at most {} bytes (it becomes a metric label)",
        Shown(name), kMaxRuleName));
  }
  RuleAction parsed_action = RuleAction::kReject;
  if (action == "reject") {
    parsed_action = RuleAction::kReject;
  } else if (action == "count") {
    parsed_action = RuleAction::kCount;
  } else {
    return Status::Fatal(
        fmt::format("rule {}: unknown action '{}': write reject or count", name, Shown(action)));
  }
  if (Trim(check).empty()) {
    return Status::Fatal(
        fmt::format("rule {}: no check: write the condition a good row satisfies, e.g. "
                    "email matches '^[^@]+@[^@]+$'",
                    name));
  }
  Result<Predicate> predicate = Predicate::Parse(check, fmt::format("rule {}", name));
  if (!predicate.ok()) return predicate.status();
  return QualityRule{std::string(name), std::move(predicate).value(), parsed_action};
}

Result<QualityRule> ParseJsonRule(std::string_view item) {
  namespace dom = simdjson::dom;
  const simdjson::padded_string padded(item);
  dom::parser parser;
  dom::element root;
  if (const auto err = parser.parse(padded).get(root)) {
    return Status::Fatal(
        fmt::format("rule: malformed JSON object: {}", simdjson::error_message(err)));
  }
  dom::object object;
  if (root.get_object().get(object)) {
    return Status::Fatal("rule: expected a JSON object with name, check and action");
  }
  std::optional<std::string_view> name, check, action;
  // Keys are checked before the name is known: errors name the rule when they can.
  std::string unknown;
  for (const dom::key_value_pair field : object) {
    std::optional<std::string_view>* slot = field.key == "name"     ? &name
                                            : field.key == "check"  ? &check
                                            : field.key == "action" ? &action
                                                                    : nullptr;
    if (slot == nullptr) {
      if (unknown.empty()) unknown = Shown(field.key);
      continue;
    }
    if (slot->has_value()) {
      return Status::Fatal(fmt::format("rule: '{}' given twice", field.key));
    }
    std::string_view value;
    if (field.value.get_string().get(value)) {
      return Status::Fatal(fmt::format("rule: '{}' must be a string", field.key));
    }
    *slot = value;
  }
  const std::string label = name ? Shown(*name) : std::string("(no name)");
  if (!unknown.empty()) {
    return Status::Fatal(
        fmt::format("rule {}: unknown key '{}' (name, check, action)", label, unknown));
  }
  if (!name) return Status::Fatal("rule: no name: give each rule a name");
  if (!check) return Status::Fatal(fmt::format("rule {}: no check", label));
  return MakeRule(*name, action.value_or("reject"), *check);
}

}  // namespace

Result<QualityRule> ParseRule(std::string_view item) {
  const std::string_view trimmed = Trim(item);
  if (!trimmed.empty() && trimmed.front() == '{') {
    try {  // simdjson's error-code API does not throw; padded_string may (out of memory).
      return ParseJsonRule(trimmed);
    } catch (const std::exception& e) {
      return Status::Fatal(fmt::format("rule: {}", e.what()));
    }
  }
  // NAME:ACTION:CHECK; the check may hold ':' itself.
  const size_t first = item.find(':');
  const size_t second = first == std::string_view::npos ? first : item.find(':', first + 1);
  if (second == std::string_view::npos) {
    return Status::Fatal(fmt::format(
        "rule '{}': write NAME:ACTION:CHECK, e.g. valid_email:reject:email matches '^[^@]+@'",
        Shown(item)));
  }
  return MakeRule(Trim(item.substr(0, first)), Trim(item.substr(first + 1, second - first - 1)),
                  item.substr(second + 1));
}

RowGate::RowGate(std::optional<Predicate> filter, std::vector<QualityRule> rules,
                 const std::vector<AggregationSpec>& aggregations)
    : filter_(std::move(filter)), rules_(std::move(rules)) {
  for (const AggregationSpec& spec : aggregations) {
    if (spec.lateness_ms >= 0) lateness_.push_back({spec.name, spec.lateness_ms});
  }
  counts_.violations.assign(rules_.size(), 0);
}

bool RowGate::empty() const { return !filter_ && rules_.empty() && lateness_.empty(); }

RowGate::Verdict RowGate::Check(const Row& row, std::string* reason) {
  if (filter_ && !filter_->Matches(row)) {
    ++counts_.filtered;
    return Verdict::kFiltered;
  }
  for (size_t i = 0; i < rules_.size(); ++i) {
    const QualityRule& rule = rules_[i];
    if (rule.action != RuleAction::kReject || rule.check.Matches(row)) continue;
    ++counts_.violations[i];
    if (reason != nullptr) {
      // The rule's own words, never the row's: the dead letter holds the row already.
      reason->assign("rule ");
      reason->append(rule.name);
      reason->append(": ");
      reason->append(rule.check.text());
    }
    return Verdict::kReject;
  }
  for (size_t i = 0; i < rules_.size(); ++i) {
    const QualityRule& rule = rules_[i];
    if (rule.action == RuleAction::kCount && !rule.check.Matches(row)) ++counts_.violations[i];
  }
  if (lateness_.empty()) return Verdict::kKeep;
  // The watermark follows the rows that reach it (not the filtered or rejected ones), and
  // this row moves it before it is judged: the newest row is never late.
  const int64_t event = row.ingested_at_ms;
  if (event > max_event_ms_) max_event_ms_ = event;
  for (const Lateness& bound : lateness_) {
    const int64_t watermark =
        max_event_ms_ < std::numeric_limits<int64_t>::min() + bound.lateness_ms
            ? std::numeric_limits<int64_t>::min()
            : max_event_ms_ - bound.lateness_ms;
    if (event >= watermark) continue;
    ++counts_.late;
    if (reason != nullptr) {
      *reason = fmt::format(
          "late: event time {} is before the watermark of aggregation {} ({}: the latest event "
          "time seen less its lateness of {} ms)",
          FormatIso8601Millis(event), bound.aggregation, FormatIso8601Millis(watermark),
          bound.lateness_ms);
    }
    return Verdict::kReject;
  }
  return Verdict::kKeep;
}

}  // namespace spate
