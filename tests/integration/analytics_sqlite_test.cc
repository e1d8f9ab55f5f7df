// Aggregations in SQLite (issue 19): after every committed batch, each aggregate table must
// equal the GROUP BY that the oracle (aggregate_oracle.h) computes over created_users read
// back from the database, however the rows arrived: the same input twice, users arriving
// again with other fields (moving group and window, taking out a min or max), two writers on
// one database, a definition that changed.
#include <gtest/gtest.h>

#include <csignal>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../unit/test_util.h"
#include "aggregate_oracle.h"
#include "core/clock.h"
#include "kafka_rig.h"
#include "sinks/sqlite_sink.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::AggCell;
using spate::testing::AggTableRow;
using spate::testing::CompareAggregates;
using spate::testing::KafkaRig;
using spate::testing::OracleAggregate;
using spate::testing::OracleParseIsoMillis;
using spate::testing::OracleRow;
using spate::testing::Outcome;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;
using spate::testing::WaitFor;
using namespace std::chrono_literals;

AggregationSpec Spec(std::string_view item) {
  auto spec = ParseAggregation(item);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  return spec.ok() ? std::move(spec).value() : AggregationSpec{};
}

// The issue's example, a hopping one with every function, and one with no group columns.
std::vector<AggregationSpec> Specs() {
  return {Spec("users_per_minute_by_country:1m:country"),
          Spec(R"j({"name": "hopping", "window": "1m", "slide": "20s",
                   "group_by": ["gender", "age_band"],
                   "agg": ["min(age)", "max(age)", "avg(latitude)", "sum(longitude)"]})j"),
          Spec(R"j({"name": "everyone", "window": "10s",
                   "agg": ["min(latitude)", "max(longitude)", "avg(age)", "max(age)"]})j")};
}

// A user as the test knows it; rows point into it.
struct User {
  std::string id, country, gender, nat;
  int64_t age = 0;
  double latitude = 0, longitude = 0;
  int64_t event_ms = 0;

  Row ToRow() const {
    Row row;
    row.id = id;
    row.country = country;
    row.gender = gender;
    row.nat = nat;
    row.age = age;
    row.latitude = latitude;
    row.longitude = longitude;
    row.ingested_at_ms = event_ms;
    return row;
  }
};

constexpr int64_t kBase = 1764979200000;  // 2025-12-06T00:00:00Z

// Random users drawn from small sets, so that groups collect several rows and extremes tie.
class Users {
 public:
  explicit Users(uint32_t seed) : rng_(seed) {}

  User Make(std::string id) {
    User u;
    u.id = std::move(id);
    Change(u);
    return u;
  }
  // New values for every field but the id.
  void Change(User& u) {
    static const char* kCountries[] = {"Germany", "France", "Brazil", "Norway", ""};
    static const char* kGenders[] = {"female", "male"};
    u.country = kCountries[Pick(5)];
    u.gender = kGenders[Pick(2)];
    u.nat = u.country.substr(0, 2);
    u.age = 18 + Pick(60);
    u.latitude = (static_cast<double>(Pick(180000)) - 90000) / 1000.0;
    u.longitude = (static_cast<double>(Pick(360000)) - 180000) / 1000.0 + 0.1;
    u.event_ms = kBase + Pick(5 * 60 * 1000);  // Five minutes: windows fill and overlap.
  }
  uint32_t Pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

 private:
  std::mt19937 rng_;
};

Status WriteUsers(SqliteSink& sink, const std::vector<User>& users) {
  Batch batch;
  for (const User& u : users) batch.rows.push_back(u.ToRow());
  return sink.Write(batch);
}

