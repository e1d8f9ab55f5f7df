// What a user asks of the schedule from outside the scheduler's loop (issue 20): list runs,
// trigger a run now, backfill past intervals. `spate runs/trigger/backfill` and the HTTP
// API (/api/runs, /api/jobs, POST .../trigger and .../backfill) both call this, so the two
// cannot disagree. Trigger and backfill only write queued runs to the store; the scheduler
// picks them up at its next tick (within a second), as Airflow's CLI does through its
// metadata database.
//
// Errors: a caller's mistake (unknown job, from after to, too many intervals) is
// ErrorKind::kInvalidInput (the CLI exits 2, HTTP answers 4xx); anything else is the store's.
//
// Thread-safety: every method takes a lock around the store (the HTTP server calls from its
// worker threads); give it its own RunStore, not the scheduler loop's.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "schedule/job.h"
#include "schedule/run_store.h"

namespace spate {

struct BackfillResult {
  std::vector<Interval> created;  // Runs queued now, oldest first.
  size_t existed = 0;             // Intervals already run or queued (left as they are).
};

// The most intervals one backfill may queue: a typo in --from ("2002" for "2026") against
// an every-1s job would otherwise queue hundreds of millions of runs.
inline constexpr size_t kMaxBackfillRuns = 10'000;

class ScheduleService {
 public:
  ScheduleService(const JobSet& jobs, std::unique_ptr<RunStore> store);

  const JobSet& jobs() const { return jobs_; }

  Result<std::vector<RunRecord>> Runs(const RunFilter& filter);
  // A queued manual run of `job` now (interval [now, now]). Unknown job: an error naming
  // the jobs there are.
  Result<RunRecord> Trigger(std::string_view job, int64_t now_ms);
  // Queues a backfill run for each interval of `job` that starts in [from_ms, to_ms]
  // (start_date does not limit a backfill: the user asked for these). More than
  // kMaxBackfillRuns, or from after to: an error, nothing queued.
  Result<BackfillResult> Backfill(std::string_view job, int64_t from_ms, int64_t to_ms,
                                  int64_t now_ms);
  // When no scheduler wrote a heartbeat within `stale_ms`, a warning for trigger/backfill
  // ("no scheduler is running (last seen ...): the run waits until one starts"); "" if one is.
  std::string SchedulerWarning(int64_t now_ms, int64_t stale_ms = 15'000);

 private:
  // The job, or an InvalidInput error naming the jobs there are.
  Result<const JobSpec*> FindJob(std::string_view job) const;

  const JobSet& jobs_;
  std::mutex mu_;
  std::unique_ptr<RunStore> store_;  // Guarded by mu_.
};

}  // namespace spate
