// UUID text form check, shared by the transform (login.uuid) and the stores (uuid columns).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace spate {

// True for the 8-4-4-4-12 hex form (any case).
inline bool IsValidUuid(std::string_view s) {
  if (s.size() != 36) return false;
  if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  // Every other character must be a hex digit; checked without a branch per character, as
  // every record's id passes through here.
  static constexpr auto kIsHex = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 256; ++c) {
      table[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
    return table;
  }();
  constexpr uint64_t kHyphens = (1ull << 8) | (1ull << 13) | (1ull << 18) | (1ull << 23);
  bool ok = true;
  for (size_t i = 0; i < 36; ++i) {
    ok &= kIsHex[static_cast<unsigned char>(s[i])] | (((kHyphens >> i) & 1) != 0);
  }
  return ok;
}

}  // namespace spate
