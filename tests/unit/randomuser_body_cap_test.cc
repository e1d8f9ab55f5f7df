// Issue 17, item 8: the HTTP body is capped. An endless chunked body and a gzip bomb (small on
// the wire, huge once libcurl decodes it) end the fetch with a clear error while the process's
// memory stays far below what the server sends.
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "http_test_servers.h"
#include "sources/randomuser_source.h"

namespace spate {
namespace {

using spate::testing::HttpScript;
using spate::testing::RawServer;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// What the servers below send at most: far beyond the cap, small enough that a broken cap
// fails the test instead of exhausting the machine.
constexpr uint64_t kFloodBytes = uint64_t{256} << 20;
constexpr uint64_t kMiB = uint64_t{1} << 20;

// The process's peak resident set (VmHWM), in bytes.
uint64_t PeakRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// A page of 10 users at --max-record-bytes 1000: the cap is 10 * 1000 + 1 MiB.
RandomUserOptions CappedOptions(const std::string& url) {
  RandomUserOptions options;
  options.base_url = url;
  options.seed = "cap";
  options.count = 10;
  options.page_size = 10;
  options.max_record_bytes = 1000;
  options.max_retries = 0;
  options.timeout = milliseconds(20000);
  options.connect_timeout = milliseconds(2000);
  return options;
}

Status FetchOnce(const RandomUserOptions& options) {
  auto source = RandomUserSource::Create(options);
  if (!source.ok()) return source.status();
  Batch batch;
  Result<SourceState> state = (*source)->Next(batch, 1000, {});
  return state.ok() ? Status::Ok() : state.status();
}

TEST(RandomUserBodyCap, CapFollowsPageSizeAndMaxRecordBytes) {
  EXPECT_EQ(RandomUserMaxBodyBytes(10, 1000), 10 * 1000 + kRandomUserEnvelopeBytes);
  EXPECT_EQ(RandomUserMaxBodyBytes(5000, kMiB), 5000 * kMiB + kRandomUserEnvelopeBytes);
  EXPECT_EQ(RandomUserMaxBodyBytes(UINT64_MAX / 2, 4), UINT64_MAX);  // Saturates.
}

TEST(RandomUserBodyCap, EndlessChunkedBodyIsCutWithAClearError) {
  std::atomic<uint64_t> sent{0};
  RawServer server([&](int fd, const std::atomic<bool>& stopping) {
    RawServer::ReadRequest(fd, stopping);
    if (!RawServer::SendAll(fd,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n")) {
      return;
    }
    const std::string spaces(64 * 1024, ' ');
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", spaces.size());
    std::string chunk = std::string(size_line) + spaces + "\r\n";
    RawServer::SendAll(fd, "d\r\n{\"results\":[\r\n");
    while (!stopping && sent < kFloodBytes && RawServer::SendAll(fd, chunk)) {
      sent += spaces.size();
    }
  });
  const uint64_t rss_before = PeakRss();
  const auto start = Clock::now();
  const Status status = FetchOnce(CappedOptions(server.url()));
  const auto elapsed = Clock::now() - start;
  const uint64_t cap = RandomUserMaxBodyBytes(10, 1000);

  EXPECT_EQ(status.kind(), ErrorKind::kFatal) << status.message();
  EXPECT_NE(status.message().find("passed " + std::to_string(cap) + " bytes"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("--max-record-bytes"), std::string::npos) << status.message();
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  EXPECT_LT(sent.load(), kFloodBytes);  // The client hung up: the server never finished.
  EXPECT_LT(PeakRss() - rss_before, 32 * kMiB) << "peak RSS grew with the body";
}

// Spaces compress about a thousand to one: 256 MiB decoded is about 256 KiB on the wire.
TEST(RandomUserBodyCap, GzipBombIsCutOnTheDecodedBytes) {
  std::string bomb;
  {
    httplib::detail::gzip_compressor gzip;
    const std::string block(kMiB, ' ');
    auto append = [&](const char* data, size_t size) {
      bomb.append(data, size);
      return true;
    };
    const std::string head = R"({"results":[)";
    ASSERT_TRUE(gzip.compress(head.data(), head.size(), false, append));
    for (uint64_t done = 0; done < kFloodBytes; done += block.size()) {
      ASSERT_TRUE(gzip.compress(block.data(), block.size(), false, append));
    }
    ASSERT_TRUE(gzip.compress("]}", 2, true, append));
  }
  ASSERT_LT(bomb.size(), 2 * kMiB);  // Small enough to pass any wire-size check.
  HttpScript server([&](int, const httplib::Request&, httplib::Response& res) {
    // Not a compressible type for cpp-httplib, so it sends the bytes as they are.
    res.set_content(bomb, "application/octet-stream");
    res.set_header("Content-Encoding", "gzip");
  });
  const uint64_t rss_before = PeakRss();
  const auto start = Clock::now();
  const Status status = FetchOnce(CappedOptions(server.url()));
  const uint64_t cap = RandomUserMaxBodyBytes(10, 1000);

  EXPECT_EQ(status.kind(), ErrorKind::kFatal) << status.message();
  EXPECT_NE(status.message().find("passed " + std::to_string(cap) + " bytes"), std::string::npos)
      << status.message();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_LT(PeakRss() - rss_before, 32 * kMiB) << "peak RSS grew with the decoded body";
  EXPECT_EQ(server.requests(), 1);  // Not retried: a body this large will not shrink.
}

// The same bomb below the cap is an ordinary page: the cap counts decoded bytes, and a
// compressed page that fits is read whole.
TEST(RandomUserBodyCap, CompressedPageBelowTheCapIsRead) {
  const std::string page = spate::testing::UserPage("cap", 0, 10);
  std::string gzipped;
  {
    httplib::detail::gzip_compressor gzip;
    ASSERT_TRUE(gzip.compress(page.data(), page.size(), true, [&](const char* data, size_t size) {
      gzipped.append(data, size);
      return true;
    }));
  }
  HttpScript server([&](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(gzipped, "application/octet-stream");
    res.set_header("Content-Encoding", "gzip");
  });
  RandomUserOptions options = CappedOptions(server.url());
  options.max_record_bytes = 4000;  // Each user fits; the cap is 40,000 + 1 MiB.
  auto source = RandomUserSource::Create(options);
  ASSERT_TRUE(source.ok()) << source.status().message();
  Batch batch;
  Result<SourceState> state = (*source)->Next(batch, 1000, {});
  ASSERT_TRUE(state.ok()) << state.status().message();
  EXPECT_EQ(batch.records.size(), 10u);
}

// An error status with an endless body ends too (the excerpt is all that is kept).
TEST(RandomUserBodyCap, EndlessErrorBodyIsCut) {
  RawServer server([&](int fd, const std::atomic<bool>& stopping) {
    RawServer::ReadRequest(fd, stopping);
    RawServer::SendAll(fd,
                       "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    uint64_t sent = 0;
    while (!stopping && sent < kFloodBytes && RawServer::SendAll(fd, chunk)) sent += 0x10000;
  });
  const uint64_t rss_before = PeakRss();
  const Status status = FetchOnce(CappedOptions(server.url()));
  EXPECT_EQ(status.kind(), ErrorKind::kFatal) << status.message();
  EXPECT_NE(status.message().find("passed"), std::string::npos) << status.message();
  EXPECT_LT(PeakRss() - rss_before, 32 * kMiB);
}

}  // namespace
}  // namespace spate
