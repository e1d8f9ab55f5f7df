// The token Cassandra's Murmur3Partitioner gives a partition key: the first 64 bits of
// MurmurHash3_x64_128 (seed 0) of the key's serialized bytes, as Cassandra computes it.
// Cassandra's version differs from the reference hash in one place: tail bytes are
// sign-extended before they are shifted in, so keys whose length is not a multiple of 16
// and whose tail has bytes >= 0x80 hash differently. Token-aware routing needs Cassandra's.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spate::cql {

int64_t Murmur3Token(std::string_view key);

// The partition key bytes of a compound key (several columns): each component as a [short]
// length, its bytes, and a zero byte. A single-column key is just that column's bytes.
std::string CompositeKey(const std::vector<std::string_view>& components);

}  // namespace spate::cql
