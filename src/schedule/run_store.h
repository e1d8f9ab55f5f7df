// The run history (issue 20): every run the scheduler, `spate trigger` or `spate backfill`
// made, in a metadata store: SQLite (DATA_DIR/schedule.db, the default) or PostgreSQL
// (history_store: postgres, with pg_dsn / SPATE_PG_DSN).
//
// One table, spate_runs, one row per run (its attempts update it):
//   run_id      integer key, assigned by the store
//   job         text
//   run_type    scheduled | manual | backfill
//   interval_start, interval_end   the logical interval (a manual run's is [now, now])
//   state       queued | running | success | failed | up_for_retry | skipped
//   attempt     tries started so far (0 while first queued)
//   queued_at, started_at (of the latest attempt), ended_at, next_try_at (up_for_retry)
//   records_in, records_stored, records_rejected   from the child's result (NULL: unknown)
//   exit_code   the child's, or 128 + signal (NULL before it ended)
//   error       why it failed, was skipped or retried ('' when it did not)
//   log_path    the latest attempt's log file
//   pid, pid_start, host   the running child (pid_start: its start time in clock ticks since
//                          boot, /proc/PID/stat field 22, so a reused pid is not mistaken)
// Times: INTEGER milliseconds since the epoch in SQLite, timestamptz in PostgreSQL (what a
// user reads with psql); NULL where not yet known.
//
// No interval runs twice: a scheduled or backfill run of (job, interval_start) is created at
// most once, by a unique index over those two columns for those run types, so neither a
// restarted scheduler nor a backfill over intervals already run makes a second one. Manual
// runs are exempt (a trigger is a request to run now, whatever ran before).
//
// One scheduler per store: Lock() takes a lock the operating system or the server releases
// when the holder dies (flock on DATA_DIR/schedule.lock; a PostgreSQL session advisory lock),
// so a SIGKILLed scheduler never blocks its restart, while a second live one is refused.
// The lock holder also writes a heartbeat, which `spate trigger` reads to warn when no
// scheduler is running to pick its run up.
//
// Thread-safety: one RunStore per thread (each holds its own connection). Several processes
// may use one store at once (the scheduler, `spate trigger`, `spate runs`): SQLite in WAL mode
// with a busy timeout, PostgreSQL as usual; every write is one short transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace spate {

enum class RunState { kQueued, kRunning, kSuccess, kFailed, kUpForRetry, kSkipped };
enum class RunType { kScheduled, kManual, kBackfill };

// "queued", "running", "success", "failed", "up_for_retry", "skipped".
std::string_view RunStateName(RunState state);
std::optional<RunState> ParseRunState(std::string_view name);
// "scheduled", "manual", "backfill".
std::string_view RunTypeName(RunType type);
std::optional<RunType> ParseRunType(std::string_view name);
// success, failed and skipped: nothing more will happen to the run.
inline bool IsFinal(RunState s) {
  return s == RunState::kSuccess || s == RunState::kFailed || s == RunState::kSkipped;
}

struct RunRecord {
  int64_t run_id = 0;  // 0 until created.
  std::string job;
  RunType type = RunType::kScheduled;
  int64_t interval_start_ms = 0;
  int64_t interval_end_ms = 0;
  RunState state = RunState::kQueued;
  int attempt = 0;
  int64_t queued_at_ms = 0;
  std::optional<int64_t> started_at_ms;
  std::optional<int64_t> ended_at_ms;
  std::optional<int64_t> next_try_at_ms;
  std::optional<int64_t> records_in;
  std::optional<int64_t> records_stored;
  std::optional<int64_t> records_rejected;
  std::optional<int> exit_code;
  std::string error;
  std::string log_path;
  std::optional<int64_t> pid;
  std::optional<int64_t> pid_start;
  std::string host;
};

struct RunFilter {
  std::string job;                          // Empty: every job.
  std::optional<RunState> state;            // Unset: every state.
  std::vector<RunState> states;             // Non-empty: any of these (ANDed with `state`).
  std::optional<int64_t> interval_from_ms;  // interval_start >= this.
  std::optional<int64_t> interval_to_ms;    // interval_start <= this.
  size_t limit = 100;  // Newest first (by interval_start, then run_id); 0: no limit.
};

struct SchedulerHeartbeat {
  std::string holder;  // "host:pid".
  int64_t started_at_ms = 0;
  int64_t heartbeat_at_ms = 0;
};

class RunStore {
 public:
  virtual ~RunStore() = default;

  // Creates `run` (run_id is ignored). Returns its run_id, or nullopt when a scheduled or
  // backfill run of that job and interval_start already exists (nothing changed).
  virtual Result<std::optional<int64_t>> Create(const RunRecord& run) = 0;
  // Writes every field of an existing run (by run_id).
  virtual Status Update(const RunRecord& run) = 0;
  virtual Result<std::optional<RunRecord>> Get(int64_t run_id) = 0;
  virtual Result<std::vector<RunRecord>> List(const RunFilter& filter) = 0;
  // Runs not yet final (queued, running, up_for_retry), oldest first: the scheduler's working
  // set, read at start and again every tick (trigger and backfill add to it from elsewhere).
  virtual Result<std::vector<RunRecord>> Unfinished() = 0;
  // The latest interval_start of the job's scheduled runs; nullopt when it has none.
  virtual Result<std::optional<int64_t>> LastScheduledStart(std::string_view job) = 0;
  // The job's scheduled or backfill run whose interval contains `instant_ms`
  // (start <= instant < end), for depends_on; nullopt when there is none.
  virtual Result<std::optional<RunRecord>> RunCovering(std::string_view job,
                                                       int64_t instant_ms) = 0;

  // Takes the one-scheduler lock for as long as this store lives. An error names the
  // holder ("another scheduler (host:pid) is using this history").
  virtual Status Lock(std::string_view holder, int64_t now_ms) = 0;
  // Records that the lock holder is alive (every few seconds).
  virtual Status Heartbeat(int64_t now_ms) = 0;
  // Whether this store held the lock and lost it: PostgreSQL's advisory lock dies with its
  // connection, and when the server restarted and another scheduler took the lock before this
  // store reconnected, every later call fails ("lost the scheduler lock ..."). The scheduler
  // must then stop (exit 1) rather than log the error at every tick. SQLite's flock cannot be
  // lost.
  virtual bool LockLost() const { return false; }
  // The last heartbeat written by any scheduler; nullopt if none ever ran.
  virtual Result<std::optional<SchedulerHeartbeat>> LastHeartbeat() = 0;

  // "sqlite DIR/schedule.db" or "postgres postgres://USER@HOST:PORT/DB" (no password): for
  // messages.
  virtual std::string Describe() const = 0;
};

// DATA_DIR/schedule.db, created (with its directory) when missing.
Result<std::unique_ptr<RunStore>> OpenSqliteRunStore(const std::string& data_dir);
// Creates spate_runs and its companions when missing.
Result<std::unique_ptr<RunStore>> OpenPostgresRunStore(const std::string& dsn, int64_t timeout_ms);

}  // namespace spate
