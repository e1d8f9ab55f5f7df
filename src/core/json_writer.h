// JsonWriter: a small append-only JSON writer (simdjson only parses).
//
// It writes compact JSON into a caller-owned std::string so hot loops can reuse one buffer.
// It does not check structure (the caller writes keys and values in a valid order); Comma()
// bookkeeping is the caller's via the first-field flag in Object()/Array() scopes.
//
// Hot paths (AppendRowJson) that know their whole output can also size the buffer once and
// write with the raw helpers below: CopyJsonChars, WriteJsonInt, WriteJsonDouble.
//
// Thread-safety: none; one writer per thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace spate {

namespace json_internal {

// The high bit of each of the 8 bytes in `w` that needs escaping (< 0x20, '"' or '\\') is set.
// SWAR: most strings need no escape at all, so checking eight bytes per step is what makes
// output cheap. Exact for "any byte": a false flag can only appear above a byte that really
// matches, so the mask is zero exactly when no byte needs escaping.
inline uint64_t EscapeMask8(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t quote = w ^ (kOnes * '"');
  const uint64_t slash = w ^ (kOnes * '\\');
  const uint64_t zero_quote = (quote - kOnes) & ~quote;
  const uint64_t zero_slash = (slash - kOnes) & ~slash;
  const uint64_t control = (w - kOnes * 0x20) & ~w;
  return (zero_quote | zero_slash | control) & kHigh;
}
inline bool NeedsEscape8(uint64_t w) { return EscapeMask8(w) != 0; }

// Non-zero if any of the `n` bytes at `p` needs escaping. Reads only those bytes: short
// strings and the tail are loaded as overlapping words (a byte checked twice is harmless).
inline uint64_t EscapeMask(const char* p, size_t n) {
  uint64_t w;
  if (n >= 8) {
    uint64_t mask = 0;
    for (size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&w, p + i, 8);
      mask |= EscapeMask8(w);
    }
    std::memcpy(&w, p + n - 8, 8);
    return mask | EscapeMask8(w);
  }
  if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    return EscapeMask8(a | uint64_t{b} << 32);
  }
  if (n == 0) return 0;
  // 1..3 bytes: first, middle, last; the other five are spaces (never escaped).
  const uint64_t c0 = static_cast<unsigned char>(p[0]);
  const uint64_t c1 = static_cast<unsigned char>(p[n / 2]);
  const uint64_t c2 = static_cast<unsigned char>(p[n - 1]);
  return EscapeMask8(0x2020202020000000ULL | c0 | c1 << 8 | c2 << 16);
}

}  // namespace json_internal

// True if `s` holds a byte that a JSON string must escape (< 0x20, '"' or '\\').
inline bool JsonNeedsEscape(std::string_view s) {
  return json_internal::EscapeMask(s.data(), s.size()) != 0;
}

// Copies the bytes of `s` to `dst` unescaped and returns dst + s.size(); ORs into `escapes`
// a non-zero value if any byte needed escaping (then the copy is not valid JSON string
// content). One pass: each word is checked as it is copied. Writes only dst[0, s.size()).
// Always inlined: AppendRowJson calls it 18 times per row, and the calls were a tenth of the
// transform benchmark's time.
[[gnu::always_inline]] inline char* CopyJsonChars(char* dst, std::string_view s,
                                                  uint64_t& escapes) {
  const char* src = s.data();
  const size_t n = s.size();
  uint64_t mask = 0;  // A local: `escapes` could alias `dst`, so it is written once.
  if (n >= 8) {
    uint64_t w;
    for (size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&w, src + i, 8);
      std::memcpy(dst + i, &w, 8);
      mask |= json_internal::EscapeMask8(w);
    }
    std::memcpy(&w, src + n - 8, 8);  // The last word, overlapping the one before.
    std::memcpy(dst + n - 8, &w, 8);
    mask |= json_internal::EscapeMask8(w);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
    mask = json_internal::EscapeMask8(a | uint64_t{b} << 32);
  } else if (n > 0) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
    mask = json_internal::EscapeMask(src, n);
  }
  escapes |= mask;
  return dst + n;
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
