// Jobs: what `spate schedule` runs and when (issue 20).
//
// A jobs file is a spate config file (--config) with a `jobs:` list of mappings next to the
// scheduler's own settings (data_dir, pg_dsn, history_store, timezone, http, log_level):
//
//     timezone: Europe/Berlin          # the default zone of every job (UTC if left out)
//     jobs:
//       - name: tick                   # [A-Za-z0-9_-], 1..64 bytes, unique
//         schedule: every 1s           # cron.h: 5 fields, @daily..., every D
//         timezone: UTC                # optional, overrides the file's
//         run: run                     # run | produce | process
//         options: {count: 100, seed: tick}   # the properties that command takes
//         retries: 2                   # default 0
//         retry_delay: 10s             # default 10s; the first retry waits this long
//         retry_exponential_backoff: true  # default true: delay x 2^(attempt-1)
//         max_retry_delay: 10m         # default 10m: the cap of the backoff
//         timeout: 1h                  # default none: SIGTERM, then SIGKILL after kill_grace
//         kill_grace: 30s              # default 30s
//         max_active_runs: 1           # default 1
//         catchup: false               # default false: after a pause, only the latest interval
//         start_date: 2023-09-03T10:00:00  # optional: intervals before it are never due; in
//                                      # the job's zone unless it ends in Z or +hh:mm
//         depends_on: [other_job]      # default none
//
// Words are Airflow's: a run covers a logical interval [start, end) and is due when the
// interval ends (a @daily run for 2026-12-05 starts just after midnight on the 6th).
//
// Config (config/) turns each mapping of `jobs:` into one JSON object (scalars as strings,
// lists as arrays of strings, `options:` as an object of the same); ParseJobs reads those.
//
// Thread-safety: a parsed JobSet is immutable.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "schedule/cron.h"
#include "schedule/time_zone.h"

namespace spate {

class Config;

// A logical interval [start_ms, end_ms), milliseconds since the epoch.
struct Interval {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  friend bool operator==(const Interval&, const Interval&) = default;
};

struct JobSpec {
  std::string name;
  CronSchedule schedule;
  std::shared_ptr<const TimeZone> zone;  // Shared: TimeZone is move-only.
  std::string command;                   // run, produce or process.
  // The child's properties by canonical name (data_dir, not data-dir), as text; a list
  // property's items joined as Config would take them from YAML (one entry per item).
  std::map<std::string, std::vector<std::string>> options;
  int retries = 0;
  int64_t retry_delay_ms = 10'000;
  bool retry_exponential_backoff = true;
  int64_t max_retry_delay_ms = 600'000;
  int64_t timeout_ms = 0;  // 0: none.
  int64_t kill_grace_ms = 30'000;
  int max_active_runs = 1;
  bool catchup = false;
  std::optional<int64_t> start_date_ms;
  std::vector<std::string> depends_on;

  // How long to wait before attempt `next_attempt` (2 for the first retry).
  int64_t RetryDelayMs(int next_attempt) const;
};

// Whether `command` (run, produce, process) takes `property` (its canonical name): the
// app layer knows which flags each command has.
using TakesProperty = std::function<bool(std::string_view command, std::string_view property)>;

class JobSet {
 public:
  // Parses the `jobs` items (JSON objects, see above). Every mistake is an error naming the
  // job (or its position) and the key: an unknown key (with the closest known one), a bad
  // schedule or zone, an unknown command, an option that command does not take or whose
  // value the property table refuses (validated with a Config), a depends_on naming no job
  // or forming a cycle, a duplicate name, no jobs at all. `default_zone` is the file's
  // `timezone`.
  static Result<JobSet> Parse(const std::vector<std::string>& items, std::string_view default_zone,
                              const TakesProperty& takes);

  // The same checks over specs built in code (tests, tools): names, depends_on.
  static Result<JobSet> FromSpecs(std::vector<JobSpec> jobs);

  const std::vector<JobSpec>& jobs() const { return jobs_; }
  const JobSpec* Find(std::string_view name) const;

 private:
  std::vector<JobSpec> jobs_;
};

// The logical intervals of a job's schedule. For a cron schedule they run from one fire to
// the next (time_zone.h: NextFire/PrevFire); for "every D", from one multiple of D to the
// next. Intervals starting before the job's start_date are never returned.
//
// The interval that ended last at `now_ms` (end <= now): what is due; nullopt if none yet.
std::optional<Interval> LatestDueInterval(const JobSpec& job, int64_t now_ms);
// The interval right after `previous` (it starts where `previous` ends).
std::optional<Interval> NextInterval(const JobSpec& job, const Interval& previous);
// The intervals whose start lies in [from_ms, to_ms], oldest first, at most `limit` of them
// (backfill: start_date does not limit these, the user asked for them).
std::vector<Interval> IntervalsStartingBetween(const JobSpec& job, int64_t from_ms, int64_t to_ms,
                                               size_t limit);

// Parses a date-time as start_date and --from/--to take it: "2026-12-01" (midnight),
// "2026-12-01T10:00" or "2026-12-01T10:00:00" (also with a space for the T), in `zone`; with
// a "Z" or "+hh:mm"/"-hh:mm" suffix, at that offset instead. Milliseconds since the epoch.
Result<int64_t> ParseDateTime(std::string_view text, const TimeZone& zone);

// The child's config file: the job's options as YAML, which the child reads with --config.
std::string OptionsYaml(const JobSpec& job);

}  // namespace spate
