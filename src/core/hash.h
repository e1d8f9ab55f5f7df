// Small, fast, non-cryptographic hashing used for determinism (generator seeds) and for
// stable keys (dead-letter ids). Never used for anything secret.
#pragma once

#include <cstdint>
#include <string_view>

namespace spate {

// FNV-1a, 64 bit: stable across platforms and releases, so seeds stay reproducible.
constexpr uint64_t Fnv1a64(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// SplitMix64 finaliser: turns a counter into well-mixed bits.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace spate
