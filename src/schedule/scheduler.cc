#include "schedule/scheduler.h"

#include <algorithm>
#include <cstddef>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace spate {

namespace {

// How often the store is read for runs queued from elsewhere (trigger, backfill): the
// service promises they start "within a second".
constexpr int64_t kPollMs = 1'000;
// The most scheduled runs one job creates in one tick. A catch-up over a long pause of an
// every-1s job holds hundreds of thousands; the next tick (at once) goes on where this
// one stopped, so a tick stays short and children are reaped in between.
constexpr size_t kMaxCreatesPerTick = 1'000;
// How far past start_date to look for a job's first interval (cron.h looks 8 years ahead).
constexpr int64_t kFirstIntervalHorizonMs = int64_t{9} * 366 * 24 * 3600 * 1000;

// "5s", "1m30s", "2h", "1500ms": how a job's durations read in its error texts.
std::string FormatDuration(int64_t ms) {
  if (ms % 1000 != 0) return fmt::format("{}ms", ms);
  int64_t seconds = ms / 1000;
  if (seconds == 0) return "0s";
  std::string out;
  if (seconds >= 3600) out += fmt::format("{}h", seconds / 3600);
  if (seconds % 3600 >= 60) out += fmt::format("{}m", seconds % 3600 / 60);
  if (seconds % 60 != 0) out += fmt::format("{}s", seconds % 60);
  return out;
}

std::string ExitText(const ChildExit& exit) {
  if (!exit.error.empty()) return exit.error;
  if (exit.term_signal != 0) return fmt::format("ended by signal {}", exit.term_signal);
  return fmt::format("exited with code {}", exit.exit_code);
}

constexpr const char* kOrphaned = "orphaned: the scheduler stopped while it ran";
constexpr const char* kStopped = "the scheduler stopped";

}  // namespace

Scheduler::Scheduler(const JobSet& jobs, RunStore& store, Launcher& launcher,
                     SchedulerOptions options)
    : jobs_(jobs), store_(store), launcher_(launcher), options_(std::move(options)) {}

Status Scheduler::Start(int64_t now_ms) {
  if (Status s = store_.Lock(options_.holder, now_ms); !s.ok()) return s;
  if (Status s = Recover(now_ms); !s.ok()) return s;
  last_heartbeat_ms_ = now_ms;
  return store_.Heartbeat(now_ms);
}

Status Scheduler::Recover(int64_t now_ms) {
  auto unfinished = store_.Unfinished();
  if (!unfinished.ok()) return unfinished.status();
  for (RunRecord& run : unfinished.value()) {
    if (run.state != RunState::kRunning) continue;
    const JobSpec* job = jobs_.Find(run.job);
    // The lock is ours, so the scheduler that started this child is gone. Its child ended on
    // its own (PR_SET_PDEATHSIG) or still runs; on this host, make sure it is gone before
    // the run may start again, so two children never work on one interval at once. On
    // another host (a shared PostgreSQL history) there is nothing this process can signal.
    if (run.pid && run.pid_start && run.host == options_.host) {
      launcher_.EndOrphan(*run.pid, *run.pid_start,
                          job != nullptr ? job->kill_grace_ms : options_.shutdown_grace_ms);
    }
    run.pid.reset();
    run.pid_start.reset();
    Status written;
    if (job != nullptr) {
      written = EndAttempt(std::move(run), *job, now_ms, kOrphaned);
    } else {
      run.state = RunState::kFailed;
      run.ended_at_ms = now_ms;
      run.next_try_at_ms.reset();
      run.error = kOrphaned;
      written = Write(run, true);
    }
    if (!written.ok()) return written;
  }
  return Status::Ok();
}

Status Scheduler::Write(const RunRecord& run, bool state_changed) {
  pending_writes_.push_back(PendingWrite{run, state_changed});
  return FlushPending();
}

Status Scheduler::FlushPending() {
  size_t done = 0;
  Status status;
  for (; done < pending_writes_.size(); ++done) {
    const PendingWrite& write = pending_writes_[done];
    status = store_.Update(write.run);
    if (!status.ok()) break;
    if (write.state_changed && options_.on_change) options_.on_change(write.run);
  }
  pending_writes_.erase(pending_writes_.begin(),
                        pending_writes_.begin() + static_cast<std::ptrdiff_t>(done));
  return status;
}

Status Scheduler::EndAttempt(RunRecord run, const JobSpec& job, int64_t now_ms, std::string error) {
  run.ended_at_ms = now_ms;
  run.error = std::move(error);
  run.pid.reset();
  run.pid_start.reset();
  if (run.attempt < job.retries + 1) {
    run.state = RunState::kUpForRetry;
    run.next_try_at_ms = now_ms + job.RetryDelayMs(run.attempt + 1);
  } else {
    run.state = RunState::kFailed;
    run.next_try_at_ms.reset();
  }
  return Write(run, true);
}

