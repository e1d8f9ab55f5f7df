// The metrics registry: histogram buckets and quantiles, the hot-path types under threads,
// and the Prometheus text format, parsed back by a small independent parser.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "observe/metrics.h"

namespace spate {
namespace {

// ---- Histogram ----

TEST(Histogram, AValueEqualToABoundGoesIntoThatBucket) {
  const double bounds[] = {1, 2, 5};
  Histogram h(bounds);
  h.Observe(-3);         // below everything: first bucket
  h.Observe(0);          // first bucket
  h.Observe(1);          // == 1: first bucket (le="1")
  h.Observe(1.0000001);  // just above 1: second
  h.Observe(2);          // second
  h.Observe(5);          // third
  h.Observe(5.0000001);  // +Inf
  h.Observe(1e300);      // +Inf
  const HistogramSnapshot s = h.Snapshot();
  ASSERT_EQ(s.counts.size(), 4u);
  EXPECT_EQ(s.counts[0], 3u);
  EXPECT_EQ(s.counts[1], 2u);
  EXPECT_EQ(s.counts[2], 1u);
  EXPECT_EQ(s.counts[3], 2u);
  EXPECT_EQ(s.count, 8u);
  EXPECT_DOUBLE_EQ(s.max, 1e300);
}

TEST(Histogram, ObserveWithACountAddsThatManyObservations) {
  Histogram h(kBatchSizeBuckets);
  h.Observe(100, 7);
  h.Observe(3, 2);
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, 9u);
  EXPECT_DOUBLE_EQ(s.sum, 706);
  EXPECT_EQ(s.counts[5], 7u);  // le="100"
  EXPECT_EQ(s.counts[1], 2u);  // le="5"
  EXPECT_DOUBLE_EQ(s.max, 100);
}

// The width of the bucket holding `value`.
double BucketWidth(std::span<const double> bounds, double value) {
  const auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  if (it == bounds.end()) return INFINITY;
  return *it - (it == bounds.begin() ? 0 : *(it - 1));
}

TEST(HistogramSnapshot, QuantilesOfAUniformDistributionAreWithinABucket) {
  Histogram h(kLatencyBuckets);
  std::mt19937_64 random(18);
  std::uniform_real_distribution<double> uniform(0, 0.2);
  std::vector<double> values(10000);
  for (double& v : values) {
    v = uniform(random);
    h.Observe(v);
  }
  std::sort(values.begin(), values.end());
  const HistogramSnapshot s = h.Snapshot();
  for (const double q : {0.5, 0.9, 0.99}) {
    const double truth = values[static_cast<size_t>(q * values.size()) - 1];
    const double got = s.Quantile(q);
    EXPECT_NEAR(got, truth, BucketWidth(kLatencyBuckets, truth)) << "q=" << q;
  }
  EXPECT_DOUBLE_EQ(s.Quantile(1), values.back()) << "p100 is the max (clamped)";
}

TEST(HistogramSnapshot, QuantileInterpolatesInsideTheBucket) {
  const double bounds[] = {10, 20, 30};
  Histogram h(bounds);
  for (int i = 0; i < 10; ++i) h.Observe(5);   // (0, 10]
  for (int i = 0; i < 10; ++i) h.Observe(25);  // (20, 30]
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_DOUBLE_EQ(s.Quantile(0.25), 5);   // halfway through the first bucket, from 0
  EXPECT_DOUBLE_EQ(s.Quantile(0.5), 10);   // the top of the first bucket
  EXPECT_DOUBLE_EQ(s.Quantile(0.75), 25);  // halfway through (20, 30]
  EXPECT_DOUBLE_EQ(s.Quantile(1.0), 25);   // 30 clamped to the max seen
  EXPECT_DOUBLE_EQ(s.Quantile(0.0), 0);    // lower edge of the first non-empty bucket
}

TEST(HistogramSnapshot, QuantileEdges) {
  const double bounds[] = {1, 2};
  Histogram h(bounds);
  EXPECT_EQ(h.Snapshot().Quantile(0.5), 0) << "empty";
  h.Observe(7);
  h.Observe(9);
  EXPECT_DOUBLE_EQ(h.Snapshot().Quantile(0.5), 9) << "the +Inf bucket reads as max";
  Histogram narrow(kLatencyBuckets);
  for (int i = 0; i < 100; ++i) narrow.Observe(0.0012);
  // Interpolation alone would say ~0.002; nothing above 0.0012 was seen.
  EXPECT_DOUBLE_EQ(narrow.Snapshot().Quantile(0.99), 0.0012);
}

TEST(HistogramSnapshot, SinceKeepsOnlyLaterObservations) {
  Histogram h(kLatencyBuckets);
  for (int i = 0; i < 1000; ++i) h.Observe(0.001);
  const HistogramSnapshot before = h.Snapshot();
  for (int i = 0; i < 10; ++i) h.Observe(2.0);
  const HistogramSnapshot after = h.Snapshot();
  const HistogramSnapshot delta = after.Since(before);
  EXPECT_EQ(delta.count, 10u);
  EXPECT_NEAR(delta.sum, 20.0, 1e-9);
  uint64_t total = 0;
  for (const uint64_t c : delta.counts) total += c;
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(delta.counts[19], 10u);  // le="2.5"
  EXPECT_GT(delta.Quantile(0.5), 1.0) << "the earlier 1 ms values must not count";
  EXPECT_LT(after.Quantile(0.5), 0.01);
  EXPECT_EQ(after.Since(after).count, 0u);
  EXPECT_EQ(after.Since(after).Quantile(0.99), 0);
}

TEST(LocalHistogram, FlushEqualsObservingDirectly) {
  Histogram direct(kLatencyBuckets);
  Histogram batched(kLatencyBuckets);
  std::mt19937_64 random(7);
  std::exponential_distribution<double> latency(50);  // mean 20 ms
  {
    LocalHistogram local(batched);
    for (int i = 0; i < 5000; ++i) {
      double v = latency(random);
      if (i % 100 == 0) v = kLatencyBuckets[i / 100 % 23];  // exact bounds too
      if (i == 4999) v = 100;                               // +Inf
      const uint64_t n = 1 + i % 3;
      direct.Observe(v, n);
      local.Observe(v, n);
      if (i == 2500) local.Flush();
    }
    EXPECT_LT(batched.Snapshot().count, direct.Snapshot().count) << "not flushed yet";
  }  // The destructor flushes the rest.
  const HistogramSnapshot a = direct.Snapshot();
  const HistogramSnapshot b = batched.Snapshot();
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.count, b.count);
  EXPECT_NEAR(a.sum, b.sum, 1e-9 * a.sum);
  EXPECT_EQ(a.max, b.max);
}

