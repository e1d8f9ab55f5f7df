// raw_users as an archive (issue 17, item 19, decisions.md point 3) and the dead letter of a
// row PostgreSQL cannot hold (item 7), against a real server (pg_rig.h).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kafka_rig.h"
#include "pg_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::KafkaRig;
using spate::testing::KcatProduce;
using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::RunSpate;
using spate::testing::TempDir;

class PostgresArchive : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgStatus started = rig_.Start();
    ASSERT_TRUE(started.ok()) << started.error();
    const PgStatus created = rig_.CreateDatabase("spate");
    ASSERT_TRUE(created.ok()) << created.error();
  }

  int64_t Int(const std::string& sql) {
    const PgRows r = rig_.Query("spate", sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status.error();
    if (!r.ok() || r.rows.size() != 1 || !r.rows[0].at(0)) return -1;
    return std::stoll(*r.rows[0][0]);
  }

  Outcome Run(std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "run",        "--sink",          "postgres",   "--pg-dsn", rig_.Dsn("spate"),
        "--data-dir", dir_.File("data"), "--progress", "never"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSpate(dir_, std::move(args));
  }

  TempDir dir_;
  PgRig rig_;
};

// One API-shaped user with the given uuid and first name.
std::string User(uint64_t n, std::string_view first) {
  return fmt::format(
      R"({{"gender":"female","name":{{"title":"Ms","first":"{}","last":"L"}},)"
      R"("location":{{"street":{{"number":1,"name":"Main St"}},"city":"Town","state":"State",)"
      R"("country":"Land","postcode":"12345","coordinates":{{"latitude":"1.5","longitude":"-2.25"}},)"
      R"("timezone":{{"offset":"+1:00","description":"x"}}}},"email":"a@example.com",)"
      R"("login":{{"uuid":"00000000-0000-4000-8000-{:012}","username":"u","password":"hunter2"}},)"
      R"("dob":{{"date":"1990-01-01T00:00:00.000Z","age":35}},)"
      R"("registered":{{"date":"2015-01-01T00:00:00.000Z","age":10}},"phone":"1","cell":"2",)"
      R"("picture":{{"large":"l","medium":"m","thumbnail":"t"}},"nat":"US"}})",
      first, n);
}

TEST_F(PostgresArchive, RunsWithOtherSeedsAddToTheArchiveAndReplaysLandOnThemselves) {
  // The issue's example: the origin is "generator" both times, and the positions are the
  // same; version 1 kept only the second run's documents.
  for (const char* seed : {"one", "two"}) {
    Outcome run = Run({"--count", "500", "--seed", seed, "--raw-sink", "postgres"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 1000);
  EXPECT_EQ(Int("SELECT count(DISTINCT user_id) FROM raw_users"), 1000);
  Outcome replay = Run({"--count", "500", "--seed", "one", "--raw-sink", "postgres"});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 1000);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE id <> encode(sha256(convert_to(raw::text, "
                "'UTF8')), 'hex')"),
            0);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE origin = 'generator' AND item = 0"), 1000);
}

// Property: whatever files of documents land, in whatever order, with repeats inside a file
// and across files, under whatever path spelling, the archive holds each distinct document
// exactly once.
TEST_F(PostgresArchive, TheArchiveHoldsEachDistinctDocumentOnce) {
  std::mt19937_64 rng(17);
  std::set<uint64_t> landed;
  std::filesystem::create_directories(dir_.File("f"));
  for (int file = 0; file < 6; ++file) {
    std::string text;
    const int lines = 50 + static_cast<int>(rng() % 150);
    for (int i = 0; i < lines; ++i) {
      const uint64_t n = rng() % 400;  // Out of 400 documents: many repeats.
      landed.insert(n);
      text += User(n, fmt::format("user{}", n)) + "\n";
    }
    const std::string name = fmt::format("f/in{}.jsonl", file);
    std::ofstream(dir_.File(name)) << text;
    // Spelled as typed, with ./ or absolute: the same bytes, the same archive rows.
    const std::string path = file % 3 == 0   ? dir_.File(name)
                             : file % 3 == 1 ? dir_.path() + "/./" + name
                                             : dir_.path() + "/f/../" + name;
    Outcome run = Run({"--source", "file", "--input", path, "--raw-sink", "postgres",
                       "--batch-size", std::to_string(1 + rng() % 64)});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), static_cast<int64_t>(landed.size()))
        << "after file " << file;
  }
  // No secret is archived.
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE raw::text LIKE '%hunter2%'"), 0);
}

