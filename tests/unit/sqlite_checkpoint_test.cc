// The SQLite sink's WAL checkpoints (issue 18): a stream of small batches checkpoints every
// kWalCheckpointPagesStreaming pages, so each stall in a commit stays short; bulk writes of
// full batches keep the large threshold, for throughput. Checked by the WAL file's size: it
// grows to about the threshold and is then reused from its start.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sinks/sqlite_sink.h"
#include "test_util.h"

namespace spate {
namespace {

using spate::testing::TempDir;

constexpr uintmax_t kPage = 4096;

// Writes `total` rows of about 1 KiB in batches of `batch_rows`; returns the largest size
// the WAL file reached after a commit.
uintmax_t LargestWal(const std::string& dir, size_t total, size_t batch_rows) {
  SqliteSink sink(dir);
  EXPECT_TRUE(sink.Open().ok());
  const std::string padding(900, 'x');
  std::vector<std::string> ids(total);
  uintmax_t largest = 0;
  const std::string wal = dir + "/spate.db-wal";
  for (size_t first = 0; first < total; first += batch_rows) {
    Batch batch;
    for (size_t i = first; i < std::min(total, first + batch_rows); ++i) {
      ids[i] = "00000000-0000-4000-8000-" + std::to_string(100000000000 + i);
      Row& row = batch.rows.emplace_back();
      row.id = ids[i];
      row.address = padding;
    }
    EXPECT_TRUE(sink.Write(batch).ok());
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(wal, ec);
    if (!ec) largest = std::max(largest, size);
  }
  EXPECT_TRUE(sink.Close().ok());
  return largest;
}

TEST(SqliteCheckpoint, ASteadyStreamOfSmallBatchesKeepsTheWalNearTheStreamingThreshold) {
  TempDir dir;
  const uintmax_t largest = LargestWal(dir.File("stream"), 60000, 50);
  // About the threshold, plus the commit that crossed it.
  EXPECT_LT(largest, (kWalCheckpointPagesStreaming + 512) * kPage) << largest;
  EXPECT_GT(largest, kWalCheckpointPagesStreaming * kPage) << "the WAL never reached it";
}

TEST(SqliteCheckpoint, FullBatchesKeepTheLargeThresholdForThroughput) {
  TempDir dir;
  const uintmax_t largest = LargestWal(dir.File("bulk"), 60000, 1000);
  EXPECT_GT(largest, (kWalCheckpointPagesStreaming + 512) * kPage) << largest;
  EXPECT_LT(largest, (kWalCheckpointPages + 2048) * kPage) << largest;
}

}  // namespace
}  // namespace spate