Status Scheduler::Tick(int64_t now_ms) {
  Status first = FlushPending();
  const bool store_writable = first.ok();
  // Reaping and timeouts need no store reads, and their writes wait in pending_writes_ when
  // the store is down: a child's end is never lost and a timeout never waits for the store.
  ReapChildren(now_ms);
  EnforceTimeouts(now_ms);
  if (!shutting_down_) {
    Status created = CreateDueRuns(now_ms);
    if (first.ok()) first = created;
    // Starting writes "running" before the child exists; with older writes still pending,
    // the order of writes would no longer be the order of events.
    if (store_writable && pending_writes_.empty()) {
      Status started = StartRunnable(now_ms);
      if (first.ok()) first = started;
    }
  }
  if (now_ms - last_heartbeat_ms_ >= options_.heartbeat_interval_ms) {
    // Set even when the write fails: the next try is an interval later, not at once.
    last_heartbeat_ms_ = now_ms;
    Status beat = store_.Heartbeat(now_ms);
    if (first.ok()) first = beat;
  }
  return first;
}

void Scheduler::ReapChildren(int64_t now_ms) {
  for (const ChildExit& exit : launcher_.Reap()) {
    auto it = running_.find(exit.run_id);
    if (it == running_.end()) {
      spdlog::warn("schedule: a child of run {} ended that this scheduler did not start",
                   exit.run_id);
      continue;
    }
    Active active = std::move(it->second);
    running_.erase(it);
    RunRecord& run = active.run;
    const JobSpec& job = *active.job;
    run.exit_code = exit.exit_code;
    if (exit.counts) {
      run.records_in = exit.counts->records_in;
      run.records_stored = exit.counts->records_stored;
      run.records_rejected = exit.counts->records_rejected;
    }
    const bool exited_ok = exit.exit_code == 0 && exit.term_signal == 0;
    // A child that finished all its work before the signal reached it says so in its result.
    const bool completed = exited_ok && exit.counts && exit.counts->completed;
    Status written;
    // spate's commands stop gracefully on SIGTERM and exit 0 (launcher.h), so the exit code
    // of a child this scheduler terminated says nothing: the reason it was stopped decides,
    // unless the child's result says its work was complete.
    if (active.timed_out && !completed) {
      // Airflow's execution_timeout fails the attempt the same way.
      written = EndAttempt(std::move(run), job, now_ms,
                           "timed out after " + FormatDuration(job.timeout_ms));
    } else if (active.stopping && !completed) {
      written = EndAttempt(std::move(run), job, now_ms, kStopped);
    } else if (exited_ok) {
      run.state = RunState::kSuccess;
      run.ended_at_ms = now_ms;
      run.next_try_at_ms.reset();
      run.error.clear();
      run.pid.reset();
      run.pid_start.reset();
      written = Write(run, true);
    } else {
      written = EndAttempt(std::move(run), job, now_ms, ExitText(exit));
    }
    if (!written.ok()) {
      spdlog::warn("schedule: cannot record the end of run {} yet: {}", exit.run_id,
                   written.message());
    }
  }
}

void Scheduler::EnforceTimeouts(int64_t now_ms) {
  for (auto& [run_id, active] : running_) {
    const JobSpec& job = *active.job;
    if (job.timeout_ms <= 0 || !active.run.started_at_ms) continue;
    if (!active.terminate_at_ms) {
      if (now_ms >= *active.run.started_at_ms + job.timeout_ms) {
        launcher_.Terminate(run_id);
        active.terminate_at_ms = now_ms;
        active.timed_out = true;
      }
    } else if (!active.killed && now_ms >= *active.terminate_at_ms + job.kill_grace_ms) {
      launcher_.Kill(run_id);
      active.killed = true;
    }
  }
}

