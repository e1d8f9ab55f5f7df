// `spate runs`, `spate trigger`, `spate backfill` and the ways `spate schedule` refuses to
// start (issue 20): the real binary against a run history in a temporary directory.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "core/clock.h"
#include "schedule_rig.h"

namespace spate::testing {
namespace {

using std::chrono::seconds;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A job that is never due by itself (its intervals start in 2099): it runs only when
// triggered or backfilled.
constexpr char kLaterJobs[] = R"(jobs:
  - name: later
    schedule: "@daily"
    start_date: 2099-01-01
    run: run
    options: {count: 10, seed: later}
  - name: berlin
    schedule: "@daily"
    timezone: Europe/Berlin
    start_date: 2099-01-01
    run: run
    options: {count: 10, seed: berlin}
  - name: often
    schedule: every 1s
    start_date: 2099-01-01
    run: run
    options: {count: 10}
)";

std::string WorkDir(const TempDir& dir, const std::string& jobs) {
  const std::string work = dir.File("work");
  std::filesystem::create_directories(work);
  WriteText(work + "/jobs.yaml", jobs);
  return work;
}

int64_t Millis(int y, int mo, int d) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

TEST(ScheduleCli, RunsListsTheHistoryNewestFirstFilteredByJobAndState) {
  TempDir dir;
  const std::string data = dir.File("data");
  {
    auto store = OpenSqliteRunStore(data);
    ASSERT_TRUE(store.ok()) << store.status().message();
    auto add = [&](const std::string& job, int day, RunState state, const std::string& error) {
      RunRecord run;
      run.job = job;
      run.interval_start_ms = Millis(2026, 12, day);
      run.interval_end_ms = Millis(2026, 12, day + 1);
      run.queued_at_ms = run.interval_end_ms;
      auto id = store.value()->Create(run);
      ASSERT_TRUE(id.ok() && id->has_value());
      run.run_id = **id;
      run.state = state;
      if (state != RunState::kQueued) {
        run.attempt = 1;
        run.started_at_ms = run.interval_end_ms + 1000;
        run.ended_at_ms = run.interval_end_ms + 3500;
        run.records_in = 10 * day;
        run.records_stored = 10 * day - 1;
        run.records_rejected = 1;
        run.exit_code = state == RunState::kSuccess ? 0 : 1;
        run.error = error;
      }
      ASSERT_TRUE(store.value()->Update(run).ok());
    };
    add("a", 1, RunState::kSuccess, "");
    add("a", 2, RunState::kFailed, "boom: the source broke");
    add("b", 3, RunState::kSuccess, "");
    add("a", 4, RunState::kQueued, "");
  }

  Outcome all = RunSpate(dir, {"runs", "--data-dir", data});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  std::vector<std::string> lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 5u) << all.out;
  EXPECT_TRUE(lines[0].starts_with("RUN  ")) << lines[0];
  for (const char* column : {"JOB", "INTERVAL", "STATE", "ATTEMPT", "STARTED", "DURATION", "IN",
                             "STORED", "REJECTED", "EXIT", "ERROR"}) {
    EXPECT_TRUE(Has(lines[0], column)) << column;
  }
  // Newest interval first.
  EXPECT_TRUE(Has(lines[1], "2026-12-04T00:00:00Z") && Has(lines[1], "queued")) << lines[1];
  EXPECT_TRUE(Has(lines[2], "2026-12-03T00:00:00Z") && Has(lines[2], " b ")) << lines[2];
  EXPECT_TRUE(Has(lines[3], "failed") && Has(lines[3], "boom: the source broke")) << lines[3];
  EXPECT_TRUE(Has(lines[3], "2.50 s") && Has(lines[3], " 19 ")) << lines[3];
  EXPECT_TRUE(Has(lines[4], "2026-12-01T00:00:00Z") && Has(lines[4], "success")) << lines[4];

