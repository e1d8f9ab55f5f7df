// The run store's contract (run_store.h), written once and run against both stores:
// schedule_store_test.cc runs it over SQLite in a temporary directory,
// tests/integration/schedule_store_postgres_test.cc over a throwaway PostgreSQL:
//
//   class ScheduleStoreSqliteContract : public ScheduleStoreContract<SqliteBackend> {};
//   SPATE_SCHEDULE_STORE_CONTRACT_TESTS(ScheduleStoreSqliteContract)
//
// (Plain TEST_Fs rather than typed tests: their names, as ctest shows them, say which store.)
//
// A Backend type provides:
//   std::string Setup();                      // "" or why the backend cannot be used.
//   Result<std::unique_ptr<RunStore>> Open(); // A store over the same history each time.
// Open() must also work in a forked child (the lock tests kill one holding the lock).
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

#include "schedule/run_store.h"

namespace spate::testing {

// 2026-12-06T12:00:00Z, and steps from it.
inline constexpr int64_t kT0 = 1796558400000;
inline constexpr int64_t kMinute = 60'000;

inline RunRecord NewRun(std::string job, RunType type, int64_t start, int64_t end,
                        RunState state = RunState::kQueued) {
  RunRecord run;
  run.job = std::move(job);
  run.type = type;
  run.interval_start_ms = start;
  run.interval_end_ms = end;
  run.state = state;
  run.queued_at_ms = start;
  return run;
}

// Every field set to a value that differs from its default, so a column that is not written
// or not read shows.
inline RunRecord FullRun() {
  RunRecord run = NewRun("tick", RunType::kBackfill, kT0, kT0 + kMinute, RunState::kUpForRetry);
  run.attempt = 3;
  run.queued_at_ms = kT0 + 1;
  run.started_at_ms = kT0 + 2;
  run.ended_at_ms = kT0 + 3;
  run.next_try_at_ms = kT0 + 4;
  run.records_in = 100;
  run.records_stored = 98;
  run.records_rejected = 2;
  run.exit_code = 137;
  run.error = "it's \"quoted\"; DROP TABLE spate_runs; -- ünïcode";
  run.log_path = "/data/logs/tick/7-3.log";
  run.pid = 4242;
  run.pid_start = 1234567890123;
  run.host = "worker-1";
  return run;
}

inline void ExpectSameRun(const RunRecord& a, const RunRecord& b) {
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.job, b.job);
  EXPECT_EQ(RunTypeName(a.type), RunTypeName(b.type));
  EXPECT_EQ(a.interval_start_ms, b.interval_start_ms);
  EXPECT_EQ(a.interval_end_ms, b.interval_end_ms);
  EXPECT_EQ(RunStateName(a.state), RunStateName(b.state));
  EXPECT_EQ(a.attempt, b.attempt);
  EXPECT_EQ(a.queued_at_ms, b.queued_at_ms);
  EXPECT_EQ(a.started_at_ms, b.started_at_ms);
  EXPECT_EQ(a.ended_at_ms, b.ended_at_ms);
  EXPECT_EQ(a.next_try_at_ms, b.next_try_at_ms);
  EXPECT_EQ(a.records_in, b.records_in);
  EXPECT_EQ(a.records_stored, b.records_stored);
  EXPECT_EQ(a.records_rejected, b.records_rejected);
  EXPECT_EQ(a.exit_code, b.exit_code);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.log_path, b.log_path);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.pid_start, b.pid_start);
  EXPECT_EQ(a.host, b.host);
}

inline std::vector<int64_t> Ids(const std::vector<RunRecord>& runs) {
  std::vector<int64_t> ids;
  for (const RunRecord& run : runs) ids.push_back(run.run_id);
  return ids;
}

template <typename Backend>
class ScheduleStoreContract : public ::testing::Test {
 public:
  // Public: the contract's tests are function templates that take the fixture.
  void SetUp() override {
    const std::string error = backend_.Setup();
    ASSERT_EQ(error, "");
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }

  std::unique_ptr<RunStore> OpenStore() {
    auto store = backend_.Open();
    EXPECT_TRUE(store.ok()) << store.status().message();
    if (!store.ok()) return nullptr;
    return std::move(store).value();
  }

