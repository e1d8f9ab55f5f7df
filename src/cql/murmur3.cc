#include "cql/murmur3.h"

#include <bit>
#include <cstring>

namespace spate::cql {
namespace {

constexpr uint64_t kC1 = 0x87c37b91114253d5ULL;
constexpr uint64_t kC2 = 0x4cf5ad432745937fULL;

uint64_t Fmix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

uint64_t LoadLittleEndian(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A tail byte as Cassandra reads it: a signed Java byte widened to long.
uint64_t Signed(unsigned char b) {
  return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(b)));
}

}  // namespace

int64_t Murmur3Token(std::string_view key) {
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const size_t n = key.size();
  uint64_t h1 = 0;
  uint64_t h2 = 0;
  const size_t blocks = n / 16;
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k1 = LoadLittleEndian(data + i * 16);
    uint64_t k2 = LoadLittleEndian(data + i * 16 + 8);
    k1 *= kC1;
    k1 = std::rotl(k1, 31);
    k1 *= kC2;
    h1 ^= k1;
    h1 = std::rotl(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52dce729;
    k2 *= kC2;
    k2 = std::rotl(k2, 33);
    k2 *= kC1;
    h2 ^= k2;
    h2 = std::rotl(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495ab5;
  }
  const unsigned char* tail = data + blocks * 16;
  const size_t rest = n & 15;
  uint64_t k1 = 0;
  uint64_t k2 = 0;
  for (size_t i = rest; i > 8; --i) k2 ^= Signed(tail[i - 1]) << ((i - 9) * 8);
  if (rest > 8) {
    k2 *= kC2;
    k2 = std::rotl(k2, 33);
    k2 *= kC1;
    h2 ^= k2;
  }
  for (size_t i = std::min<size_t>(rest, 8); i > 0; --i) k1 ^= Signed(tail[i - 1]) << ((i - 1) * 8);
  if (rest > 0) {
    k1 *= kC1;
    k1 = std::rotl(k1, 31);
    k1 *= kC2;
    h1 ^= k1;
  }
  h1 ^= n;
  h2 ^= n;
  h1 += h2;
  h2 += h1;
  h1 = Fmix(h1);
  h2 = Fmix(h2);
  h1 += h2;
  const auto token = static_cast<int64_t>(h1);
  // The partitioner keeps the minimum token for itself (it is the ring's start).
  return token == INT64_MIN ? INT64_MAX : token;
}

std::string CompositeKey(const std::vector<std::string_view>& components) {
  if (components.size() == 1) return std::string(components[0]);
  std::string out;
  for (std::string_view c : components) {
    out += static_cast<char>((c.size() >> 8) & 0xff);
    out += static_cast<char>(c.size() & 0xff);
    out.append(c);
    out += '\0';
  }
  return out;
}

}  // namespace spate::cql