TEST(LocalHistogram, FlushTwiceAddsOnce) {
  Histogram h(kBatchSizeBuckets);
  LocalHistogram local(h);
  local.Observe(10, 4);
  local.Flush();
  local.Flush();
  EXPECT_EQ(h.Snapshot().count, 4u);
}

// ---- Under threads ----

TEST(Metrics, ConcurrentUpdatesLoseNothing) {
  MetricsRegistry registry;
  constexpr int kThreads = 4;
  constexpr int kAdds = 100000;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&registry, t] {
        // Every thread looks the series up itself: the registry must hand out one object.
        Counter& counter = registry.GetCounter("test_adds_total", "adds", {{"kind", "x"}});
        Gauge& gauge = registry.GetGauge("test_level", "level");
        Histogram& hist = registry.GetHistogram("test_seconds", "s", {}, kLatencyBuckets);
        LocalHistogram local(hist);
        for (int i = 0; i < kAdds; ++i) {
          counter.Add();
          gauge.Add(1);
          hist.Observe(0.25);
          local.Observe(t + 1.0);
        }
      });
    }
  }
  EXPECT_EQ(registry.GetCounter("test_adds_total", "", {{"kind", "x"}}).value(),
            uint64_t{kThreads} * kAdds);
  EXPECT_EQ(registry.GetGauge("test_level", "").value(), double{kThreads} * kAdds);
  const HistogramSnapshot s =
      registry.GetHistogram("test_seconds", "", {}, kLatencyBuckets).Snapshot();
  EXPECT_EQ(s.count, 2u * kThreads * kAdds);
  // 0.25 and small integers add exactly in a double.
  EXPECT_EQ(s.sum, kThreads * kAdds * 0.25 + kAdds * (1.0 + 2 + 3 + 4));
  EXPECT_EQ(s.max, 4.0);
}