  Outcome some = RunSpate(dir, {"runs", "--data-dir", data, "--job", "a", "--state", "success"});
  ASSERT_EQ(some.exit_code, 0) << some.err;
  lines = Lines(some.out);
  ASSERT_EQ(lines.size(), 2u) << some.out;
  EXPECT_TRUE(Has(lines[1], "2026-12-01T00:00:00Z") && Has(lines[1], " a ")) << lines[1];

  Outcome of_a = RunSpate(dir, {"runs", "--data-dir", data, "--job", "a"});
  EXPECT_EQ(Lines(of_a.out).size(), 4u) << of_a.out;
  Outcome limited = RunSpate(dir, {"runs", "--data-dir", data, "--limit", "2"});
  lines = Lines(limited.out);
  ASSERT_EQ(lines.size(), 3u) << limited.out;
  EXPECT_TRUE(Has(lines[1], "2026-12-04") && Has(lines[2], "2026-12-03")) << limited.out;
  Outcome none = RunSpate(dir, {"runs", "--data-dir", data, "--job", "c"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_TRUE(none.out.empty()) << none.out;
  EXPECT_TRUE(Has(none.err, "no runs of c")) << none.err;

  Outcome bad_state = RunSpate(dir, {"runs", "--data-dir", data, "--state", "done"});
  EXPECT_EQ(bad_state.exit_code, 2);
  EXPECT_TRUE(Has(bad_state.err, "--state") && Has(bad_state.err, "up_for_retry")) << bad_state.err;
  Outcome bad_limit = RunSpate(dir, {"runs", "--data-dir", data, "--limit", "0"});
  EXPECT_EQ(bad_limit.exit_code, 2);
  EXPECT_TRUE(Has(bad_limit.err, "--limit")) << bad_limit.err;
  // A data dir without a history: said, not passed off as an empty one (nor created).
  Outcome nothing = RunSpate(dir, {"runs", "--data-dir", dir.File("elsewhere")});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_TRUE(Has(nothing.err, "no run history")) << nothing.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("elsewhere")));
}

