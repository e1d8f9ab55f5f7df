// `spate schedule` end to end (issue 20): the real binary, real child processes, the run
// history in DATA_DIR/schedule.db. Waits have generous deadlines and nothing asserts how
// fast anything was: the machine may be loaded. What is asserted is what happened.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/clock.h"
#include "dashboard_rig.h"
#include "db_query.h"
#include "schedule_rig.h"

namespace spate::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The issue's jobs file, exactly as written there.
constexpr char kTickJobs[] = R"(jobs:
  - name: tick
    schedule: every 1s
    run: run
    options: {count: 100, seed: tick}
    retries: 2
)";

std::vector<RunRecord> Oldest(std::vector<RunRecord> runs) {
  std::sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) {
    return a.interval_start_ms != b.interval_start_ms ? a.interval_start_ms < b.interval_start_ms
                                                      : a.run_id < b.run_id;
  });
  return runs;
}

std::vector<RunRecord> Scheduled(const std::vector<RunRecord>& runs) {
  std::vector<RunRecord> out;
  for (const RunRecord& run : runs) {
    if (run.type == RunType::kScheduled) out.push_back(run);
  }
  return Oldest(out);
}

std::optional<RunRecord> Find(const std::vector<RunRecord>& runs, int64_t run_id) {
  for (const RunRecord& run : runs) {
    if (run.run_id == run_id) return run;
  }
  return std::nullopt;
}

// The first run found running with its child's pid recorded.
std::optional<RunRecord> Running(const std::string& data) {
  for (const RunRecord& run : History(data)) {
    if (run.state == RunState::kRunning && run.pid) return run;
  }
  return std::nullopt;
}

size_t FilesIn(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); ++it) {
    ++n;
  }
  return n;
}

// A fresh working directory holding jobs.yaml; the scheduler's data goes to ./spate-data.
std::string WorkDir(const TempDir& dir, const std::string& jobs) {
  const std::string work = dir.File("work");
  std::filesystem::create_directories(work);
  WriteText(work + "/jobs.yaml", jobs);
  return work;
}

TEST(ScheduleE2e, TheIssuesTickJobRunsOncePerSecondWithTheRightRows) {
  TempDir dir;
  const std::string work = WorkDir(dir, kTickJobs);
  const std::string data = work + "/spate-data";
  SpateIn scheduler(dir, work, {"schedule", "--config", "jobs.yaml"});
  // On a first start the latest due interval runs at once.
  ASSERT_TRUE(WaitFor([&] { return !History(data, "tick").empty(); }, seconds(60)))
      << scheduler.Stderr();
  int64_t first_queued = INT64_MAX;
  for (const RunRecord& run : History(data, "tick")) {
    first_queued = std::min(first_queued, run.queued_at_ms);
  }
  // Ten seconds of schedule, by the clock the scheduler reads.
  std::this_thread::sleep_for(
      milliseconds(std::max<int64_t>(0, first_queued + 10'000 - NowUnixMillis())));
  const std::vector<RunRecord> window = Oldest(History(data, "tick"));
  ASSERT_GE(window.size(), 9u) << scheduler.Stderr();
  ASSERT_LE(window.size(), 11u) << scheduler.Stderr();
  const int64_t last_start = window.back().interval_start_ms;
  // The scheduler goes on; these runs end meanwhile.
  auto those = [&] {
    std::vector<RunRecord> runs;
    for (const RunRecord& run : Oldest(History(data, "tick"))) {
      if (run.interval_start_ms <= last_start) runs.push_back(run);
    }
    return runs;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto runs = those();
        return std::all_of(runs.begin(), runs.end(),
                           [](const RunRecord& r) { return IsFinal(r.state); });
      },
      seconds(120)))
      << scheduler.Stderr();
  scheduler.Signal(SIGTERM);
  const Outcome outcome = scheduler.Wait(seconds(120));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;

  const std::vector<RunRecord> runs = those();
  ASSERT_EQ(runs.size(), window.size());
  std::set<int64_t> starts;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& run = runs[i];
    SCOPED_TRACE("run " + std::to_string(run.run_id));
    EXPECT_EQ(run.state, RunState::kSuccess) << run.error;
    EXPECT_EQ(run.type, RunType::kScheduled);
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.interval_start_ms % 1000, 0);
    EXPECT_EQ(run.interval_end_ms - run.interval_start_ms, 1000);
    if (i > 0) {
      EXPECT_EQ(run.interval_start_ms, runs[i - 1].interval_start_ms + 1000);
    }
    EXPECT_TRUE(starts.insert(run.interval_start_ms).second) << "interval run twice";
    EXPECT_EQ(run.records_in, 100);
    EXPECT_EQ(run.records_stored, 100);
    EXPECT_EQ(run.records_rejected, 0);
    EXPECT_EQ(run.exit_code, 0);
    const std::string log = fmt::format("{}/logs/tick/{}-1.log", data, run.run_id);
    EXPECT_FALSE(ReadFile(log).empty()) << log;
    EXPECT_NE(outcome.err.find(fmt::format("run {} tick @ ", run.run_id)), std::string::npos);
  }
  EXPECT_NE(outcome.err.find(": success in "), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find("(100 in, 100 stored, 0 rejected)"), std::string::npos) << outcome.err;
  // One log file per attempt, over everything that ran (including runs after the window).
  size_t attempts = 0;
  for (const RunRecord& run : History(data, "tick")) attempts += static_cast<size_t>(run.attempt);
  EXPECT_EQ(FilesIn(data + "/logs/tick"), attempts);

  // Every run stored the same 100 users, those of seed tick: what a direct run stores.
  const std::string direct = dir.File("direct");
  const Outcome run =
      RunSpate(dir, {"run", "--count", "100", "--seed", "tick", "--data-dir", direct});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string sql = "SELECT id || ' ' || email || ' ' || first_name FROM created_users";
  const std::set<std::string> expected = QueryStrings(direct, sql);
  ASSERT_EQ(expected.size(), 100u);
  EXPECT_EQ(QueryStrings(data, sql), expected);
}