// ---- The registry ----

TEST(MetricsRegistry, SameNameAndLabelsGiveTheSameObject) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("spate_x_total", "x", {{"a", "1"}, {"b", "2"}});
  Counter& b = registry.GetCounter("spate_x_total", "other help", {{"a", "1"}, {"b", "2"}});
  Counter& swapped = registry.GetCounter("spate_x_total", "x", {{"b", "2"}, {"a", "1"}});
  Counter& other = registry.GetCounter("spate_x_total", "x", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a, &swapped) << "label order must not make another series";
  EXPECT_NE(&a, &other);
  a.Add(5);
  const auto samples = registry.Collect();
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].value, 5);
  EXPECT_EQ(samples[0].Label("b"), "2");
  EXPECT_EQ(samples[1].Label("b"), "3");
  EXPECT_EQ(samples[0].Label("missing"), "");
  EXPECT_NE(registry.RenderPrometheus().find("# HELP spate_x_total x\n"), std::string::npos)
      << "help is kept from the first call";
}

TEST(MetricsRegistry, CollectIsSortedByNameThenLabels) {
  MetricsRegistry registry;
  registry.GetGauge("b_gauge", "", {{"k", "2"}});
  registry.GetCounter("c_total", "");
  registry.GetGauge("b_gauge", "", {{"k", "1"}});
  registry.GetHistogram("a_seconds", "", {{"k", "z"}}, kLatencyBuckets).Observe(1);
  const auto samples = registry.Collect();
  ASSERT_EQ(samples.size(), 4u);
  EXPECT_EQ(samples[0].name, "a_seconds");
  EXPECT_EQ(samples[0].type, MetricType::kHistogram);
  EXPECT_EQ(samples[0].histogram.count, 1u);
  EXPECT_EQ(samples[1].name, "b_gauge");
  EXPECT_EQ(samples[1].Label("k"), "1");
  EXPECT_EQ(samples[2].Label("k"), "2");
  EXPECT_EQ(samples[3].name, "c_total");
  EXPECT_EQ(samples[3].type, MetricType::kCounter);
}

TEST(MetricsRegistryDeathTest, ProgrammerErrorsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.GetCounter("spate_y", "");
        r.GetGauge("spate_y", "");
      },
      "two types");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.GetCounter("9starts_with_digit", "");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.GetCounter("spate-dash", "");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.GetCounter("spate_z", "", {{"bad-label", "v"}});
      },
      "invalid label name");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.GetCounter("spate_z", "", {{"a:b", "v"}});
      },
      "invalid label name");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.GetHistogram("spate_h", "", {{"le", "1"}}, kLatencyBuckets);
      },
      "le");
  // Colons are fine in metric names (recording rules use them).
  MetricsRegistry ok;
  ok.GetCounter("spate:rule_total", "", {{"_x9", "v"}});
}

// ---- The exposition format, parsed back ----

struct ParsedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string value_text;
  double value = 0;
  std::string Label(const std::string& key) const {
    for (const auto& [k, v] : labels) {
      if (k == key) return v;
    }
    return "<absent>";
  }
};

struct Parsed {
  std::map<std::string, std::string> help;  // Unescaped.
  std::map<std::string, std::string> type;
  std::vector<ParsedSample> samples;
  std::vector<std::string> errors;
};

double ParseNumber(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return NAN;
  return v;
}

