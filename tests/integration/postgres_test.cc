// End to end into PostgreSQL: the spate binary against a real throwaway server (pg_rig.h).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kafka_rig.h"
#include "pg_rig.h"
#include "sinks/postgres_sink.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::KafkaRig;
using spate::testing::KcatConsume;
using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::PgValues;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;

// A started rig with an empty database "spate"; fails the test otherwise.
class Postgres : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgStatus started = rig_.Start();
    ASSERT_TRUE(started.ok()) << started.error();
    const PgStatus created = rig_.CreateDatabase("spate");
    ASSERT_TRUE(created.ok()) << created.error();
    dsn_ = rig_.Dsn("spate");
  }

  // The single value of a one-row, one-column query (a count); -1 on failure.
  int64_t Int(const std::string& sql) {
    const PgRows r = rig_.Query("spate", sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status.error();
    if (!r.ok() || r.rows.size() != 1 || !r.rows[0].at(0)) return -1;
    return std::stoll(*r.rows[0][0]);
  }

  std::vector<std::string> Run(std::vector<std::string> extra) {
    std::vector<std::string> args = {"run",  "--sink",     "postgres",        "--pg-dsn",
                                     dsn_,   "--data-dir", dir_.File("data"), "--progress",
                                     "never"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  TempDir dir_;
  PgRig rig_;
  std::string dsn_;
};

// JSON string literal of `text` (quotes, backslashes and control characters escaped).
std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// One API-shaped user (v1.4) with the given uuid, first and last name.
std::string User(std::string_view uuid, std::string_view first, std::string_view last) {
  return fmt::format(
      R"({{"gender":"female","name":{{"title":"Ms","first":{},"last":{}}},)"
      R"("location":{{"street":{{"number":1,"name":"Main St"}},"city":"Town","state":"State",)"
      R"("country":"Land","postcode":"12345","coordinates":{{"latitude":"1.5","longitude":"-2.25"}},)"
      R"("timezone":{{"offset":"+1:00","description":"x"}}}},"email":"a@example.com",)"
      R"("login":{{"uuid":"{}","username":"user1","password":"hunter2","salt":"s","md5":"m",)"
      R"("sha1":"h","sha256":"k"}},"dob":{{"date":"1990-01-01T00:00:00.000Z","age":35}},)"
      R"("registered":{{"date":"2015-01-01T00:00:00.000Z","age":10}},"phone":"1","cell":"2",)"
      R"("picture":{{"large":"l","medium":"m","thumbnail":"t"}},"nat":"US"}})",
      JsonString(first), JsonString(last), uuid);
}

TEST_F(Postgres, EveryColumnIsRightAndTheSameInputAgainKeepsNRows) {
  const std::string input = Fixture("v1.4-1-user-br.json");
  const std::string file = dir_.File("br.json");
  std::ofstream(file) << input;
  Outcome one = RunSpate(dir_, Run({"--source", "file", "--input", file}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const PgRows r = rig_.Query("spate",
                              "SELECT id::text, first_name, last_name, gender, address, post_code, "
                              "email, username, registered_date, phone, picture, dob, age::text, "
                              "nat, city, state, country, latitude::text, longitude::text, "
                              "timezone, cell FROM created_users");
  ASSERT_TRUE(r.ok()) << r.status.error();
  ASSERT_EQ(r.rows.size(), 1u);
  const std::vector<std::string> expected = {
      "4bbbf423-b3dd-409f-b35b-53957fc1b362",
      "Damas",
      "Oliveira",
      "male",
      "6972 Rua Vinte E Quatro de Outubro, Cotia, Bahia, Brazil",
      "32158",
      "damas.oliveira@example.com",
      "goldenpeacock430",
      "2014-08-30T05:19:44.274Z",
      "(49) 7072-4143",
      "https://randomuser.me/api/portraits/med/men/37.jpg",
      "1958-06-23T03:40:17.665Z",
      "64",
      "BR",
      "Cotia",
      "Bahia",
      "Brazil",
      "-78.1478",
      "-175.9694",
      "+5:30",
      "(97) 9244-6490"};
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(r.rows[0][i].has_value()) << "column " << i << " is NULL";
    EXPECT_EQ(*r.rows[0][i], expected[i]) << "column " << i;
  }
  // ingested_at is a real timestamp from this run.
  EXPECT_EQ(Int("SELECT count(*) FROM created_users WHERE ingested_at > now() - interval '5 "
                "minutes'"),
            1);

  // Many rows, then the same input again: still N rows, each id once.
  Outcome many = RunSpate(dir_, Run({"--count", "5000", "--seed", "pg"}));
  ASSERT_EQ(many.exit_code, 0) << many.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 5001);
  Outcome again = RunSpate(dir_, Run({"--count", "5000", "--seed", "pg"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("5,000 rows stored"), std::string::npos) << again.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 5001);
  EXPECT_EQ(Int("SELECT count(DISTINCT id) FROM created_users"), 5001);
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users"), 0);
  EXPECT_EQ(Int("SELECT version FROM spate_schema"), kPostgresSchemaVersion);
}

TEST_F(Postgres, RawUsersHoldTheDocumentsWithoutLoginSecrets) {
  // The 111-user fixture carries login secrets, as the real API does.
  const std::string input = Fixture("v1.4-111-users-all-nats.json");
  ASSERT_NE(input.find("\"password\""), std::string::npos);
  const std::string file = dir_.File("users.json");
  std::ofstream(file) << input;
  Outcome run =
      RunSpate(dir_, Run({"--source", "file", "--input", file, "--raw-sink", "postgres"}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const int64_t rows = Int("SELECT count(*) FROM created_users");
  EXPECT_GT(rows, 100);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 111);
  for (const char* secret : {"password", "salt", "md5", "sha1", "sha256"}) {
    EXPECT_EQ(Int(fmt::format("SELECT count(*) FROM raw_users WHERE raw->'login' ? '{}'", secret)),
              0)
        << secret;
  }
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE raw::text LIKE '%hunter2%' OR raw::text "
                "LIKE '%\"salt\"%'"),
            0);
  // Each document keeps its uuid, which is also the user_id column, and a source position.
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE user_id::text = raw->'login'->>'uuid'"),
            rows);
  EXPECT_EQ(Int("SELECT count(DISTINCT position) FROM raw_users"), 111);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE origin LIKE 'file:%'"), 111);
  // Landing again is idempotent.
  Outcome again =
      RunSpate(dir_, Run({"--source", "file", "--input", file, "--raw-sink", "postgres"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 111);
}

TEST_F(Postgres, ServerStoppedMidStreamThenStartedEveryRecordLandsOnce) {
  const int count = 150000;
  SpateProcess run(
      dir_, Run({"--count", std::to_string(count), "--seed", "restart", "--raw-sink", "postgres"}));
  // Wait until rows are flowing, then take the server away for a few seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const PgRows r = rig_.Query("spate", "SELECT count(*) FROM created_users");
    if (r.ok() && !r.rows.empty() && r.rows[0][0] && std::stoll(*r.rows[0][0]) > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t before = Int("SELECT count(*) FROM created_users");
  ASSERT_GT(before, 0);
  ASSERT_LT(before, count) << "the run finished before the server could be stopped";
  const PgStatus stopped = rig_.Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.error();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const PgStatus started = rig_.Start();
  ASSERT_TRUE(started.ok()) << started.error();
  Outcome outcome = run.Wait(std::chrono::seconds(180));
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), count);
  EXPECT_EQ(Int("SELECT count(DISTINCT id) FROM created_users"), count);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), count);
  // It said what was happening, and never showed the password.
  EXPECT_NE(outcome.err.find("retrying"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("reconnected"), std::string::npos) << outcome.err;
  EXPECT_EQ(outcome.err.find(rig_.password()), std::string::npos) << outcome.err;
}

TEST_F(Postgres, WrongPasswordOrMissingDatabaseFailsFastWithTheFixAndWritesNothing) {
  const std::string bad_password = rig_.Dsn("spate", "postgres", "not-the-password");
  const auto t0 = std::chrono::steady_clock::now();
  Outcome wrong = RunSpate(dir_, {"run", "--sink", "postgres", "--pg-dsn", bad_password, "--count",
                                  "100", "--data-dir", dir_.File("d")});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("password authentication failed"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("SPATE_PG_DSN"), std::string::npos) << "names the fix: " << wrong.err;
  EXPECT_EQ(wrong.err.find("not-the-password"), std::string::npos) << wrong.err;
  EXPECT_EQ(Int("SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                "('created_users', 'raw_users', 'rejected_users', 'spate_schema')"),
            0)
      << "nothing half-written";

  Outcome missing = RunSpate(dir_, {"run", "--sink", "postgres", "--pg-dsn", rig_.Dsn("nope"),
                                    "--count", "100", "--data-dir", dir_.File("d")});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("database \"nope\" does not exist"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("createdb"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.err.find(rig_.password()), std::string::npos) << missing.err;

  // The password may also come from the environment, and is not logged from there either.
  setenv("SPATE_PG_DSN", dsn_.c_str(), 1);
  Outcome env = RunSpate(dir_, {"run", "--sink", "postgres", "--count", "10", "--data-dir",
                                dir_.File("d"), "--log-level", "debug"});
  unsetenv("SPATE_PG_DSN");
  EXPECT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 10);
  EXPECT_EQ(env.err.find(rig_.password()), std::string::npos) << env.err;
}

TEST_F(Postgres, ASchemaItDoesNotKnowIsRefusedNotAltered) {
  PgStatus s = rig_.Exec("spate", "CREATE TABLE created_users (id text, name text)");
  ASSERT_TRUE(s.ok()) << s.error();
  Outcome run = RunSpate(dir_, Run({"--count", "10"}));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("table created_users is not what spate expects"), std::string::npos)
      << run.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                "'spate_schema'"),
            0)
      << "the refused set-up was rolled back";

  s = rig_.Exec("spate",
                "DROP TABLE created_users; CREATE TABLE spate_schema (version integer NOT NULL); "
                "INSERT INTO spate_schema VALUES (99)");
  ASSERT_TRUE(s.ok()) << s.error();
  Outcome newer = RunSpate(dir_, Run({"--count", "10"}));
  EXPECT_NE(newer.exit_code, 0);
  EXPECT_NE(newer.err.find("schema version 99"), std::string::npos) << newer.err;
}

