#include "schedule/time_zone.h"

#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include <chrono>
#include <vector>

#include <fmt/format.h>

namespace spate {

namespace {

std::vector<UChar> ToUChars(std::string_view text) {
  std::vector<UChar> out;
  out.reserve(text.size());
  for (const char c : text) out.push_back(static_cast<UChar>(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void TimeZone::Closer::operator()(void* calendar) const {
  ucal_close(static_cast<UCalendar*>(calendar));
}

TimeZone::TimeZone(TimeZone&&) noexcept = default;
TimeZone& TimeZone::operator=(TimeZone&&) noexcept = default;
TimeZone::~TimeZone() = default;

Result<TimeZone> TimeZone::Open(std::string_view name) {
  auto fail = [&](std::string_view why) {
    return Status::Fatal(fmt::format(
        "time zone '{}': {} (write an IANA name such as UTC, Europe/Berlin, America/New_York)",
        name, why));
  };
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      return fail("not a name");
    }
  }
  const std::vector<UChar> id = ToUChars(name);
  UChar canonical[128];
  UBool system = false;
  UErrorCode status = U_ZERO_ERROR;
  ucal_getCanonicalTimeZoneID(id.data(), static_cast<int32_t>(id.size()), canonical, 128, &system,
                              &status);
  if (U_FAILURE(status) || !system) return fail("unknown");
  TimeZone zone;
  zone.name_ = std::string(name);
  status = U_ZERO_ERROR;
  zone.calendar_.reset(ucal_open(id.data(), static_cast<int32_t>(id.size()),
                                 "en_US@calendar=gregorian", UCAL_GREGORIAN, &status));
  if (U_FAILURE(status) || !zone.calendar_) return fail(u_errorName(status));
  auto* cal = static_cast<UCalendar*>(zone.calendar_.get());
  // The proleptic Gregorian calendar throughout: cron has no Julian dates.
  status = U_ZERO_ERROR;
  ucal_setGregorianChange(cal, -8.64e15, &status);
  ucal_setAttribute(cal, UCAL_LENIENT, 1);
  ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
  ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
  return zone;
}

int64_t TimeZone::ToInstant(CivilMinute m) const {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{m.days}}};
  std::lock_guard lock(*mu_);
  auto* cal = static_cast<UCalendar*>(calendar_.get());
  UErrorCode status = U_ZERO_ERROR;
  ucal_clear(cal);
  ucal_setDateTime(cal, static_cast<int32_t>(ymd.year()),
                   static_cast<int32_t>(static_cast<unsigned>(ymd.month())) - 1,
                   static_cast<int32_t>(static_cast<unsigned>(ymd.day())), m.minute_of_day / 60,
                   m.minute_of_day % 60, 0, &status);
  const UDate ms = ucal_getMillis(cal, &status);
  return static_cast<int64_t>(ms);
}

CivilMinute TimeZone::ToCivil(int64_t ms) const {
  std::lock_guard lock(*mu_);
  auto* cal = static_cast<UCalendar*>(calendar_.get());
  UErrorCode status = U_ZERO_ERROR;
  ucal_setMillis(cal, static_cast<UDate>(ms), &status);
  const int32_t offset =
      ucal_get(cal, UCAL_ZONE_OFFSET, &status) + ucal_get(cal, UCAL_DST_OFFSET, &status);
  const int64_t local = ms + offset;
  const int64_t minutes = local >= 0 ? local / 60000 : -((-local + 59999) / 60000);
  return CivilMinute::FromMinutes(minutes);
}

std::optional<int64_t> NextFire(const CronSchedule& schedule, const TimeZone& zone,
                                int64_t after_ms) {
  if (schedule.is_interval()) {
    const int64_t step = schedule.interval_ms();
    const int64_t floor = after_ms >= 0 ? after_ms / step : -((-after_ms + step - 1) / step);
    return (floor + 1) * step;
  }
  CivilMinute civil = zone.ToCivil(after_ms);
  // A few rounds at most: in a repeated hour, minutes whose first occurrence has passed.
  for (int round = 0; round < 1000; ++round) {
    const std::optional<CivilMinute> next = schedule.NextAfter(civil);
    if (!next) return std::nullopt;
    const int64_t at = zone.ToInstant(*next);
    if (at > after_ms) return at;
    civil = *next;
  }
  return std::nullopt;
}

std::optional<int64_t> PrevFire(const CronSchedule& schedule, const TimeZone& zone,
                                int64_t before_ms) {
  if (schedule.is_interval()) {
    const int64_t step = schedule.interval_ms();
    const int64_t last = before_ms - 1;
    return (last >= 0 ? last / step : -((-last + step - 1) / step)) * step;
  }
  // Searched forward with NextFire rather than backward over civil minutes, so that the two
  // agree on every DST rule by construction. The window before `before_ms` doubles until it
  // holds a fire; then the fires in it are walked to the last one. A window just long enough
  // holds at most about as many fires as the gap it bridges, so this stays cheap.
  constexpr int64_t kMinute = 60'000;
  constexpr int64_t kLimit = int64_t{9} * 366 * 24 * 60 * kMinute;
  for (int64_t window = kMinute; window <= 2 * kLimit; window *= 2) {
    std::optional<int64_t> fire = NextFire(schedule, zone, before_ms - window - 1);
    if (!fire) return std::nullopt;
    if (*fire >= before_ms) continue;
    while (true) {
      const std::optional<int64_t> next = NextFire(schedule, zone, *fire);
      if (!next || *next >= before_ms) return fire;
      fire = next;
    }
  }
  return std::nullopt;
}

}  // namespace spate
