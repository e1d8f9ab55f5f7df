// Predicates over a Row's columns: --where / filter:, and the checks of data-quality rules.
//
// The language is a small SQL WHERE clause, parsed once at start into a tree that Matches()
// walks per row without allocating:
//
//   predicate := or ; or := and ('or' and)* ; and := not ('and' not)* ;
//   not := 'not' not | '(' predicate ')' | comparison
//   comparison := value op value | value [not] in (literal, ...)
//               | value [not] between value and value | value [not] like 'pattern'
//               | value [not] matches 'posix-extended-regex' | value is [not] empty
//   op := = | != | <> | < | <= | > | >=
//   value := column | 'text' | number | length(value) | lower(value) | upper(value)
//
// Keywords are case-insensitive; text literals use single quotes ('' inside for one quote);
// columns are kRowColumns (core/record.h) plus age_band (age / 10 * 10). Text compares
// byte-wise (ISO dates therefore compare as dates: dob < registered_date), numbers as
// numbers; comparing text with a number is an error at parse time, not a silent false, and
// so is lower(x) = 'Text' (never true). ingested_at is the row's event time in epoch
// milliseconds. length() counts characters (UTF-8); lower()/upper() fold ASCII letters. like
// is case-sensitive ('%' any run, '_' one character). matches is unanchored POSIX ERE
// (regcomp), without back-references, a repetition right after another ('a+?', 'a+*') or a
// count above 255: glibc takes exponential time or memory on those.
//
// Errors say where: "--where: at 12 ('contry'): unknown column 'contry' (did you mean
// 'country'?)". Positions count bytes from 1.
//
// Thread-safety: a parsed Predicate is immutable; Matches may run on any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"
#include "core/status.h"

namespace spate {

namespace expr {
struct Node;  // expr.cc
}

class Predicate {
 public:
  // Parses `text`; errors start with `what` ("--where", "rule valid_email").
  static Result<Predicate> Parse(std::string_view text, std::string_view what = "--where");

  Predicate(const Predicate&) = default;
  Predicate& operator=(const Predicate&) = default;
  Predicate(Predicate&&) noexcept = default;
  Predicate& operator=(Predicate&&) noexcept = default;
  ~Predicate();

  bool Matches(const Row& row) const;
  // The text it was parsed from.
  const std::string& text() const { return text_; }
  // The columns it reads, each once, in order of first use.
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  Predicate() = default;
  std::shared_ptr<const expr::Node> root_;
  std::string text_;
  std::vector<std::string> columns_;
};

// The value of age_band for `age`: its decade (37 -> 30); negative ages give 0.
inline int64_t AgeBand(int64_t age) { return age < 0 ? 0 : age / 10 * 10; }

}  // namespace spate
