// ScheduleService (issue 20): trigger, backfill and the run list, over its own connection to
// the real SQLite history the scheduler uses, and the scheduler starting what they queue.
#include "schedule/service.h"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "schedule_fake_launcher.h"

namespace spate::testing {
namespace {

constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

TEST(ScheduleService, TriggerQueuesManualRunsTheSchedulerStarts) {
  JobSpec job = MakeJob("daily", "@daily");
  job.max_active_runs = 3;
  SchedulerRig rig({job});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  const int64_t t = kMidnight + kHour;

  auto first = service.Trigger("daily", t);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_GT(first->run_id, 0);
  EXPECT_EQ(first->type, RunType::kManual);
  EXPECT_EQ(first->state, RunState::kQueued);
  EXPECT_EQ(first->interval_start_ms, t);
  EXPECT_EQ(first->interval_end_ms, t);
  // A trigger is a request to run now: a second one is a second run.
  auto second = service.Trigger("daily", t);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE(second->run_id, first->run_id);

  rig.Start(t);
  rig.Tick(t);
  std::set<int64_t> manual;
  for (const auto& call : rig.launcher->starts) {
    if (call.type == RunType::kManual) manual.insert(call.run_id);
  }
  EXPECT_EQ(manual, (std::set<int64_t>{first->run_id, second->run_id}));
  EXPECT_EQ(GetRun(*rig.store, first->run_id).state, RunState::kRunning);
}

TEST(ScheduleService, TriggeredRunStartsAtTheSchedulersNextTick) {
  SchedulerRig rig({MakeJob("daily", "@daily")});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  rig.launcher->ExitAll(0);
  rig.Tick(t + kSecond);
  ASSERT_EQ(rig.launcher->starts.size(), 1u);  // The scheduled run of yesterday.

  auto run = service.Trigger("daily", t + 2 * kSecond);
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_LE(rig.scheduler->NextWakeMs(t + 2 * kSecond), t + 3 * kSecond)
      << "the scheduler would not look for the triggered run within a second";
  rig.Tick(t + 3 * kSecond);
  ASSERT_EQ(rig.launcher->starts.size(), 2u);
  EXPECT_EQ(rig.launcher->starts[1].run_id, run->run_id);
  rig.launcher->ExitAll(0);
  rig.Tick(t + 4 * kSecond);
  EXPECT_EQ(GetRun(*rig.store, run->run_id).state, RunState::kSuccess);
}

TEST(ScheduleService, UnknownJobIsAnErrorNamingTheJobs) {
  SchedulerRig rig({MakeJob("alpha", "@daily"), MakeJob("beta", "@hourly")});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  auto triggered = service.Trigger("gamma", kMidnight);
  ASSERT_FALSE(triggered.ok());
  EXPECT_EQ(triggered.status().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(triggered.status().message().find("gamma"), std::string::npos);
  EXPECT_NE(triggered.status().message().find("alpha, beta"), std::string::npos)
      << triggered.status().message();
  auto backfilled = service.Backfill("gamma", kMidnight - kDay, kMidnight, kMidnight);
  ASSERT_FALSE(backfilled.ok());
  EXPECT_NE(backfilled.status().message().find("alpha, beta"), std::string::npos);
  EXPECT_TRUE(RunsOf(*rig.store).empty());
}

TEST(ScheduleService, BackfillQueuesPastIntervalsAndCountsThoseThatExist) {
  SchedulerRig rig({MakeJob("daily", "@daily")});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);  // The scheduled run of 2026-12-05 (yesterday) runs.
  ASSERT_EQ(rig.launcher->starts.size(), 1u);

  // 2026-12-01 .. 2026-12-05: four new, one there.
  auto result = service.Backfill("daily", kMidnight - 5 * kDay, kMidnight - kDay, t);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const std::vector<Interval> expected = {
      {kMidnight - 5 * kDay, kMidnight - 4 * kDay},
      {kMidnight - 4 * kDay, kMidnight - 3 * kDay},
      {kMidnight - 3 * kDay, kMidnight - 2 * kDay},
      {kMidnight - 2 * kDay, kMidnight - kDay},
  };
  EXPECT_EQ(result->created, expected);
  EXPECT_EQ(result->existed, 1u);

  auto again = service.Backfill("daily", kMidnight - 5 * kDay, kMidnight - kDay, t);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->created.empty());
  EXPECT_EQ(again->existed, 5u);

