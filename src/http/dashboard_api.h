// DashboardApi: every answer of the --http server, built without sockets: the page's files,
// /metrics, /healthz, /readyz and the JSON of /api/... (shapes: src/http/README.md). The
// server (dashboard_server.h) only moves bytes; tests call Handle() directly.
//
// JSON is compact, snake_case, times RFC 3339 UTC with milliseconds; errors are
// {"error":"..."} with the status. Every string from outside (dead-letter bytes, reasons,
// label values, countries) is made valid UTF-8 (invalid bytes become U+FFFD) and '<', '>'
// and '&' are written as \u003c, \u003e, \u0026, so no answer can be read as markup even by
// a client that sniffs it (the page must still show data as text).
//
// Thread-safety: Handle and the builders may be called from any thread at once; they read
// the registry and feeds (thread-safe) and the history (thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "http/metrics_history.h"
#include "observe/feeds.h"
#include "observe/metrics.h"

namespace spate {

struct DashboardInfo {
  std::string command;  // run, produce, process
  std::string version;
  std::string topic;  // The Kafka topic between produce and process; "" when not on Kafka.
  std::chrono::system_clock::time_point started_at;
};

// Where the answers come from: the process-wide ones (Metrics(), DeadLetters(), Landed(),
// Health()) unless a test gives its own.
struct DashboardSources {
  MetricsRegistry* metrics;
  DeadLetterFeed* dead_letters;
  LandedTally* landed;
  HealthBoard* health;
  static DashboardSources Global();
};

struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

inline constexpr std::string_view kJsonType = "application/json; charset=utf-8";
inline constexpr std::string_view kPrometheusType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr size_t kDeadLettersDefault = 50;
inline constexpr size_t kDeadLettersMax = 100;
inline constexpr int kSeriesSecondsDefault = 300;
// How far back node rates in /api/overview look.
inline constexpr std::chrono::seconds kRateWindow{5};

class DashboardApi {
 public:
  // The history must outlive the API.
  DashboardApi(DashboardInfo info, DashboardSources sources, const MetricsHistory& history);

  // The answer to `method path?params`. Only GET and HEAD: anything else is 405; an unknown
  // path is 404; a bad parameter is 400.
  HttpAnswer Handle(std::string_view method, std::string_view path,
                    const std::multimap<std::string, std::string>& params) const;

  // The pipeline has ended: /api/overview says "finished" from now on.
  void SetFinished() { finished_.store(true, std::memory_order_release); }
  bool finished() const { return finished_.load(std::memory_order_acquire); }

  std::string Overview() const;
  std::string Series(int seconds) const;
  std::string DeadLettersJson(size_t limit) const;
  std::string LandedJson() const;
  std::string KafkaJson() const;
  std::string MetricsJson() const;
  std::string Healthz() const;
  // The body, and whether every check is ready.
  std::pair<std::string, bool> Readyz() const;

 private:
  // Constant after construction.
  const DashboardInfo info_;
  const DashboardSources sources_;
  const MetricsHistory& history_;
  const std::chrono::steady_clock::time_point started_monotonic_;

  std::atomic<bool> finished_{false};
};

// Sets spate_build_info{version,command} = 1 and spate_start_time_seconds in `registry`.
void RegisterProcessInfo(MetricsRegistry& registry, const DashboardInfo& info);

// spate's version (the CMake project's), for spate_build_info and /api/overview.
std::string_view SpateVersion();

// "2026-12-06T06:30:00.123Z".
std::string Rfc3339(std::chrono::system_clock::time_point time);
std::string Rfc3339Ms(int64_t unix_ms);

// `text` with every byte sequence that is not valid UTF-8 replaced by U+FFFD.
std::string ValidUtf8(std::string_view text);

}  // namespace spate