// A job slow enough to be caught running: 1,500 records at 300/s, every 2 s.
std::string SlowJobs(bool catchup, int retries) {
  return fmt::format(R"(jobs:
  - name: slow
    schedule: every 2s
    run: run
    options: {{count: 1500, rate: 300, seed: slow}}
    catchup: {}
    retries: {}
    retry_delay: 1s
)",
                     catchup ? "true" : "false", retries);
}

struct KilledMidRun {
  RunRecord orphan;          // The run that was running when its scheduler died.
  int64_t last_before_kill;  // The latest scheduled interval start before the kill.
  int64_t restarted_at_ms;   // Just before the second scheduler started.
};

// Starts a scheduler, SIGKILLs it while a run is running, waits until that run's child has
// ended (it gets SIGTERM when its parent dies) and a few intervals have passed.
KilledMidRun KillMidRun(const TempDir& dir, const std::string& work) {
  const std::string data = work + "/spate-data";
  KilledMidRun killed;
  SpateIn first(dir, work, {"schedule", "--config", "jobs.yaml"});
  EXPECT_TRUE(WaitFor([&] { return Running(data).has_value(); }, seconds(60))) << first.Stderr();
  std::this_thread::sleep_for(milliseconds(500));
  first.Signal(SIGKILL);
  first.Wait(seconds(30));
  const int64_t killed_at = NowUnixMillis();
  const auto running = Running(data);
  EXPECT_TRUE(running.has_value()) << "no run left running by the killed scheduler";
  if (!running) return killed;
  killed.orphan = *running;
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(*running->pid); }, seconds(60)))
      << "the orphaned child did not end";
  killed.last_before_kill = Scheduled(History(data)).back().interval_start_ms;
  // Down for at least 5 s: two or more intervals of 2 s are missed.
  std::this_thread::sleep_for(
      milliseconds(std::max<int64_t>(0, killed_at + 5'000 - NowUnixMillis())));
  killed.restarted_at_ms = NowUnixMillis();
  return killed;
}

void ExpectNoDuplicateNoneRunning(const std::vector<RunRecord>& runs) {
  std::set<int64_t> starts;
  for (const RunRecord& run : Scheduled(runs)) {
    EXPECT_TRUE(starts.insert(run.interval_start_ms).second)
        << "interval " << run.interval_start_ms << " ran twice";
  }
  for (const RunRecord& run : runs) {
    EXPECT_NE(run.state, RunState::kRunning) << "run " << run.run_id << " left running";
  }
}

// The start of the latest 2 s interval due when the second scheduler started.
int64_t LatestDue(const KilledMidRun& killed) {
  return (killed.restarted_at_ms / 2000) * 2000 - 2000;
}

// The end of both restart tests: waits until the restarted scheduler has created the latest
// interval due, stops it with SIGTERM (exit 0), and checks the history holds no interval
// twice and nothing left running.
void CatchUpThenStop(SpateIn& scheduler, const std::string& data, const KilledMidRun& killed) {
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto runs = Scheduled(History(data));
        return !runs.empty() && runs.back().interval_start_ms >= LatestDue(killed);
      },
      seconds(60)))
      << scheduler.Stderr();
  scheduler.Signal(SIGTERM);
  const Outcome outcome = scheduler.Wait(seconds(120));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  ExpectNoDuplicateNoneRunning(History(data));
}