TEST(ScheduleCli, TriggerQueuesAManualRunThatTheRunningSchedulerStarts) {
  TempDir dir;
  const std::string work = WorkDir(dir, kLaterJobs);
  const std::string data = work + "/spate-data";
  // No scheduler yet: queued, with a warning that nothing will start it.
  Outcome first = RunSpateIn(dir, work, {"trigger", "later", "--config", "jobs.yaml"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_TRUE(Has(first.err, "no scheduler")) << first.err;
  const int64_t first_id = std::stoll(first.out);
  auto runs = History(data, "later");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run_id, first_id);
  EXPECT_EQ(runs[0].state, RunState::kQueued);
  EXPECT_EQ(runs[0].type, RunType::kManual);

  Outcome unknown = RunSpateIn(dir, work, {"trigger", "nope", "--config", "jobs.yaml"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(Has(unknown.err, "'nope'") && Has(unknown.err, "later, berlin, often"))
      << unknown.err;
  Outcome no_file = RunSpateIn(dir, work, {"trigger", "later"});
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_TRUE(Has(no_file.err, "--config")) << no_file.err;

  SpateIn scheduler(dir, work, {"schedule", "--config", "jobs.yaml"});
  auto succeeded = [&](int64_t id) {
    for (const RunRecord& run : History(data, "later")) {
      if (run.run_id == id) return run.state == RunState::kSuccess;
    }
    return false;
  };
  ASSERT_TRUE(WaitFor([&] { return succeeded(first_id); }, seconds(60))) << scheduler.Stderr();
  // With the scheduler running: no warning, and it starts the run within seconds.
  Outcome second = RunSpateIn(dir, work, {"trigger", "later", "--config", "jobs.yaml"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_FALSE(Has(second.err, "no scheduler")) << second.err;
  const int64_t second_id = std::stoll(second.out);
  EXPECT_NE(second_id, first_id);
  ASSERT_TRUE(WaitFor([&] { return succeeded(second_id); }, seconds(60))) << scheduler.Stderr();
  scheduler.Signal(SIGTERM);
  EXPECT_EQ(scheduler.Wait().exit_code, 0);

  runs = History(data, "later");
  ASSERT_EQ(runs.size(), 2u);  // Only the triggered ones: the job is not due before 2099.
  for (const RunRecord& run : runs) {
    EXPECT_EQ(run.type, RunType::kManual);
    EXPECT_EQ(run.interval_start_ms, run.interval_end_ms);
    EXPECT_EQ(run.records_stored, 10);
  }
}

TEST(ScheduleCli, BackfillQueuesTheIntervalsStartingInTheRangeOnce) {
  TempDir dir;
  const std::string work = WorkDir(dir, kLaterJobs);
  const std::string data = work + "/spate-data";
  Outcome first = RunSpateIn(
      dir, work,
      {"backfill", "later", "--from", "2026-12-01", "--to", "2026-12-03", "--config", "jobs.yaml"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, "3 runs queued, 0 already existed\n");
  Outcome again = RunSpateIn(
      dir, work,
      {"backfill", "later", "--from", "2026-12-02", "--to", "2026-12-04", "--config", "jobs.yaml"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "1 runs queued, 2 already existed\n");
  // Dates are in the job's zone: midnight in Berlin is 23:00 UTC the day before.
  Outcome berlin = RunSpateIn(dir, work,
                              {"backfill", "berlin", "--from", "2026-12-01", "--to", "2026-12-01",
                               "--config", "jobs.yaml"});
  ASSERT_EQ(berlin.exit_code, 0) << berlin.err;
  auto berlin_runs = History(data, "berlin");
  ASSERT_EQ(berlin_runs.size(), 1u);
  EXPECT_EQ(berlin_runs[0].interval_start_ms, Millis(2026, 12, 1) - 3'600'000);

  SpateIn scheduler(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto runs = History(data, "later");
        return runs.size() == 4 && std::all_of(runs.begin(), runs.end(), [](const RunRecord& r) {
                 return r.state == RunState::kSuccess;
               });
      },
      seconds(120)))
      << scheduler.Stderr();
  scheduler.Signal(SIGTERM);
  EXPECT_EQ(scheduler.Wait().exit_code, 0);
  auto runs = History(data, "later");  // Newest first.
  ASSERT_EQ(runs.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(runs[i].type, RunType::kBackfill);
    EXPECT_EQ(runs[i].interval_start_ms, Millis(2026, 12, 4 - i));
    EXPECT_EQ(runs[i].interval_end_ms, Millis(2026, 12, 5 - i));
  }

  auto backfill = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"backfill", "later", "--config", "jobs.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSpateIn(dir, work, args);
  };
  Outcome bad_from = backfill({"--from", "yesterday", "--to", "2026-12-01"});
  EXPECT_EQ(bad_from.exit_code, 2);
  EXPECT_TRUE(Has(bad_from.err, "--from")) << bad_from.err;
  Outcome reversed = backfill({"--from", "2026-12-05", "--to", "2026-12-01"});
  EXPECT_EQ(reversed.exit_code, 2);
  EXPECT_TRUE(Has(reversed.err, "after --to")) << reversed.err;
  Outcome no_to = backfill({"--from", "2026-12-01"});
  EXPECT_EQ(no_to.exit_code, 2);
  EXPECT_TRUE(Has(no_to.err, "--to")) << no_to.err;
  Outcome too_many = RunSpateIn(
      dir, work,
      {"backfill", "often", "--from", "2026-01-01", "--to", "2026-12-01", "--config", "jobs.yaml"});
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_TRUE(Has(too_many.err, "10,000")) << too_many.err;
  EXPECT_TRUE(History(data, "often").empty());
}

TEST(ScheduleCli, ABadJobsFileExitsTwoNamingTheJobAndTheKey) {
  TempDir dir;
  struct Case {
    const char* jobs;
    std::vector<std::string> named;
  };
  const std::vector<Case> cases = {
      {R"(jobs:
  - name: tick
    schedule: every 1s
    run: run
    retires: 2
)",
       {"tick", "retires"}},
      {R"(jobs:
  - name: feed
    schedule: every 1m
    run: produce
    options: {where: "age > 3"}
)",
       {"feed", "where"}},
      {R"(jobs:
  - name: copy
    schedule: every 1m
    run: query
)",
       {"copy", "run"}},
      {R"(jobs:
  - name: nightly
    schedule: 61 * * * *
    run: run
)",
       {"nightly", "schedule"}},
  };
  for (const Case& c : cases) {
    const std::string work = dir.File("work");
    std::filesystem::create_directories(work);
    WriteText(work + "/jobs.yaml", c.jobs);
    Outcome outcome = RunSpateIn(dir, work, {"schedule", "--config", "jobs.yaml"});
    EXPECT_EQ(outcome.exit_code, 2) << c.jobs << outcome.err;
    for (const std::string& word : c.named) {
      EXPECT_TRUE(Has(outcome.err, word)) << word << " not in: " << outcome.err;
    }
    EXPECT_TRUE(Has(outcome.err, "jobs.yaml")) << outcome.err;
  }
  Outcome no_file = RunSpate(dir, {"schedule"});
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_TRUE(Has(no_file.err, "--config jobs.yaml")) << no_file.err;
}

