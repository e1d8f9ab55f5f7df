#include "core/clock.h"

#include <ctime>

#include <fmt/format.h>

namespace spate {

std::string FormatIso8601Millis(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  const int millis = static_cast<int>(unix_ms % 1000);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm_utc.tm_year + 1900,
                     tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min,
                     tm_utc.tm_sec, millis);
}

}  // namespace spate
