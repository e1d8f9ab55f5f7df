// The scheduler's decisions (issue 20) over a clock the test sets: the real SQLite run store
// in a temp dir, jobs from JobSet::FromSpecs, and a fake launcher whose children end when
// and how each test says.
#include "schedule/scheduler.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "schedule_fake_launcher.h"

namespace spate::testing {
namespace {

constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

std::vector<int64_t> Starts(const std::vector<RunRecord>& runs) {
  std::vector<int64_t> out;
  for (const RunRecord& run : runs) out.push_back(run.interval_start_ms);
  return out;
}

// Every interval start from `first` to `last` (inclusive), `step` apart.
std::vector<int64_t> Consecutive(int64_t first, int64_t last, int64_t step) {
  std::vector<int64_t> out;
  for (int64_t at = first; at <= last; at += step) out.push_back(at);
  return out;
}

void ExpectNoneRunning(RunStore& store) {
  for (const RunRecord& run : RunsOf(store)) {
    EXPECT_NE(run.state, RunState::kRunning) << "run " << run.run_id << " of " << run.job;
  }
}

TEST(Scheduler, EveryOneSecondForTenSecondsRunsTenConsecutiveIntervalsOnce) {
  JobSpec tick = MakeJob("tick", "every 1s");
  tick.retries = 2;
  SchedulerRig rig({tick});
  const int64_t t0 = kMidnight + 500;
  rig.Start(t0);
  for (int k = 0; k < 10; ++k) {
    rig.Tick(t0 + k * kSecond);
    rig.launcher->ExitAll(0);
  }
  rig.Tick(t0 + 9 * kSecond + 1);  // Reaps the last one; nothing new is due yet.

  const std::vector<RunRecord> runs = RunsOf(*rig.store, "tick");
  EXPECT_EQ(Starts(runs), Consecutive(kMidnight - kSecond, kMidnight + 8 * kSecond, kSecond));
  for (const RunRecord& run : runs) {
    EXPECT_EQ(run.state, RunState::kSuccess) << run.run_id;
    EXPECT_EQ(run.attempt, 1);
    EXPECT_EQ(run.type, RunType::kScheduled);
    EXPECT_EQ(run.interval_end_ms - run.interval_start_ms, kSecond);
    EXPECT_EQ(run.exit_code, 0);
  }
  ASSERT_EQ(rig.launcher->starts.size(), 10u);
  std::set<int64_t> started;
  for (const auto& call : rig.launcher->starts) started.insert(call.interval_start_ms);
  EXPECT_EQ(started.size(), 10u) << "an interval started twice";
  // on_change came after the store had each change: created, running, success per run.
  EXPECT_EQ(rig.changes.size(), 30u);
  EXPECT_EQ(rig.changes_not_in_store, 0);
}

TEST(Scheduler, LateTicksDoNotSkipIntervalsWithoutCatchup) {
  // Catch-up off skips what a pause missed, not what a late tick on a busy machine missed.
  SchedulerRig rig({MakeJob("tick", "every 1s")});
  rig.Start(kMidnight + 500);
  for (int64_t at : {500, 3200, 3300, 3400, 7900, 8000, 8100, 8200, 8300, 8400, 8500}) {
    rig.Tick(kMidnight + at);
    rig.launcher->ExitAll(0);
  }
  rig.Tick(kMidnight + 8600);
  const std::vector<RunRecord> runs = RunsOf(*rig.store, "tick");
  EXPECT_EQ(Starts(runs), Consecutive(kMidnight - kSecond, kMidnight + 7 * kSecond, kSecond));
  for (const RunRecord& run : runs) EXPECT_EQ(run.state, RunState::kSuccess) << run.run_id;
  EXPECT_EQ(rig.launcher->starts.size(), runs.size());
}

TEST(Scheduler, RetriesBackOffExponentiallyUpToTheCapThenFail) {
  JobSpec flaky = MakeJob("flaky", "@daily");
  flaky.retries = 3;
  flaky.retry_delay_ms = 10 * kSecond;
  flaky.retry_exponential_backoff = true;
  flaky.max_retry_delay_ms = 25 * kSecond;
  SchedulerRig rig({flaky});
  int64_t now = kMidnight + kHour;
  rig.Start(now);
  rig.Tick(now);
  ASSERT_EQ(rig.launcher->starts.size(), 1u);
  const int64_t run_id = rig.launcher->starts[0].run_id;

  // Before attempt 2: 10 s; 3: 20 s; 4: 40 s capped at 25 s.
  const std::vector<int64_t> delays = {10 * kSecond, 20 * kSecond, 25 * kSecond};
  for (size_t i = 0; i < delays.size(); ++i) {
    const int attempt = static_cast<int>(i) + 1;
    rig.launcher->Exit(run_id, 1, 0, std::nullopt, "error: boom " + std::to_string(attempt));
    now += kSecond;
    rig.Tick(now);
    RunRecord run = GetRun(*rig.store, run_id);
    EXPECT_EQ(run.state, RunState::kUpForRetry) << "after attempt " << attempt;
    EXPECT_EQ(run.attempt, attempt);
    EXPECT_EQ(run.ended_at_ms, now);
    EXPECT_EQ(run.next_try_at_ms, now + delays[i]) << "after attempt " << attempt;
    EXPECT_EQ(run.error, "error: boom " + std::to_string(attempt));
    EXPECT_EQ(run.exit_code, 1);

    rig.Tick(now + delays[i] - 1);
    EXPECT_EQ(rig.launcher->starts.size(), static_cast<size_t>(attempt)) << "retried too early";
    now += delays[i];
    rig.Tick(now);
    ASSERT_EQ(rig.launcher->starts.size(), static_cast<size_t>(attempt + 1));
    EXPECT_EQ(rig.launcher->starts.back().run_id, run_id) << "a retry is the same run";
    EXPECT_EQ(rig.launcher->starts.back().attempt, attempt + 1);
    run = GetRun(*rig.store, run_id);
    EXPECT_EQ(run.state, RunState::kRunning);
    EXPECT_FALSE(run.next_try_at_ms.has_value());
  }

  rig.launcher->Exit(run_id, 3);
  now += kSecond;
  rig.Tick(now);
  const RunRecord run = GetRun(*rig.store, run_id);
  EXPECT_EQ(run.state, RunState::kFailed);
  EXPECT_EQ(run.attempt, 4) << "retries + 1 attempts";
  EXPECT_FALSE(run.next_try_at_ms.has_value());
  EXPECT_EQ(run.error, "exited with code 3");
  rig.Tick(now + kHour);
  EXPECT_EQ(rig.launcher->starts.size(), 4u);
  EXPECT_EQ(RunsOf(*rig.store).size(), 1u);
}

TEST(Scheduler, RetriesWithoutBackoffWaitTheSameDelay) {
  JobSpec flaky = MakeJob("flaky", "@daily");
  flaky.retries = 2;
  flaky.retry_delay_ms = 7 * kSecond;
  flaky.retry_exponential_backoff = false;
  SchedulerRig rig({flaky});
  int64_t now = kMidnight + kHour;
  rig.Start(now);
  rig.Tick(now);
  const int64_t run_id = rig.launcher->starts.at(0).run_id;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    rig.launcher->Exit(run_id, 128 + 11, 11);
    rig.Tick(now);
    RunRecord run = GetRun(*rig.store, run_id);
    EXPECT_EQ(run.state, RunState::kUpForRetry);
    EXPECT_EQ(run.next_try_at_ms, now + 7 * kSecond);
    EXPECT_EQ(run.error, "ended by signal 11");
    now += 7 * kSecond;
    rig.Tick(now);
  }
  rig.launcher->Exit(run_id, 1);
  rig.Tick(now);
  EXPECT_EQ(GetRun(*rig.store, run_id).state, RunState::kFailed);
  EXPECT_EQ(rig.launcher->starts.size(), 3u);
}

TEST(Scheduler, TimeoutTerminatesThenKillsAfterKillGrace) {
  JobSpec slow = MakeJob("slow", "@daily");
  slow.timeout_ms = 5 * kSecond;
  slow.kill_grace_ms = 3 * kSecond;
  SchedulerRig rig({slow});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  const int64_t run_id = rig.launcher->starts.at(0).run_id;
  EXPECT_EQ(rig.scheduler->NextWakeMs(t), t + 1 * kSecond);  // The poll comes first.

  rig.Tick(t + 4999);
  EXPECT_TRUE(rig.launcher->terminated.empty());
  EXPECT_EQ(rig.scheduler->NextWakeMs(t + 4999), t + 5000);
  rig.Tick(t + 5000);
  EXPECT_EQ(rig.launcher->terminated, std::vector<int64_t>{run_id});
  rig.Tick(t + 7999);  // The child ignores SIGTERM.
  EXPECT_TRUE(rig.launcher->killed.empty());
  EXPECT_EQ(GetRun(*rig.store, run_id).state, RunState::kRunning);
  EXPECT_EQ(rig.scheduler->NextWakeMs(t + 7999), t + 8000);
  rig.Tick(t + 8000);
  EXPECT_EQ(rig.launcher->killed, std::vector<int64_t>{run_id});
  rig.Tick(t + 8001);
  const RunRecord run = GetRun(*rig.store, run_id);
  EXPECT_EQ(run.state, RunState::kFailed);
  EXPECT_EQ(run.error, "timed out after 5s");
  EXPECT_EQ(run.exit_code, 137);
  EXPECT_EQ(rig.launcher->terminated.size(), 1u) << "SIGTERM once";
  EXPECT_EQ(rig.launcher->killed.size(), 1u) << "SIGKILL once";
  EXPECT_EQ(rig.scheduler->running(), 0u);
}

TEST(Scheduler, TimedOutChildThatStopsOnSigtermIsRetriedNotKilled) {
  JobSpec slow = MakeJob("slow", "@daily");
  slow.timeout_ms = 90 * kMinute;
  slow.kill_grace_ms = 3 * kSecond;
  slow.retries = 1;
  slow.retry_delay_ms = kMinute;
  SchedulerRig rig({slow});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  const int64_t run_id = rig.launcher->starts.at(0).run_id;
  rig.Tick(t + 90 * kMinute);
  ASSERT_EQ(rig.launcher->terminated.size(), 1u);
  rig.launcher->Exit(run_id, 0);  // Even exit 0: it did not finish within its time.
  rig.Tick(t + 90 * kMinute + 10);
  const RunRecord run = GetRun(*rig.store, run_id);
  EXPECT_EQ(run.state, RunState::kUpForRetry);
  EXPECT_EQ(run.error, "timed out after 1h30m");
  rig.Tick(t + 90 * kMinute + 30 * kSecond);
  EXPECT_TRUE(rig.launcher->killed.empty());
}

// The intervals a every-1m job has after: a first scheduler ran [-1m, 0) and died; a
// second starts 10 minutes later.
std::vector<int64_t> IntervalsAfterAPause(bool catchup) {
  JobSpec job = MakeJob("minutely", "every 1m");
  job.catchup = catchup;
  job.max_active_runs = 20;
  SchedulerRig rig({job});
  rig.Start(kMidnight + 30 * kSecond);
  rig.Tick(kMidnight + 30 * kSecond);
  rig.launcher->ExitAll(0);
  rig.Tick(kMidnight + 31 * kSecond);
  rig.Restart();
  const int64_t later = kMidnight + 10 * kMinute + 30 * kSecond;
  rig.Start(later);
  rig.Tick(later);
  EXPECT_EQ(rig.launcher->starts.size(), RunsOf(*rig.store).size() - 1);
  return Starts(RunsOf(*rig.store, "minutely"));
}

TEST(Scheduler, CatchupRunsEveryMissedIntervalAfterAPause) {
  EXPECT_EQ(IntervalsAfterAPause(true),
            Consecutive(kMidnight - kMinute, kMidnight + 9 * kMinute, kMinute));
}

TEST(Scheduler, WithoutCatchupOnlyTheLatestIntervalRunsAfterAPause) {
  EXPECT_EQ(IntervalsAfterAPause(false),
            (std::vector<int64_t>{kMidnight - kMinute, kMidnight + 9 * kMinute}));
}

TEST(Scheduler, FirstStartWithoutHistoryRunsTheLatestIntervalAtOnce) {
  for (bool catchup : {false, true}) {
    JobSpec job = MakeJob("daily", "@daily");
    job.catchup = catchup;
    SchedulerRig rig({job});
    rig.Start(kMidnight + 10 * kHour);
    rig.Tick(kMidnight + 10 * kHour);
    EXPECT_EQ(Starts(RunsOf(*rig.store)), std::vector<int64_t>{kMidnight - kDay})
        << "catchup " << catchup;
    ASSERT_EQ(rig.launcher->starts.size(), 1u);
    EXPECT_EQ(rig.launcher->starts[0].interval_start_ms, kMidnight - kDay);
  }
}

TEST(Scheduler, CatchupWithoutHistoryStartsAtStartDate) {
  JobSpec job = MakeJob("minutely", "every 1m");
  job.catchup = true;
  job.start_date_ms = kMidnight - 5 * kMinute;
  SchedulerRig rig({job});
  rig.Start(kMidnight + 30 * kSecond);
  rig.Tick(kMidnight + 30 * kSecond);
  EXPECT_EQ(Starts(RunsOf(*rig.store)),
            Consecutive(kMidnight - 5 * kMinute, kMidnight - kMinute, kMinute));
  // Oldest interval first.
  ASSERT_EQ(rig.launcher->starts.size(), 1u);
  EXPECT_EQ(rig.launcher->starts[0].interval_start_ms, kMidnight - 5 * kMinute);

  job.catchup = false;
  SchedulerRig off({job});
  off.Start(kMidnight + 30 * kSecond);
  off.Tick(kMidnight + 30 * kSecond);
  EXPECT_EQ(Starts(RunsOf(*off.store)), std::vector<int64_t>{kMidnight - kMinute});
}

TEST(Scheduler, NothingIsDueBeforeStartDate) {
  for (bool catchup : {false, true}) {
    JobSpec job = MakeJob("minutely", "every 1m");
    job.catchup = catchup;
    job.start_date_ms = kMidnight + 5 * kMinute;
    SchedulerRig rig({job});
    rig.Start(kMidnight + 30 * kSecond);
    for (int64_t at = 30 * kSecond; at < 6 * kMinute; at += 30 * kSecond) {
      rig.Tick(kMidnight + at);
    }
    EXPECT_TRUE(RunsOf(*rig.store).empty()) << "catchup " << catchup;
    rig.Tick(kMidnight + 6 * kMinute);
    rig.launcher->ExitAll(0);
    rig.Tick(kMidnight + 7 * kMinute + kSecond);
    EXPECT_EQ(Starts(RunsOf(*rig.store)),
              (std::vector<int64_t>{kMidnight + 5 * kMinute, kMidnight + 6 * kMinute}))
        << "catchup " << catchup;
  }
}

TEST(Scheduler, MaxActiveRunsLimitsTheRunningOnesOldestFirst) {
  JobSpec job = MakeJob("tick", "every 1s");
  job.max_active_runs = 2;
  SchedulerRig rig({job});
  rig.Start(kMidnight + 500);
  for (int k = 0; k < 5; ++k) rig.Tick(kMidnight + 500 + k * kSecond);
  // Five intervals are due; two run.
  const std::vector<RunRecord> runs = RunsOf(*rig.store);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(rig.scheduler->running(), 2u);
  ASSERT_EQ(rig.launcher->starts.size(), 2u);
  EXPECT_EQ(rig.launcher->starts[0].interval_start_ms, runs[0].interval_start_ms);
  EXPECT_EQ(rig.launcher->starts[1].interval_start_ms, runs[1].interval_start_ms);
  for (size_t i = 2; i < runs.size(); ++i) EXPECT_EQ(runs[i].state, RunState::kQueued);

  // One ends: the oldest queued interval takes its place, and only it.
  rig.launcher->Exit(runs[1].run_id, 0);
  rig.Tick(kMidnight + 4 * kSecond + 600);
  ASSERT_EQ(rig.launcher->starts.size(), 3u);
  EXPECT_EQ(rig.launcher->starts[2].run_id, runs[2].run_id);
  EXPECT_EQ(rig.scheduler->running(), 2u);
}

TEST(Scheduler, DependsOnWaitsForTheUpstreamAndIsSkippedWhenItFails) {
  JobSpec extract = MakeJob("extract", "every 1m");
  extract.retries = 1;
  extract.retry_delay_ms = kSecond;
  JobSpec load = MakeJob("load", "every 1m");
  load.depends_on = {"extract"};
  SchedulerRig rig({extract, load});
  auto started = [&](const std::string& job) {
    std::vector<int64_t> out;
    for (const auto& call : rig.launcher->starts) {
      if (call.job == job) out.push_back(call.interval_start_ms);
    }
    return out;
  };
  auto run_of = [&](const std::string& job, int64_t interval_start) {
    for (const RunRecord& run : RunsOf(*rig.store, job)) {
      if (run.interval_start_ms == interval_start) return run;
    }
    ADD_FAILURE() << "no run of " << job << " @ " << interval_start;
    return RunRecord{};
  };

  // Interval [-1m, 0): load waits while extract runs, then runs after its success.
  int64_t now = kMidnight + 30 * kSecond;
  rig.Start(now);
  rig.Tick(now);
  EXPECT_EQ(started("extract"), std::vector<int64_t>{kMidnight - kMinute});
  EXPECT_TRUE(started("load").empty());
  rig.Tick(now += kSecond);
  EXPECT_TRUE(started("load").empty()) << "load started while extract was running";
  rig.launcher->ExitAll(0);
  rig.Tick(now += kSecond);
  EXPECT_EQ(started("load"), std::vector<int64_t>{kMidnight - kMinute});
  rig.launcher->ExitAll(0);

  // Interval [0, 1m): extract fails once (up_for_retry): load still waits; the retry works.
  now = kMidnight + kMinute + 30 * kSecond;
  rig.Tick(now);
  rig.launcher->ExitAll(1);
  rig.Tick(now += 100);
  EXPECT_EQ(run_of("extract", kMidnight).state, RunState::kUpForRetry);
  EXPECT_EQ(run_of("load", kMidnight).state, RunState::kQueued);
  rig.Tick(now += kSecond);
  rig.launcher->ExitAll(0);
  rig.Tick(now += 100);
  EXPECT_EQ(run_of("extract", kMidnight).state, RunState::kSuccess);
  EXPECT_EQ(started("load"), (std::vector<int64_t>{kMidnight - kMinute, kMidnight}));
  rig.launcher->ExitAll(0);

  // Interval [1m, 2m): extract fails for good: load is skipped, never started.
  now = kMidnight + 2 * kMinute + 30 * kSecond;
  rig.Tick(now);
  rig.launcher->ExitAll(1);
  rig.Tick(now += 100);
  rig.Tick(now += kSecond);
  rig.launcher->ExitAll(1);
  rig.Tick(now += 100);
  EXPECT_EQ(run_of("extract", kMidnight + kMinute).state, RunState::kFailed);
  const RunRecord skipped = run_of("load", kMidnight + kMinute);
  EXPECT_EQ(skipped.state, RunState::kSkipped);
  EXPECT_EQ(skipped.error, "upstream extract failed");
  EXPECT_EQ(skipped.attempt, 0);
  EXPECT_EQ(started("load"), (std::vector<int64_t>{kMidnight - kMinute, kMidnight}));
  EXPECT_EQ(rig.changes_not_in_store, 0);
}

TEST(Scheduler, DependsOnWaitsWhileTheUpstreamHasNoRunForTheInterval) {
  JobSpec upstream = MakeJob("upstream", "@daily");
  upstream.start_date_ms = kMidnight;  // Its first interval is due tomorrow.
  JobSpec downstream = MakeJob("downstream", "every 1m");
  downstream.depends_on = {"upstream"};
  SchedulerRig rig({upstream, downstream});
  rig.Start(kMidnight + 30 * kSecond);
  for (int64_t at = 30; at < 300; at += 30) rig.Tick(kMidnight + at * kSecond);
  EXPECT_TRUE(rig.launcher->starts.empty());
  for (const RunRecord& run : RunsOf(*rig.store, "downstream")) {
    EXPECT_EQ(run.state, RunState::kQueued);
  }
  EXPECT_FALSE(RunsOf(*rig.store, "downstream").empty());
}

TEST(Scheduler, DependsOnSkipsWhenTheUpstreamsSchedulePassedTheInterval) {
  // The downstream's first interval starts a second before the upstream's first: without
  // catch-up the upstream never runs [t-2s, t-1s), so the downstream run of [t-2s, t) would
  // wait for ever. It is skipped, saying why; the next one runs after the upstream's.
  JobSpec upstream = MakeJob("upstream", "every 1s");
  JobSpec downstream = MakeJob("downstream", "every 2s");
  downstream.depends_on = {"upstream"};
  SchedulerRig rig({upstream, downstream});
  const int64_t t = kMidnight + 1000 * kSecond;  // A multiple of 2 s.
  rig.Start(t + kSecond);
  rig.Tick(t + kSecond);  // upstream [t, t+1s) and downstream [t-2s, t) are due.
  std::vector<RunRecord> down = RunsOf(*rig.store, "downstream");
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].interval_start_ms, t - 2 * kSecond);
  EXPECT_EQ(down[0].state, RunState::kSkipped);
  EXPECT_NE(down[0].error.find("upstream upstream has no run for this interval"), std::string::npos)
      << down[0].error;
  rig.launcher->ExitAll(0);
  rig.Tick(t + 2 * kSecond);
  rig.launcher->ExitAll(0);
  rig.Tick(t + 3 * kSecond);  // upstream [t+1s, t+2s) and downstream [t, t+2s) are due.
  rig.launcher->ExitAll(0);
  rig.Tick(t + 3 * kSecond + 10);
  down = RunsOf(*rig.store, "downstream");
  bool ran = false;
  for (const RunRecord& run : down) {
    if (run.interval_start_ms == t) ran = run.state == RunState::kSuccess;
  }
  EXPECT_TRUE(ran) << "the downstream run of [t, t+2s) did not run after its upstream";
}

