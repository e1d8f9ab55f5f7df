// What `spate run` says about where rows went (issue 17, items 20 and 23): with several
// sinks each sink's line counts what that store holds (a name with a NUL: PostgreSQL refuses
// it, SQLite stores it); discard says "discarded"; a failed run says so after its error.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "db_query.h"
#include "pg_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::QueryInt;
using spate::testing::RunSpate;
using spate::testing::TempDir;

// One API-shaped user (v1.4) with the given uuid and first name (JSON-escaped as given).
std::string User(const std::string& uuid, const std::string& first_json) {
  return fmt::format(
      R"({{"gender":"female","name":{{"title":"Ms","first":{},"last":"Last"}},)"
      R"("location":{{"street":{{"number":1,"name":"Main St"}},"city":"Town","state":"State",)"
      R"("country":"Land","postcode":"12345","coordinates":{{"latitude":"1.5","longitude":"-2.25"}},)"
      R"("timezone":{{"offset":"+1:00","description":"x"}}}},"email":"a@example.com",)"
      R"("login":{{"uuid":"{}","username":"user1"}},"dob":{{"date":"1990-01-01T00:00:00.000Z","age":35}},)"
      R"("registered":{{"date":"2015-01-01T00:00:00.000Z","age":10}},"phone":"1","cell":"2",)"
      R"("picture":{{"large":"l","medium":"m","thumbnail":"t"}},"nat":"US"}})",
      first_json, uuid);
}

// The summary line of the sink whose description starts with `prefix` ("  sink: sqlite").
std::string SinkLine(const std::string& err, const std::string& prefix) {
  const size_t at = err.find("  sink: " + prefix);
  if (at == std::string::npos) return "";
  return err.substr(at, err.find('\n', at) - at);
}

class SeveralSinks : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgStatus started = rig_.Start();
    ASSERT_TRUE(started.ok()) << started.error();
    const PgStatus created = rig_.CreateDatabase("spate");
    ASSERT_TRUE(created.ok()) << created.error();
  }
  int64_t PgInt(const std::string& sql) {
    const PgRows r = rig_.Query("spate", sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status.error();
    if (!r.ok() || r.rows.size() != 1 || !r.rows[0].at(0)) return -1;
    return std::stoll(*r.rows[0][0]);
  }
  TempDir dir_;
  PgRig rig_;
};

// The issue's example: --sink postgres --sink sqlite and one name with a NUL said "0 stored,
// 1 rejected" although SQLite held the row. Both orders of the sinks.
TEST_F(SeveralSinks, EachSinksLineCountsWhatItsStoreHolds) {
  std::string lines;
  for (int i = 0; i < 5; ++i) {
    lines += User(fmt::format("00000000-0000-4000-8000-{:012}", i), "\"Good\"") + "\n";
  }
  lines += User("00000000-0000-4000-8000-000000000099", "\"nul\\u0000byte\"") + "\n";
  const std::string file = dir_.File("users.jsonl");
  std::ofstream(file) << lines;

  for (const auto& order :
       std::vector<std::vector<std::string>>{{"postgres", "sqlite"}, {"sqlite", "postgres"}}) {
    SCOPED_TRACE(order[0] + " first");
    const std::string data = dir_.File("data-" + order[0]);
    Outcome run = RunSpate(
        dir_, {"run", "--source", "file", "--input", file, "--sink", order[0], "--sink", order[1],
               "--pg-dsn", rig_.Dsn("spate"), "--data-dir", data, "--progress", "never"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    // The stores: SQLite holds all six, PostgreSQL five and the NUL one as a dead letter.
    EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), 6);
    EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM rejected_users"), 0);
    EXPECT_EQ(PgInt("SELECT count(*) FROM created_users"), 5);
    EXPECT_EQ(PgInt("SELECT count(*) FROM rejected_users WHERE reason LIKE '%NUL%'"), 1);
    // The summary says the same, per sink.
    EXPECT_NE(SinkLine(run.err, "sqlite").find(": 6 rows stored, 0 rejected"), std::string::npos)
        << run.err;
    EXPECT_NE(SinkLine(run.err, "postgres").find(": 5 rows stored, 1 rejected"), std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find("6 records in"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("6 rows, 0 rejected by the transform"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("0 rows stored"), std::string::npos) << run.err;
  }
}

TEST(RunSummary, DiscardSaysDiscardedNotStored) {
  TempDir dir;
  Outcome run = RunSpate(dir, {"run", "--sink", "discard", "--count", "250", "--progress", "never",
                               "--data-dir", dir.File("data")});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("250 rows and 0 dead letters discarded"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("stored"), std::string::npos) << run.err;
}

// The error comes first, and the summary after it does not read like success.
TEST(RunSummary, AnUnreachableApiReportsTheErrorBeforeAFailedSummary) {
  TempDir dir;
  Outcome run = RunSpate(
      dir, {"run", "--source", "randomuser", "--url", "http://127.0.0.1:9/api/", "--retries", "1",
            "--retry-backoff", "10ms", "--data-dir", dir.File("data"), "--progress", "never"});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const size_t error = run.err.find("[error]");
  const size_t summary = run.err.rfind("spate run: ");
  ASSERT_NE(error, std::string::npos) << run.err;
  ASSERT_NE(summary, std::string::npos) << run.err;
  EXPECT_LT(error, summary) << run.err;
  const std::string line = run.err.substr(summary, run.err.find('\n', summary) - summary);
  EXPECT_NE(line.find("failed"), std::string::npos) << line;
}

}  // namespace
}  // namespace spate
