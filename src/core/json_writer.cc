#include "core/json_writer.h"

#include <charconv>
#include <cmath>

namespace spate {

namespace {

inline bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

void AppendJsonStringEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  size_t run_start = 0;
  const size_t n = s.size();
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!json_internal::NeedsEscape8(w)) {
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
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, sizeof(esc));
      }
    }
  }
  out.append(s.data() + run_start, n - run_start);
  out.push_back('"');
}

char* WriteJsonInt(char* p, int64_t v) {
  auto [end, ec] = std::to_chars(p, p + kJsonIntMaxBytes, v);
  (void)ec;  // 20 bytes always fit an int64.
  return end;
}

char* WriteJsonDouble(char* p, double v) {
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf.
    std::memcpy(p, "null", 4);
    return p + 4;
  }
  auto [end, ec] = std::to_chars(p, p + kJsonDoubleMaxBytes, v);
  (void)ec;  // Shortest round-trip form always fits 32 bytes.
  return end;
}

}  // namespace spate
