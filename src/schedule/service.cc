#include "schedule/service.h"

#include <utility>

#include <fmt/format.h>

#include "core/clock.h"

namespace spate {

ScheduleService::ScheduleService(const JobSet& jobs, std::unique_ptr<RunStore> store)
    : jobs_(jobs), store_(std::move(store)) {}

Result<const JobSpec*> ScheduleService::FindJob(std::string_view job) const {
  if (const JobSpec* spec = jobs_.Find(job)) return spec;
  std::string names;
  for (const JobSpec& spec : jobs_.jobs()) {
    if (!names.empty()) names += ", ";
    names += spec.name;
  }
  return Status::InvalidInput(fmt::format("unknown job \"{}\" (the jobs are: {})", job, names));
}

Result<std::vector<RunRecord>> ScheduleService::Runs(const RunFilter& filter) {
  std::lock_guard lock(mu_);
  return store_->List(filter);
}

Result<RunRecord> ScheduleService::Trigger(std::string_view job, int64_t now_ms) {
  auto spec = FindJob(job);
  if (!spec.ok()) return spec.status();
  RunRecord run;
  run.job = (*spec)->name;
  run.type = RunType::kManual;
  run.interval_start_ms = now_ms;
  run.interval_end_ms = now_ms;
  run.state = RunState::kQueued;
  run.queued_at_ms = now_ms;
  std::lock_guard lock(mu_);
  auto created = store_->Create(run);
  if (!created.ok()) return created.status();
  // Manual runs are exempt from the (job, interval) uniqueness, so this cannot happen with a
  // correct store; say so rather than return a run without an id.
  if (!created.value()) {
    return Status::Fatal(fmt::format("the run history refused a manual run of {}", run.job));
  }
  run.run_id = *created.value();
  return run;
}

Result<BackfillResult> ScheduleService::Backfill(std::string_view job, int64_t from_ms,
                                                 int64_t to_ms, int64_t now_ms) {
  auto spec = FindJob(job);
  if (!spec.ok()) return spec.status();
  if (from_ms > to_ms) {
    return Status::InvalidInput(fmt::format("backfill of {}: from ({}) is after to ({})",
                                            (*spec)->name, FormatIso8601Millis(from_ms),
                                            FormatIso8601Millis(to_ms)));
  }
  // One more than allowed: enough to know the range is too long without listing it all.
  const std::vector<Interval> intervals =
      IntervalsStartingBetween(**spec, from_ms, to_ms, kMaxBackfillRuns + 1);
  if (intervals.size() > kMaxBackfillRuns) {
    return Status::InvalidInput(fmt::format(
        "backfill of {}: more than {} intervals start between {} and {}; backfill a shorter "
        "range, or several",
        (*spec)->name, kMaxBackfillRuns, FormatIso8601Millis(from_ms), FormatIso8601Millis(to_ms)));
  }
  BackfillResult result;
  std::lock_guard lock(mu_);
  for (const Interval& interval : intervals) {
    RunRecord run;
    run.job = (*spec)->name;
    run.type = RunType::kBackfill;
    run.interval_start_ms = interval.start_ms;
    run.interval_end_ms = interval.end_ms;
    run.state = RunState::kQueued;
    run.queued_at_ms = now_ms;
    auto created = store_->Create(run);
    if (!created.ok()) {
      return created.status().WithContext(
          fmt::format("backfill of {} (after queuing {} runs)", run.job, result.created.size()));
    }
    if (created.value()) {
      result.created.push_back(interval);
    } else {
      ++result.existed;  // A scheduled or backfill run of it exists: left as it is.
    }
  }
  return result;
}

std::string ScheduleService::SchedulerWarning(int64_t now_ms, int64_t stale_ms) {
  std::lock_guard lock(mu_);
  auto beat = store_->LastHeartbeat();
  if (!beat.ok()) {
    return fmt::format(
        "cannot tell whether a scheduler is running ({}): the run waits until one "
        "picks it up",
        beat.status().message());
  }
  if (!beat.value()) {
    return "no scheduler is running (none has used this history yet): the run waits until one "
           "starts";
  }
  if (now_ms - beat.value()->heartbeat_at_ms > stale_ms) {
    return fmt::format("no scheduler is running (last seen {}, {}): the run waits until one starts",
                       FormatIso8601Millis(beat.value()->heartbeat_at_ms), beat.value()->holder);
  }
  return "";
}

}  // namespace spate
