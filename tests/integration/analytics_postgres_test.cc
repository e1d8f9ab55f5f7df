// Aggregations kept exact in PostgreSQL (issue 19), on a real throwaway server (pg_rig.h).
//
// Every check is the invariant: each aggregate table equals the oracle's GROUP BY
// (aggregate_oracle.h, which shares no code with the sink) over created_users as read back.
// The sink-level tests write hand-made rows, so event times, moved users and the two write
// paths are chosen: a batch whose ids are all new goes in by COPY straight into
// created_users (the INSERT trigger), one with a known id by the staging table and
// INSERT ... ON CONFLICT DO UPDATE (the UPDATE and INSERT triggers). The end-to-end tests run
// `spate process --sink postgres` from the Kafka mock rig, killed with SIGKILL mid-stream, and
// two copies sharing the partitions.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "aggregate_oracle.h"
#include "analytics/aggregate.h"
#include "kafka_rig.h"
#include "pg_rig.h"
#include "sinks/pg_aggregate.h"
#include "sinks/postgres_sink.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::AggCell;
using spate::testing::AggTableRow;
using spate::testing::CompareAggregates;
using spate::testing::KafkaRig;
using spate::testing::OracleAggregate;
using spate::testing::OracleRow;
using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;
using spate::testing::WaitFor;
using namespace std::chrono_literals;

AggregationSpec Spec(std::string name, int64_t size_ms, int64_t slide_ms,
                     std::vector<std::string> group_by, std::vector<AggValue> values = {}) {
  AggregationSpec spec;
  spec.name = std::move(name);
  spec.size_ms = size_ms;
  spec.slide_ms = slide_ms;
  spec.group_by = std::move(group_by);
  spec.values = std::move(values);
  return spec;
}

// Three aggregations that between them use a tumbling and a hopping window, text and
// integer group columns (age_band computed, age as is), and every function.
std::vector<AggregationSpec> ThreeSpecs() {
  return {Spec("users_per_minute_by_country", 60000, 60000, {"country"}),
          Spec("ages_hopping", 60000, 20000, {"gender", "age_band"},
               {{AggFunction::kMin, "age"}, {AggFunction::kMax, "age"}}),
          Spec("geo_by_nat", 30000, 30000, {"nat", "age"},
               {{AggFunction::kAvg, "latitude"},
                {AggFunction::kSum, "longitude"},
                {AggFunction::kMin, "latitude"},
                {AggFunction::kMax, "longitude"},
                {AggFunction::kAvg, "age"}})};
}

// A user as the tests make them: the columns aggregations read, and when it arrived.
struct User {
  std::string id;
  std::string country;
  std::string gender;
  std::string nat;
  int64_t age = 0;
  double latitude = 0;
  double longitude = 0;
  int64_t event_ms = 0;
};

// 2026-12-06T09:00:12.345Z: not on any window boundary.
constexpr int64_t kBaseMs = 1796547612345;

std::string UserId(int i) { return fmt::format("00000000-0000-4000-8000-{:012x}", i); }

// `n` users from number `first`, spread over about ten minutes with a few small groups.
std::vector<User> MakeUsers(int first, int n, uint32_t seed) {
  std::mt19937 random(seed);
  const char* countries[] = {"Germany", "France", "Norway", "Brazil", "India"};
  const char* genders[] = {"female", "male"};
  const char* nats[] = {"DE", "FR", "NO", "BR"};
  std::vector<User> users;
  for (int i = first; i < first + n; ++i) {
    User u;
    u.id = UserId(i);
    u.country = countries[random() % 5];
    u.gender = genders[random() % 2];
    u.nat = nats[random() % 4];
    u.age = 18 + static_cast<int64_t>(random() % 60);
    u.latitude = static_cast<double>(random() % 180000) / 1000.0 - 90.0;
    u.longitude = static_cast<double>(random() % 360000) / 1000.0 - 180.0;
    u.event_ms = kBaseMs + static_cast<int64_t>(random() % 600000);
    users.push_back(std::move(u));
  }
  return users;
}