TEST(Scheduler, AManualRunDoesNotWaitForItsUpstream) {
  // Its interval [now, now] lies in the upstream's current interval, due only at its end.
  JobSpec upstream = MakeJob("upstream", "@daily");
  JobSpec downstream = MakeJob("downstream", "@daily");
  downstream.depends_on = {"upstream"};
  SchedulerRig rig({upstream, downstream});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  rig.launcher->ExitAll(1);  // Yesterday's upstream run fails: the scheduled downstream skips.
  rig.Tick(t + kSecond);
  RunRecord manual;
  manual.job = "downstream";
  manual.type = RunType::kManual;
  manual.interval_start_ms = manual.interval_end_ms = manual.queued_at_ms = t + 2 * kSecond;
  auto created = rig.store->Create(manual);
  ASSERT_TRUE(created.ok() && created.value());
  rig.Tick(t + 2 * kSecond);
  ASSERT_FALSE(rig.launcher->starts.empty());
  EXPECT_EQ(rig.launcher->starts.back().run_id, *created.value());
  EXPECT_EQ(rig.launcher->starts.back().type, RunType::kManual);
}

TEST(Scheduler, ACatchupLongerThanOneTickGoesOnAtOnceWithoutDuplicates) {
  JobSpec job = MakeJob("tick", "every 1s");
  job.catchup = true;
  job.start_date_ms = kMidnight - 2500 * kSecond;
  job.max_active_runs = 1;
  SchedulerRig rig({job});
  rig.Start(kMidnight);
  int ticks = 0;
  do {
    rig.Tick(kMidnight);
    ++ticks;
  } while (rig.scheduler->NextWakeMs(kMidnight) == kMidnight && ticks < 10);
  EXPECT_GT(ticks, 1) << "2500 intervals made in one tick";
  EXPECT_EQ(Starts(RunsOf(*rig.store)),
            Consecutive(kMidnight - 2500 * kSecond, kMidnight - kSecond, kSecond));
  EXPECT_GT(rig.scheduler->NextWakeMs(kMidnight), kMidnight);
}

