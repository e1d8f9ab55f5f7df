#include "analytics/expr.h"

#include <regex.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace spate {
namespace expr {

// Limits that keep a hostile or mistyped --where from costing more than its parse: the
// parser recurses once per nesting level, and Matches and the destructor once per level of
// the tree it builds.
constexpr size_t kMaxInputBytes = 4096;
constexpr int kMaxDepth = 64;
// A `matches` pattern's size once its repetitions are expanded (glibc's regcomp copies the
// repeated part: '(a{100}){100}' builds 10,000 nodes, one more level a million).
constexpr uint64_t kMaxRegexSize = 10000;

enum class Fold : uint8_t { kNone, kLower, kUpper };

inline unsigned char FoldByte(unsigned char c, Fold fold) {
  if (fold == Fold::kLower && c >= 'A' && c <= 'Z') return static_cast<unsigned char>(c + 32);
  if (fold == Fold::kUpper && c >= 'a' && c <= 'z') return static_cast<unsigned char>(c - 32);
  return c;
}

// A text value: a column (read through its member pointer, no copy) or a literal, seen
// through lower()/upper() (ASCII letters only; done byte by byte while comparing, so a
// folded column costs no copy either).
struct Text {
  std::string_view Row::*column = nullptr;
  std::string literal;
  Fold fold = Fold::kNone;

  std::string_view Get(const Row& row) const {
    return column != nullptr ? row.*column : std::string_view(literal);
  }
};

enum class NumSource : uint8_t {
  kLiteral,
  kAge,
  kAgeBand,
  kLatitude,
  kLongitude,
  kIngestedAt,
  kLength
};

// Characters (UTF-8 code points), as SQL's length() counts them: every byte that does not
// continue a character.
inline size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// A number value. Numbers compare as doubles: ages, coordinates and epoch milliseconds (below
// 2^53) are all exact in one.
struct Num {
  NumSource source = NumSource::kLiteral;
  double literal = 0;
  std::string_view Row::*column = nullptr;  // kLength's text column.

  double Get(const Row& row) const {
    switch (source) {
      case NumSource::kLiteral:
        return literal;
      case NumSource::kAge:
        return static_cast<double>(row.age);
      case NumSource::kAgeBand:
        return static_cast<double>(AgeBand(row.age));
      case NumSource::kLatitude:
        return row.latitude;
      case NumSource::kLongitude:
        return row.longitude;
      case NumSource::kIngestedAt:
        return static_cast<double>(row.ingested_at_ms);
      case NumSource::kLength:
        return static_cast<double>(Utf8Length(row.*column));
    }
    return 0;
  }
};

enum class Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe };

template <typename T>
inline bool Apply(Op op, const T& a, const T& b) {
  switch (op) {
    case Op::kEq:
      return a == b;
    case Op::kNe:
      return a != b;
    case Op::kLt:
      return a < b;
    case Op::kLe:
      return a <= b;
    case Op::kGt:
      return a > b;
    case Op::kGe:
      return a >= b;
  }
  return false;
}

