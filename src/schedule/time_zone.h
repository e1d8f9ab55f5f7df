// A time zone by IANA name, from ICU's copy of the tz database: maps a schedule's wall-clock
// minutes (cron.h) to instants.
//
// DST: a wall-clock minute that does not exist (the spring-forward gap) happens at the first
// instant after the gap; one that happens twice (the fall-back repeat) is taken at its first
// occurrence, so a job runs once for it (as Vixie cron does).
//
// Thread-safety: methods may be called from any thread (an ICU calendar is mutable, so each
// call takes a lock).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "schedule/cron.h"

namespace spate {

class TimeZone {
 public:
  // "UTC", "Europe/Berlin", "America/New_York". An unknown name is an error (ICU itself
  // would quietly use GMT).
  static Result<TimeZone> Open(std::string_view name);

  TimeZone(TimeZone&&) noexcept;
  TimeZone& operator=(TimeZone&&) noexcept;
  ~TimeZone();

  // When wall-clock minute `m` happens, in milliseconds since the epoch (see DST above).
  int64_t ToInstant(CivilMinute m) const;
  // The wall-clock minute at instant `ms` (seconds dropped).
  CivilMinute ToCivil(int64_t ms) const;

  const std::string& name() const { return name_; }

 private:
  // ICU's UCalendar is itself a void*, so it cannot be declared here without its header.
  struct Closer {
    void operator()(void* calendar) const;
  };
  TimeZone() = default;
  std::string name_;
  std::unique_ptr<void, Closer> calendar_;                           // A UCalendar.
  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();  // Guards calendar_.
};

// The first instant strictly after `after_ms` at which `schedule` is due in `zone`.
// nullopt when a cron schedule never matches (0 0 30 2 *).
std::optional<int64_t> NextFire(const CronSchedule& schedule, const TimeZone& zone,
                                int64_t after_ms);

// The last instant strictly before `before_ms` at which `schedule` is due in `zone`: always
// one that NextFire returns too (the same DST rules), so [PrevFire(t), t) is an interval
// when t is a fire. nullopt when none lies within about 9 years before.
std::optional<int64_t> PrevFire(const CronSchedule& schedule, const TimeZone& zone,
                                int64_t before_ms);

}  // namespace spate
