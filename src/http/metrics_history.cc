#include "http/metrics_history.h"

#include <algorithm>

#include "http/pipeline_view.h"

namespace spate {
namespace {

double Seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::optional<double> FlowOf(const std::vector<std::pair<std::string, double>>& flow,
                             std::string_view id) {
  for (const auto& [key, value] : flow) {
    if (key == id) return value;
  }
  return std::nullopt;
}

// What was observed between two snapshots of a merged histogram. A histogram that appeared
// in between has an empty earlier snapshot: everything in it is new.
HistogramSnapshot Delta(const HistogramSnapshot& now, const HistogramSnapshot& before) {
  if (before.counts.empty() || before.counts.size() != now.counts.size()) return now;
  return now.Since(before);
}

}  // namespace

MetricsHistory::MetricsHistory(const MetricsRegistry& registry, std::string topic, size_t capacity)
    : registry_(registry), topic_(std::move(topic)), capacity_(std::max<size_t>(capacity, 1)) {}

MetricsHistory::~MetricsHistory() { Stop(); }

void MetricsHistory::Start(std::chrono::milliseconds interval) {
  if (thread_.joinable()) return;
  Sample(std::chrono::system_clock::now(), std::chrono::steady_clock::now());
  thread_ = std::jthread([this, interval](std::stop_token stop) { Loop(stop, interval); });
}

void MetricsHistory::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  wake_.notify_all();
  thread_.join();
}

void MetricsHistory::Loop(std::stop_token stop, std::chrono::milliseconds interval) {
  // On a fixed schedule, so points stay a second apart however long a sample takes.
  auto next = std::chrono::steady_clock::now() + interval;
  std::unique_lock lock(wake_mu_);
  while (!stop.stop_requested()) {
    if (wake_.wait_until(lock, stop, next, [] { return false; })) break;
    if (stop.stop_requested()) break;
    lock.unlock();
    Sample(std::chrono::system_clock::now(), std::chrono::steady_clock::now());
    lock.lock();
    next += interval;
    // Fell behind (a suspended laptop): start again from now rather than catching up.
    if (const auto now = std::chrono::steady_clock::now(); next < now) next = now + interval;
  }
}

void MetricsHistory::Sample(std::chrono::system_clock::time_point wall,
                            std::chrono::steady_clock::time_point monotonic) {
  // Read the registry outside the lock: readers of the history never wait for it.
  const PipelineView view = BuildPipelineView(registry_.Collect(), topic_);
  HistoryPoint point;
  point.time_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
  point.monotonic_seconds = Seconds(monotonic);
  point.queue_fill = view.queue_fill;
  point.lag = view.lag;
  for (const ViewNode& node : view.nodes) {
    if (node.kind == "source" || node.kind == "process" || node.kind == "sink") {
      point.flow.emplace_back(node.id, node.flow_total);
    }
  }

  std::lock_guard lock(mu_);
  Previous now{point.monotonic_seconds, view.ingested, view.processed, view.end_to_end,
               view.commit};
  if (!previous_) {
    previous_ = std::move(now);
    baseline_flow_ = std::move(point.flow);
    baseline_seconds_ = point.monotonic_seconds;
    return;
  }
  const double dt = point.monotonic_seconds - previous_->monotonic_seconds;
  if (dt <= 0) return;  // Two samples at once: nothing to say about an empty interval.
  // Counters only grow; a smaller value would be a new registry, not negative traffic.
  auto rate = [dt](uint64_t later, uint64_t earlier) {
    return later >= earlier ? static_cast<double>(later - earlier) / dt : 0.0;
  };
  point.input_rate = rate(now.input, previous_->input);
  point.processing_rate = rate(now.processed, previous_->processed);
  const HistogramSnapshot e2e = Delta(now.end_to_end, previous_->end_to_end);
  if (e2e.count > 0) {
    point.end_to_end_p50_seconds = e2e.Quantile(0.5);
    point.end_to_end_p99_seconds = e2e.Quantile(0.99);
  }
  const HistogramSnapshot commit = Delta(now.commit, previous_->commit);
  if (commit.count > 0) {
    point.commit_p50_seconds = commit.Quantile(0.5);
    point.commit_p99_seconds = commit.Quantile(0.99);
  }
  previous_ = std::move(now);
  points_.push_back(std::move(point));
  while (points_.size() > capacity_) {
    // The oldest point becomes the baseline that Rate falls back to.
    baseline_flow_ = std::move(points_.front().flow);
    baseline_seconds_ = points_.front().monotonic_seconds;
    points_.pop_front();
  }
}

std::vector<HistoryPoint> MetricsHistory::Points(size_t max) const {
  std::lock_guard lock(mu_);
  const size_t n = std::min(max, points_.size());
  return std::vector<HistoryPoint>(points_.end() - static_cast<std::ptrdiff_t>(n), points_.end());
}

std::optional<double> MetricsHistory::Rate(std::string_view id,
                                           std::chrono::duration<double> window) const {
  std::lock_guard lock(mu_);
  if (points_.empty()) return std::nullopt;
  const HistoryPoint& newest = points_.back();
  const std::optional<double> later = FlowOf(newest.flow, id);
  if (!later) return std::nullopt;
  // The newest earlier sample at least `window` older, else the oldest (the baseline).
  double earlier_seconds = baseline_seconds_;
  double earlier = FlowOf(baseline_flow_, id).value_or(0);
  for (auto it = points_.rbegin() + 1; it != points_.rend(); ++it) {
    if (newest.monotonic_seconds - it->monotonic_seconds >= window.count()) {
      earlier_seconds = it->monotonic_seconds;
      earlier = FlowOf(it->flow, id).value_or(0);
      break;
    }
  }
  const double dt = newest.monotonic_seconds - earlier_seconds;
  if (dt <= 0 || *later < earlier) return 0.0;
  return (*later - earlier) / dt;
}

}  // namespace spate
