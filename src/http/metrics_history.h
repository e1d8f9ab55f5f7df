// MetricsHistory: the last ten minutes of the pipeline, one point a second, for the
// dashboard's charts (/api/series) and the rates of /api/overview.
//
// Each sample reads the registry (MetricsRegistry::Collect, a few dozen series) and keeps
// what the charts need, derived from the difference with the sample before: input and
// processing rates (records/s, from counter deltas), end-to-end and commit latency p50/p99
// over the interval (HistogramSnapshot::Since; absent when nothing was observed in it), the
// fullest queue, consumer lag per partition, and each node's flow counter (for its rate).
// The very first sample only sets the baseline: it has no interval, so it is not a point.
//
// Lifecycle: Start() takes the baseline at once and then samples every interval on a
// std::jthread; Stop() (or the destructor) joins it. Tests call Sample() directly with their
// own clock instead.
//
// Thread-safety: Sample, Points and Rate may be called from any thread (one mutex);
// Start/Stop from one controlling thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "observe/metrics.h"

namespace spate {

struct HistoryPoint {
  int64_t time_unix_ms = 0;
  double monotonic_seconds = 0;  // For differences: wall time may jump.
  double input_rate = 0;         // Records/s the first pipeline's sources took in.
  double processing_rate = 0;    // Records/s the last pipeline's process put out.
  std::optional<double> end_to_end_p50_seconds;
  std::optional<double> end_to_end_p99_seconds;
  std::optional<double> commit_p50_seconds;
  std::optional<double> commit_p99_seconds;
  double queue_fill = 0;  // Batches waiting in the fullest queue (PipelineView::queue_fill).
  std::vector<std::pair<std::string, double>> lag;   // "topic/partition" -> messages.
  std::vector<std::pair<std::string, double>> flow;  // Node id -> its flow counter.
};

class MetricsHistory {
 public:
  static constexpr size_t kCapacity = 600;

  // `topic`: as for BuildPipelineView.
  explicit MetricsHistory(const MetricsRegistry& registry, std::string topic = "",
                          size_t capacity = kCapacity);
  ~MetricsHistory();  // Calls Stop().
  MetricsHistory(const MetricsHistory&) = delete;
  MetricsHistory& operator=(const MetricsHistory&) = delete;

  // Takes the baseline now, then a sample every `interval` until Stop.
  void Start(std::chrono::milliseconds interval = std::chrono::seconds(1));
  void Stop();  // Idempotent.

  // One sample taken at `wall` (for the point's time) and `monotonic` (for its interval).
  void Sample(std::chrono::system_clock::time_point wall,
              std::chrono::steady_clock::time_point monotonic);

  // The newest `max` points, oldest first.
  std::vector<HistoryPoint> Points(size_t max) const;

  // Records/s through node `id` (its flow counter) between the newest sample and the newest
  // one at least `window` older (or the oldest there is); nullopt before two samples.
  std::optional<double> Rate(std::string_view id, std::chrono::duration<double> window) const;

 private:
  struct Previous {
    double monotonic_seconds = 0;
    uint64_t input = 0;
    uint64_t processed = 0;
    HistogramSnapshot end_to_end;
    HistogramSnapshot commit;
  };
  void Loop(std::stop_token stop, std::chrono::milliseconds interval);

  // Constant after construction.
  const MetricsRegistry& registry_;
  const std::string topic_;
  const size_t capacity_;

  mutable std::mutex mu_;
  std::deque<HistoryPoint> points_;   // Protected by mu_; at most capacity_, oldest first.
  std::optional<Previous> previous_;  // Protected by mu_.
  std::vector<std::pair<std::string, double>> baseline_flow_;  // Protected by mu_.
  double baseline_seconds_ = 0;                                // Protected by mu_.

  std::mutex wake_mu_;
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace spate
