// Orchestration (issue 20): `spate schedule` runs the jobs of a jobs file as child spate
// processes on their schedules; `spate runs`, `spate trigger` and `spate backfill` read and
// add to the run history it keeps. The decisions (what is due, retries, timeouts, restarts)
// are the Scheduler's (src/schedule); this file is the process around it: the loop that
// gives it the time, the signals, the log lines, the metrics and the dashboard.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/cli.h"
#include "app/commands.h"
#include "app/components.h"
#include "app/signals.h"
#include "core/clock.h"
#include "http/dashboard_server.h"
#include "observe/feeds.h"
#include "observe/metrics.h"
#include "schedule/job.h"
#include "schedule/launcher.h"
#include "schedule/run_store.h"
#include "schedule/scheduler.h"
#include "schedule/service.h"

namespace spate {
namespace {

// The longest the loop sleeps: children that end are noticed (reaped) within this, and a
// store that was down is tried again. Short enough that a run every second starts on time,
// long enough that an idle scheduler costs nothing measurable.
constexpr int kLoopWaitMs = 200;
// After a second signal the children are SIGKILLed; this long is spent recording how
// their runs ended before the scheduler exits anyway.
constexpr int64_t kAbortRecordMs = 5'000;

// "2026-12-06T12:00:01Z", with milliseconds only when there are some (a manual run's
// interval starts at any millisecond; scheduled ones on whole seconds).
std::string UtcText(int64_t unix_ms) {
  const int64_t seconds = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const int64_t millis = unix_ms - seconds * 1000;
  const time_t t = static_cast<time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const std::string base = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900,
                                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return millis == 0 ? base + "Z" : fmt::format("{}.{:03}Z", base, millis);
}

std::string SecondsText(int64_t ms) { return fmt::format("{:.2f} s", ms / 1000.0); }

// decisions20.md: "run 12 tick @ 2026-12-06T12:00:01Z".
std::string RunName(const RunRecord& run) {
  return fmt::format("run {} {} @ {}", run.run_id, run.job, UtcText(run.interval_start_ms));
}

// "attempt 2 of 3" (of how many only while the job is in the file).
std::string AttemptText(const RunRecord& run, const JobSpec* job) {
  if (job == nullptr) return fmt::format("attempt {}", run.attempt);
  return fmt::format("attempt {} of {}", run.attempt, job->retries + 1);
}

std::string CountsText(const RunRecord& run) {
  if (!run.records_in && !run.records_stored && !run.records_rejected) {
    return "no counts: the run wrote no result";
  }
  auto n = [](const std::optional<int64_t>& v) {
    return v ? Thousands(static_cast<uint64_t>(*v)) : std::string("?");
  };
  return fmt::format("{} in, {} stored, {} rejected", n(run.records_in), n(run.records_stored),
                     n(run.records_rejected));
}

std::string EndText(const RunRecord& run) {
  std::string text;
  if (run.started_at_ms && run.ended_at_ms) {
    text = " in " + SecondsText(*run.ended_at_ms - *run.started_at_ms);
  }
  return text;
}

// One line per state change (SchedulerOptions::on_change), at the level it deserves.
void LogChange(const RunRecord& run, const JobSet& jobs, const std::string& logs_dir) {
  const JobSpec* job = jobs.Find(run.job);
  const std::string name = RunName(run);
  const std::string exit_text = run.exit_code ? fmt::format("exit {}", *run.exit_code) : "no exit";
  switch (run.state) {
    case RunState::kQueued:
      spdlog::info("{}: queued ({})", name, RunTypeName(run.type));
      return;
    case RunState::kRunning:
      // The child starts after this change is recorded: its log is where launcher.h puts it.
      spdlog::info("{}: running ({}, log {}/{}/{}-{}.log)", name, AttemptText(run, job), logs_dir,
                   run.job, run.run_id, run.attempt);
      return;
    case RunState::kSuccess:
      spdlog::info("{}: success{} ({})", name, EndText(run), CountsText(run));
      return;
    case RunState::kFailed:
      spdlog::error("{}: failed{} ({}, {}): {}", name, EndText(run), AttemptText(run, job),
                    exit_text, run.error.empty() ? "no error text" : run.error);
      return;
    case RunState::kUpForRetry:
      spdlog::warn("{}: up_for_retry{} ({}, {}): {}; next try at {}", name, EndText(run),
                   AttemptText(run, job), exit_text, run.error,
                   run.next_try_at_ms ? UtcText(*run.next_try_at_ms) : "?");
      return;
    case RunState::kSkipped:
      spdlog::warn("{}: skipped: {}", name, run.error);
      return;
  }
}

// The scheduler's series (src/observe/README.md): runs by the state they reached, runs
// running now, and how long an attempt took. Fed from on_change, so the numbers are what
// the store holds.
class ScheduleMetrics {
 public:
  ScheduleMetrics(MetricsRegistry& registry, const JobSet& jobs) : registry_(registry) {
    // Every series of the file's jobs from the start: a rate() over a counter that appears
    // only at its first increment misses that increment.
    for (const JobSpec& job : jobs.jobs()) {
      Running(job.name);
      for (RunState state :
           {RunState::kSuccess, RunState::kFailed, RunState::kUpForRetry, RunState::kSkipped}) {
        Ended(job.name, state);
      }
    }
  }

