#include "schedule/cron.h"

#include <array>
#include <cctype>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "config/config.h"

namespace spate {

namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::year_month_day;

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kDayNames = {"sun", "mon", "tue", "wed",
                                                       "thu", "fri", "sat"};

struct Field {
  std::string_view name;
  int min;
  int max;
  // Names for min, min + 1, ... (months from 1, days from 0); empty for numbers only.
  const std::string_view* names = nullptr;
  size_t name_count = 0;
};

constexpr Field kFields[] = {
    {"minute", 0, 59},
    {"hour", 0, 23},
    {"day of month", 1, 31},
    {"month", 1, 12, kMonthNames.data(), kMonthNames.size()},
    {"day of week", 0, 7, kDayNames.data(), kDayNames.size()},  // 7 is Sunday too.
};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<int> Value(std::string_view text, const Field& field) {
  const std::string lower = Lower(text);
  for (size_t i = 0; i < field.name_count; ++i) {
    if (lower == field.names[i]) return field.min + static_cast<int>(i);
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::Fatal(fmt::format("'{}' is not a number{}", text,
                                     field.name_count ? " or a name (jan, mon...)" : ""));
  }
  if (value < field.min || value > field.max) {
    return Status::Fatal(
        fmt::format("{} is out of range: {} takes {}-{}", value, field.name, field.min, field.max));
  }
  return value;
}

// Parses one field into a bit mask of its allowed values.
Result<uint64_t> ParseField(std::string_view text, const Field& field) {
  uint64_t mask = 0;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string_view item = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (item.empty())
      return Status::Fatal("an empty item in a list (two commas, or one at an end)");
    const size_t slash = item.find('/');
    const std::string_view base = item.substr(0, slash);
    int step = 1;
    if (slash != std::string_view::npos) {
      const std::string_view step_text = item.substr(slash + 1);
      const auto [end, ec] =
          std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (step_text.empty() || ec != std::errc() || end != step_text.data() + step_text.size() ||
          step < 1) {
        return Status::Fatal(
            fmt::format("'{}': the step after '/' must be a whole number >= 1", item));
      }
    }
    int low = field.min;
    int high = field.max;
    if (base == "*") {
      if (field.max == 7) high = 6;  // Day of week: 0-6 already covers Sunday.
    } else if (const size_t dash = base.find('-'); dash != std::string_view::npos) {
      auto a = Value(base.substr(0, dash), field);
      if (!a.ok()) return a.status();
      auto b = Value(base.substr(dash + 1), field);
      if (!b.ok()) return b.status();
      if (*a > *b) {
        return Status::Fatal(fmt::format("'{}': a range goes from low to high", item));
      }
      low = *a;
      high = *b;
    } else {
      auto a = Value(base, field);
      if (!a.ok()) return a.status();
      low = *a;
      // "N/S" runs from N to the field's end; a plain N is just N.
      high = slash == std::string_view::npos ? *a : (field.max == 7 ? 6 : field.max);
    }
    for (int v = low; v <= high; v += step) mask |= uint64_t{1} << (field.max == 7 ? v % 7 : v);
  }
  return mask;
}

bool Has(uint64_t mask, int value) { return (mask >> value) & 1; }

}  // namespace

CivilMinute CivilMinute::FromMinutes(int64_t minutes) {
  CivilMinute m;
  m.days = minutes >= 0 ? minutes / 1440 : -((-minutes + 1439) / 1440);
  m.minute_of_day = static_cast<int>(minutes - m.days * 1440);
  return m;
}

