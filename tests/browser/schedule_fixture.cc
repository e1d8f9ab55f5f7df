// The server behind Browser.Schedule (schedule_test.py): a run history in DATA_DIR (a real
// SqliteRunStore, DATA_DIR/schedule.db) with runs in every state over the last hours, and
// DashboardServer::ServeSchedule over it on a free loopback port, as `spate schedule --http`
// serves it, but without a scheduler: a run the page triggers stays queued, so the test can
// find it in the store.
//
// Prints "schedule: http://127.0.0.1:PORT/" on stdout once it serves; ends when its stdin
// closes (or on SIGTERM/SIGINT).
//
// Usage: spate_schedule_fixture DATA_DIR
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "http/dashboard_server.h"
#include "observe/feeds.h"
#include "schedule/job.h"
#include "schedule/run_store.h"
#include "schedule/service.h"

namespace spate {
namespace {

constexpr int64_t kHour = 3'600'000;
constexpr int kHours = 24;  // Intervals of history: one a column.

int Fail(const std::string& what) {
  std::cerr << "schedule_fixture: " << what << "\n";
  return 1;
}

Result<JobSpec> Job(std::string name, std::string_view schedule, std::string command) {
  JobSpec job;
  job.name = std::move(name);
  auto parsed = CronSchedule::Parse(schedule);
  if (!parsed.ok()) return parsed.status();
  job.schedule = parsed.value();
  auto zone = TimeZone::Open("UTC");
  if (!zone.ok()) return zone.status();
  job.zone = std::make_shared<const TimeZone>(std::move(zone.value()));
  job.command = std::move(command);
  return job;
}

// One run of `job` for the hourly interval starting at `start`, in `state`.
RunRecord Run(const std::string& job, int64_t start, RunState state, int attempt = 1) {
  RunRecord run;
  run.job = job;
  run.interval_start_ms = start;
  run.interval_end_ms = start + kHour;
  run.state = state;
  run.queued_at_ms = run.interval_end_ms + 3;
  if (state == RunState::kQueued || state == RunState::kSkipped) {
    run.attempt = 0;
    if (state == RunState::kSkipped) {
      run.ended_at_ms = run.queued_at_ms + 40;
      run.error = "upstream stream_data_from_api failed";
    }
    return run;
  }
  run.attempt = attempt;
  run.started_at_ms = run.queued_at_ms + 250;
  run.log_path = "/var/lib/spate/logs/" + job + "/run.log";
  run.host = "fixture";
  if (state == RunState::kRunning) {
    run.pid = 1;
    return run;
  }
  run.ended_at_ms = *run.started_at_ms + 60'420 + (start / kHour % 7) * 1'000;
  run.exit_code = state == RunState::kSuccess ? 0 : 1;
  if (state == RunState::kSuccess) {
    run.records_in = 600 + start / kHour % 40;
    run.records_rejected = start / kHour % 3;
    run.records_stored = *run.records_in - *run.records_rejected;
  } else if (state == RunState::kFailed) {
    run.error = "kafka: broker 127.0.0.1:9092 <img src=x onerror=window.__xss=1> unreachable";
  } else {
    run.error = "timed out after 5m";
    run.ended_at_ms = *run.started_at_ms + 300'000;  // The job's timeout, as the error says.
    run.next_try_at_ms = *run.ended_at_ms + 20'000;
  }
  return run;
}

int Main(int argc, char** argv) {
  if (argc != 2) return Fail("usage: spate_schedule_fixture DATA_DIR");
  const std::string data_dir = argv[1];

  auto stream = Job("stream_data_from_api", "@hourly", "produce");
  auto aggregate = Job("aggregate_users", "@hourly", "process");
  auto report = Job("nightly_report", "0 3 * * *", "run");
  if (!stream.ok() || !aggregate.ok() || !report.ok()) return Fail("a job does not parse");
  stream.value().retries = 2;
  stream.value().timeout_ms = 300'000;
  aggregate.value().depends_on = {"stream_data_from_api"};
  auto jobs = JobSet::FromSpecs({stream.value(), aggregate.value(), report.value()});
  if (!jobs.ok()) return Fail(jobs.status().message());

  auto store = OpenSqliteRunStore(data_dir);
  if (!store.ok()) return Fail(store.status().message());
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t current = now / kHour * kHour;  // The interval under way: not due yet.
  std::vector<RunRecord> runs;
  for (int i = kHours; i >= 1; --i) {
    const int64_t start = current - i * kHour;
    // The newest interval's upstream is still running, its downstream waits; before that, a
    // retry pending, a failure (its downstream skipped), the rest successes.
    RunState up = RunState::kSuccess;
    RunState down = RunState::kSuccess;
    int attempt = 1;
    if (i == 1) {
      up = RunState::kRunning;
      down = RunState::kQueued;
    } else if (i == 2) {
      up = RunState::kUpForRetry;
      down = RunState::kQueued;
    } else if (i == 6 || i == 15) {
      up = RunState::kFailed;
      down = RunState::kSkipped;
      attempt = 3;
    } else if (i == 9) {
      attempt = 2;  // Succeeded on its retry.
    }
    runs.push_back(Run("stream_data_from_api", start, up, attempt));
    runs.push_back(Run("aggregate_users", start, down));
    // 03:00 UTC: the nightly report's interval [03:00 yesterday, 03:00 today) ends there.
    if ((start / kHour) % 24 == 3) {
      RunRecord daily = Run("nightly_report", start - 24 * kHour, RunState::kSuccess);
      daily.interval_end_ms = start;
      daily.queued_at_ms = start + 2;
      runs.push_back(daily);
    }
  }
  // A backfill that failed, and a manual run that succeeded.
  RunRecord backfill = Run("aggregate_users", current - (kHours + 1) * kHour, RunState::kFailed, 1);
  backfill.type = RunType::kBackfill;
  runs.push_back(backfill);
  RunRecord manual =
      Run("stream_data_from_api", current - 3 * kHour - 17 * 60'000, RunState::kSuccess);
  manual.type = RunType::kManual;
  manual.interval_end_ms = manual.interval_start_ms;
  runs.push_back(manual);

  for (RunRecord& run : runs) {
    auto id = store.value()->Create(run);
    if (!id.ok()) return Fail(id.status().message());
    if (!id.value()) continue;  // Already there (a second start on the same directory).
    run.run_id = *id.value();
    if (Status s = store.value()->Update(run); !s.ok()) return Fail(s.message());
  }

  auto own = OpenSqliteRunStore(data_dir);
  if (!own.ok()) return Fail(own.status().message());
  ScheduleService service(jobs.value(), std::move(own.value()));
  DashboardServer server(
      DashboardInfo{"schedule", std::string(SpateVersion()), "", std::chrono::system_clock::now()});
  server.ServeSchedule(&service);
  auto port = server.Start(DashboardServerOptions{});
  if (!port.ok()) return Fail(port.status().message());
  std::cout << "schedule: http://127.0.0.1:" << port.value() << "/" << std::endl;

  // Until the test closes our stdin.
  while (std::getchar() != EOF) {
  }
  server.Stop();
  return 0;
}

}  // namespace
}  // namespace spate

int main(int argc, char** argv) { return spate::Main(argc, argv); }
