// The metrics registry: counters, gauges and histograms that every stage reports to, rendered
// as Prometheus text (/metrics) and read by the dashboard's /api (src/http).
//
// Hot path: a metric is looked up once (Get* takes a lock and returns a reference that stays
// valid for the registry's lifetime) and then updated with relaxed atomics, no lock. Stages
// update per batch, not per record; per-record values (end-to-end latency) go through a
// LocalHistogram that the stage fills without atomics and flushes once per batch.
//
// Naming follows Prometheus' rules: the spate_ prefix, base units in the name (_seconds,
// _bytes), _total on counters, and labels for the component, never per record or per user.
// The catalogue (what each stage reports) is in src/observe/README.md; src/http builds /api
// from these names, so a rename there is a rename here.
//
// Thread-safety: everything here may be used from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spate {

// Label name -> value, in the order given (rendered in that order).
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Bucket upper bounds (le) for latencies, in seconds: 100 µs to 30 s, fine enough below
// 100 ms that p50/p99 of a healthy pipeline are read to within a bucket of a few ms.
inline constexpr double kLatencyBuckets[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03,
    0.05,   0.075,   0.1,    0.15,  0.25,  0.5,   1,     2.5,    5,    10,    30};
// Bucket upper bounds for batch sizes, in records.
inline constexpr double kBatchSizeBuckets[] = {1,   5,    10,   25,   50,    100,   250,
                                               500, 1000, 2500, 5000, 10000, 25000, 100000};

// A histogram's state at one moment. counts[i] is the number of observations in bucket i
// (not cumulative); counts.back() is the +Inf bucket.
struct HistogramSnapshot {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // bounds.size() + 1 entries.
  uint64_t count = 0;
  double sum = 0;
  double max = 0;  // The largest value observed over the histogram's whole life.

  // The q-quantile (0 <= q <= 1), interpolated linearly inside its bucket; values in the
  // +Inf bucket are reported as `max`. 0 when empty.
  double Quantile(double q) const;
  // What was observed after `earlier` (a snapshot of the same histogram): counts, count and
  // sum are differences; max stays this snapshot's.
  HistogramSnapshot Since(const HistogramSnapshot& earlier) const;
};

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds);
  // Records `n` observations of `value`.
  void Observe(double value, uint64_t n = 1);
  HistogramSnapshot Snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  friend class LocalHistogram;
  size_t BucketOf(double value) const;
  void AddBuckets(const uint64_t* counts, uint64_t count, double sum, double max);

  // Constant after construction.
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1.
  std::atomic<double> sum_{0};
  std::atomic<double> max_{0};
};

// Collects observations for one Histogram without atomics, for a loop over a batch's
// records; Flush (or the destructor) adds them to the histogram at once.
// Thread-safety: one thread.
class LocalHistogram {
 public:
  explicit LocalHistogram(Histogram& target);
  ~LocalHistogram() { Flush(); }
  LocalHistogram(const LocalHistogram&) = delete;
  LocalHistogram& operator=(const LocalHistogram&) = delete;
  void Observe(double value, uint64_t n = 1);
  void Flush();

 private:
  Histogram& target_;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
  double max_ = 0;
};

enum class MetricType { kCounter, kGauge, kHistogram };
// "counter", "gauge", "histogram": the names of the exposition format's # TYPE lines.
const char* MetricTypeName(MetricType type);

// One series as read back from the registry (for /api and tests).
struct MetricSample {
  std::string name;
  MetricType type;
  MetricLabels labels;
  double value = 0;             // Counter or gauge.
  HistogramSnapshot histogram;  // Histogram.
  // The label's value, or "" when the series has no such label.
  std::string_view Label(std::string_view key) const;
};

class MetricsRegistry {
 public:
  // Out of line: Family is defined in metrics.cc.
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The series `name` with `labels`, created on first use; the same name and labels always
  // give the same object, valid as long as the registry. `help` is kept from the first call.
  // A name used with two types, or an invalid name or label name, is a programmer error.
  Counter& GetCounter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  // `bounds` is kept from the first call for this name.
  Histogram& GetHistogram(std::string_view name, std::string_view help, MetricLabels labels,
                          std::span<const double> bounds);

  // Every series now, sorted by name, then labels.
  std::vector<MetricSample> Collect() const;
  // The Prometheus text exposition format (version 0.0.4): # HELP and # TYPE once per name,
  // label values escaped, histograms as cumulative _bucket{le=...}, _sum and _count.
  std::string RenderPrometheus() const;

 private:
  struct Family;
  Family& FamilyFor(std::string_view name, std::string_view help, MetricType type);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;  // Protected by mu_.
};

// The process's registry: what /metrics serves. Tests that need a clean slate make their own
// MetricsRegistry where the code under test takes one, or read differences.
MetricsRegistry& Metrics();

// A dead letter's reason as a label value with bounded cardinality: the text before the
// first ':' (or the whole reason), lower-cased, runs of other characters as '_', at most 48
// characters ("malformed JSON: ..." -> "malformed_json"). After 64 distinct classes every
// new one is "other", so hostile input cannot grow the series without bound.
std::string ReasonClass(std::string_view reason);

}  // namespace spate
