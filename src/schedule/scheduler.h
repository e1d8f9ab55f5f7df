// The scheduler's decisions (issue 20), as a step function over a clock the caller owns:
// `Tick(now)` looks at the jobs, the run history and the children, and acts. Tests drive it
// with a clock they set and a Launcher that starts nothing; `spate schedule` drives it with
// the real time and ProcessLauncher (launcher.h).
//
// What a tick does, in order:
//   1. Reaps children that ended (Launcher::Reap): exit 0 -> success; otherwise, or when
//      killed, failed, or up_for_retry with next_try_at = now + the job's backoff while
//      attempts remain (retries + 1 attempts in all). Counts come from the child's result.
//      A run this scheduler terminated (timeout, shutdown) is never a success, whatever its
//      exit code: spate's commands exit 0 when SIGTERM stops them early (launcher.h).
//   2. Timeouts: a run past its job's timeout gets SIGTERM (Launcher::Terminate), and SIGKILL
//      kill_grace later; it ends failed (or up_for_retry) with "timed out after D".
//   3. Creates due scheduled runs: for each job, the intervals that ended since the last
//      scheduled one (LastScheduledStart): all of them with catchup, only the latest without
//      (and only the latest on the first start, when there is no history). Never one that
//      starts before start_date. The store's unique index makes a second create a no-op.
//      "Without catchup" skips what a pause missed, not what a late tick missed: intervals
//      after the one due when this scheduler started are all created (a loaded machine that
//      ticks 2 s late does not lose an every-1s job's interval).
//   4. Reads the store's unfinished runs (manual and backfill runs appear there from other
//      processes) and starts what may start, oldest interval first: queued runs, and
//      up_for_retry runs whose next_try_at has come, while the job has fewer than
//      max_active_runs running and every depends_on job has a successful run covering this
//      run's interval start. A dependency that ended failed or skipped makes the run skipped
//      ("upstream JOB failed"); one not yet run or not final keeps it queued. A manual run
//      (trigger) does not wait for its depends_on: its interval [now, now] lies in the
//      upstream's current interval, which is not due yet, so it would wait up to a whole
//      period (a day for @daily) when the user asked for a run now.
//   5. Heartbeat (every few seconds).
//
// Start(now) is called once before the first tick: it takes the store's lock and settles
// what a previous scheduler left (Recover). BeginShutdown(now) stops starting runs and
// terminates the running ones; ContinueShutdown(now) reaps them and, after the grace period,
// kills what is left; runs it ended are failed (or up_for_retry) with "the scheduler stopped".
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
  // The child did all its work: no signal cut it short (spate's "stopped early"). A child
  // the scheduler signalled (timeout, shutdown) that says so finished before the signal
  // reached it, and its run is a success.
  bool completed = false;
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
  std::string error;  // The last error line of its log, when it failed ("" otherwise).
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
  // ran") or up_for_retry when attempts remain. Queued and up_for_retry runs of jobs no
  // longer in the file stay as they are; a running one of such a job is failed too (no run
  // stays "running" after Start). An error here (lock held, store unreachable) ends `spate
  // schedule` (exit 1).
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
    bool killed = false;    // SIGKILL went out (once is enough).
  };

  // Settles the runs a previous scheduler left "running" (see Start).
  Status Recover(int64_t now_ms);
  // Writes `run` and tells on_change; a failed write is kept and tried again at the next
  // tick, so a child's end is never lost to a store that is briefly down.
  Status Write(const RunRecord& run, bool state_changed);
  Status FlushPending();
  // Tick's steps (scheduler.h's top).
  void ReapChildren(int64_t now_ms);
  void EnforceTimeouts(int64_t now_ms);
  Status CreateDueRuns(int64_t now_ms);
  Status StartRunnable(int64_t now_ms);
  // Ends an attempt that did not succeed: up_for_retry while attempts remain, else failed.
  Status EndAttempt(RunRecord run, const JobSpec& job, int64_t now_ms, std::string error);
  // Launches one attempt of `run` (queued or up_for_retry).
  Status Launch(RunRecord run, const JobSpec& job, int64_t now_ms);
  int RunningOf(const std::string& job) const;

  const JobSet& jobs_;
  RunStore& store_;
  Launcher& launcher_;
  SchedulerOptions options_;
  std::map<int64_t, Active> running_;  // By run_id.
  bool shutting_down_ = false;
  int64_t shutdown_at_ms_ = 0;
  int64_t last_heartbeat_ms_ = 0;
  // Store writes not yet done (the store failed), oldest first, tried again before anything
  // else: in order, so an older write of a run never overwrites a newer one.
  struct PendingWrite {
    RunRecord run;
    bool state_changed = false;
  };
  std::vector<PendingWrite> pending_writes_;
  // For NextWakeMs, as the last tick saw them: each job's next interval end, the earliest
  // retry, and whether a catch-up has more intervals to create than one tick makes.
  std::map<std::string, int64_t> next_due_ms_;
  std::optional<int64_t> next_retry_ms_;
  bool more_catchup_ = false;
  // The latest interval_start each job's tick created or found existing: a backfill run
  // of the latest interval is not a scheduled one, so LastScheduledStart alone would make
  // every tick try to create it again.
  std::map<std::string, int64_t> last_due_start_;
  // Catch-up off: the latest due interval_start when this scheduler first looked at the job
  // (or first again after the store failed: an outage is a pause too).
  // Intervals before it are the downtime's, skipped; after it, every interval is created even
  // when a tick comes late (a loaded machine must not skip an every-1s job's intervals).
  std::map<std::string, int64_t> floor_start_;
};

}  // namespace spate