Row ToRow(const User& u) {
  Row row;
  row.id = u.id;
  row.country = u.country;
  row.gender = u.gender;
  row.nat = u.nat;
  row.age = u.age;
  row.latitude = u.latitude;
  row.longitude = u.longitude;
  row.ingested_at_ms = u.event_ms;
  return row;
}

// The rows of `users` in batches of `per_batch` (rows point into `users`: keep it alive).
std::vector<Batch> Batches(const std::vector<User>& users, size_t per_batch) {
  std::vector<Batch> batches;
  for (size_t i = 0; i < users.size(); i += per_batch) {
    Batch batch;
    batch.origin = "test";
    for (size_t j = i; j < std::min(users.size(), i + per_batch); ++j) {
      batch.rows.push_back(ToRow(users[j]));
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

class AnalyticsPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgStatus started = rig_.Start();
    ASSERT_TRUE(started.ok()) << started.error();
    const PgStatus created = rig_.CreateDatabase("spate");
    ASSERT_TRUE(created.ok()) << created.error();
    dsn_ = rig_.Dsn("spate");
  }

  PostgresSinkOptions Options(std::vector<AggregationSpec> aggregations) const {
    PostgresSinkOptions options;
    options.dsn = dsn_;
    options.aggregations = std::move(aggregations);
    return options;
  }

  // Writes `users` through a sink of its own with `specs`, retrying what is retriable (a
  // deadlock between concurrent writers) as the pipeline would.
  void Write(const std::vector<AggregationSpec>& specs, const std::vector<User>& users,
             size_t per_batch = 250, const std::string& dsn = "") {
    PostgresSinkOptions options = Options(specs);
    if (!dsn.empty()) options.dsn = dsn;
    PostgresSink sink(options);
    ASSERT_TRUE(sink.Open().ok());
    for (const Batch& batch : Batches(users, per_batch)) {
      Status s = sink.Write(batch);
      for (int attempt = 0; !s.ok() && s.retriable() && attempt < 20; ++attempt) {
        s = sink.Write(batch);
      }
      ASSERT_TRUE(s.ok()) << s.message();
    }
    ASSERT_TRUE(sink.Close().ok());
  }

  PgRows Query(const std::string& sql) const {
    PgRows rows = rig_.Query("spate", sql);
    EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status.error();
    return rows;
  }

  int64_t Int(const std::string& sql) const {
    const PgRows r = Query(sql);
    if (!r.ok() || r.rows.size() != 1 || !r.rows[0].at(0)) return -1;
    return std::stoll(*r.rows[0][0]);
  }

  // `sql`'s rows on `conn` (one snapshot for several reads), as text.
  static PgRows QueryOn(PGconn* conn, const std::string& sql) {
    PgRows out;
    spate::PgResult result(PQexec(conn, sql.c_str()));
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      out.status = PgStatus::Error(sql + ": " + PQerrorMessage(conn));
      return out;
    }
    for (int i = 0; i < PQntuples(result.get()); ++i) {
      spate::testing::PgValues row;
      for (int j = 0; j < PQnfields(result.get()); ++j) {
        if (PQgetisnull(result.get(), i, j)) {
          row.emplace_back();
        } else {
          row.emplace_back(PQgetvalue(result.get(), i, j));
        }
      }
      out.rows.push_back(std::move(row));
    }
    return out;
  }

  // created_users as the oracle reads it.
  std::vector<OracleRow> StoredRows(PGconn* conn) const {
    std::vector<OracleRow> out;
    const PgRows r = QueryOn(
        conn,
        "SELECT floor(extract(epoch FROM ingested_at) * 1000)::bigint, country, gender, nat, age, "
        "latitude, longitude FROM created_users");
    EXPECT_TRUE(r.ok()) << r.status.error();
    for (const auto& v : r.rows) {
      OracleRow row;
      row.event_ms = std::stoll(*v[0]);
      row.text["country"] = v[1].value_or("");
      row.text["gender"] = v[2].value_or("");
      row.text["nat"] = v[3].value_or("");
      row.age = std::stoll(*v[4]);
      row.latitude = std::stod(*v[5]);
      row.longitude = std::stod(*v[6]);
      out.push_back(std::move(row));
    }
    return out;
  }

  // An aggregation's table, each column typed as aggregate.h says (window bounds in ms).
  std::vector<AggTableRow> Table(PGconn* conn, const AggregationSpec& spec) const {
    const std::vector<AggColumn> columns = AggregateColumns(spec);
    std::string select;
    for (const AggColumn& c : columns) {
      select += select.empty() ? "" : ", ";
      select += c.type == AggColumn::Type::kTimestamp
                    ? fmt::format("floor(extract(epoch FROM {}) * 1000)::bigint", c.name)
                    : c.name;
    }
    std::vector<AggTableRow> out;
    const PgRows r = QueryOn(conn, fmt::format("SELECT {} FROM {}", select, spec.name));
    EXPECT_TRUE(r.ok()) << r.status.error();
    for (const auto& v : r.rows) {
      AggTableRow row;
      for (size_t i = 0; i < columns.size(); ++i) {
        if (!v[i]) {
          row[columns[i].name] = AggCell{};
        } else if (columns[i].type == AggColumn::Type::kText) {
          row[columns[i].name] = *v[i];
        } else if (columns[i].type == AggColumn::Type::kReal) {
          row[columns[i].name] = std::stod(*v[i]);
        } else {
          row[columns[i].name] = static_cast<int64_t>(std::stoll(*v[i]));
        }
      }
      out.push_back(std::move(row));
    }
    return out;
  }

  // "" when every table of `specs` equals the oracle over created_users; else what differs.
  // All read in one snapshot, so it holds at a committed point while writers go on.
  std::string Invariant(const std::vector<AggregationSpec>& specs) const {
    std::string error;
    spate::PgConn conn = rig_.Connect("spate", &error);
    if (!conn) return "connect: " + error;
    spate::PgResult begin(PQexec(conn.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    if (PQresultStatus(begin.get()) != PGRES_COMMAND_OK) return PQerrorMessage(conn.get());
    const std::vector<OracleRow> rows = StoredRows(conn.get());
    std::string report;
    for (const AggregationSpec& spec : specs) {
      report += CompareAggregates(spec, OracleAggregate(spec, rows), Table(conn.get(), spec));
    }
    return report;
  }

  // Every aggregate table's rows, printed in key order: for "nothing changed" checks.
  std::string Snapshot(const std::vector<AggregationSpec>& specs) const {
    std::string out;
    for (const AggregationSpec& spec : specs) {
      const PgRows r = Query(fmt::format("SELECT * FROM {} ORDER BY 1, 3, 4", spec.name));
      for (const auto& v : r.rows) {
        for (const auto& cell : v) out += cell.value_or("NULL") + "|";
        out += "\n";
      }
    }
    return out;
  }

  TempDir dir_;
  PgRig rig_;
  std::string dsn_;
};

TEST_F(AnalyticsPostgres, TablesMatchTheOracleAfterCopyAndTheSameInputAgainChangesNothing) {
  const std::vector<AggregationSpec> specs = ThreeSpecs();
  const std::vector<User> users = MakeUsers(0, 3000, 1);
  // All ids new: COPY straight into created_users, the INSERT trigger.
  Write(specs, users);
  ASSERT_EQ(Int("SELECT count(*) FROM created_users"), 3000);
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Int("SELECT sum(users) FROM users_per_minute_by_country"), 3000);
  // Hopping: each row is in window/slide = 3 windows.
  EXPECT_EQ(Int("SELECT sum(users) FROM ages_hopping"), 9000);
  const std::string before = Snapshot(specs);

  // The same rows again: every id collides, so the staging table and ON CONFLICT DO UPDATE,
  // whose UPDATE trigger sees 3000 rewritten rows that contribute nothing.
  Write(specs, users, 400);
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Snapshot(specs), before);
  const PgRows definitions = Query("SELECT name, definition FROM spate_aggregations ORDER BY name");
  ASSERT_EQ(definitions.rows.size(), 3u);
  EXPECT_EQ(*definitions.rows[0][1], specs[1].Definition());
}

