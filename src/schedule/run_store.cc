// See run_store.h. The names shared by both stores; the stores are in run_store_sqlite.cc and
// run_store_pg.cc.
#include "schedule/run_store.h"

#include <array>
#include <utility>

namespace spate {
namespace {

constexpr std::array<std::pair<RunState, std::string_view>, 6> kStates = {{
    {RunState::kQueued, "queued"},
    {RunState::kRunning, "running"},
    {RunState::kSuccess, "success"},
    {RunState::kFailed, "failed"},
    {RunState::kUpForRetry, "up_for_retry"},
    {RunState::kSkipped, "skipped"},
}};

constexpr std::array<std::pair<RunType, std::string_view>, 3> kTypes = {{
    {RunType::kScheduled, "scheduled"},
    {RunType::kManual, "manual"},
    {RunType::kBackfill, "backfill"},
}};

}  // namespace

std::string_view RunStateName(RunState state) {
  for (const auto& [s, name] : kStates) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<RunState> ParseRunState(std::string_view name) {
  for (const auto& [s, n] : kStates) {
    if (n == name) return s;
  }
  return std::nullopt;
}

std::string_view RunTypeName(RunType type) {
  for (const auto& [t, name] : kTypes) {
    if (t == type) return name;
  }
  return "unknown";
}

std::optional<RunType> ParseRunType(std::string_view name) {
  for (const auto& [t, n] : kTypes) {
    if (n == name) return t;
  }
  return std::nullopt;
}

}  // namespace spate