Status Scheduler::CreateDueRuns(int64_t now_ms) {
  more_catchup_ = false;
  Status first;
  for (const JobSpec& job : jobs_.jobs()) {
    const std::optional<Interval> latest = LatestDueInterval(job, now_ms);
    if (latest) {
      if (auto next = NextInterval(job, *latest)) next_due_ms_[job.name] = next->end_ms;
    } else if (job.start_date_ms) {
      // Nothing due yet (start_date ahead): the first interval is next.
      auto firsts = IntervalsStartingBetween(job, *job.start_date_ms,
                                             *job.start_date_ms + kFirstIntervalHorizonMs, 1);
      if (!firsts.empty()) next_due_ms_[job.name] = firsts.front().end_ms;
    }
    if (!latest) continue;
    if (!job.catchup && !floor_start_.contains(job.name)) {
      floor_start_[job.name] = latest->start_ms;
    }
    if (auto done = last_due_start_.find(job.name);
        done != last_due_start_.end() && latest->start_ms <= done->second) {
      continue;
    }
    auto last = store_.LastScheduledStart(job.name);
    if (!last.ok()) {
      // Without catch-up, a store that was down is a pause like any other: when it is back,
      // the latest interval runs, not every one the outage held up.
      floor_start_.erase(job.name);
      if (first.ok()) first = last.status();
      continue;
    }
    int64_t from_ms = latest->start_ms;
    if (last.value()) {
      from_ms = *last.value() + 1;
    } else if (job.catchup && job.start_date_ms) {
      from_ms = *job.start_date_ms;
    }
    if (!job.catchup) from_ms = std::max(from_ms, floor_start_[job.name]);
    if (from_ms > latest->start_ms) {
      last_due_start_[job.name] = latest->start_ms;
      continue;
    }
    const std::vector<Interval> due =
        IntervalsStartingBetween(job, from_ms, latest->start_ms, kMaxCreatesPerTick);
    Status created_all;
    for (const Interval& interval : due) {
      if (job.start_date_ms && interval.start_ms < *job.start_date_ms) continue;
      RunRecord run;
      run.job = job.name;
      run.type = RunType::kScheduled;
      run.interval_start_ms = interval.start_ms;
      run.interval_end_ms = interval.end_ms;
      run.state = RunState::kQueued;
      run.queued_at_ms = now_ms;
      auto created = store_.Create(run);
      if (!created.ok()) {
        created_all = created.status();
        break;
      }
      if (!created.value()) continue;  // It exists (a restart, or a backfill got there first).
      run.run_id = *created.value();
      if (options_.on_change) options_.on_change(run);
      last_due_start_[job.name] = interval.start_ms;
    }
    if (!created_all.ok()) {
      floor_start_.erase(job.name);
      if (first.ok()) first = created_all;
      continue;
    }
    if (!due.empty()) last_due_start_[job.name] = due.back().start_ms;
    if (due.size() == kMaxCreatesPerTick && due.back().start_ms < latest->start_ms) {
      more_catchup_ = true;
    }
  }
  return first;
}

int Scheduler::RunningOf(const std::string& job) const {
  int count = 0;
  for (const auto& [run_id, active] : running_) {
    if (active.run.job == job) ++count;
  }
  return count;
}