TEST_F(AnalyticsPostgres, AUserArrivingAgainWithChangedFieldsMovesGroupAndWindow) {
  const std::vector<AggregationSpec> specs = ThreeSpecs();
  std::vector<User> users = MakeUsers(0, 2000, 2);
  users[0].age = 10;  // The only one this young (MakeUsers: 18 to 77), and
  users[1].age = 95;  // the only one this old: each is their group's min or max.
  Write(specs, users);
  ASSERT_EQ(Invariant(specs), "");
  ASSERT_EQ(Int("SELECT min(min_age) FROM ages_hopping"), 10);
  ASSERT_EQ(Int("SELECT max(max_age) FROM ages_hopping"), 95);

  // The youngest and the oldest user (each the min or max of their groups), and every
  // seventh, arrive again changed: another country, gender and age band, a window minutes
  // later, other coordinates. In the same batches, new users (the INSERT trigger of the
  // ON CONFLICT statement).
  auto youngest = std::min_element(users.begin(), users.end(),
                                   [](const User& a, const User& b) { return a.age < b.age; });
  auto oldest = std::max_element(users.begin(), users.end(),
                                 [](const User& a, const User& b) { return a.age < b.age; });
  const int64_t min_age_before = youngest->age;
  std::vector<User> again;
  for (size_t i = 0; i < users.size(); ++i) {
    User& u = users[i];
    if (i % 7 != 0 && &u != &*youngest && &u != &*oldest) continue;
    u.country = u.country == "Germany" ? "France" : "Germany";
    u.gender = u.gender == "female" ? "male" : "female";
    u.age = u.age < 50 ? u.age + 25 : u.age - 25;
    u.event_ms += 7 * 60000 + 1234;
    u.latitude = -u.latitude;
    u.longitude /= 2;
    again.push_back(u);
  }
  const std::vector<User> fresh = MakeUsers(5000, 300, 3);
  again.insert(again.end(), fresh.begin(), fresh.end());
  Write(specs, again);
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 2300);
  EXPECT_GT(Int("SELECT min(min_age) FROM ages_hopping"), min_age_before)
      << "the youngest user grew older: the minimum must have been recomputed";
  EXPECT_LT(Int("SELECT max(max_age) FROM ages_hopping"), 95)
      << "the oldest user grew younger: the maximum must have been recomputed";

  // A change within a group: only the age of some users, down by one (the max retracts).
  std::vector<User> older;
  for (size_t i = 1; i < users.size(); i += 5) {
    users[i].age -= 1;
    older.push_back(users[i]);
  }
  Write(specs, older);
  EXPECT_EQ(Invariant(specs), "");

  // Rows deleted by hand: the DELETE trigger takes them out, emptied groups go.
  ASSERT_TRUE(rig_.Exec("spate", "DELETE FROM created_users WHERE country = 'Norway'").ok());
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Int("SELECT count(*) FROM users_per_minute_by_country WHERE country = 'Norway'"), 0);

  // TRUNCATE fires no DELETE trigger: its own empties the aggregates.
  ASSERT_TRUE(rig_.Exec("spate", "TRUNCATE created_users").ok());
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Int("SELECT count(*) FROM ages_hopping"), 0);
}