TEST_F(Postgres, ValuesThatAttackTheSqlAreStoredVerbatimOrDeadLettered) {
  const std::vector<std::string> hostile = {
      "Robert'); DROP TABLE created_users; --",
      "back\\slash \\' \\\\ and \"double\" 'single'",
      "tab\there, newline\nthere, return\rthere",
      "\\N",  // COPY's NULL marker, as data.
      "$1 $$ ; SELECT pg_sleep(10); --",
      "unicode \u00fc \u65e5\u672c \U0001F418",
      std::string(300000, 'x') + "'end",
  };
  std::string lines;
  for (size_t i = 0; i < hostile.size(); ++i) {
    lines += User(fmt::format("00000000-0000-4000-8000-{:012}", i), hostile[i], "Last") + "\n";
  }
  // A NUL character: PostgreSQL text cannot hold it, so it must be dead-lettered.
  lines += User("00000000-0000-4000-8000-000000000099", std::string("nul\0byte", 8), "Last") + "\n";
  const std::string file = dir_.File("hostile.jsonl");
  std::ofstream(file) << lines;
  Outcome run =
      RunSpate(dir_, Run({"--source", "file", "--input", file, "--raw-sink", "postgres"}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The summary counts the row PostgreSQL could not hold as rejected, not stored.
  EXPECT_NE(run.err.find("7 rows stored, 1 rejected"), std::string::npos) << run.err;

  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), static_cast<int64_t>(hostile.size()));
  for (size_t i = 0; i < hostile.size(); ++i) {
    const PgRows r = rig_.Query("spate", "SELECT first_name FROM created_users WHERE id = $1",
                                {fmt::format("00000000-0000-4000-8000-{:012}", i)});
    ASSERT_TRUE(r.ok()) << r.status.error();
    ASSERT_EQ(r.rows.size(), 1u) << i;
    ASSERT_TRUE(r.rows[0][0].has_value());
    EXPECT_EQ(*r.rows[0][0], hostile[i]) << "row " << i << " not verbatim";
  }
  EXPECT_EQ(Int("SELECT count(*) FROM created_users WHERE id = "
                "'00000000-0000-4000-8000-000000000099'"),
            0);
  // Issue 17, item 7: the row (created_users) and the raw document (raw_users) are the same
  // record, so one dead letter, with the record's line, item and bytes.
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users WHERE reason LIKE '%NUL%'"), 1);
  const PgRows dead = rig_.Query(
      "spate", "SELECT position, item, raw, origin FROM rejected_users WHERE reason LIKE '%NUL%'");
  ASSERT_TRUE(dead.ok()) << dead.status.error();
  ASSERT_EQ(dead.rows.size(), 1u);
  EXPECT_EQ(*dead.rows[0][0], std::to_string(hostile.size() + 1)) << "the record's line";
  EXPECT_EQ(*dead.rows[0][1], "0");
  // The bytes as ingest left them: the line without its login secrets.
  EXPECT_EQ(dead.rows[0][2]->find("68756e74657232"), std::string::npos) << "no hunter2";
  EXPECT_EQ(dead.rows[0][2]->rfind("\\x7b22", 0), 0u) << "a JSON document";
  EXPECT_NE(dead.rows[0][2]->find("6e756c5c7530303030627974"), std::string::npos)
      << "keeps nul\\u0000byte as written: " << *dead.rows[0][2];
  EXPECT_EQ(dead.rows[0][3]->rfind("file:", 0), 0u) << *dead.rows[0][3];

  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), static_cast<int64_t>(hostile.size()));
  // The raw documents are verbatim too.
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE raw->'name'->>'first' = "
                "'Robert''); DROP TABLE created_users; --'"),
            1);
}