TEST(Scheduler, RunsOfJobsNoLongerInTheFileAreLeftExceptRunningOnes) {
  JobSpec kept = MakeJob("kept", "@daily");
  JobSpec gone = MakeJob("gone", "@daily");
  gone.max_active_runs = 1;
  SchedulerRig rig({kept, gone});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  RunRecord queued;  // A manual run of "gone" still waiting.
  queued.job = "gone";
  queued.type = RunType::kManual;
  queued.interval_start_ms = queued.interval_end_ms = queued.queued_at_ms = t;
  auto queued_id = rig.store->Create(queued);
  ASSERT_TRUE(queued_id.ok() && queued_id.value());
  const std::string dir = rig.dir();
  rig.scheduler.reset();  // Dies; restarts with "gone" removed from the jobs file.
  rig.store.reset();

  JobSet only_kept = MakeJobs({kept});
  std::unique_ptr<RunStore> store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  FakeLauncher launcher;
  SchedulerOptions options;
  options.holder = "testhost:2";
  options.host = "testhost";
  Scheduler scheduler(only_kept, *store, launcher, options);
  ASSERT_TRUE(scheduler.Start(t + kMinute).ok());
  ASSERT_TRUE(scheduler.Tick(t + kMinute).ok());
  ExpectNoneRunning(*store);
  for (const RunRecord& run : RunsOf(*store)) {
    if (run.run_id == *queued_id.value()) {
      EXPECT_EQ(run.state, RunState::kQueued) << "a run of a removed job was touched";
    } else {
      EXPECT_EQ(run.state, RunState::kFailed) << run.job;
      EXPECT_EQ(run.error, "orphaned: the scheduler stopped while it ran");
    }
  }
  EXPECT_EQ(launcher.orphans.size(), 2u);
  EXPECT_TRUE(launcher.starts.empty());
}