TEST_F(AnalyticsPostgres, ADefinitionChangeRebuildsAndAnUnconfiguredOneStopsBeingKept) {
  std::vector<AggregationSpec> v1 = {Spec("signups", 60000, 60000, {"country"})};
  Write(v1, MakeUsers(0, 1500, 4));
  ASSERT_EQ(Invariant(v1), "");

  // Same name, other window and group: rebuilt from created_users at Open.
  std::vector<AggregationSpec> v2 = {
      Spec("signups", 30000, 10000, {"gender"}, {{AggFunction::kMax, "age"}})};
  Write(v2, MakeUsers(1500, 500, 5));
  EXPECT_EQ(Invariant(v2), "");
  EXPECT_EQ(Int("SELECT count(*) FROM information_schema.columns WHERE table_name = 'signups' "
                "AND column_name = 'country'"),
            0);
  const PgRows stored = Query("SELECT definition FROM spate_aggregations WHERE name = 'signups'");
  ASSERT_EQ(stored.rows.size(), 1u);
  EXPECT_EQ(*stored.rows[0][0], v2[0].Definition());

  // A run without it: its triggers go, its table stays as it was (no longer kept).
  Write({}, MakeUsers(2000, 400, 6));
  EXPECT_EQ(Int("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'spate_agg_signups%'"), 0);
  EXPECT_NE(Invariant(v2), "") << "an unconfigured aggregation is not kept any more";
  EXPECT_EQ(Int("SELECT sum(users) FROM signups"), 3 * 2000);

  // Configured again with the same definition: its triggers were gone, so it is rebuilt.
  Write(v2, MakeUsers(2400, 100, 7));
  EXPECT_EQ(Invariant(v2), "");
  EXPECT_EQ(Int("SELECT sum(users) FROM signups"), 3 * 2500);
}