  // Creates `run` and returns its id (0 when it was not created).
  int64_t Create(RunStore& store, const RunRecord& run) {
    auto id = store.Create(run);
    EXPECT_TRUE(id.ok()) << id.status().message();
    if (!id.ok() || !id->has_value()) return 0;
    return **id;
  }

  std::vector<RunRecord> List(const RunFilter& filter) {
    auto runs = store_->List(filter);
    EXPECT_TRUE(runs.ok()) << runs.status().message();
    return runs.ok() ? runs.value() : std::vector<RunRecord>();
  }

  // Takes the lock, retrying while `deadline` allows: a server notices a dead client's
  // connection a moment after the process is gone (SQLite's flock is free at once).
  Status LockWithin(RunStore& store, std::string_view holder, std::chrono::seconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
      Status s = store.Lock(holder, kT0);
      if (s.ok() || std::chrono::steady_clock::now() > until) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  Backend backend_;
  std::unique_ptr<RunStore> store_;
};

namespace contract {

template <typename Fixture>
void CreateGetAndUpdateRoundTripEveryField(Fixture* self) {
  RunRecord run = FullRun();
  run.run_id = 999;  // Ignored: the store assigns ids.
  const int64_t id = self->Create(*self->store_, run);
  ASSERT_GT(id, 0);
  EXPECT_NE(id, 999);
  run.run_id = id;
  auto got = self->store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(got->has_value());
  ExpectSameRun(**got, run);

  // Update writes every field, including back to "unknown".
  RunRecord changed =
      NewRun("tock", RunType::kManual, kT0 + 5 * kMinute, kT0 + 6 * kMinute, RunState::kSuccess);
  changed.run_id = id;
  changed.attempt = 4;
  changed.queued_at_ms = kT0 + 10;
  changed.started_at_ms = kT0 + 20;
  changed.exit_code = 0;
  changed.error = "";
  changed.host = "worker-2";
  ASSERT_TRUE(self->store_->Update(changed).ok());
  got = self->store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(got->has_value());
  ExpectSameRun(**got, changed);

  // Ids are distinct and increase.
  const int64_t second = self->Create(*self->store_, NewRun("tick", RunType::kManual, kT0, kT0));
  EXPECT_GT(second, id);
}

template <typename Fixture>
void NullsRoundTripAsNullopt(Fixture* self) {
  const RunRecord run = NewRun("tick", RunType::kScheduled, kT0, kT0 + kMinute);
  const int64_t id = self->Create(*self->store_, run);
  ASSERT_GT(id, 0);
  auto got = self->store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_TRUE(got->has_value());
  const RunRecord& r = **got;
  EXPECT_EQ(r.started_at_ms, std::nullopt);
  EXPECT_EQ(r.ended_at_ms, std::nullopt);
  EXPECT_EQ(r.next_try_at_ms, std::nullopt);
  EXPECT_EQ(r.records_in, std::nullopt);
  EXPECT_EQ(r.records_stored, std::nullopt);
  EXPECT_EQ(r.records_rejected, std::nullopt);
  EXPECT_EQ(r.exit_code, std::nullopt);
  EXPECT_EQ(r.pid, std::nullopt);
  EXPECT_EQ(r.pid_start, std::nullopt);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.log_path, "");
  EXPECT_EQ(r.host, "");
  // Zero is a value, not "unknown".
  RunRecord zeros = r;
  zeros.records_in = 0;
  zeros.exit_code = 0;
  zeros.started_at_ms = 0;
  ASSERT_TRUE(self->store_->Update(zeros).ok());
  got = self->store_->Get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->records_in, std::optional<int64_t>(0));
  EXPECT_EQ((*got)->exit_code, std::optional<int>(0));
  EXPECT_EQ((*got)->started_at_ms, std::optional<int64_t>(0));
}

template <typename Fixture>
void UnknownRunsAreNotFound(Fixture* self) {
  auto got = self->store_->Get(12345);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_FALSE(got->has_value());
  RunRecord ghost = NewRun("tick", RunType::kManual, kT0, kT0);
  ghost.run_id = 12345;
  const Status s = self->store_->Update(ghost);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("12345"), std::string::npos) << s.message();
}

