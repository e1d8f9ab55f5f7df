// A compressed CQL frame's body comes from the network: its claimed uncompressed length must
// not decide an allocation (issue 17, found by reading around the cql fuzz target: a 13-byte
// frame claiming 256 MB made the client allocate and zero 256 MB before LZ4 refused it).
#include <gtest/gtest.h>

#include <lz4.h>

#include <string>

#include "cql/connection.h"

namespace spate {
namespace {

std::string BigEndian(int32_t n) {
  const auto u = static_cast<uint32_t>(n);
  return {static_cast<char>(u >> 24), static_cast<char>(u >> 16), static_cast<char>(u >> 8),
          static_cast<char>(u)};
}

std::string Compress(const std::string& plain) {
  std::string block(static_cast<size_t>(LZ4_compressBound(static_cast<int>(plain.size()))), '\0');
  const int n = LZ4_compress_default(plain.data(), block.data(), static_cast<int>(plain.size()),
                                     static_cast<int>(block.size()));
  block.resize(static_cast<size_t>(n));
  return BigEndian(static_cast<int32_t>(plain.size())) + block;
}

TEST(CqlDecompress, AHonestBodyRoundTripsEvenAtTheHighestRatio) {
  for (const std::string& plain :
       {std::string("hello, cassandra"), std::string(1 << 20, 'x'), std::string()}) {
    auto out = cql::DecompressBody(Compress(plain));
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ(out.value(), plain);
  }
}

TEST(CqlDecompress, ALengthTheBlockCannotProduceIsRefusedUnallocated) {
  // The fuzz finding: 4 bytes of block claiming 256 MB - 1.
  const std::string lie = BigEndian(0x0fffffff) + std::string("\xff\xff\xff\xff", 4);
  auto out = cql::DecompressBody(lie);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("claims 268435455 bytes"), std::string::npos)
      << out.status().message();
  // A real block with its length inflated past what 255-fold growth allows.
  std::string inflated = Compress(std::string(1000, 'y'));
  const size_t block = inflated.size() - 4;
  inflated.replace(0, 4, BigEndian(static_cast<int32_t>(255 * block + 65)));
  EXPECT_FALSE(cql::DecompressBody(inflated).ok());
  EXPECT_FALSE(cql::DecompressBody(BigEndian(-1) + "x").ok());
  EXPECT_FALSE(cql::DecompressBody("ab").ok());
}

}  // namespace
}  // namespace spate