std::vector<OracleRow> StoredRows(SqliteDb& db) {
  std::vector<OracleRow> rows;
  auto stmt = db.Prepare(
      "SELECT ingested_at, age, latitude, longitude, country, gender, nat FROM created_users");
  EXPECT_TRUE(stmt.ok());
  if (!stmt.ok()) return rows;
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    OracleRow row;
    row.event_ms =
        OracleParseIsoMillis(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0)));
    row.age = sqlite3_column_int64(stmt->get(), 1);
    row.latitude = sqlite3_column_double(stmt->get(), 2);
    row.longitude = sqlite3_column_double(stmt->get(), 3);
    const char* names[] = {"country", "gender", "nat"};
    for (int i = 0; i < 3; ++i) {
      row.text[names[i]] = reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 4 + i));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<AggTableRow> TableRows(SqliteDb& db, const std::string& table) {
  std::vector<AggTableRow> rows;
  auto stmt = db.Prepare("SELECT * FROM \"" + table + "\"");
  EXPECT_TRUE(stmt.ok()) << table;
  if (!stmt.ok()) return rows;
  sqlite3_stmt* s = stmt->get();
  while (sqlite3_step(s) == SQLITE_ROW) {
    AggTableRow row;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      const std::string name = sqlite3_column_name(s, i);
      AggCell cell;
      switch (sqlite3_column_type(s, i)) {
        case SQLITE_INTEGER:
          cell = static_cast<int64_t>(sqlite3_column_int64(s, i));
          break;
        case SQLITE_FLOAT:
          cell = sqlite3_column_double(s, i);
          break;
        case SQLITE_TEXT:
          cell = std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, i)));
          break;
        default:
          break;
      }
      if (name == "window_start" || name == "window_end") {
        const std::string* text = std::get_if<std::string>(&cell);
        cell = text ? OracleParseIsoMillis(*text) : int64_t{-2};
      }
      row[name] = std::move(cell);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<AggTableRow> TableRows(const std::string& data_dir, const std::string& table) {
  auto db = SqliteDb::Open(data_dir + "/spate.db", false);
  if (!db.ok()) return {};
  return TableRows(*db, table);
}

// "" when every table equals the oracle over what created_users holds. Read in one read
// transaction: a snapshot, also while a process writes.
std::string Invariant(const std::string& data_dir, const std::vector<AggregationSpec>& specs) {
  auto db = SqliteDb::Open(data_dir + "/spate.db", false);
  if (!db.ok()) return "cannot open the database: " + db.status().message();
  if (Status s = db->Exec("BEGIN"); !s.ok()) return s.message();
  const std::vector<OracleRow> stored = StoredRows(*db);
  std::string report;
  for (const AggregationSpec& spec : specs) {
    report += CompareAggregates(spec, OracleAggregate(spec, stored), TableRows(*db, spec.name));
  }
  (void)db->Exec("COMMIT");
  return report;
}

int64_t Count(const std::string& data_dir, const std::string& sql) {
  auto db = SqliteDb::Open(data_dir + "/spate.db", false);
  if (!db.ok()) return -1;
  auto stmt = db->Prepare(sql);
  if (!stmt.ok() || sqlite3_step(stmt->get()) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(stmt->get(), 0);
}

TEST(AnalyticsSqlite, IssueExampleTableHasTheColumnsAsWritten) {
  TempDir dir;
  SqliteSink sink(dir.path(), {Spec("users_per_minute_by_country:1m:country")});
  ASSERT_TRUE(sink.Open().ok());
  User a{
      "00000000-0000-4000-8000-000000000001", "Germany", "female", "DE", 30, 1, 2, kBase + 61000};
  User b = a;
  b.id = "00000000-0000-4000-8000-000000000002";
  User c = a;
  c.id = "00000000-0000-4000-8000-000000000003";
  c.country = "France";
  ASSERT_TRUE(WriteUsers(sink, {a, b, c}).ok());
  ASSERT_TRUE(sink.Close().ok());
  auto db = SqliteDb::Open(dir.path() + "/spate.db", false);
  ASSERT_TRUE(db.ok());
  auto stmt = db->Prepare(
      "SELECT window_start, country, users FROM users_per_minute_by_country ORDER BY "
      "window_start DESC, country");
  ASSERT_TRUE(stmt.ok()) << stmt.status().message();
  std::vector<std::string> got;
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    got.push_back(fmt::format("{} {} {}",
                              reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0)),
                              reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 1)),
                              sqlite3_column_int64(stmt->get(), 2)));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"2025-12-06T00:01:00.000Z France 1",
                                           "2025-12-06T00:01:00.000Z Germany 2"}));
  EXPECT_EQ(Count(dir.path(),
                  "SELECT count(*) FROM spate_aggregations WHERE name = "
                  "'users_per_minute_by_country' AND definition = '" +
                      Spec("users_per_minute_by_country:1m:country").Definition() + "'"),
            1);
  // No min/max: no index on ingested_at to slow inserts down.
  EXPECT_EQ(Count(dir.path(),
                  "SELECT count(*) FROM sqlite_schema WHERE name = "
                  "'created_users_ingested_at'"),
            0);
}