TEST(Scheduler, RestartSettlesOrphanedRunsAndNeverRunsAnIntervalTwice) {
  JobSpec once = MakeJob("once", "@daily");  // retries 0: failed.
  JobSpec again = MakeJob("again", "@daily");
  again.retries = 1;
  again.retry_delay_ms = 10 * kSecond;
  again.kill_grace_ms = 7 * kSecond;
  SchedulerRig rig({once, again});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  ASSERT_EQ(rig.launcher->starts.size(), 2u);
  std::map<std::string, RunRecord> before;
  for (const RunRecord& run : RunsOf(*rig.store)) before[run.job] = run;
  ASSERT_EQ(before.size(), 2u);
  ASSERT_TRUE(before["once"].pid.has_value());
  ASSERT_TRUE(before["once"].pid_start.has_value());

  rig.Restart();  // The first scheduler died with both running (SIGKILL: no shutdown).
  const int64_t later = t + kMinute;
  rig.Start(later);
  ExpectNoneRunning(*rig.store);
  ASSERT_EQ(rig.launcher->orphans.size(), 2u);
  std::set<std::tuple<int64_t, int64_t, int64_t>> orphans;
  for (const auto& o : rig.launcher->orphans) orphans.insert({o.pid, o.pid_start, o.grace_ms});
  EXPECT_EQ(orphans, (std::set<std::tuple<int64_t, int64_t, int64_t>>{
                         {*before["once"].pid, *before["once"].pid_start, 30 * kSecond},
                         {*before["again"].pid, *before["again"].pid_start, 7 * kSecond}}));
  const RunRecord failed = GetRun(*rig.store, before["once"].run_id);
  EXPECT_EQ(failed.state, RunState::kFailed);
  EXPECT_EQ(failed.error, "orphaned: the scheduler stopped while it ran");
  const RunRecord retry = GetRun(*rig.store, before["again"].run_id);
  EXPECT_EQ(retry.state, RunState::kUpForRetry);
  EXPECT_EQ(retry.error, "orphaned: the scheduler stopped while it ran");
  EXPECT_EQ(retry.next_try_at_ms, later + 10 * kSecond);

  rig.Tick(later);
  EXPECT_TRUE(rig.launcher->starts.empty()) << "nothing new is due, the retry waits";
  rig.Tick(later + 10 * kSecond);
  ASSERT_EQ(rig.launcher->starts.size(), 1u);
  EXPECT_EQ(rig.launcher->starts[0].run_id, before["again"].run_id);
  EXPECT_EQ(rig.launcher->starts[0].attempt, 2);
  const std::vector<RunRecord> runs = RunsOf(*rig.store);
  EXPECT_EQ(runs.size(), 2u) << "a second run for an interval";
}