template <typename Fixture>
void OneScheduledOrBackfillRunPerJobAndInterval(Fixture* self) {
  auto& store = *self->store_;
  const int64_t first = self->Create(store, NewRun("tick", RunType::kScheduled, kT0, kT0 + 1000));
  ASSERT_GT(first, 0);
  // The same interval again, as a restarted scheduler or a backfill would create it.
  RunRecord again = NewRun("tick", RunType::kScheduled, kT0, kT0 + 1000, RunState::kRunning);
  again.error = "must not overwrite";
  auto dup = store.Create(again);
  ASSERT_TRUE(dup.ok()) << dup.status().message();
  EXPECT_EQ(*dup, std::nullopt);
  auto backfill = store.Create(NewRun("tick", RunType::kBackfill, kT0, kT0 + 1000));
  ASSERT_TRUE(backfill.ok()) << backfill.status().message();
  EXPECT_EQ(*backfill, std::nullopt);
  // The existing run is untouched.
  auto got = store.Get(first);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, RunState::kQueued);
  EXPECT_EQ((*got)->error, "");

  // A backfill first, then the scheduler: still one.
  EXPECT_GT(self->Create(store, NewRun("tick", RunType::kBackfill, kT0 - 1000, kT0)), 0);
  auto sched = store.Create(NewRun("tick", RunType::kScheduled, kT0 - 1000, kT0));
  ASSERT_TRUE(sched.ok());
  EXPECT_EQ(*sched, std::nullopt);

  // Other jobs and other intervals are other runs.
  EXPECT_GT(self->Create(store, NewRun("tock", RunType::kScheduled, kT0, kT0 + 1000)), 0);
  EXPECT_GT(self->Create(store, NewRun("tick", RunType::kScheduled, kT0 + 1000, kT0 + 2000)), 0);
  // Manual runs are exempt: a trigger is a request to run now, whatever ran before.
  const int64_t m1 = self->Create(store, NewRun("tick", RunType::kManual, kT0, kT0));
  const int64_t m2 = self->Create(store, NewRun("tick", RunType::kManual, kT0, kT0));
  EXPECT_GT(m1, 0);
  EXPECT_GT(m2, m1);

  RunFilter all;
  all.job = "tick";
  EXPECT_EQ(self->List(all).size(), 5u);
}