TEST(ScheduleCli, ASecondSchedulerOnTheSameHistoryExitsOneNamingTheHolder) {
  TempDir dir;
  const std::string work = WorkDir(dir, kLaterJobs);
  SpateIn first(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(first.WaitForLog("spate schedule: ")) << first.Stderr();
  Outcome second = RunSpateIn(dir, work, {"schedule", "--config", "jobs.yaml"});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_TRUE(Has(second.err, fmt::format(":{}", first.pid()))) << second.err;
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait().exit_code, 0);
  // Once the first has gone, a scheduler starts there again.
  SpateIn third(dir, work, {"schedule", "--config", "jobs.yaml"});
  ASSERT_TRUE(third.WaitForLog("spate schedule: ")) << third.Stderr();
  third.Signal(SIGINT);
  EXPECT_EQ(third.Wait().exit_code, 0);
}

// The port of the "dashboard: http://127.0.0.1:PORT/" line; 0 when it did not appear.
int DashboardPortOf(const SpateIn& process) {
  const std::string marker = "dashboard: http://127.0.0.1:";
  int port = 0;
  WaitFor(
      [&] {
        const std::string err = process.Stderr();
        const size_t at = err.find(marker);
        if (at != std::string::npos) port = std::atoi(err.c_str() + at + marker.size());
        return port != 0;
      },
      seconds(60));
  return port;
}

TEST(ScheduleCli, HttpServesHealthReadinessAndTheSchedulersMetrics) {
  TempDir dir;
  const std::string work = WorkDir(dir, kLaterJobs);
  const std::string data = work + "/spate-data";
  SpateIn scheduler(dir, work, {"schedule", "--config", "jobs.yaml", "--http", "127.0.0.1:0"});
  const int port = DashboardPortOf(scheduler);
  ASSERT_NE(port, 0) << scheduler.Stderr();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto healthz = client.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto ready = client.Get("/readyz");
        return ready && ready->status == 200;
      },
      seconds(60)));
  Outcome trigger = RunSpateIn(dir, work, {"trigger", "later", "--config", "jobs.yaml"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.err;
  const std::string done = "spate_schedule_runs_total{job=\"later\",state=\"success\"} 1";
  std::string metrics;
  EXPECT_TRUE(WaitFor(
      [&] {
        auto res = client.Get("/metrics");
        metrics = res ? res->body : "";
        return Has(metrics, done);
      },
      seconds(60)))
      << metrics;
  EXPECT_TRUE(Has(metrics, "spate_schedule_runs_total{job=\"berlin\",state=\"failed\"} 0"))
      << metrics;
  EXPECT_TRUE(Has(metrics, "spate_schedule_running_runs{job=\"later\"} 0")) << metrics;
  EXPECT_TRUE(Has(metrics, "spate_schedule_run_duration_seconds_count{job=\"later\"} 1"))
      << metrics;
  scheduler.Signal(SIGTERM);
  EXPECT_EQ(scheduler.Wait().exit_code, 0);
}

}  // namespace
}  // namespace spate::testing