// Byte-wise three-way comparison (as memcmp: unsigned) of two folded texts.
inline int CompareText(std::string_view a, Fold fa, std::string_view b, Fold fb) {
  if (fa == Fold::kNone && fb == Fold::kNone) return a.compare(b);
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = FoldByte(static_cast<unsigned char>(a[i]), fa);
    const unsigned char y = FoldByte(static_cast<unsigned char>(b[i]), fb);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// True if `s` seen through `fold` equals `literal` (taken as it is).
inline bool EqualFolded(std::string_view s, Fold fold, std::string_view literal) {
  if (s.size() != literal.size()) return false;
  if (fold == Fold::kNone) return s == literal;
  for (size_t i = 0; i < s.size(); ++i) {
    if (FoldByte(static_cast<unsigned char>(s[i]), fold) != static_cast<unsigned char>(literal[i]))
      return false;
  }
  return true;
}

inline size_t NextChar(std::string_view s, size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

// A `like` pattern, looked at once: most patterns are a prefix ('abc%'), a suffix, a
// substring or an exact text, each a single comparison per row; the rest ('_', several
// '%') go through the general matcher. Case-sensitive, as in standard SQL and PostgreSQL.
struct Like {
  enum class Shape : uint8_t { kExact, kPrefix, kSuffix, kContains, kGeneral };
  Shape shape = Shape::kGeneral;
  std::string needle;   // Without its '%' for the simple shapes.
  std::string pattern;  // Runs of '%' made one.

  static Like Compile(std::string_view p) {
    Like like;
    for (const char c : p) {
      if (c == '%' && !like.pattern.empty() && like.pattern.back() == '%') continue;
      like.pattern.push_back(c);
    }
    const std::string_view q = like.pattern;
    if (q.find('_') == std::string_view::npos) {
      const bool lead = !q.empty() && q.front() == '%';
      const bool trail = q.size() > (lead ? 1u : 0u) && q.back() == '%';
      const std::string_view inner = q.substr(lead ? 1 : 0, q.size() - lead - trail);
      if (inner.find('%') == std::string_view::npos) {
        like.needle.assign(inner);
        like.shape = lead && trail ? Shape::kContains
                     : lead        ? Shape::kSuffix
                     : trail       ? Shape::kPrefix
                                   : Shape::kExact;
        // '%' alone matches everything: the general matcher says so without a special case.
        if (lead && q.size() == 1) like.shape = Shape::kGeneral;
      }
    }
    return like;
  }

  bool Matches(std::string_view s, Fold fold) const {
    switch (shape) {
      case Shape::kExact:
        return EqualFolded(s, fold, needle);
      case Shape::kPrefix:
        return s.size() >= needle.size() && EqualFolded(s.substr(0, needle.size()), fold, needle);
      case Shape::kSuffix:
        return s.size() >= needle.size() &&
               EqualFolded(s.substr(s.size() - needle.size()), fold, needle);
      case Shape::kContains:
        if (fold == Fold::kNone) return s.find(needle) != std::string_view::npos;
        break;
      case Shape::kGeneral:
        break;
    }
    return General(s, fold);
  }

  // '%' any run of characters, '_' one character (UTF-8), other bytes themselves. The
  // classic wildcard walk: on a mismatch, go back to just after the last '%' and let it
  // swallow one more character. At most |s| * |pattern| steps, no recursion.
  bool General(std::string_view s, Fold fold) const {
    const std::string_view p = pattern;
    size_t si = 0, pi = 0;
    size_t star_p = std::string_view::npos, star_s = 0;
    while (si < s.size()) {
      if (pi < p.size() && p[pi] == '%') {
        star_p = ++pi;
        star_s = si;
        continue;
      }
      if (pi < p.size() && p[pi] == '_') {
        si = NextChar(s, si);
        ++pi;
        continue;
      }
      if (pi < p.size() &&
          static_cast<unsigned char>(p[pi]) == FoldByte(static_cast<unsigned char>(s[si]), fold)) {
        ++si;
        ++pi;
        continue;
      }
      if (star_p == std::string_view::npos) return false;
      pi = star_p;
      star_s = NextChar(s, star_s);
      si = star_s;
    }
    while (pi < p.size() && p[pi] == '%') ++pi;
    return pi == p.size();
  }
};

// A compiled POSIX extended regular expression, freed with the last Predicate that holds it.
// regexec on one regex_t from several threads is safe (glibc locks inside it).
class Regex {
 public:
  Regex() = default;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() {
    if (compiled_) regfree(&re_);
  }

  // The error text, or "" once compiled.
  std::string Compile(const std::string& pattern) {
    const int rc = regcomp(&re_, pattern.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
      compiled_ = true;
      return "";
    }
    char buffer[256];
    regerror(rc, &re_, buffer, sizeof(buffer));
    regfree(&re_);
    return buffer;
  }

  // REG_STARTEND: the subject may hold NUL bytes; the regex sees all of it.
  bool Search(const std::string& s) const {
    regmatch_t range[1];
    range[0].rm_so = 0;
    range[0].rm_eo = static_cast<regoff_t>(s.size());
    return regexec(&re_, s.data(), 1, range, REG_STARTEND) == 0;
  }

 private:
  regex_t re_{};
  bool compiled_ = false;
};

enum class Kind : uint8_t {
  kAnd,
  kOr,
  kNot,
  kNumCompare,
  kTextCompare,
  kNumIn,
  kTextIn,
  kLike,
  kMatches,
  kEmpty
};

struct Node {
  Kind kind = Kind::kAnd;
  Op op = Op::kEq;
  bool negate = false;  // kNumIn, kTextIn, kLike, kMatches, kEmpty: the `not` form.
  std::vector<Node> children;
  Num num[2];
  Text text[2];
  std::vector<double> numbers;
  std::vector<std::string> texts;
  Like like;
  std::shared_ptr<const Regex> regex;

  bool Eval(const Row& row) const {
    switch (kind) {
      case Kind::kAnd:
        for (const Node& child : children) {
          if (!child.Eval(row)) return false;
        }
        return true;
      case Kind::kOr:
        for (const Node& child : children) {
          if (child.Eval(row)) return true;
        }
        return false;
      case Kind::kNot:
        return !children[0].Eval(row);
      case Kind::kNumCompare:
        return Apply(op, num[0].Get(row), num[1].Get(row));
      case Kind::kTextCompare:
        if (op == Op::kEq || op == Op::kNe) {
          // Equal texts have equal sizes whatever the fold: most rows stop here.
          const std::string_view a = text[0].Get(row), b = text[1].Get(row);
          const bool equal =
              a.size() == b.size() && CompareText(a, text[0].fold, b, text[1].fold) == 0;
          return equal == (op == Op::kEq);
        }
        return Apply(
            op, CompareText(text[0].Get(row), text[0].fold, text[1].Get(row), text[1].fold), 0);
      case Kind::kNumIn: {
        const double v = num[0].Get(row);
        const bool found = std::find(numbers.begin(), numbers.end(), v) != numbers.end();
        return found != negate;
      }
      case Kind::kTextIn: {
        const std::string_view v = text[0].Get(row);
        bool found = false;
        for (const std::string& item : texts) {
          if (EqualFolded(v, text[0].fold, item)) {
            found = true;
            break;
          }
        }
        return found != negate;
      }
      case Kind::kLike:
        return like.Matches(text[0].Get(row), text[0].fold) != negate;
      case Kind::kMatches: {
        // regexec wants a C string (sanitizers check up to its NUL even with REG_STARTEND),
        // and folded bytes for lower()/upper(): a copy into one buffer per thread, grown to
        // the longest value seen. (glibc's regexec itself still takes a lock and allocates
        // its match state per call: the price of POSIX regex, about 100 ns a row.)
        thread_local std::string subject;
        subject.assign(text[0].Get(row));
        if (text[0].fold != Fold::kNone) {
          for (char& c : subject) {
            c = static_cast<char>(FoldByte(static_cast<unsigned char>(c), text[0].fold));
          }
        }
        return regex->Search(subject) != negate;
      }
      case Kind::kEmpty:
        return text[0].Get(row).empty() != negate;
    }
    return false;
  }
};

namespace {

struct NumColumn {
  std::string_view name;
  NumSource source;
};
constexpr NumColumn kNumColumns[] = {{"age", NumSource::kAge},
                                     {"age_band", NumSource::kAgeBand},
                                     {"latitude", NumSource::kLatitude},
                                     {"longitude", NumSource::kLongitude},
                                     {"ingested_at", NumSource::kIngestedAt}};

// Text columns by name: kRowColumns without the numeric ones, in the order of
// kRowTextColumns (which is kRowColumns' order).
std::string_view Row::*TextColumn(std::string_view name) {
  size_t text_index = 0;
  for (const char* column : kRowColumns) {
    const std::string_view c = column;
    const bool numeric = std::any_of(std::begin(kNumColumns), std::end(kNumColumns),
                                     [&](const NumColumn& n) { return n.name == c; });
    if (numeric) continue;
    if (c == name) return kRowTextColumns[text_index];
    ++text_index;
  }
  return nullptr;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(FoldByte(static_cast<unsigned char>(c), Fold::kLower));
  return out;
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

enum class Tok : uint8_t { kIdent, kString, kNumber, kOp, kLParen, kRParen, kComma, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  size_t begin = 0, end = 0;  // Byte offsets into the input.
  std::string keyword;        // kIdent: lower-cased.
  std::string text;           // kString: the value, '' made one quote.
  double number = 0;
  Op op = Op::kEq;
};

// A value while parsing: its type, what computes it, and where it was written.
struct Value {
  bool is_text = false;
  Text text;
  Num num;
  size_t begin = 0, end = 0;
  bool literal = false;
  std::string column;  // The column it reads directly, for messages ("text column 'gender'").
};

class Parser {
 public:
  Parser(std::string_view input, std::string_view what) : input_(input), what_(what) {}

  std::optional<Node> Run(std::vector<std::string>& columns) {
    if (input_.size() > kMaxInputBytes) {
      Fail(kMaxInputBytes, kMaxInputBytes + 1,
           fmt::format("longer than {} bytes: shorten it", kMaxInputBytes));
      return std::nullopt;
    }
    if (!Tokenize()) return std::nullopt;
    if (tokens_.front().kind == Tok::kEnd) {
      Fail(input_.size(), input_.size(),
           "empty: write a condition such as gender = 'female' and age >= 30");
      return std::nullopt;
    }
    std::optional<Node> root = ParseOr();
    if (!root) return std::nullopt;
    if (Peek().kind != Tok::kEnd) {
      const Token& t = Peek();
      Fail(t.begin, t.end, "unexpected text after the condition: join conditions with and / or");
      return std::nullopt;
    }
    columns = std::move(columns_);
    return root;
  }

  const std::string& error() const { return error_; }

 private:
  // "--where: at 12 ('contry'): unknown column ..." (positions count bytes from 1).
  void Fail(size_t begin, size_t end, std::string_view message) {
    if (!error_.empty()) return;
    if (begin >= input_.size()) {
      error_ = fmt::format("{}: at {} (end): {}", what_, input_.size() + 1, message);
      return;
    }
    constexpr size_t kSnippet = 40;
    std::string snippet;
    const size_t stop = std::min(end, input_.size());
    for (size_t i = begin; i < stop && snippet.size() < kSnippet; ++i) {
      const unsigned char c = static_cast<unsigned char>(input_[i]);
      // The message goes to a terminal and a log: no control bytes from the input.
      snippet.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
    }
    if (stop > begin + kSnippet) snippet += "...";
    error_ = fmt::format("{}: at {} ('{}'): {}", what_, begin + 1, snippet, message);
  }

  bool Tokenize() {
    size_t i = 0;
    const std::string_view s = input_;
    while (true) {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
      Token t;
      t.begin = i;
      if (i == s.size()) {
        t.end = i;
        tokens_.push_back(std::move(t));
        return true;
      }
      const char c = s[i];
      if (IsIdentStart(c)) {
        while (i < s.size() && IsIdentChar(s[i])) ++i;
        t.kind = Tok::kIdent;
        t.keyword = Lower(s.substr(t.begin, i - t.begin));
      } else if (c == '\'') {
        t.kind = Tok::kString;
        ++i;
        while (true) {
          if (i == s.size()) {
            Fail(t.begin, i, "unterminated text literal: end it with '");
            return false;
          }
          if (s[i] == '\'') {
            if (i + 1 < s.size() && s[i + 1] == '\'') {
              t.text.push_back('\'');
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          t.text.push_back(s[i++]);
        }
      } else if (IsDigit(c) || ((c == '-' || c == '.') && i + 1 < s.size() &&
                                (IsDigit(s[i + 1]) || (s[i + 1] == '.' && c == '-')))) {
        if (!LexNumber(i, t)) return false;
      } else if (c == '-') {
        Fail(i, i + 1, "only number literals can be negative (-1.5); there is no arithmetic");
        return false;
      } else if (c == '(' || c == ')' || c == ',') {
        t.kind = c == '(' ? Tok::kLParen : c == ')' ? Tok::kRParen : Tok::kComma;
        ++i;
      } else if (c == '=' || c == '<' || c == '>' || c == '!') {
        t.kind = Tok::kOp;
        const char d = i + 1 < s.size() ? s[i + 1] : '\0';
        if (c == '=' && d == '=') {
          Fail(i, i + 2, "'==' is not an operator: write =");
          return false;
        }
        if (c == '!' && d != '=') {
          Fail(i, i + 1, "unexpected '!': write != or not");
          return false;
        }
        if (c == '=') {
          t.op = Op::kEq;
          i += 1;
        } else if (c == '!') {
          t.op = Op::kNe;
          i += 2;
        } else if (c == '<' && d == '>') {
          t.op = Op::kNe;
          i += 2;
        } else if (d == '=') {
          t.op = c == '<' ? Op::kLe : Op::kGe;
          i += 2;
        } else {
          t.op = c == '<' ? Op::kLt : Op::kGt;
          i += 1;
        }
      } else if (c == '"') {
        size_t close = s.find('"', i + 1);
        close = close == std::string_view::npos ? s.size() : close + 1;
        Fail(i, close, "text literals take single quotes ('female'), not double quotes");
        return false;
      } else {
        Fail(i, NextChar(s, i), "unexpected character");  // The whole UTF-8 character.
        return false;
      }
      t.end = i;
      tokens_.push_back(std::move(t));
    }
  }

  // -?digits[.digits] or -?.digits, not followed by a letter, digit or another '.'.
  bool LexNumber(size_t& i, Token& t) {
    const std::string_view s = input_;
    const size_t start = i;
    if (s[i] == '-') ++i;
    size_t digits = 0, fraction = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
    const bool dot = i < s.size() && s[i] == '.';
    if (dot) {
      ++i;
      while (i < s.size() && IsDigit(s[i])) ++i, ++fraction;
    }
    size_t stop = i;
    while (stop < s.size() && (IsIdentChar(s[stop]) || s[stop] == '.')) ++stop;
    if (stop != i || digits + fraction == 0 || (dot && fraction == 0)) {
      Fail(start, stop, "malformed number: write digits with at most one '.', such as 30 or -1.5");
      return false;
    }
    const auto [end, ec] = std::from_chars(s.data() + start, s.data() + i, t.number);
    if (ec != std::errc() || end != s.data() + i || !std::isfinite(t.number)) {
      Fail(start, i, "number out of range");
      return false;
    }
    t.kind = Tok::kNumber;
    return true;
  }

  const Token& Peek() const { return tokens_[next_]; }
  const Token& Take() {
    const Token& t = tokens_[next_];
    if (t.kind != Tok::kEnd) ++next_;
    return t;
  }
  bool IsKeyword(const Token& t, std::string_view word) const {
    return t.kind == Tok::kIdent && t.keyword == word;
  }
  bool TakeKeyword(std::string_view word) {
    if (!IsKeyword(Peek(), word)) return false;
    Take();
    return true;
  }

  // One more level of nesting (not, parentheses, functions); false past the limit.
  bool Enter(const Token& at) {
    if (++depth_ <= kMaxDepth) return true;
    Fail(at.begin, at.end, fmt::format("nested more than {} levels deep", kMaxDepth));
    return false;
  }

  std::optional<Node> ParseOr() {
    std::optional<Node> first = ParseAnd();
    if (!first || !IsKeyword(Peek(), "or")) return first;
    Node node;
    node.kind = Kind::kOr;
    node.children.push_back(std::move(*first));
    while (TakeKeyword("or")) {
      std::optional<Node> next = ParseAnd();
      if (!next) return std::nullopt;
      node.children.push_back(std::move(*next));
    }
    return node;
  }

  std::optional<Node> ParseAnd() {
    std::optional<Node> first = ParseNot();
    if (!first || !IsKeyword(Peek(), "and")) return first;
    Node node;
    node.kind = Kind::kAnd;
    node.children.push_back(std::move(*first));
    while (TakeKeyword("and")) {
      std::optional<Node> next = ParseNot();
      if (!next) return std::nullopt;
      node.children.push_back(std::move(*next));
    }
    return node;
  }

  std::optional<Node> ParseNot() {
    const Token& t = Peek();
    if (IsKeyword(t, "not")) {
      Take();
      if (!Enter(t)) return std::nullopt;
      std::optional<Node> inner = ParseNot();
      --depth_;
      if (!inner) return std::nullopt;
      Node node;
      node.kind = Kind::kNot;
      node.children.push_back(std::move(*inner));
      return node;
    }
    if (t.kind == Tok::kLParen) {
      Take();
      if (!Enter(t)) return std::nullopt;
      std::optional<Node> inner = ParseOr();
      --depth_;
      if (!inner) return std::nullopt;
      const Token& close = Peek();
      if (close.kind != Tok::kRParen) {
        Fail(close.begin, close.end,
             fmt::format("expected ')' to close the '(' at {}", t.begin + 1));
        return std::nullopt;
      }
      Take();
      return inner;
    }
    return ParseComparison();
  }

  void NoteColumn(std::string_view name) {
    if (std::find(columns_.begin(), columns_.end(), name) == columns_.end()) {
      columns_.emplace_back(name);
    }
  }

  std::optional<Value> ParseValue() {
    const Token& t = Take();
    Value v;
    v.begin = t.begin;
    v.end = t.end;
    switch (t.kind) {
      case Tok::kString:
        v.is_text = true;
        v.literal = true;
        v.text.literal = t.text;
        return v;
      case Tok::kNumber:
        v.literal = true;
        v.num.literal = t.number;
        return v;
      case Tok::kIdent:
        break;
      case Tok::kEnd:
        Fail(t.begin, t.end, "expected a column, a 'text', a number or a function");
        return std::nullopt;
      default:
        Fail(t.begin, t.end, "expected a column, a 'text', a number or a function here");
        return std::nullopt;
    }
    static constexpr std::string_view kKeywords[] = {"and",  "or", "not",     "in",   "between",
                                                     "like", "is", "matches", "empty"};
    if (std::find(std::begin(kKeywords), std::end(kKeywords), t.keyword) != std::end(kKeywords)) {
      Fail(t.begin, t.end,
           fmt::format("expected a column, a 'text', a number or a function, found '{}'",
                       t.keyword));
      return std::nullopt;
    }
    if (Peek().kind == Tok::kLParen) return ParseFunction(t);
    for (const NumColumn& n : kNumColumns) {
      if (n.name == t.keyword) {
        v.num.source = n.source;
        v.column = t.keyword;
        NoteColumn(t.keyword);
        return v;
      }
    }
    if (std::string_view Row::*member = TextColumn(t.keyword)) {
      v.is_text = true;
      v.text.column = member;
      v.column = t.keyword;
      NoteColumn(t.keyword);
      return v;
    }
    std::string message = fmt::format("unknown column '{}'", t.keyword);
    if (t.keyword == "length" || t.keyword == "lower" || t.keyword == "upper") {
      message += fmt::format(" (a function: write {}(column))", t.keyword);
    } else if (std::string near = Nearest(t.keyword); !near.empty()) {
      message += fmt::format(" (did you mean '{}'?)", near);
    } else {
      message += fmt::format(
          " (columns: those of created_users and age_band; a text goes in single quotes: '{}')",
          input_.substr(t.begin, t.end - t.begin));
    }
    Fail(t.begin, t.end, message);
    return std::nullopt;
  }

  static std::string Nearest(std::string_view word) {
    std::string best;
    size_t best_distance = 3;  // Suggest only what is one or two edits away.
    auto consider = [&](std::string_view name) {
      const size_t d = EditDistance(word, name);
      if (d < best_distance && d < word.size()) {
        best_distance = d;
        best = name;
      }
    };
    for (const char* column : kRowColumns) consider(column);
    consider("age_band");
    return best;
  }

  std::optional<Value> ParseFunction(const Token& name) {
    const bool length = name.keyword == "length";
    const Fold fold = name.keyword == "lower"   ? Fold::kLower
                      : name.keyword == "upper" ? Fold::kUpper
                                                : Fold::kNone;
    if (!length && fold == Fold::kNone) {
      Fail(name.begin, name.end,
           fmt::format("unknown function '{}' (length, lower, upper)", name.keyword));
      return std::nullopt;
    }
    const Token& open = Take();
    if (!Enter(open)) return std::nullopt;
    std::optional<Value> arg = ParseValue();
    --depth_;
    if (!arg) return std::nullopt;
    const Token& close = Peek();
    if (close.kind != Tok::kRParen) {
      Fail(close.begin, close.end,
           fmt::format("expected ')' to close {}( at {}", name.keyword, open.begin + 1));
      return std::nullopt;
    }
    Take();
    if (!arg->is_text) {
      Fail(arg->begin, arg->end,
           fmt::format("{}() takes text, and {} is a number", name.keyword,
                       arg->column.empty() ? "this" : "'" + arg->column + "'"));
      return std::nullopt;
    }
    Value v = std::move(*arg);
    v.begin = name.begin;
    v.end = close.end;
    v.column.clear();
    if (length) {
      // lower/upper change no length: length(lower(x)) is length(x).
      v.is_text = false;
      if (v.literal) {
        v.num.literal = static_cast<double>(Utf8Length(v.text.literal));
      } else {
        v.num.source = NumSource::kLength;
        v.num.column = v.text.column;
      }
      v.text = Text{};
      return v;
    }
    if (v.literal) {  // Folded once here, not per row.
      for (char& c : v.text.literal)
        c = static_cast<char>(FoldByte(static_cast<unsigned char>(c), fold));
    } else {
      v.text.fold = fold;  // The outer function wins: lower(upper(x)) is lower(x).
    }
    return v;
  }

  // A literal that lower(x) (upper(x)) is compared with for equality can never match if it
  // has upper-case (lower-case) letters: say so rather than filter out every row.
  bool CheckFoldable(const Value& subject, std::string_view literal, size_t begin, size_t end) {
    const Fold fold = subject.text.fold;
    if (fold == Fold::kNone || subject.literal) return true;
    for (const char c : literal) {
      if (FoldByte(static_cast<unsigned char>(c), fold) != static_cast<unsigned char>(c)) {
        const char* which = fold == Fold::kLower ? "lower" : "upper";
        Fail(begin, end,
             fmt::format("{}(...) never equals a text with {} letters: write it in {} case", which,
                         fold == Fold::kLower ? "upper-case" : "lower-case", which));
        return false;
      }
    }
    return true;
  }

  // The two sides of a comparison must have one type.
  bool SameType(const Value& a, const Value& b, size_t begin, size_t end) {
    if (a.is_text == b.is_text) return true;
    const Value& text = a.is_text ? a : b;
    const Value& number = a.is_text ? b : a;
    std::string message;
    if (!text.column.empty()) {
      message = fmt::format("text column '{}' compared with a number", text.column);
      if (number.literal) message += ": quote the number ('30') to compare text";
    } else if (!number.column.empty()) {
      message = fmt::format("numeric column '{}' compared with text", number.column);
      if (number.column == "ingested_at") {
        message += ": ingested_at is epoch milliseconds (1796547600000)";
      } else if (text.literal) {
        message += ": write the number without quotes";
      }
    } else {
      message = "text compared with a number";
    }
    Fail(begin, end, message);
    return false;
  }

  static Node Compare(const Value& a, Op op, const Value& b) {
    Node node;
    node.op = op;
    if (a.is_text) {
      node.kind = Kind::kTextCompare;
      node.text[0] = a.text;
      node.text[1] = b.text;
    } else {
      node.kind = Kind::kNumCompare;
      node.num[0] = a.num;
      node.num[1] = b.num;
    }
    return node;
  }

  std::optional<Node> ParseComparison() {
    std::optional<Value> a = ParseValue();
    if (!a) return std::nullopt;
    const Token& t = Peek();
    if (t.kind == Tok::kOp) {
      Take();
      std::optional<Value> b = ParseValue();
      if (!b) return std::nullopt;
      if (!SameType(*a, *b, a->begin, b->end)) return std::nullopt;
      if (a->is_text && (t.op == Op::kEq || t.op == Op::kNe)) {
        if (b->literal && !CheckFoldable(*a, b->text.literal, b->begin, b->end))
          return std::nullopt;
        if (a->literal && !CheckFoldable(*b, a->text.literal, a->begin, a->end))
          return std::nullopt;
      }
      return Compare(*a, t.op, *b);
    }
    const bool negate = TakeKeyword("not");
    const Token& word = Peek();
    if (IsKeyword(word, "in")) {
      Take();
      return ParseIn(*a, negate);
    }
    if (IsKeyword(word, "between")) {
      Take();
      return ParseBetween(*a, negate);
    }
    if (IsKeyword(word, "like") || IsKeyword(word, "matches")) {
      const bool like = word.keyword == "like";
      Take();
      return ParsePattern(*a, negate, like);
    }
    if (!negate && IsKeyword(word, "is")) {
      Take();
      const bool is_not = TakeKeyword("not");
      const Token& empty = Peek();
      if (!IsKeyword(empty, "empty")) {
        Fail(empty.begin, empty.end, "expected 'empty' (is empty, is not empty)");
        return std::nullopt;
      }
      Take();
      if (!a->is_text) {
        Fail(a->begin, empty.end, "is empty applies to text, and this is a number");
        return std::nullopt;
      }
      Node node;
      node.kind = Kind::kEmpty;
      node.negate = is_not;
      node.text[0] = a->text;
      return node;
    }
    Fail(word.begin, word.end,
         negate ? "expected in, between, like or matches after not"
                : "expected an operator (=, !=, <, <=, >, >=, in, between, like, matches, is)");
    return std::nullopt;
  }

  std::optional<Node> ParseIn(const Value& a, bool negate) {
    const Token& open = Take();
    if (open.kind != Tok::kLParen) {
      Fail(open.begin, open.end, "expected '(' and a list after in: in ('Germany', 'France')");
      return std::nullopt;
    }
    Node node;
    node.kind = a.is_text ? Kind::kTextIn : Kind::kNumIn;
    node.negate = negate;
    node.text[0] = a.text;
    node.num[0] = a.num;
    while (true) {
      const Token& item = Take();
      if (item.kind != Tok::kString && item.kind != Tok::kNumber) {
        Fail(item.begin, item.end, "expected a 'text' or a number in the list");
        return std::nullopt;
      }
      Value literal;
      literal.literal = true;
      literal.is_text = item.kind == Tok::kString;
      if (!SameType(a, literal, item.begin, item.end)) return std::nullopt;
      if (a.is_text) {
        if (!CheckFoldable(a, item.text, item.begin, item.end)) return std::nullopt;
        node.texts.push_back(item.text);
      } else {
        node.numbers.push_back(item.number);
      }
      const Token& next = Take();
      if (next.kind == Tok::kRParen) break;
      if (next.kind != Tok::kComma) {
        Fail(next.begin, next.end, "expected ',' or ')' in the list");
        return std::nullopt;
      }
    }
    return node;
  }

  std::optional<Node> ParseBetween(const Value& a, bool negate) {
    std::optional<Value> low = ParseValue();
    if (!low) return std::nullopt;
    if (!SameType(a, *low, a.begin, low->end)) return std::nullopt;
    const Token& and_word = Peek();
    if (!IsKeyword(and_word, "and")) {
      Fail(and_word.begin, and_word.end, "expected and: between LOW and HIGH");
      return std::nullopt;
    }
    Take();
    std::optional<Value> high = ParseValue();
    if (!high) return std::nullopt;
    if (!SameType(a, *high, a.begin, high->end)) return std::nullopt;
    Node both;
    both.kind = Kind::kAnd;
    both.children.push_back(Compare(a, Op::kGe, *low));
    both.children.push_back(Compare(a, Op::kLe, *high));
    if (!negate) return both;
    Node node;
    node.kind = Kind::kNot;
    node.children.push_back(std::move(both));
    return node;
  }

  std::optional<Node> ParsePattern(const Value& a, bool negate, bool like) {
    const Token& p = Take();
    const char* word = like ? "like" : "matches";
    if (p.kind != Tok::kString) {
      Fail(p.begin, p.end, fmt::format("expected a 'pattern' after {}", word));
      return std::nullopt;
    }
    if (!a.is_text) {
      Fail(a.begin, p.end, fmt::format("{} applies to text, and this is a number", word));
      return std::nullopt;
    }
    Node node;
    node.negate = negate;
    node.text[0] = a.text;
    if (like) {
      std::string letters = p.text;
      std::erase_if(letters, [](char c) { return c == '%' || c == '_'; });
      if (!CheckFoldable(a, letters, p.begin, p.end)) return std::nullopt;
      node.kind = Kind::kLike;
      node.like = Like::Compile(p.text);
      return node;
    }
    if (std::string why = CheckRegex(p.text); !why.empty()) {
      Fail(p.begin, p.end, why);
      return std::nullopt;
    }
    auto regex = std::make_shared<Regex>();
    if (std::string why = regex->Compile(p.text); !why.empty()) {
      Fail(p.begin, p.end, fmt::format("bad regular expression: {}", why));
      return std::nullopt;
    }
    node.kind = Kind::kMatches;
    node.regex = std::move(regex);
    return node;
  }

  // What regcomp is not asked to take: NUL bytes (it reads a C string), back-references
  // (glibc matches them by backtracking, exponential on some inputs), a repetition right
  // after another ('a+*', 'a+?': undefined in POSIX, and glibc's regcomp takes exponential
  // time on 'a*+*+*+...'), and patterns whose repetitions would expand past kMaxRegexSize
  // (glibc copies a repeated part per repetition; nested ones multiply). The size is an
  // upper bound: an atom counts 1, a group the sum of its parts, x{m,n} max(m,n) times x,
  // and x*, x+, x? twice x.
  static std::string CheckRegex(std::string_view p) {
    if (p.find('\0') != std::string_view::npos) return "a pattern cannot hold a NUL byte";
    std::vector<uint64_t> sums(1, 0);  // Per open group, the size of its parts so far.
    uint64_t last = 0;                 // Size of what a repetition would apply to.
    bool after_repeat = false;
    auto atom = [&] {
      last = 1;
      sums.back() += 1;
      after_repeat = false;
    };
    for (size_t i = 0; i < p.size(); ++i) {
      const char c = p[i];
      uint64_t times = 0;  // Set for a repetition.
      if (c == '\\') {
        if (i + 1 < p.size() && p[i + 1] >= '1' && p[i + 1] <= '9') {
          return "back-references (\\1) are not supported";
        }
        ++i;
        atom();
      } else if (c == '(') {
        if (sums.size() > static_cast<size_t>(kMaxDepth)) {
          return fmt::format("groups nested more than {} levels deep", kMaxDepth);
        }
        sums.push_back(0);
        last = 0;
        after_repeat = false;
      } else if (c == ')') {
        if (sums.size() == 1) {  // An unmatched ')': regcomp says what it thinks of it.
          atom();
          continue;
        }
        last = sums.back() + 1;
        sums.pop_back();
        sums.back() += last;
        after_repeat = false;
      } else if (c == '[') {
        size_t j = i + 1;
        if (j < p.size() && p[j] == '^') ++j;
        if (j < p.size() && p[j] == ']') ++j;
        while (j < p.size() && p[j] != ']') {
          if (p[j] == '[' && j + 1 < p.size() &&
              (p[j + 1] == ':' || p[j + 1] == '=' || p[j + 1] == '.')) {
            const char kind = p[j + 1];
            size_t close = j + 2;
            while (close + 1 < p.size() && !(p[close] == kind && p[close + 1] == ']')) ++close;
            j = close + 2;
            continue;
          }
          ++j;
        }
        i = std::min(j, p.size());
        atom();
      } else if (c == '{') {
        // An interval: {m}, {m,}, {m,n} or glibc's {,n}. glibc reads its digits and comma
        // escaped or not ('{,\022220}' is {0,22220}), and only an unescaped '}' ends it;
        // anything else in it is an error regcomp reports. Counts saturate: past 255 is
        // refused anyway.
        size_t j = i + 1;
        uint64_t m = 0, n = 0;
        bool has_m = false, comma = false, has_n = false, valid = true;
        for (; j < p.size() && p[j] != '}'; ++j) {
          char d = p[j];
          if (d == '\\' && j + 1 < p.size()) d = p[++j];
          if (d == ',' && !comma) {
            comma = true;
          } else if (IsDigit(d)) {
            uint64_t& count = comma ? n : m;
            count = std::min<uint64_t>(count * 10 + static_cast<uint64_t>(d - '0'), 1000000);
            (comma ? has_n : has_m) = true;
          } else {
            valid = false;
          }
        }
        if (!valid || j >= p.size() || (!has_m && !comma)) {
          atom();  // Not an interval: its bytes are read as they come.
          continue;
        }
        const bool open_end = comma && !has_n;
        times = std::max<uint64_t>({m, n, open_end ? std::max<uint64_t>(m + 1, 2) : 1});
        if (times > 255) return "repetition counts above 255 are not supported";
        i = j;
      } else if (c == '*' || c == '+' || c == '?') {
        times = 2;
      } else if (c == '|' || c == '^' || c == '$') {
        last = 0;
        after_repeat = false;
      } else {
        atom();
      }
      if (times != 0) {
        if (after_repeat) {
          return "a repetition (*, +, ?, {n}) cannot follow another: group the first, (a+)*; "
                 "POSIX has no lazy a+? or possessive a++";
        }
        after_repeat = true;
        sums.back() += last * (times - 1);
        last *= times;
      }
      if (sums.back() > kMaxRegexSize || last > kMaxRegexSize) {
        return fmt::format(
            "the pattern's repetitions expand to more than {} parts: use smaller counts",
            kMaxRegexSize);
      }
    }
    return "";
  }

  std::string_view input_;
  std::string_view what_;
  std::vector<Token> tokens_;
  size_t next_ = 0;
  int depth_ = 0;
  std::vector<std::string> columns_;
  std::string error_;
};

}  // namespace
}  // namespace expr

Result<Predicate> Predicate::Parse(std::string_view text, std::string_view what) {
  expr::Parser parser(text, what);
  std::vector<std::string> columns;
  std::optional<expr::Node> root = parser.Run(columns);
  if (!root) return Status::Fatal(parser.error());
  Predicate predicate;
  predicate.root_ = std::make_shared<const expr::Node>(std::move(*root));
  predicate.text_.assign(text);
  predicate.columns_ = std::move(columns);
  return predicate;
}

Predicate::~Predicate() = default;

bool Predicate::Matches(const Row& row) const { return root_->Eval(row); }

}  // namespace spate
