// Cron schedules: when a job's runs are due (issue 20).
//
// A schedule is one of
//   - five cron fields "MIN HOUR DOM MONTH DOW": `*`, `N`, `A-B`, `*/S`, `A-B/S`, `N/S` (N to
//     the field's end, every S), and comma lists of these; months jan-dec and days sun-sat by
//     name (any case); day of week 0-7, where 0 and 7 are Sunday. As in Vixie cron, when both
//     day fields are restricted (neither starts with `*`), a day matches if EITHER does;
//     otherwise only the restricted one counts.
//   - a macro: @yearly (@annually), @monthly, @weekly, @daily (@midnight), @hourly;
//   - "every D" (D a duration: 1s, 5m, 2h): intervals aligned to multiples of D since the
//     Unix epoch, so the same instants are due whatever the scheduler's start time, which is
//     what lets a restarted scheduler know which intervals it already ran.
//
// Cron fields are matched against civil (wall-clock) minutes. This file works in civil time
// only; the time zone's mapping to instants (with its DST gaps and repeats) is the caller's.
//
// Thread-safety: a parsed CronSchedule is immutable.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace spate {

// A wall-clock minute: days since 1970-01-01 in the civil calendar and minute of the day.
struct CivilMinute {
  int64_t days = 0;
  int minute_of_day = 0;  // 0..1439

  int64_t minutes() const { return days * 1440 + minute_of_day; }
  static CivilMinute FromMinutes(int64_t minutes);
  friend bool operator==(const CivilMinute&, const CivilMinute&) = default;
};

class CronSchedule {
 public:
  // Parses a schedule (see above). Errors name the field and what it accepts.
  static Result<CronSchedule> Parse(std::string_view text);

  // True for "every D" schedules: their instants are multiples of interval_ms() since the
  // epoch (UTC), not civil minutes.
  bool is_interval() const { return interval_ms_ > 0; }
  int64_t interval_ms() const { return interval_ms_; }

  // Whether the cron fields match wall-clock minute `m` (cron schedules only).
  bool Matches(CivilMinute m) const;

  // The first matching wall-clock minute strictly after `after` (cron schedules only);
  // nullopt when none comes within 8 years (a day that never exists, like "0 0 30 2 *").
  std::optional<CivilMinute> NextAfter(CivilMinute after) const;

  // The text it was parsed from.
  const std::string& text() const { return text_; }

 private:
  // Whether day `day_number` (days since 1970-01-01) has the month and the day fields.
  bool DayMatches(int64_t day_number) const;

  std::string text_;
  int64_t interval_ms_ = 0;
  // One bit per allowed value.
  uint64_t minutes_ = 0;        // 0..59
  uint64_t hours_ = 0;          // 0..23
  uint64_t days_of_month_ = 0;  // 1..31
  uint64_t months_ = 0;         // 1..12
  uint64_t days_of_week_ = 0;   // 0..6, Sunday = 0
  bool dom_star_ = false;
  bool dow_star_ = false;
};

}  // namespace spate
