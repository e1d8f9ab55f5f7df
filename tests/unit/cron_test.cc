#include "schedule/cron.h"

#include <chrono>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace spate {
namespace {

// "2026-12-06 10:07" <-> CivilMinute, written with std::chrono's calendar, not cron.cc's.
CivilMinute At(int y, unsigned m, unsigned d, int hour, int minute) {
  const std::chrono::sys_days day{std::chrono::year{y} / std::chrono::month{m} /
                                  std::chrono::day{d}};
  return CivilMinute{day.time_since_epoch().count(), hour * 60 + minute};
}

std::string Text(CivilMinute c) {
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{c.days}}};
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     c.minute_of_day / 60, c.minute_of_day % 60);
}

std::string Next(std::string_view schedule, CivilMinute after) {
  auto parsed = CronSchedule::Parse(schedule);
  if (!parsed.ok()) return "error: " + parsed.status().message();
  auto next = parsed->NextAfter(after);
  return next ? Text(*next) : "never";
}

std::string Error(std::string_view schedule) {
  auto parsed = CronSchedule::Parse(schedule);
  return parsed.ok() ? "parsed" : parsed.status().message();
}

TEST(Cron, NextFireAgainstAKnownTable) {
  struct Case {
    const char* schedule;
    CivilMinute after;
    const char* next;
  } cases[] = {
      {"*/15 * * * *", At(2026, 12, 6, 10, 7), "2026-12-06 10:15"},
      {"*/15 * * * *", At(2026, 12, 6, 23, 59), "2026-12-07 00:00"},
      {"0 * * * *", At(2026, 12, 6, 10, 0), "2026-12-06 11:00"},  // Strictly after.
      {"10-20/5 3 * * *", At(2026, 12, 6, 3, 16), "2026-12-06 03:20"},
      {"10-20/5 3 * * *", At(2026, 12, 6, 3, 20), "2026-12-07 03:10"},
      {"5/20 * * * *", At(2026, 12, 6, 10, 30), "2026-12-06 10:45"},  // 5, 25, 45.
      {"0 12 * * 1-5", At(2026, 12, 4, 13, 0), "2026-12-07 12:00"},   // Fri -> Mon.
      {"0 0 * * 7", At(2026, 12, 6, 0, 0), "2026-12-13 00:00"},       // 7 is Sunday.
      {"0 0 * * sun", At(2026, 12, 5, 12, 0), "2026-12-06 00:00"},
      {"0 0 1 jan,JUL *", At(2026, 2, 1, 0, 0), "2026-07-01 00:00"},
      {"0 0 31 * *", At(2026, 4, 1, 0, 0), "2026-05-31 00:00"},  // April has 30 days.
      {"0 0 29 2 *", At(2023, 3, 1, 0, 0), "2024-02-29 00:00"},  // Next leap year.
      {"0 0 29 2 *", At(2096, 3, 1, 0, 0), "2104-02-29 00:00"},  // 2100 is not leap.
      {"0 0 30 2 *", At(2026, 1, 1, 0, 0), "never"},
      // Both day fields restricted: the 13th OR a Friday (2026-12-11 is a Friday).
      {"0 0 13 * 5", At(2026, 12, 5, 0, 0), "2026-12-11 00:00"},
      {"0 0 13 * 5", At(2026, 12, 11, 0, 0), "2026-12-13 00:00"},
      // One of them '*': only the other counts (here the 13th, a Sunday in December 2026).
      {"0 0 13 * *", At(2026, 12, 5, 0, 0), "2026-12-13 00:00"},
      {"0 0 */10 * 5", At(2026, 12, 5, 0, 0), "2026-12-11 00:00"},  // '*/10' counts as '*'.
      {"@hourly", At(2026, 12, 6, 10, 7), "2026-12-06 11:00"},
      {"@daily", At(2026, 12, 6, 10, 7), "2026-12-07 00:00"},
      {"@midnight", At(2026, 12, 6, 10, 7), "2026-12-07 00:00"},
      {"@weekly", At(2026, 12, 6, 10, 7), "2026-12-13 00:00"},
      {"@monthly", At(2026, 12, 6, 10, 7), "2027-01-01 00:00"},
      {"@yearly", At(2026, 12, 6, 10, 7), "2027-01-01 00:00"},
      {"@annually", At(2027, 1, 1, 0, 0), "2028-01-01 00:00"},
      {"59 23 31 12 *", At(2026, 12, 31, 23, 58), "2026-12-31 23:59"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Next(c.schedule, c.after), c.next) << c.schedule << " after " << Text(c.after);
  }
}

TEST(Cron, MatchesAgreesWithNextAfter) {
  // Every minute of a week against each schedule: NextAfter(m - 1) == m exactly when m
  // matches.
  for (const char* text : {"*/7 1-3,22 * * *", "0 0 13 * 5", "30 4 1,15 * mon-wed", "@daily"}) {
    auto schedule = CronSchedule::Parse(text);
    ASSERT_TRUE(schedule.ok()) << schedule.status().message();
    const int64_t from = At(2026, 12, 1, 0, 0).minutes();
    for (int64_t t = from; t < from + 7 * 1440; ++t) {
      const CivilMinute m = CivilMinute::FromMinutes(t);
      const auto next = schedule->NextAfter(CivilMinute::FromMinutes(t - 1));
      ASSERT_TRUE(next.has_value());
      EXPECT_EQ(schedule->Matches(m), *next == m) << text << " at " << Text(m);
    }
  }
}

TEST(Cron, IntervalsAreAlignedToTheEpoch) {
  auto every = CronSchedule::Parse("every 5m");
  ASSERT_TRUE(every.ok()) << every.status().message();
  EXPECT_TRUE(every->is_interval());
  EXPECT_EQ(every->interval_ms(), 300000);
  auto second = CronSchedule::Parse("every 1s");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->interval_ms(), 1000);
  EXPECT_FALSE(CronSchedule::Parse("@daily")->is_interval());
}

TEST(Cron, ErrorsNameTheFieldAndWhatItTakes) {
  struct Case {
    const char* schedule;
    const char* expected;
  } cases[] = {
      {"60 * * * *", "minute field: 60 is out of range: minute takes 0-59"},
      {"* 24 * * *", "hour field: 24 is out of range"},
      {"* * 0 * *", "day of month field: 0 is out of range"},
      {"* * * 13 *", "month field: 13 is out of range"},
      {"* * * * 8", "day of week field: 8 is out of range"},
      {"* * * *", "has 4 field(s): write five"},
      {"", "has 0 field(s)"},
      {"*/0 * * * *", "the step after '/' must be a whole number >= 1"},
      {"5-1 * * * *", "a range goes from low to high"},
      {"1,,2 * * * *", "an empty item in a list"},
      {"x * * * *", "'x' is not a number"},
      {"* * * foo *", "'foo' is not a number or a name"},
      {"@often", "unknown macro"},
      {"every 5", "every 5"},
      {"every 500ms", "an interval is whole seconds"},
      {"every 0s", "an interval is whole seconds"},
  };
  for (const Case& c : cases) {
    const std::string error = Error(c.schedule);
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.schedule << ": " << error;
    EXPECT_NE(error.find("schedule '"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace spate
