// The --where language (Predicate::Parse, what --where, filter: and every rule's check go
// through) on arbitrary bytes, then the parsed predicate on rows made of the same bytes.
// Invariants (issue 19):
// - nothing escapes: no exception, no crash, no stack overflow, whatever the bytes (nesting
//   and length are bounded);
// - every failure is a message that starts with what was parsed and a position inside the
//   input ("--where: at N"), with no control bytes (it goes to a terminal and a log);
// - the same bytes give the same outcome;
// - a parsed predicate keeps its text, reads only known columns, each listed once, gives the
//   same answer twice and from a copy, and "not (TEXT)" (when it parses) gives the opposite;
// - the same bytes as a rule (ParseRule: JSON object or NAME:ACTION:CHECK) give a rule with a
//   valid name, or an error with a message; nothing escapes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "analytics/expr.h"
#include "analytics/rules.h"
#include "fuzz_check.h"

namespace {

spate::Result<spate::Predicate> Parse(std::string_view text) {
  try {
    return spate::Predicate::Parse(text);
  } catch (...) {
    FUZZ_CHECK(false, "an exception escaped Predicate::Parse");
  }
  return spate::Status::Fatal("unreachable");
}

bool KnownColumn(const std::string& name) {
  if (name == "age_band") return true;
  for (const char* column : spate::kRowColumns) {
    if (name == column) return true;
  }
  return false;
}

// A row whose text columns are pieces of the input (so like and matches see bytes the
// fuzzer chose) and whose numbers come from its first bytes.
spate::Row RowFrom(std::string_view text, size_t variant) {
  spate::Row row;
  size_t column = 0;
  for (std::string_view spate::Row::*member : spate::kRowTextColumns) {
    const size_t from = text.empty() ? 0 : (column * 7 + variant * 13) % (text.size() + 1);
    row.*member = text.substr(from, (column + variant) % 3 == 0 ? std::string_view::npos : 5);
    ++column;
  }
  const auto byte = [&](size_t i) -> int64_t {
    return text.empty() ? 0 : static_cast<unsigned char>(text[(i + variant) % text.size()]);
  };
  row.age = byte(0) - 20;
  row.latitude = static_cast<double>(byte(1)) / 2.5 - 50;
  row.longitude = -static_cast<double>(byte(2));
  row.ingested_at_ms = byte(3) * 1000003;
  return row;
}

void CheckRule(std::string_view text) {
  spate::Result<spate::QualityRule> rule = spate::Status::Fatal("");
  try {
    rule = spate::ParseRule(text);
  } catch (...) {
    FUZZ_CHECK(false, "an exception escaped ParseRule");
  }
  if (!rule.ok()) {
    FUZZ_CHECK(rule.status().message().rfind("rule", 0) == 0, "a rule error not naming the rule");
    return;
  }
  const std::string& name = rule->name;
  FUZZ_CHECK(!name.empty() && name.size() <= 48 && name[0] >= 'a' && name[0] <= 'z',
             "an invalid rule name accepted");
  for (const char c : name) {
    FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_',
               "an invalid rule name accepted");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckRule(text);
  spate::Result<spate::Predicate> parsed = Parse(text);
  spate::Result<spate::Predicate> again = Parse(text);
  FUZZ_CHECK(parsed.ok() == again.ok(), "the same bytes parsed differently");

  if (!parsed.ok()) {
    const std::string& message = parsed.status().message();
    FUZZ_CHECK(message == again.status().message(), "the same bytes failed differently");
    FUZZ_CHECK(message.rfind("--where: at ", 0) == 0, "an error without the option and position");
    const size_t position = std::strtoull(message.c_str() + 12, nullptr, 10);
    FUZZ_CHECK(position >= 1 && position <= size + 1, "an error position outside the input");
    for (const char c : message) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(u >= 0x20 && u != 0x7f, "a control byte in an error message");
    }
    return 0;
  }

  const spate::Predicate& predicate = parsed.value();
  FUZZ_CHECK(predicate.text() == text, "the predicate lost its text");
  const auto& columns = predicate.columns();
  for (size_t i = 0; i < columns.size(); ++i) {
    FUZZ_CHECK(KnownColumn(columns[i]), "an unknown column in columns()");
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(columns[i] != columns[j], "a column listed twice");
  }
  FUZZ_CHECK(predicate.columns() == again.value().columns(), "the same bytes, other columns");

  const spate::Predicate copy = predicate;
  const std::string negated_text = "not (" + std::string(text) + ")";
  spate::Result<spate::Predicate> negated = Parse(negated_text);
  for (size_t variant = 0; variant < 3; ++variant) {
    const spate::Row row = RowFrom(text, variant);
    const bool answer = predicate.Matches(row);
    FUZZ_CHECK(answer == predicate.Matches(row), "two answers for one row");
    FUZZ_CHECK(answer == copy.Matches(row), "a copy answered differently");
    FUZZ_CHECK(answer == again.value().Matches(row), "a second parse answered differently");
    if (negated.ok()) FUZZ_CHECK(negated.value().Matches(row) == !answer, "not (x) is not !x");
  }
  return 0;
}