// Item 7 without a raw sink: the row's dead letter has its record's line and bytes, once.
TEST_F(PostgresArchive, ARowWithANulIsOneDeadLetterAtItsLine) {
  std::string text;
  for (int i = 0; i < 5; ++i) text += User(i, "ok") + "\n";
  text += User(5, "nul\\u0000byte") + "\n";  // Line 6.
  const std::string file = dir_.File("in.jsonl");
  std::ofstream(file) << text;
  for (int pass = 0; pass < 2; ++pass) {
    Outcome run = Run({"--source", "file", "--input", file});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find("5 rows stored, 1 rejected"), std::string::npos) << run.err;
  }
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 5);
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users"), 1) << "replayed onto itself";
  EXPECT_EQ(Int("SELECT position FROM rejected_users"), 6);
  EXPECT_EQ(Int("SELECT item FROM rejected_users"), 0);
  const PgRows raw = rig_.Query("spate", "SELECT convert_from(raw, 'UTF8') FROM rejected_users");
  ASSERT_TRUE(raw.ok()) << raw.status.error();
  ASSERT_EQ(raw.rows.size(), 1u);
  EXPECT_NE(raw.rows[0][0]->find("\"first\":\"nul\\u0000byte\""), std::string::npos)
      << *raw.rows[0][0];
  EXPECT_EQ(raw.rows[0][0]->find("hunter2"), std::string::npos) << *raw.rows[0][0];
}

// Item 7 from Kafka, where any producer may have written login secrets: the refused row's
// dead letter keeps its offset and its record's bytes with the secrets removed.
TEST_F(PostgresArchive, ARowWithANulFromKafkaIsDeadLetteredWithoutItsSecrets) {
  KafkaRig::Options options;
  options.topics = {"users_created:1"};
  KafkaRig kafka(options);
  ASSERT_TRUE(kafka.ok()) << kafka.error();
  std::vector<std::pair<std::string, std::string>> records;
  for (int i = 0; i < 4; ++i) records.emplace_back(fmt::format("k{}", i), User(i, "ok"));
  records.emplace_back("k4", User(4, "nul\\u0000byte"));  // Offset 4, with a password.
  std::string error;
  ASSERT_TRUE(
      KcatProduce(kafka.bootstrap(), "users_created", records, std::chrono::seconds(30), &error))
      << error;
  Outcome processed = RunSpate(
      dir_, {"process", "--brokers", kafka.bootstrap(), "--group", "nul", "--exit-at-end", "--sink",
             "postgres", "--pg-dsn", rig_.Dsn("spate"), "--data-dir", dir_.File("data"),
             "--progress", "never", "--kafka-opt", "session.timeout.ms=6000"});
  ASSERT_EQ(processed.exit_code, 0) << processed.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 4);
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users"), 1);
  EXPECT_EQ(Int("SELECT position FROM rejected_users"), 4);
  const PgRows raw =
      rig_.Query("spate", "SELECT convert_from(raw, 'UTF8'), origin FROM rejected_users");
  ASSERT_TRUE(raw.ok()) << raw.status.error();
  ASSERT_EQ(raw.rows.size(), 1u);
  EXPECT_EQ(raw.rows[0][0]->find("hunter2"), std::string::npos) << *raw.rows[0][0];
  EXPECT_NE(raw.rows[0][0]->find("00000000-0000-4000-8000-000000000004"), std::string::npos)
      << "the record, not the row: " << *raw.rows[0][0];
  EXPECT_NE(raw.rows[0][1]->find("/0"), std::string::npos) << "partition 0: " << *raw.rows[0][1];
}

