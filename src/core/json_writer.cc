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

namespace {

constexpr uint64_t kPow10[] = {1,      10,      100,      1000,      10000,
                               100000, 1000000, 10000000, 100000000, 1000000000};
constexpr int kMaxFastDecimals = 9;

// The common case of WriteJsonDouble without the general shortest-form search: values in
// [1e-3, 1e5) that some decimal with at most 9 fraction digits round-trips to (coordinates,
// amounts). Writes exactly what std::to_chars(double) writes, or returns nullptr when the
// value is not such a case. Why it is the same text:
//  - d = round(|v| * 1e9) with trailing zeros stripped is m / 10^k, the decimal with the
//    fewest fraction digits that can round-trip: any such decimal with j <= 9 digits lies
//    within half an ulp of v, and below 1e5 an ulp times 1e9 is under 0.02, so it is d.
//  - m / 10^k (both exact in a double; IEEE division rounds correctly) == v checks that it
//    does round-trip, as std::from_chars would parse it.
//  - With at most 14 significant digits that decimal is the only one of its length, and in
//    this range the fixed form is never longer than the scientific one (ties go to fixed),
//    which is to_chars' choice too. Compared with std::to_chars on tens of millions of values
//    (random decimals, random doubles, the range edges): identical.
char* WriteShortDecimal(char* p, double v) {
  const double a = v < 0 ? -v : v;
  if (!(a >= 1e-3 && a < 1e5)) return nullptr;
  uint64_t m = static_cast<uint64_t>(a * 1e9 + 0.5);
  int k = kMaxFastDecimals;
  while (k > 0 && m % 10 == 0) {
    m /= 10;
    --k;
  }
  if (static_cast<double>(m) / static_cast<double>(kPow10[k]) != a) return nullptr;
  if (v < 0) *p++ = '-';
  const uint64_t int_part = m / kPow10[k];
  uint64_t frac = m % kPow10[k];
  p = std::to_chars(p, p + 8, int_part).ptr;  // Below 1e5: at most 5 digits.
  if (k == 0) return p;
  *p = '.';
  for (int i = k; i > 0; --i) {
    p[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  return p + k + 1;
}

}  // namespace

char* WriteJsonDouble(char* p, double v) {
  if (!std::isfinite(v)) {  // JSON has no NaN/Inf.
    std::memcpy(p, "null", 4);
    return p + 4;
  }
  if (char* end = WriteShortDecimal(p, v)) return end;
  auto [end, ec] = std::to_chars(p, p + kJsonDoubleMaxBytes, v);
  (void)ec;  // Shortest round-trip form always fits 32 bytes.
  return end;
}

}  // namespace spate