template <typename Fixture>
void ListFiltersNewestFirstWithALimit(Fixture* self) {
  auto& store = *self->store_;
  const int64_t a0 =
      self->Create(store, NewRun("a", RunType::kScheduled, kT0, kT0 + kMinute, RunState::kSuccess));
  const int64_t a1 = self->Create(
      store, NewRun("a", RunType::kScheduled, kT0 + kMinute, kT0 + 2 * kMinute, RunState::kFailed));
  const int64_t a2 = self->Create(store, NewRun("a", RunType::kScheduled, kT0 + 2 * kMinute,
                                                kT0 + 3 * kMinute, RunState::kRunning));
  // Created last but for the earliest interval: order is by interval, not by creation.
  const int64_t a_early =
      self->Create(store, NewRun("a", RunType::kBackfill, kT0 - kMinute, kT0, RunState::kSuccess));
  // Two manual runs of one instant: the later id first.
  const int64_t m1 = self->Create(
      store, NewRun("a", RunType::kManual, kT0 + kMinute, kT0 + kMinute, RunState::kQueued));
  const int64_t m2 = self->Create(
      store, NewRun("a", RunType::kManual, kT0 + kMinute, kT0 + kMinute, RunState::kQueued));
  const int64_t b0 = self->Create(store, NewRun("b", RunType::kScheduled, kT0 + kMinute,
                                                kT0 + 2 * kMinute, RunState::kSkipped));

  RunFilter all;
  EXPECT_EQ(Ids(self->List(all)), (std::vector<int64_t>{a2, b0, m2, m1, a1, a0, a_early}));

  RunFilter job;
  job.job = "b";
  EXPECT_EQ(Ids(self->List(job)), (std::vector<int64_t>{b0}));
  job.job = "nobody";
  EXPECT_TRUE(self->List(job).empty());

  RunFilter state;
  state.state = RunState::kSuccess;
  EXPECT_EQ(Ids(self->List(state)), (std::vector<int64_t>{a0, a_early}));
  state.job = "b";
  EXPECT_TRUE(self->List(state).empty());

  RunFilter states;
  states.states = {RunState::kFailed, RunState::kSkipped, RunState::kRunning};
  EXPECT_EQ(Ids(self->List(states)), (std::vector<int64_t>{a2, b0, a1}));
  states.state = RunState::kFailed;  // ANDed with the list.
  EXPECT_EQ(Ids(self->List(states)), (std::vector<int64_t>{a1}));

  RunFilter range;
  range.interval_from_ms = kT0;
  range.interval_to_ms = kT0 + kMinute;  // Inclusive at both ends.
  EXPECT_EQ(Ids(self->List(range)), (std::vector<int64_t>{b0, m2, m1, a1, a0}));
  range.job = "a";
  range.states = {RunState::kQueued};
  EXPECT_EQ(Ids(self->List(range)), (std::vector<int64_t>{m2, m1}));

  RunFilter limited;
  limited.limit = 3;
  EXPECT_EQ(Ids(self->List(limited)), (std::vector<int64_t>{a2, b0, m2}));
  limited.limit = 1;
  limited.job = "a";
  limited.state = RunState::kSuccess;
  EXPECT_EQ(Ids(self->List(limited)), (std::vector<int64_t>{a0}));
  // 0: no limit.
  RunFilter unlimited;
  unlimited.limit = 0;
  EXPECT_EQ(self->List(unlimited).size(), 7u);
  // The default is 100.
  for (int i = 0; i < 100; ++i) {
    ASSERT_GT(self->Create(store, NewRun("c", RunType::kScheduled, kT0 + (10 + i) * kMinute,
                                         kT0 + (11 + i) * kMinute)),
              0);
  }
  RunFilter by_default;
  EXPECT_EQ(self->List(by_default).size(), 100u);
  EXPECT_EQ(self->List(by_default).front().interval_start_ms, kT0 + 109 * kMinute);
}

template <typename Fixture>
void UnfinishedRunsOldestFirst(Fixture* self) {
  auto& store = *self->store_;
  auto unfinished = store.Unfinished();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().message();
  EXPECT_TRUE(unfinished->empty());

  const int64_t retry = self->Create(store, NewRun("a", RunType::kScheduled, kT0 + 2 * kMinute,
                                                   kT0 + 3 * kMinute, RunState::kUpForRetry));
  self->Create(store, NewRun("a", RunType::kScheduled, kT0, kT0 + kMinute, RunState::kSuccess));
  const int64_t running =
      self->Create(store, NewRun("b", RunType::kScheduled, kT0, kT0 + kMinute, RunState::kRunning));
  self->Create(
      store, NewRun("b", RunType::kScheduled, kT0 + kMinute, kT0 + 2 * kMinute, RunState::kFailed));
  self->Create(store, NewRun("c", RunType::kScheduled, kT0, kT0 + kMinute, RunState::kSkipped));
  const int64_t queued = self->Create(
      store, NewRun("a", RunType::kManual, kT0 + kMinute, kT0 + kMinute, RunState::kQueued));

  unfinished = store.Unfinished();
  ASSERT_TRUE(unfinished.ok()) << unfinished.status().message();
  EXPECT_EQ(Ids(*unfinished), (std::vector<int64_t>{running, queued, retry}));

  // A run that ends leaves the working set.
  RunRecord done = (*unfinished)[0];
  done.state = RunState::kSuccess;
  ASSERT_TRUE(store.Update(done).ok());
  unfinished = store.Unfinished();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_EQ(Ids(*unfinished), (std::vector<int64_t>{queued, retry}));
}

