// The raw archive's landing path (issue 17, item 19): raw_users rows go in by a plain INSERT
// while no key collides and by INSERT ... ON CONFLICT DO NOTHING after a collision. Whatever
// mix of new documents, documents already archived and copies within one batch the input
// holds, in any batch size, the archive ends with each distinct document exactly once, with
// its first landing's position, and no run fails.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pg_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::RunSpate;
using spate::testing::TempDir;

std::string Doc(uint64_t n) {
  return fmt::format(
      R"({{"gender":"female","name":{{"title":"Ms","first":"F{}","last":"L"}},)"
      R"("location":{{"street":{{"number":1,"name":"Main St"}},"city":"Town","state":"State",)"
      R"("country":"Land","postcode":"12345","coordinates":{{"latitude":"1.5","longitude":"-2.25"}},)"
      R"("timezone":{{"offset":"+1:00","description":"x"}}}},"email":"a@example.com",)"
      R"("login":{{"uuid":"00000000-0000-4000-8000-{:012}","username":"u"}},)"
      R"("dob":{{"date":"1990-01-01T00:00:00.000Z","age":35}},)"
      R"("registered":{{"date":"2015-01-01T00:00:00.000Z","age":10}},"phone":"1","cell":"2",)"
      R"("picture":{{"large":"l","medium":"m","thumbnail":"t"}},"nat":"US"}})",
      n, n);
}

TEST(PostgresRawLanding, AnyMixOfNewArchivedAndRepeatedDocumentsLandsEachOnce) {
  TempDir dir;
  PgRig rig;
  const PgStatus started = rig.Start();
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(rig.CreateDatabase("spate").ok());
  auto count = [&](const std::string& sql) -> int64_t {
    const PgRows r = rig.Query("spate", sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status.error();
    if (!r.ok() || r.rows.size() != 1 || !r.rows[0].at(0)) return -1;
    return std::stoll(*r.rows[0][0]);
  };
  std::mt19937_64 rng(17);
  std::set<uint64_t> archived;
  // Rounds: each file draws documents from a pool, so that some are new, some landed in an
  // earlier round, and some repeat within the file (and often within a batch). Runs of 20
  // new-only files between them let the plain INSERT come back after a collision.
  for (int round = 0; round < 12; ++round) {
    const bool fresh = round % 4 == 1;  // Only documents never seen: the plain INSERT's case.
    std::string text;
    const int lines = 50 + static_cast<int>(rng() % 200);
    for (int i = 0; i < lines; ++i) {
      const uint64_t n = fresh ? 100000 + round * 1000 + static_cast<uint64_t>(i) : rng() % 400;
      text += Doc(n) + "\n";
      archived.insert(n);
    }
    const std::string file = dir.File(fmt::format("in{}.jsonl", round));
    std::ofstream(file) << text;
    const std::string batch = std::to_string(1 + rng() % 60);
    Outcome run = RunSpate(dir, {"run", "--source", "file", "--input", file, "--sink", "discard",
                                 "--raw-sink", "postgres", "--pg-dsn", rig.Dsn("spate"),
                                 "--batch-size", batch, "--progress", "never"});
    ASSERT_EQ(run.exit_code, 0) << "round " << round << " batch " << batch << ": " << run.err;
    ASSERT_EQ(count("SELECT count(*) FROM raw_users"), static_cast<int64_t>(archived.size()))
        << "round " << round << " batch " << batch;
    ASSERT_EQ(count("SELECT count(DISTINCT user_id) FROM raw_users"),
              static_cast<int64_t>(archived.size()))
        << "round " << round;
  }
}

}  // namespace
}  // namespace spate