TEST(ScheduleE2e, SigkillMidRunThenRestartFailsTheOrphanAndCatchesUp) {
  TempDir dir;
  const std::string work = WorkDir(dir, SlowJobs(/*catchup=*/true, /*retries=*/0));
  const std::string data = work + "/spate-data";
  const KilledMidRun killed = KillMidRun(dir, work);
  ASSERT_NE(killed.orphan.run_id, 0);

  SpateIn second(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(second.WaitForLog("spate schedule: ")) << second.Stderr();
  // Start() settled the orphan before the first tick.
  const auto orphan = Find(History(data), killed.orphan.run_id);
  ASSERT_TRUE(orphan.has_value());
  EXPECT_EQ(orphan->state, RunState::kFailed);
  EXPECT_NE(orphan->error.find("orphaned"), std::string::npos) << orphan->error;
  // Every interval missed while it was down is created: up to the latest due at restart.
  ASSERT_NO_FATAL_FAILURE(CatchUpThenStop(second, data, killed));
  const std::vector<RunRecord> runs = History(data);
  const std::vector<RunRecord> scheduled = Scheduled(runs);
  for (size_t i = 1; i < scheduled.size(); ++i) {
    EXPECT_EQ(scheduled[i].interval_start_ms, scheduled[i - 1].interval_start_ms + 2000)
        << "a gap in the intervals: catch-up missed one";
  }
  EXPECT_GT(scheduled.back().interval_start_ms, killed.last_before_kill + 2000);
  EXPECT_EQ(Find(runs, killed.orphan.run_id)->state, RunState::kFailed);
}

TEST(ScheduleE2e, SigkillMidRunThenRestartRetriesTheOrphanAndRunsOnlyTheLatestWithoutCatchup) {
  TempDir dir;
  const std::string work = WorkDir(dir, SlowJobs(/*catchup=*/false, /*retries=*/1));
  const std::string data = work + "/spate-data";
  const KilledMidRun killed = KillMidRun(dir, work);
  ASSERT_NE(killed.orphan.run_id, 0);

  SpateIn second(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(second.WaitForLog("spate schedule: ")) << second.Stderr();
  // An attempt remained: the orphan is retried (attempt 2) rather than failed, to the end.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto orphan = Find(History(data), killed.orphan.run_id);
        return orphan && orphan->attempt >= 2 && IsFinal(orphan->state);
      },
      seconds(120)))
      << second.Stderr();
  ASSERT_NO_FATAL_FAILURE(CatchUpThenStop(second, data, killed));
  const std::vector<RunRecord> runs = History(data);
  // Without catch-up the downtime's intervals are skipped: after the last one before the
  // kill, the next is the latest due at restart, at least one interval later.
  int64_t next = INT64_MAX;
  for (const RunRecord& run : Scheduled(runs)) {
    if (run.interval_start_ms > killed.last_before_kill) {
      next = std::min(next, run.interval_start_ms);
    }
  }
  ASSERT_NE(next, INT64_MAX);
  EXPECT_GE(next, killed.last_before_kill + 4000) << "missed intervals were caught up";
  EXPECT_GE(next, LatestDue(killed));
  const auto orphan = Find(runs, killed.orphan.run_id);
  EXPECT_EQ(orphan->attempt, 2);
  EXPECT_EQ(orphan->state, RunState::kSuccess) << orphan->error;
  EXPECT_EQ(orphan->records_stored, 1500);
  // Each attempt has its log.
  for (int attempt : {1, 2}) {
    EXPECT_FALSE(
        ReadFile(fmt::format("{}/logs/slow/{}-{}.log", data, orphan->run_id, attempt)).empty())
        << attempt;
  }
}