template <typename Fixture>
void LastScheduledStartCountsOnlyScheduledRuns(Fixture* self) {
  auto& store = *self->store_;
  auto last = store.LastScheduledStart("a");
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(*last, std::nullopt);

  self->Create(store, NewRun("a", RunType::kScheduled, kT0, kT0 + kMinute));
  self->Create(store, NewRun("a", RunType::kScheduled, kT0 + 2 * kMinute, kT0 + 3 * kMinute,
                             RunState::kFailed));
  self->Create(store, NewRun("a", RunType::kScheduled, kT0 + kMinute, kT0 + 2 * kMinute));
  // Later, but not scheduled, or not this job.
  self->Create(store, NewRun("a", RunType::kBackfill, kT0 + 9 * kMinute, kT0 + 10 * kMinute));
  self->Create(store, NewRun("a", RunType::kManual, kT0 + 9 * kMinute, kT0 + 9 * kMinute));
  self->Create(store, NewRun("b", RunType::kScheduled, kT0 + 9 * kMinute, kT0 + 10 * kMinute));

  last = store.LastScheduledStart("a");
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(*last, std::optional<int64_t>(kT0 + 2 * kMinute));
  last = store.LastScheduledStart("c");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::nullopt);
}

template <typename Fixture>
void RunCoveringFindsTheScheduledOrBackfillInterval(Fixture* self) {
  auto& store = *self->store_;
  const int64_t sched = self->Create(store, NewRun("up", RunType::kScheduled, kT0, kT0 + kMinute));
  const int64_t back = self->Create(store, NewRun("up", RunType::kBackfill, kT0 - kMinute, kT0));
  self->Create(store, NewRun("up", RunType::kManual, kT0 + 5 * kMinute, kT0 + 5 * kMinute));
  self->Create(store, NewRun("other", RunType::kScheduled, kT0 + 2 * kMinute, kT0 + 3 * kMinute));

  auto covering = [&](int64_t instant) -> int64_t {
    auto run = store.RunCovering("up", instant);
    EXPECT_TRUE(run.ok()) << run.status().message();
    return run.ok() && run->has_value() ? (*run)->run_id : 0;
  };
  EXPECT_EQ(covering(kT0), sched);  // The start is inside.
  EXPECT_EQ(covering(kT0 + kMinute - 1), sched);
  EXPECT_EQ(covering(kT0 + kMinute), 0);  // The end is not.
  EXPECT_EQ(covering(kT0 - 1), back);
  EXPECT_EQ(covering(kT0 - kMinute), back);
  EXPECT_EQ(covering(kT0 - kMinute - 1), 0);
  EXPECT_EQ(covering(kT0 + 5 * kMinute), 0);      // Manual runs are not intervals of a schedule.
  EXPECT_EQ(covering(kT0 + 2 * kMinute + 1), 0);  // Another job's.
  auto run = store.RunCovering("up", kT0 + 30'000);
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->interval_end_ms, kT0 + kMinute);
}

template <typename Fixture>
void TwoStoresOnOneHistorySeeEachOthersWrites(Fixture* self) {
  auto other = self->OpenStore();
  ASSERT_NE(other, nullptr);
  const int64_t id =
      self->Create(*self->store_, NewRun("tick", RunType::kScheduled, kT0, kT0 + kMinute));
  ASSERT_GT(id, 0);
  auto seen = other->Get(id);
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ((*seen)->job, "tick");

  RunRecord run = **seen;
  run.state = RunState::kRunning;
  run.attempt = 1;
  ASSERT_TRUE(other->Update(run).ok());
  auto back = self->store_->Get(id);
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->state, RunState::kRunning);
  EXPECT_EQ((*back)->attempt, 1);

  // Uniqueness holds across connections.
  auto dup = other->Create(NewRun("tick", RunType::kScheduled, kT0, kT0 + kMinute));
  ASSERT_TRUE(dup.ok()) << dup.status().message();
  EXPECT_EQ(*dup, std::nullopt);
  auto unfinished = other->Unfinished();
  ASSERT_TRUE(unfinished.ok());
  EXPECT_EQ(Ids(*unfinished), (std::vector<int64_t>{id}));
}

