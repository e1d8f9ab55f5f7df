// The PostgreSQL run store (src/schedule/run_store_pg.cc) against a real throwaway server
// (pg_rig.h): the contract both stores share (../unit/schedule_store_contract.h), then what is
// PostgreSQL's own: timestamptz columns, the advisory lock across connections and server
// restarts, reconnecting, and connection errors that never show the password.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../unit/schedule_store_contract.h"
#include "pg_rig.h"
#include "schedule/run_store.h"

namespace spate::testing {
namespace {

constexpr int64_t kTimeoutMs = 10'000;

// A server of its own (each test runs in its own process under ctest anyway) with one
// database for the history.
class PgBackend {
 public:
  std::string Setup() {
    if (PgStatus s = rig_.Start(); !s.ok()) return "start postgres: " + s.error();
    if (PgStatus s = rig_.CreateDatabase("history"); !s.ok()) return "create db: " + s.error();
    return "";
  }
  Result<std::unique_ptr<RunStore>> Open() {
    return OpenPostgresRunStore(rig_.Dsn("history"), kTimeoutMs);
  }
  PgRig& rig() { return rig_; }

 private:
  PgRig rig_;
};

class ScheduleStorePostgresContract : public ScheduleStoreContract<PgBackend> {};
SPATE_SCHEDULE_STORE_CONTRACT_TESTS(ScheduleStorePostgresContract)

class ScheduleStorePostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(backend_.Setup(), "");
    store_ = Open();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<RunStore> Open() {
    auto store = backend_.Open();
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // One value of the first row, as psql shows it ("" when the query failed).
  std::string Value(const std::string& sql) {
    PgRows rows = backend_.rig().Query("history", sql);
    EXPECT_TRUE(rows.ok()) << rows.status.error();
    if (!rows.ok() || rows.rows.empty() || rows.rows[0].empty() || !rows.rows[0][0]) return "";
    return *rows.rows[0][0];
  }

  // Calls `call` until it succeeds, at most `tries` times; every failure must be retriable
  // (the connection broke), and is collected.
  template <typename Call>
  bool SucceedsWithin(int tries, Call call, std::vector<Status>* failures) {
    for (int i = 0; i < tries; ++i) {
      Status s = call();
      if (s.ok()) return true;
      failures->push_back(s);
    }
    return false;
  }

  PgBackend backend_;
  std::unique_ptr<RunStore> store_;
};

TEST_F(ScheduleStorePostgres, TimesAreTimestamptzColumnsExactToTheMillisecond) {
  const RunRecord run = FullRun();  // Interval from 2026-12-06T12:00:00Z, queued_at 1 ms later.
  auto id = store_->Create(run);
  ASSERT_TRUE(id.ok() && id->has_value()) << id.status().message();
  EXPECT_EQ(Value("SELECT pg_typeof(interval_start)::text FROM spate_runs"),
            "timestamp with time zone");
  EXPECT_EQ(Value("SELECT interval_start = TIMESTAMPTZ '2026-12-06 12:00:00+00' AND "
                  "interval_end = TIMESTAMPTZ '2026-12-06 12:01:00+00' AND "
                  "queued_at = TIMESTAMPTZ '2026-12-06 12:00:00.001+00' AND "
                  "next_try_at = TIMESTAMPTZ '2026-12-06 12:00:00.004+00' FROM spate_runs"),
            "t");
  // An unknown time is NULL, not the epoch.
  auto bare = store_->Create(NewRun("bare", RunType::kManual, kT0, kT0));
  ASSERT_TRUE(bare.ok() && bare->has_value());
  EXPECT_EQ(Value("SELECT started_at IS NULL AND records_in IS NULL AND exit_code IS NULL FROM "
                  "spate_runs WHERE job = 'bare'"),
            "t");
  // The same index as SQLite's, whoever writes.
  PgStatus dup = backend_.rig().Exec(
      "history",
      "INSERT INTO spate_runs (job, run_type, interval_start, interval_end, state, queued_at) "
      "VALUES ('tick', 'scheduled', TIMESTAMPTZ '2026-12-06 12:00:00+00', now(), 'queued', now())");
  EXPECT_FALSE(dup.ok());
}

TEST_F(ScheduleStorePostgres, StoresOpenedAtOnceOnANewDatabaseAllWork) {
  // Schedulers, `spate runs` and `spate trigger` may create the tables at the same moment.
  ASSERT_TRUE(backend_.rig().CreateDatabase("fresh").ok());
  const std::string dsn = backend_.rig().Dsn("fresh");
  constexpr int kOpeners = 4;
  std::vector<std::string> errors(kOpeners);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kOpeners; ++i) {
      threads.emplace_back([&, i] {
        auto store = OpenPostgresRunStore(dsn, kTimeoutMs);
        if (!store.ok()) errors[i] = store.status().message();
      });
    }
  }
  for (const std::string& error : errors) EXPECT_EQ(error, "");
}

