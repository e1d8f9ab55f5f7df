#include "schedule/time_zone.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace spate {
namespace {

// Instants as "YYYY-MM-DDTHH:MMZ" (UTC), written with std::chrono, not ICU.
int64_t Utc(int y, unsigned m, unsigned d, int hour, int minute) {
  const std::chrono::sys_days day{std::chrono::year{y} / std::chrono::month{m} /
                                  std::chrono::day{d}};
  return (day.time_since_epoch().count() * 1440 + hour * 60 + minute) * int64_t{60000};
}

std::string Text(int64_t ms) {
  const int64_t minutes = ms / 60000;
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{minutes / 1440}}};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     minutes % 1440 / 60, minutes % 60);
}

// The first `n` fire instants after `after`.
std::vector<std::string> Fires(std::string_view schedule, std::string_view zone, int64_t after,
                               int n) {
  auto s = CronSchedule::Parse(schedule);
  auto z = TimeZone::Open(zone);
  if (!s.ok() || !z.ok()) return {"error"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    auto next = NextFire(*s, *z, after);
    if (!next) break;
    out.push_back(Text(*next));
    after = *next;
  }
  return out;
}

using V = std::vector<std::string>;

TEST(TimeZone, DailyJobsAcrossNewYorksDstChanges) {
  // 2026: clocks go 02:00 EST -> 03:00 EDT on 8 March, 02:00 EDT -> 01:00 EST on 1 November.
  EXPECT_EQ(Fires("0 9 * * *", "America/New_York", Utc(2026, 3, 6, 0, 0), 3),
            (V{"2026-03-06T14:00Z", "2026-03-07T14:00Z", "2026-03-08T13:00Z"}));
  // 02:30 does not exist on 8 March: the run is at the first instant after the gap (03:00 EDT).
  EXPECT_EQ(Fires("30 2 * * *", "America/New_York", Utc(2026, 3, 7, 0, 0), 3),
            (V{"2026-03-07T07:30Z", "2026-03-08T07:00Z", "2026-03-09T06:30Z"}));
  // 01:30 happens twice on 1 November: once, at the first (EDT).
  EXPECT_EQ(Fires("30 1 * * *", "America/New_York", Utc(2026, 10, 31, 0, 0), 3),
            (V{"2026-10-31T05:30Z", "2026-11-01T05:30Z", "2026-11-02T06:30Z"}));
}

TEST(TimeZone, FrequentJobsInTheRepeatedAndSkippedHours) {
  // Every 30 minutes through Berlin's fall-back (25 October 2026, 03:00 CEST -> 02:00 CET):
  // the repeated 02:00 and 02:30 run once, at their first occurrence.
  EXPECT_EQ(Fires("*/30 * * * *", "Europe/Berlin", Utc(2026, 10, 24, 23, 0), 6),
            (V{"2026-10-24T23:30Z", "2026-10-25T00:00Z", "2026-10-25T00:30Z", "2026-10-25T02:00Z",
               "2026-10-25T02:30Z", "2026-10-25T03:00Z"}));
  // Through the spring-forward (29 March 2026, 02:00 CET -> 03:00 CEST): 02:00 and 02:30 do
  // not exist; 02:00 runs at 03:00 CEST, once.
  EXPECT_EQ(
      Fires("*/30 * * * *", "Europe/Berlin", Utc(2026, 3, 29, 0, 0), 4),
      (V{"2026-03-29T00:30Z", "2026-03-29T01:00Z", "2026-03-29T01:30Z", "2026-03-29T02:00Z"}));
  // Lord Howe Island moves its clocks by 30 minutes (5 April 2026, 02:00 -> 01:30).
  EXPECT_EQ(Fires("45 1 * * *", "Australia/Lord_Howe", Utc(2026, 4, 4, 0, 0), 2),
            (V{"2026-04-04T14:45Z", "2026-04-05T15:15Z"}));
}

