#include "observe/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

namespace spate {

namespace {

// A programmer error (a bad name, a type clash): the registry cannot go on honestly, and a
// Status nobody checks at every Get* call site would hide it.
[[noreturn]] void Die(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "spate: metrics: %.*s: \"%.*s\"\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(name.size()), name.data());
  std::abort();
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  // Names starting with "__" are reserved for Prometheus' own use.
  return !name.starts_with("__");
}

void AtomicMax(std::atomic<double>& target, double value) {
  double current = target.load(std::memory_order_relaxed);
  while (value > current &&
         !target.compare_exchange_weak(current, value, std::memory_order_relaxed)) {
  }
}

// A sample value: integers without an exponent or a fraction (counts read better, and
// compare exactly in tests), other numbers in the shortest form that reads back the same.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && std::fabs(v) < 9.007199254740992e15) {
    fmt::format_to(std::back_inserter(out), "{}", static_cast<int64_t>(v));
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// `name{a="x",b="y"[,le="..."]}`; no braces when there is no label at all.
void AppendSeries(std::string& out, std::string_view name, std::string_view suffix,
                  const MetricLabels& labels, std::string_view le = {}) {
  out += name;
  out += suffix;
  if (labels.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += key;
    out += "=\"";
    AppendEscaped(out, value, true);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

}  // namespace

// ---- Histogram ----

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    Die("histogram bounds must increase strictly", "");
  }
}

size_t Histogram::BucketOf(double value) const {
  // Prometheus' `le`: a value equal to a bound belongs to that bound's bucket. NaN compares
  // false with everything and would land in the first bucket; +Inf is where it belongs.
  if (std::isnan(value)) return bounds_.size();
  return static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                             bounds_.begin());
}

void Histogram::Observe(double value, uint64_t n) {
  if (n == 0) return;
  buckets_[BucketOf(value)].fetch_add(n, std::memory_order_relaxed);
  sum_.fetch_add(value * static_cast<double>(n), std::memory_order_relaxed);
  AtomicMax(max_, value);
}

void Histogram::AddBuckets(const uint64_t* counts, uint64_t count, double sum, double max) {
  if (count == 0) return;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    if (counts[i] != 0) buckets_[i].fetch_add(counts[i], std::memory_order_relaxed);
  }
  sum_.fetch_add(sum, std::memory_order_relaxed);
  AtomicMax(max_, max);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  // The count is the buckets' total, not a separate atomic read at another moment, so that
  // the +Inf bucket always equals _count in the exposition even while writers run.
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = buckets_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.max = max_.load(std::memory_order_relaxed);
  return s;
}

double HistogramSnapshot::Quantile(double q) const {
  if (count == 0 || counts.size() != bounds.size() + 1) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(count);
  uint64_t below = 0;  // Observations in the buckets before i.
  for (size_t i = 0; i < counts.size(); ++i) {
    const uint64_t in = counts[i];
    if (in == 0 || static_cast<double>(below + in) < rank) {
      below += in;
      continue;
    }
    if (i == bounds.size()) return max;  // The +Inf bucket has no upper edge to interpolate to.
    const double lower = i == 0 ? 0 : bounds[i - 1];
    const double upper = bounds[i];
    const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(in);
    return std::min(lower + (upper - lower) * fraction, max);
  }
  return max;
}

HistogramSnapshot HistogramSnapshot::Since(const HistogramSnapshot& earlier) const {
  // Not the same histogram's past: nothing sensible to subtract.
  if (earlier.bounds != bounds || earlier.counts.size() != counts.size()) return *this;
  HistogramSnapshot d;
  d.bounds = bounds;
  d.counts.resize(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.count += d.counts[i];
  }
  d.sum = d.count == 0 ? 0 : sum - earlier.sum;
  d.max = max;
  return d;
}

// ---- LocalHistogram ----

LocalHistogram::LocalHistogram(Histogram& target)
    : target_(target), counts_(target.bounds().size() + 1, 0) {}

void LocalHistogram::Observe(double value, uint64_t n) {
  counts_[target_.BucketOf(value)] += n;
  count_ += n;
  sum_ += value * static_cast<double>(n);
  if (value > max_) max_ = value;
}

void LocalHistogram::Flush() {
  if (count_ == 0) return;
  target_.AddBuckets(counts_.data(), count_, sum_, max_);
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  max_ = 0;
}

// ---- MetricSample ----

std::string_view MetricSample::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

// ---- MetricsRegistry ----

struct MetricsRegistry::Family {
  struct Series {
    MetricLabels labels;  // As first given: rendered in this order.
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };

  std::string name;
  std::string help;
  MetricType type;
  std::vector<double> bounds;  // Histograms: from the first GetHistogram.
  // Keyed by the labels sorted by name, so that the same labels given in another order are
  // the same series (Prometheus would see one series twice otherwise).
  std::map<MetricLabels, Series> series;