bool IsNameChar(char c, bool first, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
         (!first && c >= '0' && c <= '9');
}

// Text format 0.0.4, as Prometheus reads it (enough of it for what spate writes).
Parsed ParseExposition(const std::string& text) {
  Parsed out;
  if (!text.empty() && text.back() != '\n') out.errors.push_back("no final newline");
  std::string family;  // The family whose samples come now.
  std::set<std::string> finished;
  size_t at = 0;
  while (at < text.size()) {
    const size_t eol = text.find('\n', at);
    const std::string line = text.substr(at, eol - at);
    at = eol == std::string::npos ? text.size() : eol + 1;
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool is_help = line[2] == 'H';
      const std::string rest = line.substr(7);
      const size_t space = rest.find(' ');
      const std::string name = rest.substr(0, space);
      std::string body = space == std::string::npos ? "" : rest.substr(space + 1);
      if (is_help) {
        std::string unescaped;
        for (size_t i = 0; i < body.size(); ++i) {
          if (body[i] == '\\' && i + 1 < body.size()) {
            ++i;
            unescaped += body[i] == 'n' ? '\n' : body[i];
          } else {
            unescaped += body[i];
          }
        }
        if (!out.help.emplace(name, unescaped).second) out.errors.push_back("HELP twice " + name);
      } else {
        if (!out.type.emplace(name, body).second) out.errors.push_back("TYPE twice " + name);
      }
      if (name != family) {
        if (!family.empty()) finished.insert(family);
        if (finished.count(name)) out.errors.push_back("family split: " + name);
        family = name;
      }
      continue;
    }
    if (line[0] == '#') continue;
    ParsedSample s;
    size_t i = 0;
    while (i < line.size() && IsNameChar(line[i], i == 0, true)) s.name += line[i++];
    if (s.name.empty()) {
      out.errors.push_back("no name: " + line);
      continue;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string key;
        while (i < line.size() && IsNameChar(line[i], key.empty(), false)) key += line[i++];
        if (key.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          out.errors.push_back("bad label in: " + line);
          break;
        }
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            const char e = line[i++];
            if (e == 'n') {
              value += '\n';
            } else if (e == '\\' || e == '"') {
              value += e;
            } else {
              out.errors.push_back("bad escape in: " + line);
            }
          } else {
            value += c;
          }
        }
        if (!closed) out.errors.push_back("unterminated value in: " + line);
        s.labels.emplace_back(key, value);
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        out.errors.push_back("no closing brace: " + line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      out.errors.push_back("no space before value: " + line);
      continue;
    }
    s.value_text = line.substr(i + 1);
    s.value = ParseNumber(s.value_text);
    if (std::isnan(s.value) && s.value_text != "NaN") {
      out.errors.push_back("bad value: " + line);
    }
    // The sample must belong to the family announced last.
    std::string base = s.name;
    const auto type = out.type.find(family);
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (type != out.type.end() && type->second == "histogram" && base == family + suffix) {
        base = family;
      }
    }
    if (base != family) out.errors.push_back("sample outside its family: " + line);
    out.samples.push_back(std::move(s));
  }
  return out;
}