TEST(Scheduler, OrphansOfAnotherHostAreFailedWithoutSignals) {
  SchedulerRig rig({MakeJob("once", "@daily")}, "host-a");
  rig.Start(kMidnight + kHour);
  rig.Tick(kMidnight + kHour);
  rig.Restart("host-b");
  rig.Start(kMidnight + 2 * kHour);
  EXPECT_TRUE(rig.launcher->orphans.empty()) << "signalled a pid of another machine";
  const std::vector<RunRecord> runs = RunsOf(*rig.store);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, RunState::kFailed);
}

TEST(Scheduler, AChildWhoseWorkWasCompleteWhenSignalledIsASuccess) {
  // The stop signal and the child's own end crossed: its result says no signal cut its work
  // short, so the run is what it did (a success), not what the scheduler asked.
  JobSpec quick = MakeJob("quick", "@daily");
  JobSpec cut = MakeJob("cut", "@daily");
  JobSpec slow = MakeJob("slow", "@daily");
  slow.timeout_ms = 5 * kSecond;
  SchedulerRig rig({quick, cut, slow});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  std::map<std::string, int64_t> id;
  for (const auto& call : rig.launcher->starts) id[call.job] = call.run_id;
  ASSERT_EQ(id.size(), 3u);

  rig.Tick(t + 6 * kSecond);  // slow's timeout: SIGTERM.
  ASSERT_EQ(rig.launcher->terminated, std::vector<int64_t>{id["slow"]});
  rig.launcher->Exit(id["slow"], 0, 0, RunCounts{100, 100, 0, true});
  rig.Tick(t + 7 * kSecond);
  EXPECT_EQ(GetRun(*rig.store, id["slow"]).state, RunState::kSuccess)
      << GetRun(*rig.store, id["slow"]).error;

  EXPECT_TRUE(rig.scheduler->BeginShutdown(t + 8 * kSecond));
  rig.launcher->Exit(id["quick"], 0, 0, RunCounts{100, 100, 0, true});
  rig.launcher->Exit(id["cut"], 0, 0, RunCounts{40, 40, 0, false});
  EXPECT_FALSE(rig.scheduler->ContinueShutdown(t + 9 * kSecond));
  EXPECT_EQ(GetRun(*rig.store, id["quick"]).state, RunState::kSuccess);
  EXPECT_EQ(GetRun(*rig.store, id["quick"]).records_stored, 100);
  EXPECT_EQ(GetRun(*rig.store, id["cut"]).state, RunState::kFailed);
  EXPECT_EQ(GetRun(*rig.store, id["cut"]).error, "the scheduler stopped");
}