// Whatever JSON jsonb refuses (a NUL, a lone surrogate, escaped or not) is one dead letter,
// never a failed batch: the documents around it are archived and their rows stored.
TEST_F(PostgresArchive, DocumentsJsonbRefusesAreDeadLetteredAndTheirNeighboursLand) {
  const std::vector<std::string> refused = {"nul\\u0000byte", "lone \\ud800 high",
                                            "lone \\udc00 low", "reversed \\udc00\\ud800",
                                            "upper \\uD83D end"};
  std::string text;
  uint64_t n = 0;
  for (const std::string& name : refused) {
    text += User(n++, "fine") + "\n";
    text += User(n++, name) + "\n";
  }
  text += User(n++, "pair \\ud83d\\udc18 ok") + "\n";  // A valid pair is fine.
  // A number beyond numeric's range, in a field the transform does not read.
  std::string huge = User(n++, "huge");
  huge.insert(1, "\"extra\":1e999999,");
  text += huge + "\n";
  const std::string file = dir_.File("in.jsonl");
  std::ofstream(file) << text;
  Outcome run = Run({"--source", "file", "--input", file, "--raw-sink", "postgres"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), static_cast<int64_t>(refused.size() + 1));
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users"), static_cast<int64_t>(refused.size() + 1))
      << "one dead letter per refused document, also where the row was stored";
}

// Property (items 7 and 20's class): for any mix of good and bad records, every record is a
// stored row or exactly one dead letter, the summary's counts are the tables' counts, and a
// replay (in other batch sizes) changes nothing.
TEST_F(PostgresArchive, EveryRecordIsARowOrOneDeadLetterAndTheCountsAreTheTables) {
  std::mt19937_64 rng(7);
  // Places a NUL can hide: a value in each part of the user the transform reads.
  const std::vector<std::pair<std::string, std::string>> nul_spots = {
      {"\"Town\"", "\"To\\u0000wn\""},
      {"\"Main St\"", "\"Main\\u0000St\""},
      {"\"a@example.com\"", "\"a@exa\\u0000mple.com\""},
      {"\"Land\"", "\"\\u0000\""},
      {"\"+1:00\"", "\"+1:00\\u0000\""},
      {"\"first\":\"", "\"first\":\"\\u0000"}};
  int64_t good = 0, bad = 0, archived = 0;
  std::string text;
  const int lines = 400;
  for (int i = 0; i < lines; ++i) {
    std::string user = User(static_cast<uint64_t>(i), fmt::format("n{}", rng() % 1000));
    switch (rng() % 6) {
      case 0:
      case 1:
        ++good, ++archived;
        break;
      case 2: {  // A NUL PostgreSQL cannot hold, in the row and the raw document.
        const auto& [from, to] = nul_spots[rng() % nul_spots.size()];
        user.replace(user.find(from), from.size(), to);
        ++bad;
        break;
      }
      case 3:  // Not JSON: cut short.
        user.resize(rng() % (user.size() - 1));
        if (user.empty() || user.find_first_not_of(" ") == std::string::npos) user = "x";
        ++bad;
        break;
      case 4:  // JSON, archived, but not a user spate can store (the uuid is not one).
        user.replace(user.find("00000000-0000-4000"), 4, "zzzz");
        ++bad, ++archived;
        break;
      default: {  // A lone surrogate.
        user.replace(user.find("\"L\""), 3, "\"\\udfff\"");
        ++bad;
        break;
      }
    }
    text += user + "\n";
  }
  const std::string file = dir_.File("mix.jsonl");
  std::ofstream(file) << text;
  for (const char* batch : {"7", "1000"}) {
    Outcome run =
        Run({"--source", "file", "--input", file, "--raw-sink", "postgres", "--batch-size", batch});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find(fmt::format("{} rows stored, {} rejected", good, bad)),
              std::string::npos)
        << "batch " << batch << ": " << run.err;
    EXPECT_EQ(Int("SELECT count(*) FROM created_users"), good);
    EXPECT_EQ(Int("SELECT count(*) FROM rejected_users"), bad) << "each bad record once";
    EXPECT_EQ(Int("SELECT count(DISTINCT position) FROM rejected_users"), bad);
    EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), archived);
  }
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users WHERE position < 1 OR position > 400"), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users WHERE encode(raw, 'escape') LIKE "
                "'%hunter2%'"),
            0);
}

}  // namespace
}  // namespace spate