  Series& SeriesFor(MetricLabels labels) {
    MetricLabels key = labels;
    std::sort(key.begin(), key.end());
    for (size_t i = 0; i < key.size(); ++i) {
      if (!IsLabelName(key[i].first)) Die("invalid label name", key[i].first);
      if (i > 0 && key[i].first == key[i - 1].first) Die("label given twice", key[i].first);
      if (type == MetricType::kHistogram && key[i].first == "le") {
        Die("a histogram's label may not be named", "le");
      }
    }
    auto [it, inserted] = series.try_emplace(std::move(key));
    if (inserted) it->second.labels = std::move(labels);
    return it->second;
  }
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view help,
                                                    MetricType type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    if (!IsMetricName(name)) Die("invalid metric name", name);
    auto family = std::make_unique<Family>();
    family->name = std::string(name);
    family->help = std::string(help);
    family->type = type;
    it = families_.emplace(family->name, std::move(family)).first;
  } else if (it->second->type != type) {
    Die("metric used with two types", name);
  }
  return *it->second;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     MetricLabels labels) {
  std::lock_guard lock(mu_);
  Family::Series& s = FamilyFor(name, help, MetricType::kCounter).SeriesFor(std::move(labels));
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 MetricLabels labels) {
  std::lock_guard lock(mu_);
  Family::Series& s = FamilyFor(name, help, MetricType::kGauge).SeriesFor(std::move(labels));
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         MetricLabels labels, std::span<const double> bounds) {
  std::lock_guard lock(mu_);
  Family& family = FamilyFor(name, help, MetricType::kHistogram);
  if (family.series.empty() && family.bounds.empty()) {
    family.bounds.assign(bounds.begin(), bounds.end());
  }
  Family::Series& s = family.SeriesFor(std::move(labels));
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(family.bounds);
  return *s.histogram;
}

std::vector<MetricSample> MetricsRegistry::Collect() const {
  std::lock_guard lock(mu_);
  std::vector<MetricSample> out;
  for (const auto& [name, family] : families_) {
    for (const auto& [key, series] : family->series) {
      MetricSample& sample = out.emplace_back();
      sample.name = name;
      sample.type = family->type;
      sample.labels = series.labels;
      switch (family->type) {
        case MetricType::kCounter:
          sample.value = static_cast<double>(series.counter->value());
          break;
        case MetricType::kGauge:
          sample.value = series.gauge->value();
          break;
        case MetricType::kHistogram:
          sample.histogram = series.histogram->Snapshot();
          break;
      }
    }
  }
  return out;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  out.reserve(256 * families_.size());
  for (const auto& [name, family] : families_) {
    if (family->series.empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, family->help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += MetricTypeName(family->type);
    out += '\n';
    for (const auto& [key, series] : family->series) {
      switch (family->type) {
        case MetricType::kCounter:
          AppendSeries(out, name, "", series.labels);
          fmt::format_to(std::back_inserter(out), " {}\n", series.counter->value());
          break;
        case MetricType::kGauge:
          AppendSeries(out, name, "", series.labels);
          out += ' ';
          AppendValue(out, series.gauge->value());
          out += '\n';
          break;
        case MetricType::kHistogram: {
          const HistogramSnapshot h = series.histogram->Snapshot();
          uint64_t cumulative = 0;
          for (size_t i = 0; i < h.counts.size(); ++i) {
            cumulative += h.counts[i];
            // "{}" is the shortest text that reads back as the same double.
            const std::string le = i < h.bounds.size() ? fmt::format("{}", h.bounds[i]) : "+Inf";
            AppendSeries(out, name, "_bucket", series.labels, le);
            fmt::format_to(std::back_inserter(out), " {}\n", cumulative);
          }
          AppendSeries(out, name, "_sum", series.labels);
          out += ' ';
          AppendValue(out, h.sum);
          out += '\n';
          AppendSeries(out, name, "_count", series.labels);
          fmt::format_to(std::back_inserter(out), " {}\n", h.count);
          break;
        }
      }
    }
  }
  return out;
}

MetricsRegistry& Metrics() {
  static MetricsRegistry registry;
  return registry;
}

// ---- ReasonClass ----

std::string ReasonClass(std::string_view reason) {
  constexpr size_t kMaxLength = 48;
  constexpr size_t kMaxClasses = 64;
  const std::string_view head = reason.substr(0, reason.find(':'));
  std::string cls;
  cls.reserve(kMaxLength);
  for (const char raw : head) {
    const auto c = static_cast<unsigned char>(raw);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cls += static_cast<char>(c);
    } else if (c >= 'A' && c <= 'Z') {
      cls += static_cast<char>(c - 'A' + 'a');
    } else if (!cls.empty() && cls.back() != '_') {
      cls += '_';  // A run of anything else (leading ones dropped).
    }
    if (cls.size() >= kMaxLength) break;
  }
  cls.resize(std::min(cls.size(), kMaxLength));
  while (!cls.empty() && cls.back() == '_') cls.pop_back();
  if (cls.empty()) cls = "unknown";

  static std::mutex mu;
  static std::set<std::string, std::less<>> seen;  // Protected by mu.
  std::lock_guard lock(mu);
  if (seen.contains(cls)) return cls;
  if (seen.size() >= kMaxClasses) return "other";
  seen.insert(cls);
  return cls;
}

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace spate