TEST(Scheduler, ShutdownTerminatesThenKillsAfterTheGrace) {
  JobSpec stubborn = MakeJob("stubborn", "@daily");  // Ignores SIGTERM; retries 0.
  JobSpec polite = MakeJob("polite", "@daily");      // Stops on SIGTERM; may retry.
  polite.retries = 2;
  polite.retry_delay_ms = kMinute;
  // Exits 0 on SIGTERM, as spate's commands do: it was stopped all the same (launcher.h).
  JobSpec graceful = MakeJob("graceful", "@daily");
  SchedulerRig rig({stubborn, polite, graceful});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  ASSERT_EQ(rig.scheduler->running(), 3u);
  std::map<std::string, int64_t> id;
  for (const auto& call : rig.launcher->starts) id[call.job] = call.run_id;

  const int64_t stop = t + 10 * kSecond;
  EXPECT_TRUE(rig.scheduler->BeginShutdown(stop));
  EXPECT_EQ(std::set<int64_t>(rig.launcher->terminated.begin(), rig.launcher->terminated.end()),
            (std::set<int64_t>{id["stubborn"], id["polite"], id["graceful"]}));
  rig.launcher->Exit(id["polite"], 128 + 15, 15);
  rig.launcher->Exit(id["graceful"], 0);
  EXPECT_TRUE(rig.scheduler->ContinueShutdown(stop + 30 * kSecond - 1));
  EXPECT_TRUE(rig.launcher->killed.empty()) << "killed before the grace ended";
  EXPECT_EQ(GetRun(*rig.store, id["polite"]).state, RunState::kUpForRetry);
  EXPECT_EQ(GetRun(*rig.store, id["polite"]).error, "the scheduler stopped");
  EXPECT_EQ(GetRun(*rig.store, id["graceful"]).state, RunState::kFailed);
  EXPECT_EQ(GetRun(*rig.store, id["graceful"]).error, "the scheduler stopped");
  EXPECT_EQ(GetRun(*rig.store, id["stubborn"]).state, RunState::kRunning);

  // A new interval comes due while stopping: nothing starts.
  (void)rig.scheduler->Tick(t + kDay);
  EXPECT_EQ(rig.launcher->starts.size(), 3u);

  rig.scheduler->ContinueShutdown(stop + 30 * kSecond);
  EXPECT_EQ(rig.launcher->killed, std::vector<int64_t>{id["stubborn"]});
  EXPECT_FALSE(rig.scheduler->ContinueShutdown(stop + 30 * kSecond + 1));
  const RunRecord killed = GetRun(*rig.store, id["stubborn"]);
  EXPECT_EQ(killed.state, RunState::kFailed);
  EXPECT_EQ(killed.error, "the scheduler stopped");
  EXPECT_EQ(killed.exit_code, 137);
  ExpectNoneRunning(*rig.store);
  EXPECT_EQ(rig.scheduler->running(), 0u);
}

