// JsonWriter: a small append-only JSON writer (simdjson only parses).
//
// It writes compact JSON into a caller-owned std::string so hot loops can reuse one buffer.
// It does not check structure (the caller writes keys and values in a valid order); Comma()
// bookkeeping is the caller's via the first-field flag in Object()/Array() scopes.
//
// Hot paths (AppendRowJson) that know their whole output can also size the buffer once and
// write with the raw helpers below: JsonNeedsEscape, WriteJsonInt, WriteJsonDouble.
//
// Thread-safety: none; one writer per thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace spate {

namespace json_internal {

// True if any of the 8 bytes in `w` needs escaping: < 0x20, '"' or '\\'. SWAR: most strings
// need no escape at all, so checking eight bytes per step is what makes output cheap. Exact
// for "any byte": a false flag can only appear above a byte that really matches.
inline bool NeedsEscape8(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t slash = w ^ (kOnes * '\\');
  const uint64_t zero_quote = (quote - kOnes) & ~quote;
  const uint64_t zero_slash = (slash - kOnes) & ~slash;
  const uint64_t control = (w - kOnes * 0x20) & ~w;
  return ((zero_quote | zero_slash | control) & kHigh) != 0;
}

}  // namespace json_internal

// True if `s` holds a byte that a JSON string must escape (< 0x20, '"' or '\\').
inline bool JsonNeedsEscape(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (json_internal::NeedsEscape8(w)) return true;
  }
  if (n == 0) return false;
  uint64_t w = 0x2020202020202020ULL;  // Spaces never need escaping.
  std::memcpy(&w, p, n);
  return json_internal::NeedsEscape8(w);
}

// The general case of AppendJsonString: escapes as needed.
void AppendJsonStringEscaped(std::string& out, std::string_view s);

// Appends `s` as a quoted JSON string, escaping what RFC 8259 requires. Bytes >= 0x80 are
// copied as they are: callers pass valid UTF-8 (simdjson has validated it).
inline void AppendJsonString(std::string& out, std::string_view s) {
  if (JsonNeedsEscape(s)) return AppendJsonStringEscaped(out, s);
  const size_t at = out.size();
  out.resize(at + s.size() + 2);
  char* p = out.data() + at;
  *p = '"';
  std::memcpy(p + 1, s.data(), s.size());
  p[s.size() + 1] = '"';
}

// Raw writers for callers that sized the buffer: each writes at `p` and returns the end.
inline constexpr size_t kJsonIntMaxBytes = 20;     // "-9223372036854775808"
inline constexpr size_t kJsonDoubleMaxBytes = 32;  // Shortest round-trip form, or "null".
char* WriteJsonInt(char* p, int64_t v);
// JSON has no NaN/Inf: those are written as null.
char* WriteJsonDouble(char* p, double v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void BeginObject() {
    Separator();
    out_.push_back('{');
    first_ = true;
  }
  void EndObject() {
    out_.push_back('}');
    first_ = false;
  }
  void BeginArray() {
    Separator();
    out_.push_back('[');
    first_ = true;
  }
  void EndArray() {
    out_.push_back(']');
    first_ = false;
  }

  void Key(std::string_view key) {
    Separator();
    AppendJsonString(out_, key);
    out_.push_back(':');
    first_ = true;  // The value that follows takes no comma.
  }
  void String(std::string_view v) {
    Separator();
    AppendJsonString(out_, v);
  }
  void Int(int64_t v) {
    Separator();
    char buf[kJsonIntMaxBytes];
    out_.append(buf, WriteJsonInt(buf, v));
  }
  void Double(double v) {
    Separator();
    char buf[kJsonDoubleMaxBytes];
    out_.append(buf, WriteJsonDouble(buf, v));
  }
  void Bool(bool v) {
    Separator();
    out_.append(v ? "true" : "false");
  }
  void Null() {
    Separator();
    out_.append("null");
  }
  // Already-valid JSON text, copied verbatim.
  void Raw(std::string_view json) {
    Separator();
    out_.append(json);
  }

 private:
  void Separator() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace spate