TEST(AnalyticsSqlite, TheSameInputTwiceCountsOnce) {
  TempDir dir;
  const auto specs = Specs();
  Users gen(1);
  std::vector<std::vector<User>> batches(8);
  int n = 0;
  for (auto& batch : batches) {
    for (int i = 0; i < 150; ++i) batch.push_back(gen.Make(fmt::format("id-{:05}", n++)));
  }
  SqliteSink sink(dir.path(), specs);
  ASSERT_TRUE(sink.Open().ok());
  for (const auto& batch : batches) ASSERT_TRUE(WriteUsers(sink, batch).ok());
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  const auto first = TableRows(dir.path(), "hopping");
  ASSERT_FALSE(first.empty());
  // Replayed in other batches, as a restarted consumer would.
  std::vector<User> all;
  for (const auto& batch : batches) all.insert(all.end(), batch.begin(), batch.end());
  for (size_t at = 0; at < all.size(); at += 333) {
    ASSERT_TRUE(WriteUsers(sink, std::vector<User>(all.begin() + at,
                                                   all.begin() + std::min(all.size(), at + 333)))
                    .ok());
  }
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  EXPECT_EQ(CompareAggregates(specs[1], first, TableRows(dir.path(), "hopping")), "");
  EXPECT_EQ(Count(dir.path(), "SELECT sum(users) FROM users_per_minute_by_country"), 1200);
  ASSERT_TRUE(sink.Close().ok());
}

TEST(AnalyticsSqlite, UsersArrivingAgainWithOtherFieldsMoveGroupAndWindow) {
  TempDir dir;
  const auto specs = Specs();
  SqliteSink sink(dir.path(), specs);
  ASSERT_TRUE(sink.Open().ok());
  // Three users in one group; the youngest and the oldest then move elsewhere, so the
  // group's min and max must be recomputed from who is left.
  User young{"u1", "Norway", "female", "NO", 20, 10.5, 20.5, kBase + 1000};
  User mid{"u2", "Norway", "female", "NO", 25, 11.5, 21.5, kBase + 2000};
  User old{"u3", "Norway", "female", "NO", 29, 12.5, 22.5, kBase + 3000};
  ASSERT_TRUE(WriteUsers(sink, {young, mid, old}).ok());
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  young.country = "Brazil";
  young.event_ms = kBase + 125000;  // Another window too.
  old.age = 41;                     // Another age band.
  ASSERT_TRUE(WriteUsers(sink, {young, old}).ok());
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  {
    // Only mid is left in the group of the twenties: min and max were both taken out.
    auto db = SqliteDb::Open(dir.path() + "/spate.db", false);
    ASSERT_TRUE(db.ok());
    auto stmt = db->Prepare(
        "SELECT users, min_age, max_age FROM hopping WHERE age_band = 20 AND gender = 'female' "
        "AND window_start = '2025-12-06T00:00:00.000Z'");
    ASSERT_TRUE(stmt.ok());
    ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(stmt->get(), 0), 1);
    EXPECT_EQ(sqlite3_column_int64(stmt->get(), 1), 25);
    EXPECT_EQ(sqlite3_column_int64(stmt->get(), 2), 25);
  }
  // The same id twice in one batch: only its last version counts.
  mid.age = 70;
  User mid2 = mid;
  mid2.age = 19;
  mid2.country = "France";
  ASSERT_TRUE(WriteUsers(sink, {mid, mid2}).ok());
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  // Everyone leaves the first minute: its groups are deleted, not left at zero.
  mid2.event_ms = kBase + 200000;
  old.event_ms = kBase + 210000;
  ASSERT_TRUE(WriteUsers(sink, {mid2, old}).ok());
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  EXPECT_EQ(Count(dir.path(), "SELECT count(*) FROM users_per_minute_by_country WHERE users <= 0"),
            0);
  EXPECT_EQ(Count(dir.path(),
                  "SELECT count(*) FROM everyone WHERE window_start < "
                  "'2025-12-06T00:00:10.000Z'"),
            0);
  ASSERT_TRUE(sink.Close().ok());
}