TEST(Exposition, ParsesBackWithEscapesTypesAndCumulativeBuckets) {
  MetricsRegistry registry;
  const std::string hostile = "a \"quoted\" back\\slash and\nnewline";
  registry
      .GetCounter("spate_test_records_total", "Records, with a \\ and a\nnewline.",
                  {{"pipeline", "run"}, {"source", hostile}})
      .Add(12345678901);
  registry.GetCounter("spate_test_records_total", "", {{"pipeline", "run"}, {"source", "gen"}})
      .Add(3);
  registry.GetGauge("spate_test_fill", "Fill.").Set(0.1);
  registry.GetGauge("spate_test_big", "Big.").Set(1e15);
  registry.GetGauge("spate_test_start_time_seconds", "Start.").Set(1796537400.125);
  Histogram& h = registry.GetHistogram("spate_test_seconds", "Latency.",
                                       {{"pipeline", "run"}, {"sink", "sqlite"}}, kLatencyBuckets);
  std::mt19937_64 random(3);
  std::lognormal_distribution<double> latency(-4, 1.5);
  double sum = 0;
  for (int i = 0; i < 3000; ++i) {
    const double v = latency(random);
    sum += v;
    h.Observe(v);
  }
  h.Observe(0.005);  // exactly a bound
  sum += 0.005;
  registry.GetHistogram("spate_test_seconds", "", {{"pipeline", "run"}, {"sink", "postgres"}},
                        kLatencyBuckets);  // empty series

  const std::string text = registry.RenderPrometheus();
  const Parsed p = ParseExposition(text);
  for (const auto& e : p.errors) ADD_FAILURE() << e << "\nin:\n" << text;

  // One HELP and TYPE per family, with the right type; help unescaped back to the original.
  EXPECT_EQ(p.type.size(), 5u);
  EXPECT_EQ(p.help.size(), 5u);
  EXPECT_EQ(p.type.at("spate_test_records_total"), "counter");
  EXPECT_EQ(p.type.at("spate_test_fill"), "gauge");
  EXPECT_EQ(p.type.at("spate_test_seconds"), "histogram");
  EXPECT_EQ(p.help.at("spate_test_records_total"), "Records, with a \\ and a\nnewline.");

  std::map<std::string, const ParsedSample*> by_source;
  std::map<std::string, std::vector<const ParsedSample*>> buckets;  // by sink
  std::map<std::string, const ParsedSample*> sums, counts;
  std::set<std::string> seen;
  for (const ParsedSample& s : p.samples) {
    std::string id = s.name;
    for (const auto& [k, v] : s.labels) id += "|" + k + "=" + v;
    EXPECT_TRUE(seen.insert(id).second) << "series twice: " << id;
    if (s.name == "spate_test_records_total") by_source[s.Label("source")] = &s;
    if (s.name == "spate_test_seconds_bucket") buckets[s.Label("sink")].push_back(&s);
    if (s.name == "spate_test_seconds_sum") sums[s.Label("sink")] = &s;
    if (s.name == "spate_test_seconds_count") counts[s.Label("sink")] = &s;
  }
  // The label value with quotes, a backslash and a newline comes back intact.
  ASSERT_TRUE(by_source.count(hostile));
  EXPECT_EQ(by_source[hostile]->value_text, "12345678901") << "counters print as integers";
  EXPECT_EQ(by_source[hostile]->Label("pipeline"), "run");
  EXPECT_EQ(by_source["gen"]->value, 3);

  for (const ParsedSample& s : p.samples) {
    if (s.name == "spate_test_fill") {
      EXPECT_EQ(s.value, 0.1);
    } else if (s.name == "spate_test_big") {
      EXPECT_EQ(s.value_text, "1000000000000000") << "integers without an exponent";
    } else if (s.name == "spate_test_start_time_seconds") {
      EXPECT_EQ(s.value, 1796537400.125);
    }
  }

  for (const std::string sink : {"sqlite", "postgres"}) {
    SCOPED_TRACE(sink);
    const auto& b = buckets[sink];
    ASSERT_EQ(b.size(), std::size(kLatencyBuckets) + 1);
    ASSERT_TRUE(counts.count(sink) && sums.count(sink));
    for (size_t i = 0; i < b.size(); ++i) {
      EXPECT_EQ(b[i]->Label("pipeline"), "run");
      const double le = ParseNumber(b[i]->Label("le"));
      if (i < std::size(kLatencyBuckets)) {
        EXPECT_EQ(le, kLatencyBuckets[i]) << "le must read back as the exact bound";
      } else {
        EXPECT_EQ(b[i]->Label("le"), "+Inf");
      }
      if (i > 0) {
        EXPECT_GE(b[i]->value, b[i - 1]->value) << "buckets are cumulative";
      }
    }
    EXPECT_EQ(b.back()->value, counts[sink]->value) << "+Inf bucket == _count";
  }
  EXPECT_EQ(counts["sqlite"]->value, 3001);
  EXPECT_EQ(counts["postgres"]->value, 0);
  EXPECT_NEAR(sums["sqlite"]->value, sum, 1e-9 * sum);
}