TEST_F(AnalyticsPostgres, ATableSpateDidNotMakeIsRefusedNotDropped) {
  ASSERT_TRUE(
      rig_.Exec("spate", "CREATE TABLE signups (x int); INSERT INTO signups VALUES (1)").ok());
  PostgresSink sink(Options({Spec("signups", 60000, 60000, {"country"})}));
  const Status opened = sink.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.message().find("spate did not make it"), std::string::npos) << opened.message();
  EXPECT_EQ(Int("SELECT x FROM signups"), 1);
}

TEST_F(AnalyticsPostgres, ConcurrentWritersOfTheSameUsersStayExact) {
  const std::vector<AggregationSpec> specs = ThreeSpecs();
  // Two writers, each with its own connection, write overlapping users (half the ids are in
  // both, with different fields) in small batches at the same time: the aggregate rows they
  // share are locked in key order; a deadlock (the ON CONFLICT path locks in two steps) is
  // retried as the pipeline retries it.
  std::vector<User> a = MakeUsers(0, 2000, 8);
  std::vector<User> b = MakeUsers(1000, 2000, 9);
  Write(specs, {});  // The tables, so that the checks below can read them from the start.
  std::atomic<int> running = 2;
  std::jthread first([&] {
    Write(specs, a, 50);
    --running;
  });
  std::jthread second([&] {
    Write(specs, b, 50);
    --running;
  });
  // Meanwhile, at committed points (one snapshot each), the invariant already holds.
  for (int i = 0; i < 5 && running > 0; ++i) {
    EXPECT_EQ(Invariant(specs), "") << "while both write";
  }
  first.join();
  second.join();
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 3000);
  EXPECT_EQ(Invariant(specs), "");
}

TEST_F(AnalyticsPostgres, TheAdminScriptBuildsWhatOpenThenKeeps) {
  const std::vector<AggregationSpec> specs = ThreeSpecs();
  auto script = PostgresSink::SchemaSql(specs);
  ASSERT_TRUE(script.ok()) << script.status().message();
  const PgStatus ran = rig_.Exec("spate", *script);
  ASSERT_TRUE(ran.ok()) << ran.error();
  const int64_t table = Int("SELECT 'ages_hopping'::regclass::oid::bigint");
  Write(specs, MakeUsers(0, 1000, 10));
  // Open found everything as configured: nothing rebuilt.
  EXPECT_EQ(Int("SELECT 'ages_hopping'::regclass::oid::bigint"), table);
  EXPECT_EQ(Invariant(specs), "");
  // The script run again (an admin upgrading) rebuilds from what is there.
  ASSERT_TRUE(rig_.Exec("spate", *script).ok());
  EXPECT_EQ(Invariant(specs), "");

  // A role that may only read and write (PostgreSQL 15: no CREATE on schema public) runs
  // spate on what the admin made, and its writes keep the aggregates.
  ASSERT_TRUE(rig_.Exec("spate",
                        "CREATE ROLE writer LOGIN PASSWORD 'writer-pw'; "
                        "GRANT SELECT ON spate_schema, spate_aggregations TO writer; "
                        "GRANT SELECT, INSERT, UPDATE ON created_users, rejected_users TO writer; "
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON users_per_minute_by_country, "
                        "ages_hopping, geo_by_nat TO writer")
                  .ok());
  const std::string writer = rig_.Dsn("spate", "writer", "writer-pw");
  Write(specs, MakeUsers(1000, 800, 11), 200, writer);
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 1800);
  EXPECT_EQ(Invariant(specs), "");
  // Another definition needs the admin: refused with the fix, nothing changed.
  std::vector<AggregationSpec> changed = specs;
  changed[0].size_ms = changed[0].slide_ms = 30000;
  PostgresSinkOptions options = Options(changed);
  options.dsn = writer;
  PostgresSink sink(options);
  const Status opened = sink.Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.message().find("spate schema --sink postgres"), std::string::npos)
      << opened.message();
  EXPECT_EQ(Invariant(specs), "");
  // Without aggregations configured, this role may not drop the admin's triggers: it warns
  // and runs, and they go on keeping the tables.
  Write({}, MakeUsers(2000, 300, 12), 100, writer);
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 2100);
  EXPECT_EQ(Invariant(specs), "");
}