TEST(Scheduler, AStartThatFailsFailsTheAttempt) {
  JobSpec job = MakeJob("job", "@daily");
  job.retries = 1;
  job.retry_delay_ms = kSecond;
  SchedulerRig rig({job});
  rig.launcher->fail_starts = {"fork: out of memory"};
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  std::vector<RunRecord> runs = RunsOf(*rig.store);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, RunState::kUpForRetry);
  EXPECT_EQ(runs[0].error, "cannot start: fork: out of memory");
  rig.Tick(t + kSecond);
  ASSERT_EQ(rig.launcher->starts.size(), 1u);
  EXPECT_EQ(rig.launcher->starts[0].attempt, 2);
}

TEST(Scheduler, CountsAndLogPathReachTheHistory) {
  SchedulerRig rig({MakeJob("job", "@daily")});
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  const int64_t run_id = rig.launcher->starts.at(0).run_id;
  const RunRecord running = GetRun(*rig.store, run_id);
  EXPECT_EQ(running.log_path, "logs/job.log");
  EXPECT_EQ(running.host, "testhost");
  EXPECT_EQ(running.started_at_ms, t);
  rig.launcher->Exit(run_id, 0, 0, RunCounts{100, 97, 3});
  rig.Tick(t + 2500);
  const RunRecord run = GetRun(*rig.store, run_id);
  EXPECT_EQ(run.state, RunState::kSuccess);
  EXPECT_EQ(run.records_in, 100);
  EXPECT_EQ(run.records_stored, 97);
  EXPECT_EQ(run.records_rejected, 3);
  EXPECT_EQ(run.ended_at_ms, t + 2500);
  EXPECT_EQ(run.error, "");
}