  void OnChange(const RunRecord& run) {
    const bool was_running = running_.count(run.run_id) > 0;
    const bool is_running = run.state == RunState::kRunning;
    if (is_running && !was_running) {
      running_[run.run_id] = run.job;
      Running(run.job).Add(1);
    } else if (was_running && !is_running) {
      running_.erase(run.run_id);
      Running(run.job).Add(-1);
    }
    if (IsFinal(run.state) || run.state == RunState::kUpForRetry) {
      Ended(run.job, run.state).Add();
      if (run.started_at_ms && run.ended_at_ms && run.state != RunState::kSkipped) {
        registry_
            .GetHistogram("spate_schedule_run_duration_seconds",
                          "How long a run's attempt took, start to end", {{"job", run.job}},
                          kDurationBuckets)
            .Observe(static_cast<double>(*run.ended_at_ms - *run.started_at_ms) / 1000.0);
      }
    }
  }

  // The runs running now (by run_id), for the second signal's SIGKILL.
  std::vector<int64_t> RunningIds() const {
    std::vector<int64_t> ids;
    for (const auto& [id, job] : running_) ids.push_back(id);
    return ids;
  }

 private:
  static constexpr double kDurationBuckets[] = {0.1, 0.25, 0.5, 1,   2.5,  5,    10,  30,
                                                60,  120,  300, 600, 1800, 3600, 7200};

  Gauge& Running(const std::string& job) {
    return registry_.GetGauge("spate_schedule_running_runs", "Runs of the job running now",
                              {{"job", job}});
  }
  Counter& Ended(const std::string& job, RunState state) {
    return registry_.GetCounter(
        "spate_schedule_runs_total",
        "Runs that reached a final state (success, failed, skipped) or up_for_retry",
        {{"job", job}, {"state", std::string(RunStateName(state))}});
  }