Result<CronSchedule> CronSchedule::Parse(std::string_view text) {
  CronSchedule schedule;
  schedule.text_ = std::string(text);
  std::vector<std::string_view> words;
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const size_t begin = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i > begin) words.push_back(text.substr(begin, i - begin));
  }
  auto fail = [&](const std::string& why) {
    return Status::Fatal(fmt::format("schedule '{}': {}", text, why));
  };
  if (words.size() == 2 && Lower(words[0]) == "every") {
    auto ms = ParseDurationMillis(words[1]);
    if (!ms.ok()) return fail(ms.status().message());
    if (*ms < 1000 || *ms % 1000 != 0) {
      return fail("an interval is whole seconds, at least 1s (every 1s, every 5m)");
    }
    schedule.interval_ms_ = *ms;
    return schedule;
  }
  if (words.size() == 1 && words[0].starts_with('@')) {
    const std::string macro = Lower(words[0]);
    std::string_view fields;
    if (macro == "@yearly" || macro == "@annually") fields = "0 0 1 1 *";
    if (macro == "@monthly") fields = "0 0 1 * *";
    if (macro == "@weekly") fields = "0 0 * * 0";
    if (macro == "@daily" || macro == "@midnight") fields = "0 0 * * *";
    if (macro == "@hourly") fields = "0 * * * *";
    if (fields.empty()) {
      return fail("unknown macro: use @yearly, @monthly, @weekly, @daily or @hourly");
    }
    auto parsed = Parse(fields);
    if (parsed.ok()) parsed->text_ = std::string(text);
    return parsed;
  }
  if (words.size() != 5) {
    return fail(
        fmt::format("has {} field(s): write five (minute hour day-of-month month day-of-week, e.g. "
                    "'0 0 * * *'), a macro (@daily) or 'every 5m'",
                    words.size()));
  }
  uint64_t* targets[] = {&schedule.minutes_, &schedule.hours_, &schedule.days_of_month_,
                         &schedule.months_, &schedule.days_of_week_};
  for (size_t i = 0; i < 5; ++i) {
    auto mask = ParseField(words[i], kFields[i]);
    if (!mask.ok())
      return fail(fmt::format("{} field: {}", kFields[i].name, mask.status().message()));
    *targets[i] = *mask;
  }
  schedule.dom_star_ = words[2].starts_with('*');
  schedule.dow_star_ = words[4].starts_with('*');
  return schedule;
}

bool CronSchedule::DayMatches(int64_t day_number) const {
  const sys_days day{days{day_number}};
  const year_month_day ymd{day};
  if (!Has(months_, static_cast<int>(static_cast<unsigned>(ymd.month())))) return false;
  const bool dom = Has(days_of_month_, static_cast<int>(static_cast<unsigned>(ymd.day())));
  const bool dow = Has(days_of_week_, static_cast<int>(std::chrono::weekday{day}.c_encoding()));
  return dom_star_ || dow_star_ ? dom && dow : dom || dow;
}

bool CronSchedule::Matches(CivilMinute m) const {
  return DayMatches(m.days) && Has(hours_, m.minute_of_day / 60) &&
         Has(minutes_, m.minute_of_day % 60);
}

std::optional<CivilMinute> CronSchedule::NextAfter(CivilMinute after) const {
  if (is_interval()) return std::nullopt;
  int64_t t = after.minutes() + 1;
  const int64_t limit = t + int64_t{8} * 366 * 1440;
  while (t <= limit) {
    const CivilMinute c = CivilMinute::FromMinutes(t);
    const sys_days day{days{c.days}};
    const year_month_day ymd{day};
    if (!Has(months_, static_cast<int>(static_cast<unsigned>(ymd.month())))) {
      const year_month_day next =
          year_month_day{ymd.year(), ymd.month(), std::chrono::day{1}} + std::chrono::months{1};
      t = sys_days{next}.time_since_epoch().count() * int64_t{1440};
      continue;
    }
    if (!DayMatches(c.days)) {
      t = (c.days + 1) * 1440;
      continue;
    }
    if (!Has(hours_, c.minute_of_day / 60)) {
      t = c.days * 1440 + (c.minute_of_day / 60 + 1) * 60;
      continue;
    }
    if (!Has(minutes_, c.minute_of_day % 60)) {
      ++t;
      continue;
    }
    return c;
  }
  return std::nullopt;
}

}  // namespace spate