TEST(Scheduler, WakesForTheNextIntervalAndHeartbeats) {
  SchedulerRig rig({MakeJob("tick", "every 1s")});
  rig.Start(kMidnight + 300);
  rig.Tick(kMidnight + 300);
  EXPECT_EQ(rig.scheduler->NextWakeMs(kMidnight + 300), kMidnight + kSecond);

  auto beat = rig.store->LastHeartbeat();
  ASSERT_TRUE(beat.ok() && beat.value());
  EXPECT_EQ(beat.value()->heartbeat_at_ms, kMidnight + 300);
  rig.Tick(kMidnight + 5299);
  beat = rig.store->LastHeartbeat();
  EXPECT_EQ(beat.value()->heartbeat_at_ms, kMidnight + 300);
  rig.Tick(kMidnight + 5300);
  beat = rig.store->LastHeartbeat();
  EXPECT_EQ(beat.value()->heartbeat_at_ms, kMidnight + 5300);
}

// The real store, but down while `down` is set (every call fails as a lost database would).
class FlakyStore : public RunStore {
 public:
  explicit FlakyStore(std::unique_ptr<RunStore> real) : real_(std::move(real)) {}
  bool down = false;

  Result<std::optional<int64_t>> Create(const RunRecord& run) override {
    if (down) return Outage();
    return real_->Create(run);
  }
  Status Update(const RunRecord& run) override { return down ? Outage() : real_->Update(run); }
  Result<std::optional<RunRecord>> Get(int64_t run_id) override {
    if (down) return Outage();
    return real_->Get(run_id);
  }
  Result<std::vector<RunRecord>> List(const RunFilter& filter) override {
    if (down) return Outage();
    return real_->List(filter);
  }
  Result<std::vector<RunRecord>> Unfinished() override {
    if (down) return Outage();
    return real_->Unfinished();
  }
  Result<std::optional<int64_t>> LastScheduledStart(std::string_view job) override {
    if (down) return Outage();
    return real_->LastScheduledStart(job);
  }
  Result<std::optional<RunRecord>> RunCovering(std::string_view job, int64_t instant) override {
    if (down) return Outage();
    return real_->RunCovering(job, instant);
  }
  Status Lock(std::string_view holder, int64_t now_ms) override {
    return down ? Outage() : real_->Lock(holder, now_ms);
  }
  Status Heartbeat(int64_t now_ms) override { return down ? Outage() : real_->Heartbeat(now_ms); }
  Result<std::optional<SchedulerHeartbeat>> LastHeartbeat() override {
    if (down) return Outage();
    return real_->LastHeartbeat();
  }
  std::string Describe() const override { return real_->Describe(); }

 private:
  static Status Outage() { return Status::Retriable("the history store is down (test)"); }
  std::unique_ptr<RunStore> real_;
};

TEST(Scheduler, AStoreOutageLosesNoChildsEndAndIsAPauseWithoutCatchup) {
  TempDir dir;
  JobSpec daily = MakeJob("daily", "@daily");
  JobSpec tick = MakeJob("tick", "every 1s");  // catchup off
  JobSet jobs = MakeJobs({daily, tick});
  FlakyStore store(OpenStore(dir.path()));
  FakeLauncher launcher;
  std::vector<RunRecord> changes;
  SchedulerOptions options;
  options.holder = "testhost:1";
  options.host = "testhost";
  options.on_change = [&](const RunRecord& run) { changes.push_back(run); };
  Scheduler scheduler(jobs, store, launcher, options);
  const int64_t t = kMidnight + kHour;
  ASSERT_TRUE(scheduler.Start(t).ok());
  ASSERT_TRUE(scheduler.Tick(t).ok());
  ASSERT_EQ(launcher.starts.size(), 2u);
  const int64_t daily_id =
      launcher.starts[0].job == "daily" ? launcher.starts[0].run_id : launcher.starts[1].run_id;
  launcher.ExitAll(0);

  store.down = true;
  for (int64_t at = 1; at <= 10; ++at) {
    EXPECT_FALSE(scheduler.Tick(t + at * kSecond).ok());
    EXPECT_GT(scheduler.NextWakeMs(t + at * kSecond), t + at * kSecond) << "a busy loop";
  }
  EXPECT_EQ(scheduler.running(), 0u);
  const size_t changes_before = changes.size();
  store.down = false;
  EXPECT_EQ(GetRun(store, daily_id).state, RunState::kRunning) << "written while down?";

  ASSERT_TRUE(scheduler.Tick(t + 11 * kSecond).ok());
  EXPECT_EQ(GetRun(store, daily_id).state, RunState::kSuccess) << "the child's end was lost";
  EXPECT_GT(changes.size(), changes_before);
  // tick: its first interval, then only the latest after the outage, not the ten it held up.
  EXPECT_EQ(Starts(RunsOf(store, "tick")), (std::vector<int64_t>{t - kSecond, t + 10 * kSecond}));
}

TEST(Scheduler, ASecondSchedulerOnTheSameHistoryIsRefused) {
  SchedulerRig rig({MakeJob("job", "@daily")});
  rig.Start(kMidnight);
  std::unique_ptr<RunStore> other = OpenStore(rig.dir());
  ASSERT_NE(other, nullptr);
  FakeLauncher launcher;
  SchedulerOptions options;
  options.holder = "other:2";
  options.host = "testhost";
  Scheduler second(rig.jobs(), *other, launcher, options);
  const Status s = second.Start(kMidnight);
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace spate::testing
