// Wall-clock helpers. Kept in one place so tests and formats agree.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace spate {

inline int64_t NowUnixMillis() {
  using namespace std::chrono;  // NOLINT: local, for the duration names only.
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

inline int64_t NowUnixMicros() {
  using namespace std::chrono;  // NOLINT: local, for the duration names only.
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// "2026-11-22T10:15:30.123Z"
std::string FormatIso8601Millis(int64_t unix_ms);

}  // namespace spate