TEST(Exposition, BucketsCountValuesLessOrEqualToLe) {
  MetricsRegistry registry;
  const double bounds[] = {0.005, 1, 2.5};
  Histogram& h = registry.GetHistogram("spate_edge_seconds", "Edges.", {}, bounds);
  h.Observe(0.005);
  h.Observe(1);
  h.Observe(1);
  h.Observe(2.6);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP spate_edge_seconds Edges.\n"
            "# TYPE spate_edge_seconds histogram\n"
            "spate_edge_seconds_bucket{le=\"0.005\"} 1\n"
            "spate_edge_seconds_bucket{le=\"1\"} 3\n"
            "spate_edge_seconds_bucket{le=\"2.5\"} 3\n"
            "spate_edge_seconds_bucket{le=\"+Inf\"} 4\n"
            "spate_edge_seconds_sum 4.605\n"
            "spate_edge_seconds_count 4\n");
}

TEST(Exposition, EmptyRegistryRendersNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.RenderPrometheus(), "");
}

TEST(Exposition, SeriesWithoutLabelsHaveNoBraces) {
  MetricsRegistry registry;
  registry.GetCounter("spate_plain_total", "Plain.").Add(2);
  EXPECT_EQ(registry.RenderPrometheus(),
            "# HELP spate_plain_total Plain.\n# TYPE spate_plain_total counter\n"
            "spate_plain_total 2\n");
}

TEST(Metrics, TheProcessRegistryIsOne) { EXPECT_EQ(&Metrics(), &Metrics()); }

// ---- ReasonClass ----

TEST(ReasonClass, BoundedLabelValues) {
  EXPECT_EQ(ReasonClass("malformed JSON: unexpected '}' at byte 12"), "malformed_json");
  EXPECT_EQ(ReasonClass("record too large: 2000000 bytes (limit 1048576)"), "record_too_large");
  EXPECT_EQ(ReasonClass("HTTP 503 Service Unavailable: retry later"),
            "http_503_service_unavailable");
  EXPECT_EQ(ReasonClass("  --Missing   field!! "), "missing_field");
  EXPECT_EQ(ReasonClass("no colon at all"), "no_colon_at_all");
  EXPECT_EQ(ReasonClass(""), "unknown");
  EXPECT_EQ(ReasonClass(": only a detail"), "unknown");
  const std::string long_reason(300, 'x');
  EXPECT_EQ(ReasonClass(long_reason), std::string(48, 'x'));
  const std::string hostile = ReasonClass("<script>alert(\"\\n\")</script> \xc3\xa9t\xc3\xa9");
  EXPECT_EQ(hostile, "script_alert_n_script_t");
}

TEST(ReasonClass, AtMost64ClassesThenOther) {
  // Other tests in this process may have used a few classes already (ctest runs each test on
  // its own, a direct run does not), so count what this test got.
  std::vector<std::string> got;
  for (int i = 0; i < 100; ++i) got.push_back(ReasonClass(fmt::format("cap test {}: x", i)));
  size_t own = 0;
  while (own < got.size() && got[own] != "other") {
    EXPECT_EQ(got[own], fmt::format("cap_test_{}", own));
    ++own;
  }
  for (size_t i = own; i < got.size(); ++i) EXPECT_EQ(got[i], "other") << i;
  EXPECT_LE(own, 64u);
  EXPECT_GE(own, 64u - 16) << "the cap is 64 classes";
  // Classes seen before the cap keep their name.
  EXPECT_EQ(ReasonClass("cap test 0: again"), "cap_test_0");
  EXPECT_EQ(ReasonClass("brand new class"), "other");
}

}  // namespace
}  // namespace spate