template <typename Fixture>
void LockAdmitsOneSchedulerAndNamesIt(Fixture* self) {
  auto last = self->store_->LastHeartbeat();
  ASSERT_TRUE(last.ok()) << last.status().message();
  EXPECT_EQ(*last, std::nullopt);
  EXPECT_FALSE(self->store_->Heartbeat(kT0).ok());  // Only the holder beats.

  ASSERT_TRUE(self->store_->Lock("host-a:100", kT0).ok());
  auto other = self->OpenStore();
  ASSERT_NE(other, nullptr);
  const Status refused = other->Lock("host-b:200", kT0 + 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("host-a:100"), std::string::npos) << refused.message();
  EXPECT_FALSE(other->Heartbeat(kT0 + 2).ok());

  ASSERT_TRUE(self->store_->Heartbeat(kT0 + 5000).ok());
  last = other->LastHeartbeat();
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status().message();
  EXPECT_EQ((*last)->holder, "host-a:100");
  EXPECT_EQ((*last)->started_at_ms, kT0);
  EXPECT_EQ((*last)->heartbeat_at_ms, kT0 + 5000);
  // Taking it again while holding it is fine.
  EXPECT_TRUE(self->store_->Lock("host-a:100", kT0 + 6000).ok());

  // The holder goes away: the lock is free for the next one.
  self->store_.reset();
  const Status taken = self->LockWithin(*other, "host-b:200", std::chrono::seconds(30));
  ASSERT_TRUE(taken.ok()) << taken.message();
  last = other->LastHeartbeat();
  ASSERT_TRUE(last.ok() && last->has_value());
  EXPECT_EQ((*last)->holder, "host-b:200");
}

template <typename Fixture>
void LockOfASigkilledHolderIsFree(Fixture* self) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child: take the lock, say so, wait to be killed. _exit, never return: the parent's
    // gtest state and static destructors are not the child's to run.
    close(ready[0]);
    auto store = self->backend_.Open();
    char answer = 'E';
    if (store.ok() && (*store)->Lock("child-host:" + std::to_string(getpid()), kT0).ok()) {
      answer = 'L';
    }
    if (write(ready[1], &answer, 1) != 1) _exit(3);
    while (true) pause();
  }
  close(ready[1]);
  char answer = 0;
  const ssize_t n = read(ready[0], &answer, 1);
  close(ready[0]);
  if (n != 1 || answer != 'L') {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    FAIL() << "the child could not take the lock";
  }
  const Status refused = self->store_->Lock("parent", kT0);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("child-host:" + std::to_string(child)), std::string::npos)
      << refused.message();

  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  const Status taken = self->LockWithin(*self->store_, "parent", std::chrono::seconds(30));
  EXPECT_TRUE(taken.ok()) << taken.message();
}

template <typename Fixture>
void ChildProcessesDoNotInheritTheLock(Fixture* self) {
  // The scheduler's runs are child processes; one that outlives a SIGKILLed scheduler must not
  // keep its lock (or its connection, and with it the lock) alive.
  ASSERT_TRUE(self->store_->Lock("parent:1", kT0).ok());
  pid_t child = -1;
  char sleep_path[] = "/bin/sleep";
  char seconds[] = "300";
  char* argv[] = {sleep_path, seconds, nullptr};
  ASSERT_EQ(posix_spawn(&child, sleep_path, nullptr, nullptr, argv, environ), 0);
  self->store_.reset();
  auto other = self->OpenStore();
  ASSERT_NE(other, nullptr);
  const Status taken = self->LockWithin(*other, "next:2", std::chrono::seconds(30));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(taken.ok()) << taken.message();
}