TEST_F(Postgres, ProduceLandsRawRecordsAndProcessStoresRowsFromKafka) {
  KafkaRig::Options options;
  options.topics = {"users_created:6"};
  KafkaRig kafka(options);
  ASSERT_TRUE(kafka.ok()) << kafka.error();
  // Ingest lands each raw record in PostgreSQL before it goes to the topic.
  Outcome produced =
      RunSpate(dir_, {"produce", "--brokers", kafka.bootstrap(), "--count", "3000", "--seed", "pgk",
                      "--raw-sink", "postgres", "--pg-dsn", dsn_, "--progress", "never"});
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 3000);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE raw->'login' ? 'password'"), 0);
  EXPECT_EQ(KcatConsume(kafka.bootstrap(), "users_created", "%k").size(), 3000u);

  // A consumer group member stores the rows: the same users as the landed documents.
  Outcome processed =
      RunSpate(dir_, {"process", "--brokers", kafka.bootstrap(), "--group", "pg", "--exit-at-end",
                      "--sink", "postgres", "--pg-dsn", dsn_, "--data-dir", dir_.File("data"),
                      "--progress", "never", "--kafka-opt", "session.timeout.ms=6000"});
  ASSERT_EQ(processed.exit_code, 0) << processed.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 3000);
  EXPECT_EQ(Int("SELECT count(*) FROM created_users c JOIN raw_users r ON r.user_id = c.id"), 3000);
}

}  // namespace
}  // namespace spate