  // The scheduler runs them one at a time (max_active_runs 1), oldest interval first.
  int64_t now = t;
  for (int i = 0; i < 6; ++i) {
    rig.launcher->ExitAll(0);
    rig.Tick(now += kSecond);
  }
  std::vector<int64_t> order;
  for (const auto& call : rig.launcher->starts) order.push_back(call.interval_start_ms);
  EXPECT_EQ(order,
            (std::vector<int64_t>{kMidnight - kDay, kMidnight - 5 * kDay, kMidnight - 4 * kDay,
                                  kMidnight - 3 * kDay, kMidnight - 2 * kDay}));
  const std::vector<RunRecord> runs = RunsOf(*rig.store);
  ASSERT_EQ(runs.size(), 5u);
  std::set<int64_t> intervals;
  for (const RunRecord& run : runs) {
    intervals.insert(run.interval_start_ms);
    EXPECT_EQ(run.state, RunState::kSuccess);
    EXPECT_EQ(run.type,
              run.interval_start_ms == kMidnight - kDay ? RunType::kScheduled : RunType::kBackfill);
  }
  EXPECT_EQ(intervals.size(), 5u);
}

TEST(ScheduleService, BackfillIsNotLimitedByStartDate) {
  JobSpec job = MakeJob("daily", "@daily");
  job.start_date_ms = kMidnight;
  SchedulerRig rig({job});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  auto result = service.Backfill("daily", kMidnight - 2 * kDay, kMidnight - kDay, kMidnight);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->created.size(), 2u);
}

TEST(ScheduleService, BackfillOfTooManyIntervalsQueuesNothing) {
  SchedulerRig rig({MakeJob("tick", "every 1s")});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  // kMaxBackfillRuns + 1 intervals start in [from, to].
  const int64_t from = kMidnight;
  const int64_t to = kMidnight + static_cast<int64_t>(kMaxBackfillRuns) * kSecond;
  auto result = service.Backfill("tick", from, to, kMidnight);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(result.status().message().find("10000"), std::string::npos)
      << result.status().message();
  EXPECT_TRUE(RunsOf(*rig.store).empty());

  auto reversed = service.Backfill("tick", to, from, kMidnight);
  ASSERT_FALSE(reversed.ok());
  EXPECT_EQ(reversed.status().kind(), ErrorKind::kInvalidInput);
  EXPECT_TRUE(RunsOf(*rig.store).empty());

  // One interval fewer is allowed (a smaller range keeps the test quick).
  auto small = service.Backfill("tick", from, from + 9 * kSecond, kMidnight);
  ASSERT_TRUE(small.ok()) << small.status().message();
  EXPECT_EQ(small->created.size(), 10u);
}

TEST(ScheduleService, RunsListsTheHistoryByJobAndState) {
  JobSpec ok_job = MakeJob("good", "@daily");
  JobSpec bad_job = MakeJob("bad", "@daily");
  SchedulerRig rig({ok_job, bad_job});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  const int64_t t = kMidnight + kHour;
  rig.Start(t);
  rig.Tick(t);
  for (const auto& call : rig.launcher->starts) {
    rig.launcher->Exit(call.run_id, call.job == "good" ? 0 : 1);
  }
  rig.Tick(t + kSecond);

  RunFilter filter;
  filter.job = "bad";
  auto bad = service.Runs(filter);
  ASSERT_TRUE(bad.ok()) << bad.status().message();
  ASSERT_EQ(bad->size(), 1u);
  EXPECT_EQ((*bad)[0].state, RunState::kFailed);
  filter.job.clear();
  filter.state = RunState::kSuccess;
  auto good = service.Runs(filter);
  ASSERT_TRUE(good.ok()) << good.status().message();
  ASSERT_EQ(good->size(), 1u);
  EXPECT_EQ((*good)[0].job, "good");
}

TEST(ScheduleService, WarnsWhenNoSchedulerHeartbeatIsFresh) {
  SchedulerRig rig({MakeJob("daily", "@daily")});
  ScheduleService service(rig.jobs(), OpenStore(rig.dir()));
  const std::string never = service.SchedulerWarning(kMidnight);
  EXPECT_NE(never.find("no scheduler is running"), std::string::npos) << never;

  rig.Start(kMidnight);
  EXPECT_EQ(service.SchedulerWarning(kMidnight + kSecond), "");
  EXPECT_EQ(service.SchedulerWarning(kMidnight + 15 * kSecond), "");
  const std::string stale = service.SchedulerWarning(kMidnight + 16 * kSecond);
  EXPECT_NE(stale.find("last seen 2026-12-06T00:00:00.000Z"), std::string::npos) << stale;
  EXPECT_NE(stale.find("testhost:1"), std::string::npos) << stale;
}

}  // namespace
}  // namespace spate::testing