// Many batches of new users, rewrites with new fields and replays, the same id repeated
// within a batch: the invariant after every commit.
TEST(AnalyticsSqlite, RandomRewritesKeepEveryTableExactAfterEveryBatch) {
  TempDir dir;
  const auto specs = Specs();
  SqliteSink sink(dir.path(), specs);
  ASSERT_TRUE(sink.Open().ok());
  Users gen(7);
  std::vector<User> known;
  for (int b = 0; b < 40; ++b) {
    std::vector<User> batch;
    const int size = 1 + static_cast<int>(gen.Pick(60));
    for (int i = 0; i < size; ++i) {
      const uint32_t what = known.empty() ? 0 : gen.Pick(4);
      if (what == 0) {
        known.push_back(gen.Make(fmt::format("r-{}", known.size())));
        batch.push_back(known.back());
      } else if (what == 1) {
        batch.push_back(known[gen.Pick(static_cast<uint32_t>(known.size()))]);  // Replay.
      } else {
        User& u = known[gen.Pick(static_cast<uint32_t>(known.size()))];
        const User before = u;
        gen.Change(u);
        if (what == 2) u.event_ms = before.event_ms;  // Same windows, other fields.
        batch.push_back(u);
      }
    }
    ASSERT_TRUE(WriteUsers(sink, batch).ok());
    const std::string report = Invariant(dir.path(), specs);
    ASSERT_EQ(report, "") << "after batch " << b;
  }
  EXPECT_EQ(Count(dir.path(), "SELECT sum(users) FROM users_per_minute_by_country"),
            static_cast<int64_t>(known.size()));
  ASSERT_TRUE(sink.Close().ok());
}

// Two sinks on one database, as two `spate process` of one group: each batch's transaction
// reads the old rows under the write lock, so the tables stay exact.
TEST(AnalyticsSqlite, TwoWritersOnOneDatabase) {
  TempDir dir;
  const auto specs = Specs();
  SqliteSink a(dir.path(), specs);
  SqliteSink b(dir.path(), specs);
  ASSERT_TRUE(a.Open().ok());
  ASSERT_TRUE(b.Open().ok());
  Users gen(11);
  std::vector<User> known;
  for (int i = 0; i < 200; ++i) known.push_back(gen.Make(fmt::format("t-{}", i)));
  for (int round = 0; round < 10; ++round) {
    std::vector<User> to_a, to_b;
    for (int i = 0; i < 40; ++i) {
      User& u = known[gen.Pick(200)];
      if (gen.Pick(2)) gen.Change(u);
      (i % 2 ? to_a : to_b).push_back(u);
    }
    ASSERT_TRUE(WriteUsers(a, to_a).ok());
    ASSERT_TRUE(WriteUsers(b, to_b).ok());
  }
  EXPECT_EQ(Invariant(dir.path(), specs), "");
  ASSERT_TRUE(a.Close().ok());
  ASSERT_TRUE(b.Close().ok());
}

