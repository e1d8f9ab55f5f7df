// --max-record-bytes reaches the file source through the command line (issue 17, item 9: the
// per-record limit holds on every path), not only the library's default.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "db_query.h"
#include "spate_process.h"

namespace {

using spate::testing::Fixture;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::QueryStrings;
using spate::testing::RunSpate;
using spate::testing::TempDir;

TEST(RunLimits, MaxRecordBytesBoundsFileRecordsAndTheNeighboursLand) {
  TempDir dir;
  const std::string input = dir.File("in.jsonl");
  {
    std::ofstream out(input);
    out << "{\"small\":1}\n";                                    // Line 1: a bad user.
    out << "{\"name\":\"" << std::string(5000, 'x') << "\"}\n";  // Line 2: over 4000.
    out << "{\"also\":\"" << std::string(3000, 'y') << "\"}\n";  // Line 3: under it.
  }
  const std::string data = dir.File("data");
  Outcome outcome =
      RunSpate(dir, {"run", "--input", input, "--data-dir", data, "--max-record-bytes", "4000"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM rejected_users"), 3);
  // Only line 2 is over the limit set on the command line (the default is 1 MiB).
  EXPECT_EQ(QueryStrings(data, "SELECT position FROM rejected_users WHERE reason LIKE '%4000%'"),
            std::set<std::string>{"2"});
  EXPECT_LE(QueryInt(data, "SELECT max(length(raw)) FROM rejected_users"), 4096);
}

}  // namespace