TEST_F(ScheduleStorePostgres, ReconnectsAfterTheServerRestartsAndKeepsTheLock) {
  ASSERT_TRUE(store_->Lock("host-a:1", kT0).ok());
  auto id = store_->Create(NewRun("tick", RunType::kScheduled, kT0, kT0 + kMinute));
  ASSERT_TRUE(id.ok() && id->has_value()) << id.status().message();

  PgStatus restarted = backend_.rig().Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();

  // The first call may find the old connection broken (a retriable error, which the scheduler
  // retries at its next tick); the next one reconnects.
  std::vector<Status> failures;
  EXPECT_TRUE(SucceedsWithin(
      3,
      [&] {
        auto got = store_->Get(**id);
        if (!got.ok()) return got.status();
        return got->has_value() ? Status::Ok() : Status::Fatal("run not found after restart");
      },
      &failures));
  for (const Status& s : failures) EXPECT_TRUE(s.retriable()) << s.message();
  EXPECT_LE(failures.size(), 1u);

  // The lock was taken again on the new connection: a second scheduler is still refused.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  const Status refused = other->Lock("host-b:2", kT0);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("host-a:1"), std::string::npos) << refused.message();
  EXPECT_TRUE(store_->Heartbeat(kT0 + 1000).ok());
  EXPECT_FALSE(store_->LockLost());
}

TEST_F(ScheduleStorePostgres, AHolderThatLostTheLockWhileDisconnectedStops) {
  ASSERT_TRUE(store_->Lock("host-a:1", kT0).ok());
  PgStatus restarted = backend_.rig().Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  // While host-a's connection is down, another scheduler starts and takes the lock.
  auto other = Open();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->Lock("host-b:2", kT0 + 1).ok());

  // host-a reconnects, cannot take the lock again, and fails for good, naming the new holder:
  // running on would run intervals twice.
  Status last;
  for (int i = 0; i < 3; ++i) {
    last = store_->Heartbeat(kT0 + 2);
    if (!last.retriable()) break;
  }
  ASSERT_FALSE(last.ok());
  EXPECT_FALSE(last.retriable()) << last.message();
  EXPECT_NE(last.message().find("host-b:2"), std::string::npos) << last.message();
  EXPECT_TRUE(store_->LockLost());
  EXPECT_FALSE(other->LockLost());
  auto later = store_->Unfinished();
  EXPECT_FALSE(later.ok());
  EXPECT_FALSE(store_->Create(NewRun("tick", RunType::kManual, kT0, kT0)).ok());
  // The new holder is unaffected.
  EXPECT_TRUE(other->Heartbeat(kT0 + 3).ok());
}

TEST_F(ScheduleStorePostgres, ADownServerIsARetriableErrorUntilItIsBack) {
  auto id = store_->Create(NewRun("tick", RunType::kManual, kT0, kT0));
  ASSERT_TRUE(id.ok() && id->has_value());
  PgStatus stopped = backend_.rig().Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.error();
  for (int i = 0; i < 2; ++i) {
    auto got = store_->Get(**id);
    ASSERT_FALSE(got.ok());
    EXPECT_TRUE(got.status().retriable()) << got.status().message();
    EXPECT_EQ(got.status().message().find(backend_.rig().password()), std::string::npos);
  }
  PgStatus started = backend_.rig().Start();
  ASSERT_TRUE(started.ok()) << started.error();
  auto got = store_->Get(**id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_TRUE(got->has_value());
}

TEST_F(ScheduleStorePostgres, ErrorsAndDescribeNeverShowThePassword) {
  const std::string wrong = "Wr0ng-Secret-xyzzy";
  auto store = OpenPostgresRunStore(backend_.rig().Dsn("history", "postgres", wrong), kTimeoutMs);
  ASSERT_FALSE(store.ok());
  EXPECT_FALSE(store.status().retriable());
  EXPECT_EQ(store.status().message().find(wrong), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("password"), std::string::npos)
      << store.status().message();

  const std::string describe = store_->Describe();
  EXPECT_TRUE(describe.starts_with("postgres ")) << describe;
  EXPECT_NE(describe.find("history"), std::string::npos) << describe;
  EXPECT_EQ(describe.find(backend_.rig().password()), std::string::npos) << describe;
}

TEST_F(ScheduleStorePostgres, ARoleThatCanOnlyReadListsTheHistory) {
  // `spate runs` with a read-only role: opening must not need the CREATE privilege once the
  // tables exist (the scheduler made them).
  auto id = store_->Create(NewRun("tick", RunType::kScheduled, kT0, kT0 + kMinute));
  ASSERT_TRUE(id.ok() && id->has_value()) << id.status().message();
  PgStatus role = backend_.rig().Exec("history",
                                      "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; "
                                      "REVOKE CREATE ON SCHEMA public FROM PUBLIC; "
                                      "GRANT SELECT ON spate_runs, spate_scheduler TO reader");
  ASSERT_TRUE(role.ok()) << role.error();
  auto reader =
      OpenPostgresRunStore(backend_.rig().Dsn("history", "reader", "reader-pw"), kTimeoutMs);
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  RunFilter all;
  auto runs = (*reader)->List(all);
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().run_id, **id);
  // Reading is all it may do.
  EXPECT_FALSE((*reader)->Create(NewRun("tick", RunType::kManual, kT0, kT0)).ok());
}

}  // namespace
}  // namespace spate::testing
