// Data-quality rules (analytics/rules.h): parsing the config items, and the RowGate's
// verdicts, reasons and counts, lateness with rows out of order included.
#include "analytics/rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analytics/aggregate.h"

namespace spate {
namespace {

constexpr int64_t k0900 = 1796547600000;  // 2026-12-06T09:00:00.000Z

Row MakeRow(std::string_view email, int64_t age, int64_t ingested_at_ms = k0900) {
  Row row;
  row.email = email;
  row.gender = "female";
  row.username = "bluebird";
  row.age = age;
  row.ingested_at_ms = ingested_at_ms;
  return row;
}

QualityRule Rule(std::string_view item) {
  Result<QualityRule> rule = ParseRule(item);
  EXPECT_TRUE(rule.ok()) << item << ": " << rule.status().message();
  return std::move(rule).value();
}

std::string RuleError(std::string_view item) {
  Result<QualityRule> rule = ParseRule(item);
  EXPECT_FALSE(rule.ok()) << "parsed: " << item;
  return rule.ok() ? "" : rule.status().message();
}

AggregationSpec Aggregation(std::string name, int64_t lateness_ms) {
  AggregationSpec spec;
  spec.name = std::move(name);
  spec.size_ms = spec.slide_ms = 60000;
  spec.lateness_ms = lateness_ms;
  return spec;
}

TEST(ParseRule, JsonObject) {
  Result<QualityRule> rule = ParseRule(
      R"({"name": "valid_email", "check": "email matches '^[^@]+@[^@]+$'", "action": "count"})");
  ASSERT_TRUE(rule.ok()) << rule.status().message();
  EXPECT_EQ(rule->name, "valid_email");
  EXPECT_EQ(rule->action, RuleAction::kCount);
  EXPECT_EQ(rule->check.text(), "email matches '^[^@]+@[^@]+$'");
  EXPECT_TRUE(rule->check.Matches(MakeRow("a@b", 1)));
  EXPECT_FALSE(rule->check.Matches(MakeRow("ab", 1)));

  // action defaults to reject; keys in any order; spaces around the object.
  Result<QualityRule> plain = ParseRule(R"(  {"check": "age >= 18", "name": "adult"} )");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->name, "adult");
  EXPECT_EQ(plain->action, RuleAction::kReject);
  EXPECT_EQ(plain->check.text(), "age >= 18");
  EXPECT_EQ(Rule(R"({"name":"r","check":"age > 1","action":"reject"})").action,
            RuleAction::kReject);
}

TEST(ParseRule, Shorthand) {
  QualityRule rule = Rule("valid_email:reject:email matches '^[^@]+@'");
  EXPECT_EQ(rule.name, "valid_email");
  EXPECT_EQ(rule.action, RuleAction::kReject);
  EXPECT_EQ(rule.check.text(), "email matches '^[^@]+@'");

  // The check keeps its own colons.
  QualityRule tz = Rule("tz_offset:count:timezone matches '^[+-][0-9]{1,2}:[0-9]{2}$'");
  EXPECT_EQ(tz.name, "tz_offset");
  EXPECT_EQ(tz.action, RuleAction::kCount);
  EXPECT_EQ(tz.check.text(), "timezone matches '^[+-][0-9]{1,2}:[0-9]{2}$'");
  Row row;
  row.timezone = "+5:45";
  EXPECT_TRUE(tz.check.Matches(row));
  row.timezone = "5:45";
  EXPECT_FALSE(tz.check.Matches(row));

  QualityRule spaced = Rule(" username_length : count : length(username) between 3 and 30");
  EXPECT_EQ(spaced.name, "username_length");
  EXPECT_EQ(spaced.action, RuleAction::kCount);
}

TEST(ParseRule, ErrorsNameTheRuleAndWhatToFix) {
  struct Case {
    const char* item;
    const char* message;
  };
  const Case cases[] = {
      {R"({"name": "valid_email", "check": "email is not empty", "severity": "high"})",
       "rule valid_email: unknown key 'severity' (name, check, action)"},
      {R"({"check": "email is not empty"})", "rule: no name"},
      {R"({"name": "valid_email"})", "rule valid_email: no check"},
      {R"({"name": "valid_email", "check": 3})", "rule: 'check' must be a string"},
      {R"({"name": "a", "name": "b", "check": "age > 1"})", "rule: 'name' given twice"},
      {R"({"name": "valid_email", "check": "email)", "rule: malformed JSON object"},
      {R"({"name": "valid_email", "check": "email is empty", "action": "drop"})",
       "rule valid_email: unknown action 'drop': write reject or count"},
      {R"({"name": "Valid-Email", "check": "age > 1"})",
       "rule 'Valid-Email': a rule name is a lower-case letter"},
      {R"({"name": "valid_email", "check": "emial is empty"})",
       "rule valid_email: at 1 ('emial'): unknown column 'emial' (did you mean 'email'?)"},
      {"valid_email:reject", "rule 'valid_email:reject': write NAME:ACTION:CHECK"},
      {"valid_email", "write NAME:ACTION:CHECK"},
      {"", "write NAME:ACTION:CHECK"},
      {"valid_email:drop:email is empty", "rule valid_email: unknown action 'drop'"},
      {"valid_email:Reject:email is empty", "unknown action 'Reject'"},
      {"valid_email:reject:", "rule valid_email: no check"},
      {"valid_email:reject:   ", "rule valid_email: no check"},
      {"1st:reject:age > 1", "rule '1st': a rule name is"},
      {":reject:age > 1", "rule '': a rule name is"},
      {"valid email:reject:age > 1", "rule 'valid email': a rule name is"},
      {"adult:reject:age >= '18'", "rule adult: at 1 ('age >= '18''): numeric column 'age'"},
      {"adult:count:age >=", "rule adult: at 7 (end): expected a column"},
  };
  for (const Case& c : cases) {
    const std::string message = RuleError(c.item);
    EXPECT_NE(message.find(c.message), std::string::npos)
        << c.item << "\n  got: " << message << "\n  want: " << c.message;
  }
  // Names: 43 bytes at most ("rule_" + name is a reason label, cut at 48).
  const std::string name43(43, 'a');
  EXPECT_TRUE(ParseRule(name43 + ":reject:age > 1").ok());
  EXPECT_NE(RuleError(name43 + "b:reject:age > 1").find("at most 43 bytes"), std::string::npos);
}

TEST(ParseRule, NeverThrowsOnBrokenJson) {
  const char* items[] = {"{",
                         "{]",
                         "{\"name\":",
                         "{\"name\": \"a\", \"check\": [1, 2]}",
                         "{\"name\": null, \"check\": \"age > 1\"}",
                         "{}",
                         "{\"\\u0000\": 1}",
                         "{\"name\": \"a\"} trailing"};
  for (const char* item : items) {
    Result<QualityRule> rule = ParseRule(item);
    EXPECT_FALSE(rule.ok()) << item;
    EXPECT_FALSE(rule.status().message().empty()) << item;
  }
}

TEST(RowGate, EmptyOnlyWithoutFilterRulesOrLateness) {
  EXPECT_TRUE(RowGate(std::nullopt, {}, {}).empty());
  EXPECT_TRUE(RowGate(std::nullopt, {}, {Aggregation("a", -1)}).empty());
  EXPECT_FALSE(RowGate(std::nullopt, {}, {Aggregation("a", 0)}).empty());
  EXPECT_FALSE(RowGate(Predicate::Parse("age > 1").value(), {}, {}).empty());
  EXPECT_FALSE(RowGate(std::nullopt, {Rule("r:count:age > 1")}, {}).empty());
}

TEST(RowGate, FilterThenRejectRulesInOrderThenCountRules) {
  std::vector<QualityRule> rules = {
      Rule("has_email:reject:email is not empty"),
      Rule("valid_email:reject:email matches '^[^@]+@[^@]+$'"),
      Rule("adult:count:age >= 18"),
      Rule("not_senior:count:age < 65"),
  };
  RowGate gate(Predicate::Parse("gender = 'female'").value(), std::move(rules), {});
  ASSERT_EQ(gate.rules().size(), 4u);
  std::string reason = "untouched";

  Row male = MakeRow("a@b.c", 30);
  male.gender = "male";
  EXPECT_EQ(gate.Check(male, &reason), RowGate::Verdict::kFiltered);
  EXPECT_EQ(reason, "untouched");

  // Breaks both reject rules: the first one declared is the reason.
  EXPECT_EQ(gate.Check(MakeRow("", 10), &reason), RowGate::Verdict::kReject);
  EXPECT_EQ(reason, "rule has_email: email is not empty");
  EXPECT_EQ(gate.Check(MakeRow("no-at-sign", 10), &reason), RowGate::Verdict::kReject);
  EXPECT_EQ(reason, "rule valid_email: email matches '^[^@]+@[^@]+$'");

  // Count rules: stored, every broken one counted.
  EXPECT_EQ(gate.Check(MakeRow("a@b.c", 10), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("a@b.c", 70), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("a@b.c", 40), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("a@b.c", 10), nullptr), RowGate::Verdict::kKeep);

  const RowGate::Counts& counts = gate.counts();
  EXPECT_EQ(counts.filtered, 1u);
  EXPECT_EQ(counts.late, 0u);
  // Rejected rows do not reach the count rules (ages 10 above were not counted twice).
  EXPECT_EQ(counts.violations, (std::vector<uint64_t>{1, 1, 2, 1}));
}

TEST(RowGate, EveryBrokenCountRuleIsCounted) {
  RowGate gate(std::nullopt,
               {Rule("short_name:count:length(username) >= 10"), Rule("adult:count:age >= 18"),
                Rule("has_email:count:email is not empty")},
               {});
  std::string reason;
  EXPECT_EQ(gate.Check(MakeRow("", 3), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("x@y", 30), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.counts().violations, (std::vector<uint64_t>{2, 1, 1}));
  EXPECT_EQ(gate.counts().filtered, 0u);
}

TEST(RowGate, LatenessFollowsTheRowsOutOfOrder) {
  // a: 60 s lateness, b: 10 s, c: none.
  RowGate gate(std::nullopt, {},
               {Aggregation("a", 60000), Aggregation("b", 10000), Aggregation("c", -1)});
  ASSERT_FALSE(gate.empty());
  std::string reason;
  auto check = [&](int64_t offset_ms) {
    reason.clear();
    return gate.Check(MakeRow("x@y", 30, k0900 + offset_ms), &reason);
  };
  using V = RowGate::Verdict;
  EXPECT_EQ(check(0), V::kKeep);
  EXPECT_EQ(check(-5000), V::kKeep);   // 5 s older: within both bounds.
  EXPECT_EQ(check(-10000), V::kKeep);  // Exactly on b's watermark: not late.
  EXPECT_EQ(check(-10001), V::kReject);
  EXPECT_EQ(reason,
            "late: event time 2026-12-06T08:59:49.999Z is before the watermark of aggregation b "
            "(2026-12-06T08:59:50.000Z: the latest event time seen less its lateness of 10000 ms)");
  EXPECT_EQ(check(20000), V::kKeep);  // Moves the watermarks 20 s on.
  EXPECT_EQ(check(5000), V::kReject);
  EXPECT_NE(reason.find("aggregation b (2026-12-06T09:00:10.000Z"), std::string::npos) << reason;
  EXPECT_EQ(check(-40000), V::kReject);  // On a's watermark, but 50 s behind b's.
  EXPECT_NE(reason.find("aggregation b ("), std::string::npos) << reason;
  EXPECT_EQ(check(-40001), V::kReject);  // a's watermark is 08:59:20 now.
  EXPECT_NE(reason.find("event time 2026-12-06T08:59:19.999Z is before the watermark of "
                        "aggregation a (2026-12-06T08:59:20.000Z"),
            std::string::npos)
      << reason;
  EXPECT_EQ(check(15000), V::kKeep);  // Older than the newest, within b's bound.
  EXPECT_EQ(gate.counts().late, 4u);
}

TEST(RowGate, EveryKeptRowMovesTheWatermark) {
  RowGate gate(std::nullopt, {}, {Aggregation("strict", 0)});
  std::string reason;
  EXPECT_EQ(gate.Check(MakeRow("x", 1, 5000), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("x", 1, 4999), &reason), RowGate::Verdict::kReject);
  EXPECT_EQ(gate.Check(MakeRow("x", 1, 5000), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("x", 1, 9000), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.Check(MakeRow("x", 1, 8999), &reason), RowGate::Verdict::kReject);
  EXPECT_EQ(gate.counts().late, 2u);
}

TEST(RowGate, FilteredAndRejectedRowsDoNotMoveTheWatermark) {
  RowGate gate(Predicate::Parse("age < 100").value(), {Rule("adult:reject:age >= 18")},
               {Aggregation("agg", 1000)});
  std::string reason;
  EXPECT_EQ(gate.Check(MakeRow("x", 30, k0900), &reason), RowGate::Verdict::kKeep);
  // Far in the future, but filtered out / rejected: nothing aggregates it.
  EXPECT_EQ(gate.Check(MakeRow("x", 120, k0900 + 3600000), &reason), RowGate::Verdict::kFiltered);
  EXPECT_EQ(gate.Check(MakeRow("x", 5, k0900 + 3600000), &reason), RowGate::Verdict::kReject);
  EXPECT_EQ(reason, "rule adult: age >= 18");  // Rules come before lateness.
  EXPECT_EQ(gate.Check(MakeRow("x", 30, k0900 - 500), &reason), RowGate::Verdict::kKeep);
  EXPECT_EQ(gate.counts().late, 0u);
  EXPECT_EQ(gate.counts().filtered, 1u);
  EXPECT_EQ(gate.counts().violations, (std::vector<uint64_t>{1}));
}

}  // namespace
}  // namespace spate