TEST(PgAggregateSql, RefusesSpecsItCannotTurnIntoSafeSql) {
  // Hand-built specs (the parser refuses these too; the sink does not rely on it).
  const std::vector<AggregationSpec> bad = {
      Spec("x\"; DROP TABLE created_users; --", 60000, 60000, {"country"}),
      Spec("Upper", 60000, 60000, {"country"}),
      Spec(std::string(49, 'a'), 60000, 60000, {"country"}),
      Spec("ok", 60000, 60000, {"id"}),
      Spec("ok", 60000, 60000, {"ingested_at"}),
      Spec("ok", 60000, 60000, {"country\" text, x"}),
      Spec("ok", 60000, 60000, {"country", "country"}),
      Spec("ok", 60000, 60000, {"country"}, {{AggFunction::kMax, "email"}}),
      Spec("ok", 60000, 25000, {"country"}),
      Spec("ok", 0, 0, {"country"})};
  for (const AggregationSpec& spec : bad) {
    EXPECT_FALSE(MakePgAggregateSql(spec).ok()) << spec.name << " " << spec.group_by[0];
  }
  auto good = MakePgAggregateSql(
      Spec("ok", 60000, 20000, {"country", "age_band"}, {{AggFunction::kAvg, "latitude"}}));
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_FALSE(good->uses_min_max);
  EXPECT_EQ(good->key, (std::vector<std::string>{"window_start", "country", "age_band"}));
}

// --- end to end: spate process from Kafka into PostgreSQL ---

// The aggregations of the end-to-end tests as flags, and as specs for the oracle. Windows of
// a second or less, so records produced within seconds fall in many windows.
const std::vector<std::string> kAggregateFlags = {
    "by_country:1s:country",
    R"j({"name":"ages","window":"2s","slide":"500ms","group_by":["gender","age_band"],)j"
    R"j("agg":["min(age)","max(age)"]})j",
    R"j({"name":"geo","window":"1s","group_by":["nat"],"agg":["avg(latitude)","max(longitude)"]})j"};

std::vector<AggregationSpec> FlagSpecs() {
  auto specs = ParseAggregations(kAggregateFlags);
  EXPECT_TRUE(specs.ok()) << specs.status().message();
  return specs.ok() ? specs.value() : std::vector<AggregationSpec>{};
}

class AnalyticsPostgresKafka : public AnalyticsPostgres {
 protected:
  void SetUp() override {
    AnalyticsPostgres::SetUp();
    KafkaRig::Options options;
    options.topics = {"users_created:6"};
    kafka_ = std::make_unique<KafkaRig>(options);
    ASSERT_TRUE(kafka_->ok()) << kafka_->error();
  }

  void Produce(int count, const std::string& seed) {
    Outcome produced =
        RunSpate(dir_, {"produce", "--brokers", kafka_->bootstrap(), "--count",
                        std::to_string(count), "--seed", seed, "--progress", "never"});
    ASSERT_EQ(produced.exit_code, 0) << produced.err;
  }

