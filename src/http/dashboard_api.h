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
// the registry and feeds (thread-safe) and the history (thread-safe), and call the
// aggregates reader from one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The aggregation tables of the run's stores (issue 19), as the app reads them. The http
// layer knows no sinks: the app gives it a reader (cmd_run.cc) and it only serves the answer.
struct AggregateCell {
  enum class Type { kNull, kInteger, kReal, kText };
  Type type = Type::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string text;
};

struct StoreAggregate {
  std::string store;  // "sqlite" or "postgres".
  std::string name;   // The table's.
  std::string definition;
  std::string error;  // Set when the table could not be read; then nothing below is.
  int64_t window_ms = 0;
  int64_t slide_ms = 0;
  std::vector<std::string> group_by;
  // The columns of each row: the group columns, users, then the values' (min_age, ...).
  std::vector<std::string> columns;
  struct Window {
    std::string start;  // "2026-12-06T06:30:00.000Z"
    std::string end;
    bool complete = false;  // Its end had passed when it was read.
    int64_t groups = 0;     // How many groups the window has; `rows` holds the top ones.
    int64_t users = 0;      // All its groups' users.
    std::vector<std::vector<AggregateCell>> rows;  // Most users first.
  };
  std::vector<Window> windows;  // Newest first.
};

struct StoreAggregates {
  std::vector<StoreAggregate> aggregations;
  std::string error;  // A store that could not be read at all (never holds credentials).
};

// Called by at most one thread at a time, at most once per DashboardApi::kAggregatesEvery.
using AggregatesReader = std::function<StoreAggregates()>;

struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
  // With a 405: the methods the path takes (the server sends them as `Allow`); "" means
  // "GET, HEAD".
  std::string allow;
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
  // `aggregates` reads the store for /api/aggregates; without one that answers no aggregations.
  DashboardApi(DashboardInfo info, DashboardSources sources, const MetricsHistory& history,
               AggregatesReader aggregates = {},
               std::chrono::milliseconds aggregates_every = kAggregatesEvery);

  // The store is read at most once per this; requests in between get the last answer.
  static constexpr std::chrono::milliseconds kAggregatesEvery{1000};

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
  // The last reading of the store's aggregation tables (reads it when older than
  // aggregates_every; while another request reads, answers the previous reading).
  std::string AggregatesJson() const;
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
  const AggregatesReader aggregates_;
  const std::chrono::milliseconds aggregates_every_;

  std::atomic<bool> finished_{false};
  // One reader of the store at a time; the cache has its own lock so that requests during a
  // slow read (a PostgreSQL server that does not answer) are answered at once.
  mutable std::mutex read_mu_;
  mutable std::mutex cache_mu_;
  mutable std::optional<std::chrono::steady_clock::time_point> read_at_;  // By cache_mu_.
  mutable std::string cached_;                                            // By cache_mu_.
};

// Sets spate_build_info{version,command} = 1 and spate_start_time_seconds in `registry`.
void RegisterProcessInfo(MetricsRegistry& registry, const DashboardInfo& info);

// The builders every API of the server shares (runs_api.h too):
// A JSON answer, with '<', '>' and '&' written as \u escapes (no answer holds markup).
HttpAnswer JsonAnswer(int status, std::string body);
// {"error": message} with `status`; the message made valid UTF-8.
HttpAnswer ErrorAnswer(int status, std::string_view message);
// A whole-number query parameter clamped to [min, max]; `fallback` when absent or empty;
// nullopt when it is not a whole number.
std::optional<int64_t> WholeNumberParam(const std::multimap<std::string, std::string>& params,
                                        const std::string& key, int64_t fallback, int64_t min,
                                        int64_t max);

// spate's version (the CMake project's), for spate_build_info and /api/overview.
std::string_view SpateVersion();

// "2026-12-06T06:30:00.123Z".
std::string Rfc3339(std::chrono::system_clock::time_point time);
std::string Rfc3339Ms(int64_t unix_ms);

// `text` with every byte sequence that is not valid UTF-8 replaced by U+FFFD.
std::string ValidUtf8(std::string_view text);

}  // namespace spate