  MetricsRegistry& registry_;
  std::map<int64_t, std::string> running_;  // run_id -> job.
};

// The jobs of the jobs file. Errors name the file, the job and the key (exit 2).
Result<JobSet> LoadJobs(const Config& config, std::string_view command) {
  if (!config.IsSet("jobs")) {
    return Status::Fatal(
        fmt::format("spate {} needs a jobs file with a `jobs:` list: --config jobs.yaml (see "
                    "examples/jobs.yaml)",
                    command));
  }
  auto jobs = JobSet::Parse(config.GetList("jobs"), config.GetString("timezone"), CommandTakes);
  if (!jobs.ok()) return jobs.status().WithContext(config.Origin("jobs"));
  return jobs;
}

// The run history the settings name: DATA_DIR/schedule.db, or PostgreSQL.
Result<std::unique_ptr<RunStore>> OpenStore(const Config& config) {
  if (config.GetString("history_store") == "postgres") {
    return OpenPostgresRunStore(config.GetString("pg_dsn"), config.GetMillis("pg_timeout"));
  }
  return OpenSqliteRunStore(config.GetString("data_dir"));
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

std::vector<std::string> JobNames(const JobSet& jobs) {
  std::vector<std::string> names;
  for (const JobSpec& job : jobs.jobs()) names.push_back(job.name);
  return names;
}

// The jobs file and the job named on the command line, for trigger and backfill. A mistake in
// either is a usage error; an unknown name lists the jobs there are. The job points into
// `jobs`, which holds the file.
Result<const JobSpec*> LoadNamedJob(const Config& config, std::string_view command,
                                    const std::string& name, JobSet& jobs) {
  auto loaded = LoadJobs(config, command);
  if (!loaded.ok()) return loaded.status();
  jobs = std::move(loaded).value();
  if (const JobSpec* job = jobs.Find(name)) return job;
  return Status::Fatal(fmt::format("no job '{}': {} lists {}", name, config.Origin("jobs"),
                                   fmt::join(JobNames(jobs), ", ")));
}

// --http of spate schedule: the dashboard with the runs grid, /api/jobs and /api/runs,
// /metrics, /healthz and /readyz (ready once the scheduler has started).
Result<std::unique_ptr<DashboardServer>> StartScheduleDashboard(
    const Config& config, ScheduleService* service,
    std::chrono::system_clock::time_point started_at) {
  auto address = ParseListenAddress(config.GetString("http"));  // Checked with the flags.
  if (!address.ok()) return address.status().WithContext(FlagName("http"));
  const DashboardInfo info{"schedule", std::string(SpateVersion()), "", started_at};
  RegisterProcessInfo(Metrics(), info);
  auto server = std::make_unique<DashboardServer>(info);
  server->ServeSchedule(service);
  DashboardServerOptions options;
  options.host = address->host;
  options.port = address->port;
  auto port = server->Start(options);
  if (!port.ok()) return port.status().WithContext(FlagName("http"));
  spdlog::info("dashboard: http://{}:{}/ (runs at /api/runs, Prometheus metrics at /metrics)",
               address->UrlHost(), port.value());
  const bool loopback = address->ipv6 ? address->host == "::1" : address->host.starts_with("127.");
  if (!loopback) {
    // POST .../trigger and .../backfill start runs: anyone who can connect can.
    spdlog::warn(
        "dashboard: {} is reachable from other machines; anyone who can connect can read the "
        "run history and trigger runs, without authentication",
        config.GetString("http"));
  }
  return server;
}

// Logs a store error once per distinct message (a store that is down fails every tick),
// and once when it answers again.
class StoreErrorLog {
 public:
  void Record(const Status& status) {
    if (status.ok()) {
      if (!last_.empty()) spdlog::info("history store: answers again; the schedule goes on");
      last_.clear();
      return;
    }
    if (status.message() == last_) return;
    last_ = status.message();
    spdlog::error("history store: {} (the scheduler goes on and tries again)", last_);
  }

 private:
  std::string last_;
};

const char* SignalName(int sig) { return sig == SIGINT ? "interrupt" : "terminate"; }

// The running runs get SIGTERM and the grace to end; a second signal SIGKILLs them. Returns
// the exit code: 0, or 130 after a second signal.
int Shutdown(Scheduler& scheduler, ProcessLauncher& launcher, const ScheduleMetrics& metrics,
             int first_signal, int64_t grace_ms) {
  spdlog::info("{}stopping: no new runs; {} running run(s) get SIGTERM and up to {} to end",
               first_signal != 0 ? fmt::format("{}: ", SignalName(first_signal)) : "",
               scheduler.running(), fmt::format("{:g} s", grace_ms / 1000.0));
  bool running = scheduler.BeginShutdown(NowUnixMillis());
  while (running) {
    if (const int sig = WaitForSignal(kLoopWaitMs); sig != 0) {
      spdlog::warn("{} again: killing the running runs at once", SignalName(sig));
      for (int64_t run_id : metrics.RunningIds()) launcher.Kill(run_id);
      // Their runs are recorded as ended (failed or up_for_retry), so a restart has no
      // orphans to settle; a third signal, or a store that does not answer, ends this early.
      const int64_t deadline = NowUnixMillis() + kAbortRecordMs;
      while (scheduler.ContinueShutdown(NowUnixMillis()) && NowUnixMillis() < deadline) {
        if (WaitForSignal(20) != 0) break;
      }
      return kExitAborted;
    }
    running = scheduler.ContinueShutdown(NowUnixMillis());
  }
  return kExitOk;
}

}  // namespace

int ScheduleCommand(const Config& config) {
  const auto started_at = std::chrono::system_clock::now();
  auto parsed = LoadJobs(config, "schedule");
  if (!parsed.ok()) {
    spdlog::error("{}", parsed.status().message());
    return kExitUsage;
  }
  const JobSet jobs = std::move(parsed).value();

  // Two connections: the loop's, and the HTTP workers' (ScheduleService locks its own).
  auto store = OpenStore(config);
  if (!store.ok()) {
    spdlog::error("history store: {}", store.status().message());
    return kExitFailure;
  }
  std::unique_ptr<ScheduleService> service;
  std::unique_ptr<DashboardServer> dashboard;
  if (!config.GetString("http").empty()) {
    auto service_store = OpenStore(config);
    if (!service_store.ok()) {
      spdlog::error("history store: {}", service_store.status().message());
      return kExitFailure;
    }
    service = std::make_unique<ScheduleService>(jobs, std::move(service_store).value());
    Health().Set("scheduler", false, "starting: taking the history's lock, settling old runs");
    auto started = StartScheduleDashboard(config, service.get(), started_at);
    if (!started.ok()) {
      spdlog::error("{}", started.status().message());
      return kExitUsage;
    }
    dashboard = std::move(started).value();
  }

  const std::string data_dir = config.GetString("data_dir");
  ProcessLauncher launcher(ProcessLauncherOptions{"", data_dir + "/runs", data_dir + "/logs"});
  ScheduleMetrics metrics(Metrics(), jobs);
  SchedulerOptions options;
  options.host = HostName();
  options.holder = fmt::format("{}:{}", options.host, getpid());
  options.on_change = [&](const RunRecord& run) {
    LogChange(run, jobs, data_dir + "/logs");
    metrics.OnChange(run);
  };
  const int64_t grace_ms = options.shutdown_grace_ms;
  Scheduler scheduler(jobs, *store.value(), launcher, std::move(options));
  if (Status s = scheduler.Start(NowUnixMillis()); !s.ok()) {
    spdlog::error("{}", s.message());
    if (dashboard) Health().Set("scheduler", false, s.message());
    return kExitFailure;
  }
  if (dashboard) Health().Set("scheduler", true);
  spdlog::info("spate schedule: {} job(s) ({}) from {}; history in {}; logs in {}/logs",
               jobs.jobs().size(), fmt::join(JobNames(jobs), ", "), config.Origin("jobs"),
               store.value()->Describe(), data_dir);
  // From here a signal stops the schedule in order (children first), not the process.
  EndStartup();

  StoreErrorLog store_errors;
  int64_t now = NowUnixMillis();
  int sig = 0;
  bool lock_lost = false;
  while (true) {
    store_errors.Record(scheduler.Tick(now));
    if (store.value()->LockLost()) {
      // Another scheduler may hold the history now: going on would run intervals twice.
      spdlog::error("history store: lost the one-scheduler lock ({}); stopping",
                    store.value()->Describe());
      lock_lost = true;
      break;
    }
    const int64_t wake = scheduler.NextWakeMs(now);
    // At least a few ms: a wake time already past (a store that failed) must not spin.
    const int64_t wait = std::clamp<int64_t>(wake - NowUnixMillis(), 5, kLoopWaitMs);
    sig = WaitForSignal(static_cast<int>(wait));
    if (sig != 0) break;
    now = NowUnixMillis();
  }
  const int code = Shutdown(scheduler, launcher, metrics, sig, grace_ms);
  if (dashboard) dashboard->SetFinished();
  spdlog::info("spate schedule: stopped");
  return lock_lost && code == kExitOk ? kExitFailure : code;
}

void AddRunsFlags(CLI::App& command, ScheduleFlags& flags) {
  command.add_option("--job", flags.job, "Only the runs of this job")->type_name("JOB");
  command
      .add_option("--state", flags.state,
                  "Only runs in this state: queued, running, success, failed, up_for_retry, "
                  "skipped")
      ->type_name("STATE");
  command.add_option("--limit", flags.limit, "At most this many runs, newest first (1-100000)")
      ->check(CLI::Range(1, 100000).description(""))
      ->type_name("N")
      ->default_val(100);
}

void AddTriggerFlags(CLI::App& command, ScheduleFlags& flags) {
  command.add_option("job", flags.job, "The job to run now")->type_name("JOB")->required();
}

void AddBackfillFlags(CLI::App& command, ScheduleFlags& flags) {
  command.add_option("job", flags.job, "The job whose past intervals to run")
      ->type_name("JOB")
      ->required();
  command
      .add_option("--from", flags.from,
                  "The first interval start: 2026-12-01, 2026-12-01T10:00[:00], in the job's "
                  "time zone unless it ends in Z or +hh:mm")
      ->type_name("DATE")
      ->required();
  command.add_option("--to", flags.to, "The last interval start (inclusive), as --from")
      ->type_name("DATE")
      ->required();
}

int RunsCommand(const Config& config, const ScheduleFlags& flags) {
  RunFilter filter;
  filter.job = flags.job;
  filter.limit = static_cast<size_t>(flags.limit);
  if (!flags.state.empty()) {
    filter.state = ParseRunState(flags.state);
    if (!filter.state) {
      spdlog::error(
          "--state: '{}' is not a run state (queued, running, success, failed, up_for_retry, "
          "skipped)",
          flags.state);
      return kExitUsage;
    }
  }
  if (config.GetString("history_store") != "postgres") {
    // Opening would create an empty history: a --data-dir typo would pass as "no runs".
    const std::string path = config.GetString("data_dir") + "/schedule.db";
    if (!std::filesystem::exists(path)) {
      spdlog::error("no run history at {} (spate schedule makes it there; --data-dir {})", path,
                    config.Origin("data_dir"));
      return kExitFailure;
    }
  }
  auto store = OpenStore(config);
  if (!store.ok()) {
    spdlog::error("history store: {}", store.status().message());
    return kExitFailure;
  }
  auto runs = store.value()->List(filter);
  if (!runs.ok()) {
    spdlog::error("history store: {}", runs.status().message());
    return kExitFailure;
  }
  if (runs->empty()) {
    spdlog::info("no runs{}{} in {}", flags.job.empty() ? "" : " of " + flags.job,
                 flags.state.empty() ? "" : " in state " + flags.state, store.value()->Describe());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"RUN", "JOB", "INTERVAL", "STATE", "ATTEMPT",
                                                 "STARTED", "DURATION", "IN", "STORED", "REJECTED",
                                                 "EXIT", "ERROR"}};
  auto count = [](const std::optional<int64_t>& v) {
    return v ? fmt::format("{}", *v) : std::string("-");
  };
  for (const RunRecord& run : runs.value()) {
    std::string error = run.error;
    std::replace(error.begin(), error.end(), '\n', ' ');
    // STARTED in whole seconds (the column stays one width); DURATION has the precision.
    rows.push_back({fmt::format("{}", run.run_id), run.job, UtcText(run.interval_start_ms),
                    std::string(RunStateName(run.state)), fmt::format("{}", run.attempt),
                    run.started_at_ms ? UtcText(*run.started_at_ms / 1000 * 1000) : "-",
                    run.started_at_ms && run.ended_at_ms
                        ? SecondsText(*run.ended_at_ms - *run.started_at_ms)
                        : "-",
                    count(run.records_in), count(run.records_stored), count(run.records_rejected),
                    run.exit_code ? fmt::format("{}", *run.exit_code) : "-", error});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  fmt::print("{}", out);
  return kExitOk;
}

int TriggerCommand(const Config& config, const ScheduleFlags& flags) {
  JobSet jobs;
  if (auto job = LoadNamedJob(config, "trigger", flags.job, jobs); !job.ok()) {
    spdlog::error("{}", job.status().message());
    return kExitUsage;
  }
  auto store = OpenStore(config);
  if (!store.ok()) {
    spdlog::error("history store: {}", store.status().message());
    return kExitFailure;
  }
  ScheduleService service(jobs, std::move(store).value());
  const int64_t now = NowUnixMillis();
  auto run = service.Trigger(flags.job, now);
  if (!run.ok()) {
    spdlog::error("{}", run.status().message());
    return kExitFailure;
  }
  spdlog::info("{}: queued (manual); the scheduler starts it at its next tick", RunName(*run));
  if (const std::string warning = service.SchedulerWarning(now); !warning.empty()) {
    spdlog::warn("{}", warning);
  }
  fmt::print("{}\n", run->run_id);
  return kExitOk;
}

int BackfillCommand(const Config& config, const ScheduleFlags& flags) {
  JobSet jobs;
  auto found = LoadNamedJob(config, "backfill", flags.job, jobs);
  if (!found.ok()) {
    spdlog::error("{}", found.status().message());
    return kExitUsage;
  }
  const JobSpec& job = *found.value();
  auto from = ParseDateTime(flags.from, *job.zone);
  if (!from.ok()) {
    spdlog::error("--from: {}", from.status().message());
    return kExitUsage;
  }
  auto to = ParseDateTime(flags.to, *job.zone);
  if (!to.ok()) {
    spdlog::error("--to: {}", to.status().message());
    return kExitUsage;
  }
  if (*from > *to) {
    spdlog::error("--from {} is after --to {}", flags.from, flags.to);
    return kExitUsage;
  }
  // Checked here as well as by the service: too many is a usage error (exit 2), while an
  // error from the service afterwards is the store's (exit 1).
  if (IntervalsStartingBetween(job, *from, *to, kMaxBackfillRuns + 1).size() > kMaxBackfillRuns) {
    spdlog::error(
        "--from {} --to {}: more than {} intervals of {} start in that range; backfill at most "
        "{} at once (check the dates)",
        flags.from, flags.to, Thousands(kMaxBackfillRuns), job.name, Thousands(kMaxBackfillRuns));
    return kExitUsage;
  }
  auto store = OpenStore(config);
  if (!store.ok()) {
    spdlog::error("history store: {}", store.status().message());
    return kExitFailure;
  }
  ScheduleService service(jobs, std::move(store).value());
  const int64_t now = NowUnixMillis();
  auto result = service.Backfill(job.name, *from, *to, now);
  if (!result.ok()) {
    spdlog::error("{}", result.status().message());
    return kExitFailure;
  }
  if (!result->created.empty()) {
    spdlog::info("{}: queued backfill runs for the intervals from {} to {}", job.name,
                 UtcText(result->created.front().start_ms),
                 UtcText(result->created.back().start_ms));
    if (const std::string warning = service.SchedulerWarning(now); !warning.empty()) {
      spdlog::warn("{}", warning);
    }
  }
  fmt::print("{} runs queued, {} already existed\n", result->created.size(), result->existed);
  return kExitOk;
}

}  // namespace spate
