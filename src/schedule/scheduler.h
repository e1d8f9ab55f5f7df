// The scheduler's decisions (issue 20), as a step function over a clock the caller owns:
// `Tick(now)` looks at the jobs, the run history and the children, and acts. Tests drive it
// with a clock they set and a Launcher that starts nothing; `spate schedule` drives it with
// the real time and ProcessLauncher (launcher.h).
//
// What a tick does, in order:
//   1. Reaps children that ended (Launcher::Reap): exit 0 -> success; otherwise, or when
//      killed, failed, or up_for_retry with next_try_at = now + the job's backoff while
//      attempts remain (retries + 1 attempts in all). Counts come from the child's result.
//   2. Timeouts: a run past its job's timeout gets SIGTERM (Launcher::Terminate), and SIGKILL
//      kill_grace later; it ends failed (or up_for_retry) with "timed out after D".
//   3. Creates due scheduled runs: for each job, the intervals that ended since the last
//      scheduled one (LastScheduledStart): all of them with catchup, only the latest without
//      (and only the latest on the first start, when there is no history). Never one that
//      starts before start_date. The store's unique index makes a second create a no-op.
//   4. Reads the store's unfinished runs (manual and backfill runs appear there from other
//      processes) and starts what may start, oldest interval first: queued runs, and
//      up_for_retry runs whose next_try_at has come, while the job has fewer than
//      max_active_runs running and every depends_on job has a successful run covering this
//      run's interval start. A dependency that ended failed or skipped makes the run skipped
//      ("upstream JOB failed"); one not yet run or not final keeps it queued.
//   5. Heartbeat (every few seconds).
//
// Start(now) is called once before the first tick: it takes the store's lock and settles
// what a previous scheduler left (Recover). Shutdown(now) stops starting runs, terminates
// the running ones and, after the grace period, kills them; runs it ended are failed (or
// up_for_retry) with "the scheduler stopped".
//
// Thread-safety: one thread (the command's main loop).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "schedule/job.h"
#include "schedule/run_store.h"

namespace spate {

// What a child counted, from its result file (SPATE_RUN_RESULT, launcher.h).
struct RunCounts {
  int64_t records_in = 0;
  int64_t records_stored = 0;
  int64_t records_rejected = 0;
};

struct LaunchRequest {
  const JobSpec* job = nullptr;
  RunRecord run;  // attempt already incremented; log_path empty (the launcher picks it).
};

struct LaunchedChild {
  int64_t pid = 0;
  int64_t pid_start = 0;  // /proc/PID/stat start time, see run_store.h.
  std::string log_path;
};

struct ChildExit {
  int64_t run_id = 0;
  int exit_code = 0;    // The exit status, or 128 + the signal that ended it.
  int term_signal = 0;  // Non-zero when a signal ended it.
  std::optional<RunCounts> counts;
  std::string error;    // The last error line of its log, when it failed ("" otherwise).
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts the child of one attempt. An error (cannot create the log file, fork failed)
  // fails the attempt; the scheduler goes on.
  virtual Result<LaunchedChild> Start(const LaunchRequest& request) = 0;
  // SIGTERM (graceful stop), and SIGKILL: to the run's process group.
  virtual void Terminate(int64_t run_id) = 0;
  virtual void Kill(int64_t run_id) = 0;
  // Children that ended since the last call (never blocks).
  virtual std::vector<ChildExit> Reap() = 0;
  // Ends a child a previous scheduler started (not ours to wait for): SIGTERM when the pid
  // still is that process (same pid_start), SIGKILL after `grace_ms`, returns once it is gone.
  // What Start()'s children get when their scheduler dies (PR_SET_PDEATHSIG) makes them end
  // on their own; this is for whatever is left.
  virtual void EndOrphan(int64_t pid, int64_t pid_start, int64_t grace_ms) = 0;
};

struct SchedulerOptions {
  std::string holder;  // "host:pid", for the lock and the heartbeat.
  std::string host;    // This machine's name: orphans are checked only on it.
  int64_t heartbeat_interval_ms = 5'000;
  // Runs a job's own kill_grace cannot wait for: Shutdown's SIGTERM-to-SIGKILL time.
  int64_t shutdown_grace_ms = 30'000;
  // Called whenever a run is created or changes state (after the store has it): the command
  // logs it and counts it in its metrics.
  std::function<void(const RunRecord&)> on_change;
};

class Scheduler {
 public:
  Scheduler(const JobSet& jobs, RunStore& store, Launcher& launcher, SchedulerOptions options);

  // Takes the store's lock, then settles what a previous scheduler left: a run still
  // "running" was orphaned by a scheduler that died; its child is ended (EndOrphan, when it
  // ran on this host) and the run becomes failed ("orphaned: the scheduler stopped while it
  // ran") or up_for_retry when attempts remain. Runs of jobs no longer in the file stay as
  // they are. An error here (lock held, store unreachable) ends `spate schedule` (exit 1).
  Status Start(int64_t now_ms);

  // One step (see the top). Store errors are returned (the caller logs them and goes on at
  // the next tick: a store that comes back resumes the schedule).
  Status Tick(int64_t now_ms);

  // The earliest instant something is due (a run's interval end, a retry, a timeout, a
  // heartbeat), so the caller can sleep until then (it also wakes for children and signals).
  int64_t NextWakeMs(int64_t now_ms) const;

  // Stop starting runs, SIGTERM every running child. Returns whether any is still running.
  bool BeginShutdown(int64_t now_ms);
  // Reaps; SIGKILLs what outlived the grace. Returns whether any is still running.
  bool ContinueShutdown(int64_t now_ms);
  // Runs that are running now (children alive).
  size_t running() const { return running_.size(); }

 private:
  struct Active {
    RunRecord run;
    const JobSpec* job = nullptr;
    std::optional<int64_t> terminate_at_ms;  // Timeout: when SIGTERM went out.
    bool timed_out = false;
    bool stopping = false;  // Shutdown.
  };
  const JobSet& jobs_;
  RunStore& store_;
  Launcher& launcher_;
  SchedulerOptions options_;
  std::map<int64_t, Active> running_;  // By run_id.
  bool shutting_down_ = false;
  int64_t shutdown_at_ms_ = 0;
  int64_t last_heartbeat_ms_ = 0;
};

}  // namespace spate