template <typename Fixture>
void ConcurrentWritersCreateEachIntervalOnce(Fixture* self) {
  // Several processes write at once (a scheduler, `spate backfill`, `spate trigger`): each
  // writer waits for the others' short transactions instead of failing, and every interval
  // gets exactly one run whoever wins.
  constexpr int kWriters = 4;
  constexpr int kIntervals = 40;
  std::vector<std::unique_ptr<RunStore>> stores;
  for (int i = 0; i < kWriters; ++i) {
    stores.push_back(self->OpenStore());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::vector<int> created(kWriters, 0);
  std::vector<std::string> errors(kWriters);
  {
    std::vector<std::jthread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < kIntervals; ++i) {
          const RunType type = (i + w) % 2 == 0 ? RunType::kScheduled : RunType::kBackfill;
          auto id =
              stores[w]->Create(NewRun("race", type, kT0 + i * kMinute, kT0 + (i + 1) * kMinute));
          if (!id.ok()) {
            errors[w] = id.status().message();
            return;
          }
          if (id->has_value()) ++created[w];
          // A manual run alongside, exempt from the index: always created.
          auto manual = stores[w]->Create(NewRun("race", RunType::kManual, kT0, kT0));
          if (!manual.ok() || !manual->has_value()) {
            errors[w] = manual.ok() ? "manual run not created" : manual.status().message();
            return;
          }
        }
      });
    }
  }
  int total = 0;
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(errors[w], "") << "writer " << w;
    total += created[w];
  }
  EXPECT_EQ(total, kIntervals);
  RunFilter all;
  all.limit = 0;
  all.job = "race";
  EXPECT_EQ(self->List(all).size(), static_cast<size_t>(kIntervals + kWriters * kIntervals));
}

}  // namespace contract

// The contract's tests, as TEST_Fs of `Fixture` (a ScheduleStoreContract<Backend>).
#define SPATE_SCHEDULE_STORE_CONTRACT_TESTS(Fixture)                                  \
  TEST_F(Fixture, CreateGetAndUpdateRoundTripEveryField) {                            \
    ::spate::testing::contract::CreateGetAndUpdateRoundTripEveryField(this);          \
  }                                                                                   \
  TEST_F(Fixture, NullsRoundTripAsNullopt) {                                          \
    ::spate::testing::contract::NullsRoundTripAsNullopt(this);                        \
  }                                                                                   \
  TEST_F(Fixture, UnknownRunsAreNotFound) {                                           \
    ::spate::testing::contract::UnknownRunsAreNotFound(this);                         \
  }                                                                                   \
  TEST_F(Fixture, OneScheduledOrBackfillRunPerJobAndInterval) {                       \
    ::spate::testing::contract::OneScheduledOrBackfillRunPerJobAndInterval(this);     \
  }                                                                                   \
  TEST_F(Fixture, ListFiltersNewestFirstWithALimit) {                                 \
    ::spate::testing::contract::ListFiltersNewestFirstWithALimit(this);               \
  }                                                                                   \
  TEST_F(Fixture, UnfinishedRunsOldestFirst) {                                        \
    ::spate::testing::contract::UnfinishedRunsOldestFirst(this);                      \
  }                                                                                   \
  TEST_F(Fixture, LastScheduledStartCountsOnlyScheduledRuns) {                        \
    ::spate::testing::contract::LastScheduledStartCountsOnlyScheduledRuns(this);      \
  }                                                                                   \
  TEST_F(Fixture, RunCoveringFindsTheScheduledOrBackfillInterval) {                   \
    ::spate::testing::contract::RunCoveringFindsTheScheduledOrBackfillInterval(this); \
  }                                                                                   \
  TEST_F(Fixture, TwoStoresOnOneHistorySeeEachOthersWrites) {                         \
    ::spate::testing::contract::TwoStoresOnOneHistorySeeEachOthersWrites(this);       \
  }                                                                                   \
  TEST_F(Fixture, LockAdmitsOneSchedulerAndNamesIt) {                                 \
    ::spate::testing::contract::LockAdmitsOneSchedulerAndNamesIt(this);               \
  }                                                                                   \
  TEST_F(Fixture, LockOfASigkilledHolderIsFree) {                                     \
    ::spate::testing::contract::LockOfASigkilledHolderIsFree(this);                   \
  }                                                                                   \
  TEST_F(Fixture, ChildProcessesDoNotInheritTheLock) {                                \
    ::spate::testing::contract::ChildProcessesDoNotInheritTheLock(this);              \
  }                                                                                   \
  TEST_F(Fixture, ConcurrentWritersCreateEachIntervalOnce) {                          \
    ::spate::testing::contract::ConcurrentWritersCreateEachIntervalOnce(this);        \
  }

}  // namespace spate::testing
