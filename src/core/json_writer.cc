#include "core/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace spate {

namespace {

// True if any of the 8 bytes in `w` needs escaping: < 0x20, '"' or '\\'. SWAR: most strings
// need no escape at all, so checking eight bytes per step is what makes output cheap.
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

inline bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  size_t run_start = 0;
  const size_t n = s.size();
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!NeedsEscape8(w)) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!NeedsEscape(c)) {
      ++i;
      continue;
    }
    out.append(s.data() + run_start, i - run_start);
    run_start = ++i;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, sizeof(esc));
      }
    }
  }
  out.append(s.data() + run_start, n - run_start);
  out.push_back('"');
}

void JsonWriter::Int(int64_t v) {
  Separator();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;  // 24 bytes always fit an int64.
  out_.append(buf, end);
}

void JsonWriter::Double(double v) {
  Separator();
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf.
    out_.append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;  // Shortest round-trip form always fits 32 bytes.
  out_.append(buf, end);
}

}  // namespace spate