  std::vector<std::string> Process(const std::string& group, std::vector<std::string> extra) {
    std::vector<std::string> args = {"process",
                                     "--brokers",
                                     kafka_->bootstrap(),
                                     "--group",
                                     group,
                                     "--sink",
                                     "postgres",
                                     "--pg-dsn",
                                     dsn_,
                                     "--data-dir",
                                     dir_.File("data"),
                                     "--progress",
                                     "never",
                                     "--kafka-opt",
                                     "session.timeout.ms=6000",
                                     "--kafka-opt",
                                     "heartbeat.interval.ms=500"};
    for (const std::string& flag : kAggregateFlags) args.insert(args.end(), {"--aggregate", flag});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  int64_t Stored() const {
    const PgRows r = rig_.Query("spate", "SELECT count(*) FROM created_users");
    return r.ok() && r.rows.size() == 1 ? std::stoll(r.rows[0][0].value_or("-1")) : -1;
  }

  std::unique_ptr<KafkaRig> kafka_;
};

TEST_F(AnalyticsPostgresKafka, KilledWithSigkillAtSeveralPointsAndRestartedStaysExact) {
  const std::vector<AggregationSpec> specs = FlagSpecs();
  ASSERT_EQ(specs.size(), 3u);
  constexpr int kRecords = 12000;
  Produce(kRecords, "pgagg");
  // Small batches and frequent offset commits: it dies between a commit to PostgreSQL and
  // one to Kafka, so the restart re-reads rows that are stored (ON CONFLICT, UPDATE trigger).
  for (const int64_t at : {kRecords / 6, kRecords / 3, kRecords / 2}) {
    SpateProcess victim(dir_, Process("crash", {"--batch-size", "50", "--kafka-opt",
                                                "auto.commit.interval.ms=50"}));
    ASSERT_TRUE(WaitFor([&] { return Stored() >= at; }, 120s)) << victim.Stderr();
    victim.Signal(SIGKILL);
    EXPECT_EQ(victim.Wait(10s).exit_code, 128 + SIGKILL);
    ASSERT_LT(Stored(), kRecords) << "killed too late to test anything";
    EXPECT_EQ(Invariant(specs), "") << "after the kill at " << at << " rows";
  }
  Outcome finished = RunSpate(dir_, Process("crash", {"--exit-at-end"}));
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_EQ(Stored(), kRecords);
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Int("SELECT sum(users) FROM by_country"), kRecords);
}

TEST_F(AnalyticsPostgresKafka, TwoCopiesShareThePartitionsOneIsKilledAndTheOtherFinishes) {
  const std::vector<AggregationSpec> specs = FlagSpecs();
  ASSERT_EQ(specs.size(), 3u);
  SpateProcess a(dir_, Process("shared", {"--batch-size", "50"}));
  SpateProcess b(dir_, Process("shared", {"--batch-size", "50"}));
  auto holds_partitions = [](const SpateProcess& p) {
    const std::string err = p.Stderr();
    const size_t last = err.rfind("assigned users_created[");
    return last != std::string::npos && err.find("revoked", last) == std::string::npos;
  };
  ASSERT_TRUE(WaitFor([&] { return holds_partitions(a) && holds_partitions(b); }, 60s))
      << a.Stderr() << "\n---\n"
      << b.Stderr();
  constexpr int kRecords = 8000;
  Produce(kRecords, "pgtwo");
  ASSERT_TRUE(WaitFor([&] { return Stored() >= kRecords / 3; }, 120s));
  a.Signal(SIGKILL);
  EXPECT_EQ(a.Wait(10s).exit_code, 128 + SIGKILL);
  EXPECT_EQ(Invariant(specs), "") << "right after the kill";
  // And at committed points while the survivor writes (each read is one snapshot).
  for (int i = 0; i < 3 && Stored() < kRecords; ++i) {
    EXPECT_EQ(Invariant(specs), "") << "while the survivor writes";
    std::this_thread::sleep_for(300ms);
  }
  // The survivor takes over a's partitions (after the session timeout) and re-reads what a
  // stored but had not committed.
  ASSERT_TRUE(WaitFor([&] { return Stored() == kRecords; }, 120s)) << b.Stderr();
  b.Signal(SIGTERM);
  Outcome b_done = b.Wait(60s);
  ASSERT_EQ(b_done.exit_code, 0) << b_done.err;
  EXPECT_EQ(Invariant(specs), "");
  EXPECT_EQ(Int("SELECT sum(users) FROM by_country"), kRecords);
}

}  // namespace
}  // namespace spate