TEST(AnalyticsSqlite, AChangedDefinitionRebuildsFromCreatedUsers) {
  TempDir dir;
  Users gen(3);
  std::vector<User> users;
  for (int i = 0; i < 300; ++i) users.push_back(gen.Make(fmt::format("d-{}", i)));
  {
    // Rows stored before any aggregation existed.
    SqliteSink plain(dir.path());
    ASSERT_TRUE(plain.Open().ok());
    ASSERT_TRUE(WriteUsers(plain, users).ok());
    ASSERT_TRUE(plain.Close().ok());
  }
  auto spec = Spec("by_country:1m:country");
  {
    SqliteSink sink(dir.path(), {spec});
    ASSERT_TRUE(sink.Open().ok());  // Built from the 300 rows.
    EXPECT_EQ(Invariant(dir.path(), {spec}), "");
    EXPECT_EQ(Count(dir.path(), "SELECT sum(users) FROM by_country"), 300);
    ASSERT_TRUE(sink.Close().ok());
  }
  // Same name, other window and columns: rebuilt, never mixed.
  auto changed = Spec(R"j({"name": "by_country", "window": "2m", "slide": "1m",
                          "group_by": ["country", "gender"], "agg": ["max(latitude)"]})j");
  auto other = Spec("by_gender:30s:gender");
  {
    SqliteSink sink(dir.path(), {changed, other});
    ASSERT_TRUE(sink.Open().ok());
    EXPECT_EQ(Invariant(dir.path(), {changed, other}), "");
    EXPECT_EQ(Count(dir.path(),
                    "SELECT count(*) FROM spate_aggregations WHERE name = "
                    "'by_country' AND definition = '" +
                        changed.Definition() + "'"),
              1);
    EXPECT_EQ(Count(dir.path(),
                    "SELECT count(*) FROM sqlite_schema WHERE name = "
                    "'created_users_ingested_at'"),
              1);
    ASSERT_TRUE(sink.Close().ok());
  }
  // An aggregation no longer configured is left as it was (not maintained).
  const auto before = TableRows(dir.path(), "by_gender");
  {
    SqliteSink sink(dir.path(), {changed});
    ASSERT_TRUE(sink.Open().ok());
    gen.Change(users[0]);
    ASSERT_TRUE(WriteUsers(sink, {users[0], gen.Make("new-one")}).ok());
    EXPECT_EQ(Invariant(dir.path(), {changed}), "");
    ASSERT_TRUE(sink.Close().ok());
  }
  EXPECT_EQ(CompareAggregates(other, before, TableRows(dir.path(), "by_gender")), "");
  EXPECT_EQ(Count(dir.path(), "SELECT count(*) FROM spate_aggregations"), 2);
}

TEST(AnalyticsSqlite, ATableSpateDidNotMakeIsNeverDropped) {
  TempDir dir;
  {
    SqliteSink plain(dir.path());
    ASSERT_TRUE(plain.Open().ok());
    ASSERT_TRUE(plain.Close().ok());
  }
  {
    auto db = SqliteDb::Open(dir.path() + "/spate.db", /*create=*/true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE mine (x); INSERT INTO mine VALUES (42);").ok());
  }
  SqliteSink sink(dir.path(), {Spec("mine:1m")});
  const Status s = sink.Open();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("aggregation mine: a table mine exists that spate did not make"),
            std::string::npos)
      << s.message();
  (void)sink.Close();
  EXPECT_EQ(Count(dir.path(), "SELECT x FROM mine"), 42);
}

// ---- The binary: `spate process --sink sqlite --aggregate ...` from the Kafka mock rig ----

// The same three aggregations as flags (one shorthand, two JSON items).
std::vector<std::string> AggregateFlags() {
  return {
      "--aggregate",
      "users_per_minute_by_country:1m:country",
      "--aggregate",
      R"j({"name": "hopping", "window": "1m", "slide": "20s", "group_by": ["gender", "age_band"], "agg": ["min(age)", "max(age)", "avg(latitude)"]})j",
      "--aggregate",
      R"j({"name": "per_second", "window": "1s", "group_by": ["nat"], "agg": ["max(longitude)", "sum(age)"]})j"};
}

