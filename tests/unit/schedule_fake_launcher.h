// What the scheduler's unit tests put under it (issue 20): a Launcher that starts no process
// but records every call, and lets the test decide when and how each "child" ends; and a
// fixture with the real SQLite run store in a temporary directory, jobs built with
// JobSet::FromSpecs and a clock the test sets.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "schedule/job.h"
#include "schedule/run_store.h"
#include "schedule/scheduler.h"
#include "test_util.h"

namespace spate::testing {

// 2026-12-06T00:00:00Z: a midnight, so every-1s/1m intervals and @daily line up with it.
inline constexpr int64_t kMidnight = 1'796'515'200'000;
inline constexpr int64_t kSecond = 1'000;
inline constexpr int64_t kMinute = 60'000;

class FakeLauncher : public Launcher {
 public:
  struct Call {
    int64_t run_id = 0;
    std::string job;
    int attempt = 0;
    int64_t interval_start_ms = 0;
    RunType type = RunType::kScheduled;
  };
  struct Orphan {
    int64_t pid = 0;
    int64_t pid_start = 0;
    int64_t grace_ms = 0;
  };

  Result<LaunchedChild> Start(const LaunchRequest& request) override {
    if (!fail_starts.empty()) {
      std::string why = fail_starts.front();
      fail_starts.erase(fail_starts.begin());
      return Status::Fatal(why);
    }
    starts.push_back(Call{request.run.run_id, request.job->name, request.run.attempt,
                          request.run.interval_start_ms, request.run.type});
    alive.insert(request.run.run_id);
    const int64_t pid = next_pid++;
    return LaunchedChild{pid, pid * 7, "logs/" + request.job->name + ".log"};
  }
  void Terminate(int64_t run_id) override { terminated.push_back(run_id); }
  // SIGKILL cannot be caught: the child ends, by signal 9.
  void Kill(int64_t run_id) override {
    killed.push_back(run_id);
    if (alive.contains(run_id)) Exit(run_id, 128 + 9, 9);
  }
  std::vector<ChildExit> Reap() override {
    std::vector<ChildExit> out = std::move(exits_);
    exits_.clear();
    return out;
  }
  void EndOrphan(int64_t pid, int64_t pid_start, int64_t grace_ms) override {
    orphans.push_back(Orphan{pid, pid_start, grace_ms});
  }

  // The test's side: child `run_id` ends (seen at the scheduler's next reap).
  void Exit(int64_t run_id, int exit_code, int term_signal = 0,
            std::optional<RunCounts> counts = std::nullopt, std::string error = "") {
    ASSERT_TRUE(alive.contains(run_id)) << "run " << run_id << " has no child";
    alive.erase(run_id);
    exits_.push_back(ChildExit{run_id, exit_code, term_signal, counts, std::move(error)});
  }
  // Every live child ends with `exit_code`.
  void ExitAll(int exit_code) {
    const std::set<int64_t> now_alive = alive;
    for (int64_t run_id : now_alive) Exit(run_id, exit_code);
  }

  std::vector<Call> starts;
  std::vector<int64_t> terminated;
  std::vector<int64_t> killed;
  std::vector<Orphan> orphans;
  std::set<int64_t> alive;
  std::vector<std::string> fail_starts;  // Errors the next Start calls return.
  int64_t next_pid = 4000;

 private:
  std::vector<ChildExit> exits_;
};

// A job as a test wants it; the rest are JobSpec's defaults (retries 0, max_active_runs 1,
// catchup off, no timeout).
inline JobSpec MakeJob(const std::string& name, const std::string& schedule) {
  JobSpec job;
  job.name = name;
  auto parsed = CronSchedule::Parse(schedule);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  if (parsed.ok()) job.schedule = std::move(parsed.value());
  auto zone = TimeZone::Open("UTC");
  EXPECT_TRUE(zone.ok()) << zone.status().message();
  if (zone.ok()) job.zone = std::make_shared<const TimeZone>(std::move(zone.value()));
  job.command = "run";
  job.options["count"] = {"10"};
  return job;
}

inline JobSet MakeJobs(std::vector<JobSpec> specs) {
  auto jobs = JobSet::FromSpecs(std::move(specs));
  EXPECT_TRUE(jobs.ok()) << jobs.status().message();
  return jobs.ok() ? std::move(jobs.value()) : JobSet();
}

inline std::unique_ptr<RunStore> OpenStore(const std::string& dir) {
  auto store = OpenSqliteRunStore(dir);
  EXPECT_TRUE(store.ok()) << store.status().message();
  return store.ok() ? std::move(store.value()) : nullptr;
}

// The runs of `job` (every job when empty), oldest interval first.
inline std::vector<RunRecord> RunsOf(RunStore& store, const std::string& job = "") {
  RunFilter filter;
  filter.job = job;
  filter.limit = 100'000;
  auto runs = store.List(filter);
  EXPECT_TRUE(runs.ok()) << runs.status().message();
  if (!runs.ok()) return {};
  std::vector<RunRecord> out(runs->rbegin(), runs->rend());  // List is newest first.
  return out;
}

inline RunRecord GetRun(RunStore& store, int64_t run_id) {
  auto run = store.Get(run_id);
  EXPECT_TRUE(run.ok()) << run.status().message();
  EXPECT_TRUE(run.ok() && run.value().has_value()) << "no run " << run_id;
  return run.ok() && run.value() ? *run.value() : RunRecord{};
}

// One scheduler over the real SQLite store in a temp dir, with the fake launcher. Restart()
// drops the scheduler and its store without any shutdown (as a SIGKILL would) and builds
// new ones on the same directory.
class SchedulerRig {
 public:
  explicit SchedulerRig(std::vector<JobSpec> specs, std::string host = "testhost")
      : jobs_(MakeJobs(std::move(specs))), host_(std::move(host)) {
    Build();
  }

  // Starts (Start(now)) and expects it to work.
  void Start(int64_t now_ms) {
    Status s = scheduler->Start(now_ms);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void Tick(int64_t now_ms) {
    Status s = scheduler->Tick(now_ms);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void Restart(std::string host = "") {
    if (!host.empty()) host_ = std::move(host);
    scheduler.reset();
    store.reset();
    launcher = std::make_unique<FakeLauncher>();
    Build();
  }

  const JobSet& jobs() const { return jobs_; }
  const std::string& dir() const { return dir_path_; }

  std::unique_ptr<RunStore> store;
  std::unique_ptr<FakeLauncher> launcher = std::make_unique<FakeLauncher>();
  std::unique_ptr<Scheduler> scheduler;
  // What on_change saw, and whether the store already had it each time.
  std::vector<RunRecord> changes;
  int changes_not_in_store = 0;

 private:
  void Build() {
    store = OpenStore(dir_path_);
    ASSERT_NE(store, nullptr);
    SchedulerOptions options;
    options.holder = host_ + ":1";
    options.host = host_;
    options.heartbeat_interval_ms = 5 * kSecond;
    options.shutdown_grace_ms = 30 * kSecond;
    options.on_change = [this](const RunRecord& run) {
      changes.push_back(run);
      auto stored = store->Get(run.run_id);
      if (!stored.ok() || !stored.value() || stored.value()->state != run.state ||
          stored.value()->attempt != run.attempt) {
        ++changes_not_in_store;
      }
    };
    scheduler = std::make_unique<Scheduler>(jobs_, *store, *launcher, std::move(options));
  }

  TempDir dir_;
  std::string dir_path_ = dir_.path();
  JobSet jobs_;
  std::string host_;
};

}  // namespace spate::testing