TEST(ScheduleE2e, SigtermEndsTheRunningChildGracefullyAndExitsZero) {
  TempDir dir;
  // One long run (the latest due interval of an hourly job, at once on a first start).
  const std::string work = WorkDir(dir, R"(jobs:
  - name: long
    schedule: every 1h
    run: run
    options: {count: 100000, rate: 200, seed: long}
)");
  const std::string data = work + "/spate-data";
  SpateIn scheduler(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(WaitFor([&] { return Running(data).has_value(); }, seconds(60)))
      << scheduler.Stderr();
  const RunRecord running = *Running(data);
  const std::string log = fmt::format("{}/logs/long/{}-1.log", data, running.run_id);
  // Past the child's start-up (where a signal ends it at once, exit 130): records flow.
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(log).find("spate run: ") != std::string::npos; }, seconds(60)))
      << ReadFile(log);
  std::this_thread::sleep_for(milliseconds(1000));
  scheduler.Signal(SIGTERM);
  const Outcome outcome = scheduler.Wait(seconds(120));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_NE(outcome.err.find("stopping"), std::string::npos) << outcome.err;
  EXPECT_FALSE(ProcessAlive(*running.pid));

  const auto run = Find(History(data), running.run_id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->state, RunState::kFailed);
  EXPECT_NE(run->error.find("the scheduler stopped"), std::string::npos) << run->error;
  // Graceful: the child drained and exited by itself, with its summary.
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_NE(ReadFile(log).find("stopped early by a signal"), std::string::npos) << ReadFile(log);
  ASSERT_TRUE(run->records_stored.has_value());
  EXPECT_GT(*run->records_stored, 0);
  EXPECT_LT(*run->records_stored, 100000);
}

TEST(ScheduleE2e, ASecondSignalKillsTheChildrenAtOnceAndExits130) {
  TempDir dir;
  // A child that takes long to end after SIGTERM: it serves /metrics, and once a scraper
  // has been seen it waits for one more scrape after its summary (cmd_run.cc,
  // AwaitFinalScrape: up to twice the scrape interval plus 2 s, here about 22 s).
  const int port = FreePort();
  ASSERT_NE(port, 0);
  const std::string work = WorkDir(dir, fmt::format(R"(jobs:
  - name: scraped
    schedule: every 1h
    run: run
    options: {{count: 100000, rate: 200, seed: scraped, http: "127.0.0.1:{}"}}
)",
                                                    port));
  const std::string data = work + "/spate-data";
  SpateIn scheduler(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(WaitFor([&] { return Running(data).has_value(); }, seconds(60)))
      << scheduler.Stderr();
  const RunRecord running = *Running(data);
  ASSERT_TRUE(Eventually([&] {
    auto res = HttpGet(port, "/metrics");
    return res && res->status == 200;
  })) << scheduler.Stderr();
  // A second scrape 10 s after the first: a scraper with a 10 s interval.
  std::this_thread::sleep_for(seconds(10));
  auto scrape = HttpGet(port, "/metrics");
  ASSERT_TRUE(scrape && scrape->status == 200);
  const std::string log = fmt::format("{}/logs/scraped/{}-1.log", data, running.run_id);
  scheduler.Signal(SIGTERM);
  // The child has drained and waits for the final scrape: the scheduler waits for it.
  ASSERT_TRUE(WaitFor([&] { return ReadFile(log).find("waiting up to") != std::string::npos; },
                      seconds(60)))
      << ReadFile(log);
  EXPECT_TRUE(ProcessAlive(*running.pid));
  scheduler.Signal(SIGTERM);
  const Outcome outcome = scheduler.Wait(seconds(120));
  EXPECT_EQ(outcome.exit_code, 130) << outcome.err;
  EXPECT_NE(outcome.err.find("killing the running runs at once"), std::string::npos) << outcome.err;
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(*running.pid); }, seconds(30)));
  // Recorded before it exited: the run ended by SIGKILL, not left running.
  const auto run = Find(History(data), running.run_id);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->state, RunState::kFailed);
  EXPECT_EQ(run->exit_code, 128 + SIGKILL);
}

}  // namespace
}  // namespace spate::testing