std::vector<AggregationSpec> FlagSpecs() {
  const auto flags = AggregateFlags();
  std::vector<AggregationSpec> specs;
  for (size_t i = 1; i < flags.size(); i += 2) specs.push_back(Spec(flags[i]));
  return specs;
}

std::vector<std::string> Kafka(const KafkaRig& rig, std::vector<std::string> args) {
  args.insert(args.end(), {"--brokers", rig.bootstrap(), "--progress", "never"});
  return args;
}

std::vector<std::string> Process(const KafkaRig& rig, const std::string& data,
                                 const std::string& group, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"process",
                                   "--sink",
                                   "sqlite",
                                   "--data-dir",
                                   data,
                                   "--group",
                                   group,
                                   "--kafka-opt",
                                   "session.timeout.ms=6000",
                                   "--kafka-opt",
                                   "heartbeat.interval.ms=500"};
  const auto flags = AggregateFlags();
  args.insert(args.end(), flags.begin(), flags.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return Kafka(rig, args);
}

int64_t Stored(const std::string& data) {
  return Count(data, "SELECT count(*) FROM created_users");
}

KafkaRig::Options Topic(const std::string& spec) {
  KafkaRig::Options options;
  options.topics = {spec};
  return options;
}

// kill -9 at several points mid-stream, each followed by a restart of the same group: every
// committed state (what the killed process left) and the end must satisfy the invariant.
// The topic holds every user twice (the same seed produced twice, later timestamps), so
// the second arrival moves users to other windows while the first may be re-read.
TEST(AnalyticsSqliteProcess, KillNineMidStreamAndRestartKeepTheTablesExact) {
  KafkaRig rig(Topic("users_created:4"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  constexpr int kUsers = 6000;
  for (int copy = 0; copy < 2; ++copy) {
    Outcome produced =
        RunSpate(dir, Kafka(rig, {"produce", "--count", std::to_string(kUsers), "--seed", "agg"}));
    ASSERT_EQ(produced.exit_code, 0) << produced.err;
    std::this_thread::sleep_for(1100ms);  // The second copy in later windows.
  }
  const auto specs = FlagSpecs();
  int kills = 0;
  for (const int64_t at : {int64_t{1000}, int64_t{3500}, int64_t{5500}}) {
    SpateProcess victim(
        dir, Process(rig, data, "crash",
                     {"--batch-size", "50", "--kafka-opt", "auto.commit.interval.ms=50"}));
    ASSERT_TRUE(WaitFor([&] { return Stored(data) >= at; }, 90s)) << victim.Stderr();
    victim.Signal(SIGKILL);
    EXPECT_EQ(victim.Wait(10s).exit_code, 128 + SIGKILL);
    ++kills;
    const std::string report = Invariant(data, specs);
    ASSERT_EQ(report, "") << "after kill " << kills << " at " << Stored(data) << " rows";
  }
  Outcome finished = RunSpate(dir, Process(rig, data, "crash", {"--exit-at-end"}));
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_EQ(Stored(data), kUsers);
  EXPECT_EQ(Invariant(data, specs), "");
  EXPECT_EQ(Count(data, "SELECT sum(users) FROM users_per_minute_by_country"), kUsers);
  // The whole topic again under another group: replays rewrite rows, counts do not move.
  const auto before = TableRows(data, "hopping");
  Outcome again = RunSpate(dir, Process(rig, data, "again", {"--exit-at-end"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Invariant(data, specs), "");
  EXPECT_EQ(CompareAggregates(specs[1], before, TableRows(data, "hopping")), "");
}

// Two copies of one group share the partitions and one database; one dies by SIGKILL, the
// other takes its partitions over and re-reads what it had not committed.
TEST(AnalyticsSqliteProcess, TwoCopiesShareTheWorkAndOneIsKilled) {
  KafkaRig rig(Topic("users_created:4"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  SpateProcess a(dir, Process(rig, data, "pair", {"--batch-size", "50"}));
  SpateProcess b(dir, Process(rig, data, "pair", {"--batch-size", "50"}));
  auto holds_partitions = [](const SpateProcess& p) {
    const std::string err = p.Stderr();
    const size_t last = err.rfind("assigned users_created[");
    return last != std::string::npos && err.find("revoked", last) == std::string::npos;
  };
  ASSERT_TRUE(WaitFor([&] { return holds_partitions(a) && holds_partitions(b); }, 60s))
      << a.Stderr() << "\n---\n"
      << b.Stderr();
  constexpr int kUsers = 6000;
  Outcome produced =
      RunSpate(dir, Kafka(rig, {"produce", "--count", std::to_string(kUsers), "--seed", "two"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  ASSERT_TRUE(WaitFor([&] { return Stored(data) >= kUsers / 3; }, 60s)) << a.Stderr();
  a.Signal(SIGKILL);
  EXPECT_EQ(a.Wait(10s).exit_code, 128 + SIGKILL);
  const auto specs = FlagSpecs();
  EXPECT_EQ(Invariant(data, specs), "") << "right after the kill";
  // The same users again (later timestamps: other windows) while b takes over.
  Outcome more =
      RunSpate(dir, Kafka(rig, {"produce", "--count", std::to_string(kUsers), "--seed", "two"}));
  ASSERT_EQ(more.exit_code, 0) << more.err;
  ASSERT_TRUE(WaitFor(
      [&] {
        return b.Stderr().find("assigned users_created[0,1,2,3]") != std::string::npos &&
               Count(data, "SELECT sum(users) FROM users_per_minute_by_country") == kUsers &&
               Invariant(data, specs).empty();
      },
      90s))
      << b.Stderr();
  b.Signal(SIGTERM);
  Outcome b_done = b.Wait(60s);
  ASSERT_EQ(b_done.exit_code, 0) << b_done.err;
  EXPECT_EQ(Stored(data), kUsers);
  EXPECT_EQ(Invariant(data, specs), "");
}

// A definition changed between two runs of the binary: the table is rebuilt at start.
TEST(AnalyticsSqliteProcess, RunWithAnotherDefinitionRebuildsTheTable) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome first = RunSpate(dir, {"run", "--count", "3000", "--data-dir", data, "--progress",
                                 "never", "--aggregate", "by_country:1m:country"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(Invariant(data, {Spec("by_country:1m:country")}), "");
  const auto changed = Spec(
      R"j({"name": "by_country", "window": "10s", "group_by": ["country", "gender"], "agg": ["min(age)"]})j");
  Outcome second = RunSpate(dir, {"run", "--count", "10", "--seed", "other", "--data-dir", data,
                                  "--progress", "never", "--aggregate", changed.Definition()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Invariant(data, {changed}), "");
  EXPECT_EQ(Count(data, "SELECT sum(users) FROM by_country"), 3010);
}

// A run that does not keep an aggregation stores rows its table never sees: a later run that
// keeps it again must rebuild it, not add to a table that misses them.
TEST(AnalyticsSqliteProcess, ARunWithoutTheAggregationMakesTheNextOneRebuildIt) {
  TempDir dir;
  const std::string data = dir.File("data");
  const std::vector<std::string> common = {"--data-dir", data, "--progress", "never"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    args.insert(args.end(), common.begin(), common.end());
    return RunSpate(dir, args);
  };
  Outcome first = run({"--count", "1000", "--aggregate", "by_country:1m:country"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  Outcome without = run({"--count", "1000", "--seed", "other"});
  ASSERT_EQ(without.exit_code, 0) << without.err;
  EXPECT_NE(without.err.find("no longer kept"), std::string::npos) << without.err;
  Outcome again = run({"--count", "10", "--seed", "third", "--aggregate", "by_country:1m:country"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Invariant(data, {Spec("by_country:1m:country")}), "");
  EXPECT_EQ(Count(data, "SELECT sum(users) FROM by_country"), 2010);
}

}  // namespace
}  // namespace spate