TEST(TimeZone, IntervalsIgnoreTheZoneAndCivilMinutesRoundTrip) {
  EXPECT_EQ(Fires("every 5m", "Asia/Kathmandu", Utc(2026, 12, 6, 12, 3), 2),
            (V{"2026-12-06T12:05Z", "2026-12-06T12:10Z"}));
  auto kathmandu = TimeZone::Open("Asia/Kathmandu");  // UTC+5:45, no DST.
  ASSERT_TRUE(kathmandu.ok());
  const CivilMinute local = kathmandu->ToCivil(Utc(2026, 12, 6, 12, 3));
  EXPECT_EQ(local.minute_of_day, 17 * 60 + 48);
  EXPECT_EQ(kathmandu->ToInstant(local), Utc(2026, 12, 6, 12, 3));
  auto utc = TimeZone::Open("UTC");
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ(Fires("0 0 29 2 *", "UTC", Utc(2026, 1, 1, 0, 0), 1), (V{"2028-02-29T00:00Z"}));
}

// PrevFire against NextFire: walking forward over a span, the fire before each fire is the
// one NextFire gave just before it, and between two fires PrevFire gives the earlier one.
TEST(TimeZone, PrevFireIsTheFireBeforeAcrossDstAndSparseSchedules) {
  struct Case {
    const char* schedule;
    const char* zone;
    int64_t from;
    int fires;
  };
  const Case cases[] = {
      {"*/30 * * * *", "Europe/Berlin", Utc(2026, 10, 24, 23, 0), 12},
      {"*/30 * * * *", "Europe/Berlin", Utc(2026, 3, 29, 0, 0), 12},
      {"30 2 * * *", "America/New_York", Utc(2026, 3, 6, 0, 0), 5},
      {"0 0 * * *", "Europe/Berlin", Utc(2026, 3, 27, 0, 0), 5},
      {"0 0 29 2 *", "UTC", Utc(2023, 1, 1, 0, 0), 2},
      {"every 7s", "UTC", Utc(2026, 12, 6, 12, 0) + 3, 5},
  };
  for (const Case& c : cases) {
    auto s = CronSchedule::Parse(c.schedule);
    auto z = TimeZone::Open(c.zone);
    ASSERT_TRUE(s.ok() && z.ok()) << c.schedule;
    std::optional<int64_t> previous = NextFire(*s, *z, c.from);
    ASSERT_TRUE(previous) << c.schedule;
    for (int i = 0; i < c.fires; ++i) {
      const std::optional<int64_t> next = NextFire(*s, *z, *previous);
      ASSERT_TRUE(next) << c.schedule;
      EXPECT_EQ(PrevFire(*s, *z, *next), previous) << c.schedule << " before " << Text(*next);
      EXPECT_EQ(PrevFire(*s, *z, *next - 1), previous) << c.schedule;
      EXPECT_EQ(PrevFire(*s, *z, *previous + 1), previous) << c.schedule;
      previous = next;
    }
  }
  // Known values: Berlin's @daily before 30 March 2026 00:00 CEST is 29 March 00:00 CET, 23
  // hours earlier (the day of the spring-forward is short).
  auto daily = CronSchedule::Parse("@daily");
  auto berlin = TimeZone::Open("Europe/Berlin");
  ASSERT_TRUE(daily.ok() && berlin.ok());
  EXPECT_EQ(PrevFire(*daily, *berlin, Utc(2026, 3, 29, 22, 0)), Utc(2026, 3, 28, 23, 0));
  EXPECT_EQ(PrevFire(*daily, *berlin, Utc(2026, 3, 29, 22, 1)), Utc(2026, 3, 29, 22, 0));
  auto never = CronSchedule::Parse("0 0 30 2 *");
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(PrevFire(*never, *berlin, Utc(2026, 3, 29, 22, 0)), std::nullopt);
}

TEST(TimeZone, UnknownNamesAreErrors) {
  for (const char* name : {"Mars/Olympus", "", "Europe/Berlin\n", "CEST"}) {
    auto zone = TimeZone::Open(name);
    ASSERT_FALSE(zone.ok()) << name;
    EXPECT_NE(zone.status().message().find("IANA name"), std::string::npos)
        << zone.status().message();
  }
}

}  // namespace
}  // namespace spate