Status Scheduler::StartRunnable(int64_t now_ms) {
  next_retry_ms_.reset();
  auto unfinished = store_.Unfinished();
  if (!unfinished.ok()) return unfinished.status();
  std::vector<RunRecord>& runs = unfinished.value();
  std::stable_sort(runs.begin(), runs.end(), [](const RunRecord& a, const RunRecord& b) {
    if (a.interval_start_ms != b.interval_start_ms) {
      return a.interval_start_ms < b.interval_start_ms;
    }
    return a.run_id < b.run_id;
  });
  for (RunRecord& run : runs) {
    if (run.state != RunState::kQueued && run.state != RunState::kUpForRetry) continue;
    const JobSpec* job = jobs_.Find(run.job);
    if (job == nullptr) continue;  // Not in this jobs file: left as it is.
    if (run.state == RunState::kUpForRetry && run.next_try_at_ms && *run.next_try_at_ms > now_ms) {
      next_retry_ms_ = std::min(next_retry_ms_.value_or(*run.next_try_at_ms), *run.next_try_at_ms);
      continue;
    }
    if (RunningOf(job->name) >= job->max_active_runs) continue;
    bool ready = true;
    std::string upstream_failed;
    std::string upstream_passed;
    if (run.type != RunType::kManual) {
      for (const std::string& upstream : job->depends_on) {
        auto covering = store_.RunCovering(upstream, run.interval_start_ms);
        if (!covering.ok()) return covering.status();
        const std::optional<RunRecord>& up = covering.value();
        if (!up) {
          // Not created yet: it will be when its interval is due, unless the upstream's
          // schedule has already passed this instant (scheduled runs are made oldest first,
          // and a pause without catch-up or its start_date skipped this one). Then none will
          // ever come, and waiting would leave this run queued for good.
          auto last = store_.LastScheduledStart(upstream);
          if (!last.ok()) return last.status();
          if (last.value() && *last.value() > run.interval_start_ms) upstream_passed = upstream;
          ready = false;
          break;
        }
        if (up->state == RunState::kSuccess) continue;
        if (up->state == RunState::kFailed || up->state == RunState::kSkipped) {
          upstream_failed = upstream;
        }
        ready = false;
        break;
      }
    }
    if (!upstream_failed.empty() || !upstream_passed.empty()) {
      run.state = RunState::kSkipped;
      run.ended_at_ms = now_ms;
      run.next_try_at_ms.reset();
      run.error = !upstream_failed.empty()
                      ? fmt::format("upstream {} failed", upstream_failed)
                      : fmt::format(
                            "upstream {} has no run for this interval (its schedule passed it: a "
                            "pause without catch-up, or its start_date)",
                            upstream_passed);
      if (Status s = Write(run, true); !s.ok()) return s;
      continue;
    }
    if (!ready) continue;
    if (Status s = Launch(std::move(run), *job, now_ms); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Scheduler::Launch(RunRecord run, const JobSpec& job, int64_t now_ms) {
  run.attempt += 1;
  run.state = RunState::kRunning;
  run.started_at_ms = now_ms;
  run.ended_at_ms.reset();
  run.next_try_at_ms.reset();
  run.exit_code.reset();
  run.records_in.reset();
  run.records_stored.reset();
  run.records_rejected.reset();
  run.error.clear();
  run.log_path.clear();
  run.pid.reset();
  run.pid_start.reset();
  run.host = options_.host;
  // "running" is in the store before the child exists: if this process dies in between, a
  // restart finds the run running with no child and fails or retries it. The other order
  // could leave a child working on a run the store calls queued, which a restart would
  // start a second time.
  if (Status s = store_.Update(run); !s.ok()) return s;
  if (options_.on_change) options_.on_change(run);
  auto child = launcher_.Start(LaunchRequest{&job, run});
  if (!child.ok()) {
    return EndAttempt(std::move(run), job, now_ms, "cannot start: " + child.status().message());
  }
  run.pid = child->pid;
  run.pid_start = child->pid_start;
  run.log_path = child->log_path;
  Active& active = running_[run.run_id];
  active.run = run;
  active.job = &job;
  // Not a state change; a failure waits in pending_writes_ (the child runs either way).
  if (Status s = Write(run, false); !s.ok()) {
    spdlog::warn("schedule: cannot record the child of run {} yet: {}", run.run_id, s.message());
  }
  return Status::Ok();
}

int64_t Scheduler::NextWakeMs(int64_t now_ms) const {
  // Only instants after `now` count: one at or before it was due at the tick that just ran,
  // which did what it could (a retry may wait for a free slot, the store may be down); the
  // child that frees a slot wakes the caller, and the poll retries the store. Counting them
  // would make the caller tick again at once, forever.
  int64_t wake = now_ms + kPollMs;
  auto consider = [&](int64_t at_ms) {
    if (at_ms > now_ms) wake = std::min(wake, at_ms);
  };
  if (shutting_down_) {
    for (const auto& [run_id, active] : running_) {
      if (!active.killed) consider(shutdown_at_ms_ + options_.shutdown_grace_ms);
    }
    return wake;
  }
  if (more_catchup_) return now_ms;
  for (const auto& [job, due_ms] : next_due_ms_) consider(due_ms);
  if (next_retry_ms_) consider(*next_retry_ms_);
  for (const auto& [run_id, active] : running_) {
    const JobSpec& job = *active.job;
    if (job.timeout_ms <= 0 || !active.run.started_at_ms) continue;
    if (!active.terminate_at_ms) {
      consider(*active.run.started_at_ms + job.timeout_ms);
    } else if (!active.killed) {
      consider(*active.terminate_at_ms + job.kill_grace_ms);
    }
  }
  consider(last_heartbeat_ms_ + options_.heartbeat_interval_ms);
  return wake;
}

bool Scheduler::BeginShutdown(int64_t now_ms) {
  if (!shutting_down_) {
    shutting_down_ = true;
    shutdown_at_ms_ = now_ms;
  }
  for (auto& [run_id, active] : running_) {
    if (active.stopping) continue;
    launcher_.Terminate(run_id);
    active.stopping = true;
  }
  return ContinueShutdown(now_ms);
}

bool Scheduler::ContinueShutdown(int64_t now_ms) {
  if (Status s = FlushPending(); !s.ok()) {
    spdlog::warn("schedule: cannot record runs while stopping: {}", s.message());
  }
  ReapChildren(now_ms);
  if (now_ms >= shutdown_at_ms_ + options_.shutdown_grace_ms) {
    for (auto& [run_id, active] : running_) {
      if (active.killed) continue;
      launcher_.Kill(run_id);
      active.killed = true;
    }
  }
  return !running_.empty();
}

}  // namespace spate
