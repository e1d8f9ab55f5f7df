#include "http/dashboard_api.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <map>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "core/json_writer.h"
#include "http/dashboard_assets.h"
#include "http/pipeline_view.h"

namespace spate {
namespace {

// Writes a string from outside (a dead letter's bytes, a label value) as valid UTF-8.
void Text(JsonWriter& json, std::string_view text) {
  const bool ascii = std::all_of(text.begin(), text.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) {
    json.String(text);
  } else {
    json.String(ValidUtf8(text));
  }
}

void Count(JsonWriter& json, std::string_view key, double value) {
  json.Key(key);
  json.Int(static_cast<int64_t>(value));
}

void Number(JsonWriter& json, std::string_view key, double value) {
  json.Key(key);
  json.Double(value);
}

void Optional(JsonWriter& json, std::string_view key, const std::optional<double>& value) {
  json.Key(key);
  if (value) {
    json.Double(*value);
  } else {
    json.Null();
  }
}

// '<', '>' and '&' occur in JSON only inside strings, where \u escapes mean the same
// characters: with them escaped no answer holds markup, whatever a client makes of it.
std::string Harden(std::string body) {
  if (body.find_first_of("<>&") == std::string::npos) return body;
  std::string out;
  out.reserve(body.size() + 64);
  for (char c : body) {
    switch (c) {
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

HttpAnswer Json(int status, std::string body) {
  return HttpAnswer{status, std::string(kJsonType), Harden(std::move(body)), {}};
}

HttpAnswer Error(int status, std::string_view message) {
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("error");
  Text(json, message);
  json.EndObject();
  return Json(status, std::move(body));
}

// A whole number parameter, clamped to [min, max]; `fallback` when absent; nullopt when it
// is not a number.
std::optional<int64_t> NumberParam(const std::multimap<std::string, std::string>& params,
                                   const std::string& key, int64_t fallback, int64_t min,
                                   int64_t max) {
  const auto it = params.find(key);
  if (it == params.end() || it->second.empty()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range && end == text.data() + text.size()) {
    return text.front() == '-' ? min : max;
  }
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return std::clamp(value, min, max);
}

void Latency(JsonWriter& json, std::string_view key, const HistogramSnapshot& h) {
  json.Key(key);
  json.BeginObject();
  const bool any = h.count > 0;
  Optional(json, "p50_seconds", any ? std::optional(h.Quantile(0.5)) : std::nullopt);
  Optional(json, "p99_seconds", any ? std::optional(h.Quantile(0.99)) : std::nullopt);
  Optional(json, "max_seconds", any ? std::optional(h.max) : std::nullopt);
  Count(json, "count", static_cast<double>(h.count));
  json.EndObject();
}

// Numeric partitions sort as numbers: 2 before 10.
int64_t PartitionNumber(std::string_view text) {
  int64_t n = -1;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

}  // namespace

DashboardSources DashboardSources::Global() {
  return DashboardSources{&Metrics(), &DeadLetters(), &Landed(), &Health()};
}

DashboardApi::DashboardApi(DashboardInfo info, DashboardSources sources,
                           const MetricsHistory& history, AggregatesReader aggregates,
                           std::chrono::milliseconds aggregates_every)
    : info_(std::move(info)),
      sources_(sources),
      history_(history),
      // The monotonic moment the command started: uptime does not jump with the wall clock.
      started_monotonic_(std::chrono::steady_clock::now() -
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::max(std::chrono::system_clock::now() - info_.started_at,
                                      std::chrono::system_clock::duration::zero()))),
      aggregates_(std::move(aggregates)),
      aggregates_every_(aggregates_every) {}

HttpAnswer DashboardApi::Handle(std::string_view method, std::string_view path,
                                const std::multimap<std::string, std::string>& params) const {
  if (method != "GET" && method != "HEAD") {
    return Error(405, fmt::format("method {} is not allowed: this server answers GET only",
                                  method.substr(0, 16)));
  }
  if (path == "/metrics") {
    return HttpAnswer{200, std::string(kPrometheusType), sources_.metrics->RenderPrometheus(), {}};
  }
  if (path == "/healthz") return Json(200, Healthz());
  if (path == "/readyz") {
    auto [body, ready] = Readyz();
    return Json(ready ? 200 : 503, std::move(body));
  }
  if (path == "/api/overview") return Json(200, Overview());
  if (path == "/api/series") {
    const auto seconds = NumberParam(params, "seconds", kSeriesSecondsDefault, 1,
                                     static_cast<int64_t>(MetricsHistory::kCapacity));
    if (!seconds) return Error(400, "seconds must be a whole number (1 to 600)");
    return Json(200, Series(static_cast<int>(*seconds)));
  }
  if (path == "/api/dead_letters") {
    const auto limit = NumberParam(params, "limit", kDeadLettersDefault, 1, kDeadLettersMax);
    if (!limit) return Error(400, "limit must be a whole number (1 to 100)");
    return Json(200, DeadLettersJson(static_cast<size_t>(*limit)));
  }
  if (path == "/api/landed") return Json(200, LandedJson());
  if (path == "/api/kafka") return Json(200, KafkaJson());
  if (path == "/api/aggregates") return Json(200, AggregatesJson());
  if (path == "/api/metrics") return Json(200, MetricsJson());
  const std::string_view file = path == "/" ? std::string_view("/index.html") : path;
  for (const DashboardAsset& asset : DashboardAssets()) {
    if (asset.path == file) {
      return HttpAnswer{200, std::string(asset.content_type), std::string(asset.body), {}};
    }
  }
  return Error(404, fmt::format("no such path: {} (see / for the dashboard, /metrics, /api/...)",
                                path.substr(0, 200)));
}

std::string DashboardApi::Overview() const {
  const auto now = std::chrono::system_clock::now();
  const PipelineView view = BuildPipelineView(sources_.metrics->Collect(), info_.topic);
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("command");
  Text(json, info_.command);
  json.Key("version");
  Text(json, info_.version);
  json.Key("started_at");
  json.String(Rfc3339(info_.started_at));
  json.Key("now");
  json.String(Rfc3339(now));
  Number(
      json, "uptime_seconds",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_monotonic_).count());
  json.Key("state");
  json.String(finished() ? "finished" : "running");

  json.Key("nodes");
  json.BeginArray();
  for (const ViewNode& node : view.nodes) {
    json.BeginObject();
    json.Key("id");
    Text(json, node.id);
    json.Key("kind");
    json.String(node.kind);
    json.Key("name");
    Text(json, node.name);
    if (!node.pipeline.empty()) {
      json.Key("pipeline");
      Text(json, node.pipeline);
    }
    const double rate = history_.Rate(node.id, kRateWindow).value_or(0);
    if (node.kind == "source") {
      Count(json, "records_total", node.records_total);
      Count(json, "bytes_total", node.bytes_total);
      Number(json, "rate", rate);
      Count(json, "errors_total", node.errors_total);
      Count(json, "retries_total", node.retries_total);
    } else if (node.kind == "queue") {
      Number(json, "fill", node.fill);
      Number(json, "capacity", node.capacity);
    } else if (node.kind == "topic") {
      // null while no consumer in this process reports it (produce alone).
      Optional(json, "lag", node.lag);
    } else if (node.kind == "process") {
      Count(json, "records_total", node.records_total);
      Count(json, "rows_total", node.rows_total);
      Count(json, "dead_letters_total", node.dead_letters_total);
      Number(json, "rate", rate);
    } else {
      Count(json, "rows_total", node.rows_total);
      Count(json, "rejected_total", node.rejected_total);
      Count(json, "errors_total", node.errors_total);
      Count(json, "retries_total", node.retries_total);
      Number(json, "rate", rate);
    }
    json.EndObject();
  }
  json.EndArray();

  json.Key("edges");
  json.BeginArray();
  for (const auto& [from, to] : view.edges) {
    json.BeginObject();
    json.Key("from");
    Text(json, from);
    json.Key("to");
    Text(json, to);
    json.EndObject();
  }
  json.EndArray();

  json.Key("totals");
  json.BeginObject();
  Count(json, "ingested", static_cast<double>(view.ingested));
  Count(json, "stored", static_cast<double>(view.stored));
  Count(json, "rejected", static_cast<double>(view.rejected));
  Count(json, "dead_letters", static_cast<double>(view.dead_letters));
  json.EndObject();

  json.Key("latency");
  json.BeginObject();
  Latency(json, "end_to_end", view.end_to_end);
  Latency(json, "commit", view.commit);
  json.EndObject();
  json.EndObject();
  return body;
}

std::string DashboardApi::Series(int seconds) const {
  const std::vector<HistoryPoint> points = history_.Points(static_cast<size_t>(seconds));
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  Count(json, "interval_seconds", 1);
  json.Key("points");
  json.BeginArray();
  for (const HistoryPoint& p : points) {
    json.BeginObject();
    json.Key("time");
    json.String(Rfc3339Ms(p.time_unix_ms));
    Number(json, "input_rate", p.input_rate);
    Number(json, "processing_rate", p.processing_rate);
    Optional(json, "end_to_end_p50_seconds", p.end_to_end_p50_seconds);
    Optional(json, "end_to_end_p99_seconds", p.end_to_end_p99_seconds);
    Optional(json, "commit_p50_seconds", p.commit_p50_seconds);
    Optional(json, "commit_p99_seconds", p.commit_p99_seconds);
    Number(json, "queue_fill", p.queue_fill);
    json.Key("lag");
    json.BeginObject();
    for (const auto& [key, value] : p.lag) {
      json.Key(ValidUtf8(key));
      json.Int(static_cast<int64_t>(value));
    }
    json.EndObject();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return body;
}

std::string DashboardApi::DeadLettersJson(size_t limit) const {
  const std::vector<FeedEntry> entries = sources_.dead_letters->Latest(limit);
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  Count(json, "total", static_cast<double>(sources_.dead_letters->total()));
  json.Key("dead_letters");
  json.BeginArray();
  for (const FeedEntry& e : entries) {
    json.BeginObject();
    json.Key("time");
    json.String(Rfc3339Ms(e.time_unix_ms));
    json.Key("stage");
    Text(json, e.stage);
    json.Key("reason");
    Text(json, e.reason);
    json.Key("origin");
    Text(json, e.origin);
    json.Key("position");
    json.Int(static_cast<int64_t>(e.position));
    json.Key("item");
    json.Int(e.item);
    json.Key("raw");
    Text(json, e.raw);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return body;
}

std::string DashboardApi::LandedJson() const {
  const LandedSnapshot landed = sources_.landed->Snapshot();
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  Count(json, "rows", static_cast<double>(landed.rows));
  auto counts = [&](std::string_view key, const std::vector<LandedSnapshot::Count>& list) {
    json.Key(key);
    json.BeginArray();
    for (const LandedSnapshot::Count& c : list) {
      json.BeginObject();
      json.Key("key");
      Text(json, c.key);
      Count(json, "rows", static_cast<double>(c.rows));
      json.EndObject();
    }
    json.EndArray();
  };
  counts("by_country", landed.by_country);
  counts("by_gender", landed.by_gender);
  counts("by_age", landed.by_age);
  json.EndObject();
  return body;
}

namespace {

std::string AggregatesBody(const StoreAggregates& read, std::string_view read_at) {
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("read_at");
  json.String(read_at);
  json.Key("error");
  if (read.error.empty()) {
    json.Null();
  } else {
    Text(json, read.error);
  }
  json.Key("aggregations");
  json.BeginArray();
  for (const StoreAggregate& a : read.aggregations) {
    json.BeginObject();
    json.Key("store");
    Text(json, a.store);
    json.Key("name");
    Text(json, a.name);
    json.Key("definition");
    Text(json, a.definition);
    json.Key("error");
    if (a.error.empty()) {
      json.Null();
    } else {
      Text(json, a.error);
    }
    json.Key("window_ms");
    json.Int(a.window_ms);
    json.Key("slide_ms");
    json.Int(a.slide_ms);
    json.Key("group_by");
    json.BeginArray();
    for (const std::string& column : a.group_by) Text(json, column);
    json.EndArray();
    json.Key("columns");
    json.BeginArray();
    for (const std::string& column : a.columns) Text(json, column);
    json.EndArray();
    json.Key("windows");
    json.BeginArray();
    for (const StoreAggregate::Window& w : a.windows) {
      json.BeginObject();
      json.Key("start");
      Text(json, w.start);
      json.Key("end");
      Text(json, w.end);
      json.Key("complete");
      json.Bool(w.complete);
      json.Key("groups");
      json.Int(w.groups);
      json.Key("users");
      json.Int(w.users);
      json.Key("rows");
      json.BeginArray();
      for (const auto& row : w.rows) {
        json.BeginObject();
        // A row shorter than the columns (a reader's bug) writes what it has, never past.
        for (size_t i = 0; i < row.size() && i < a.columns.size(); ++i) {
          json.Key(ValidUtf8(a.columns[i]));
          const AggregateCell& cell = row[i];
          switch (cell.type) {
            case AggregateCell::Type::kNull:
              json.Null();
              break;
            case AggregateCell::Type::kInteger:
              json.Int(cell.integer);
              break;
            case AggregateCell::Type::kReal:
              json.Double(cell.real);
              break;
            case AggregateCell::Type::kText:
              Text(json, cell.text);
              break;
          }
        }
        json.EndObject();
      }
      json.EndArray();
      json.EndObject();
    }
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return body;
}

}  // namespace

std::string DashboardApi::AggregatesJson() const {
  auto fresh = [&] {
    std::lock_guard lock(cache_mu_);
    return read_at_ && std::chrono::steady_clock::now() - *read_at_ < aggregates_every_;
  };
  auto cached = [&] {
    std::lock_guard lock(cache_mu_);
    return cached_;
  };
  if (!aggregates_) return AggregatesBody({}, Rfc3339(std::chrono::system_clock::now()));
  if (fresh()) return cached();
  std::unique_lock reading(read_mu_, std::try_to_lock);
  if (!reading.owns_lock()) {
    // Another request is reading the store: its answer is at most a read old.
    std::string last = cached();
    if (!last.empty()) return last;
    reading.lock();  // The first reading: nothing to answer yet but that.
  }
  if (fresh()) return cached();  // Read while this request waited.
  const auto at = std::chrono::system_clock::now();
  std::string body = AggregatesBody(aggregates_(), Rfc3339(at));
  std::lock_guard lock(cache_mu_);
  read_at_ = std::chrono::steady_clock::now();
  cached_ = body;
  return body;
}

std::string DashboardApi::KafkaJson() const {
  struct Partition {
    std::optional<double> lag;
    std::optional<double> committed;
  };
  // (topic, partition number, partition text) -> values.
  std::map<std::tuple<std::string, int64_t, std::string>, Partition> partitions;
  double producer_queue = 0;
  for (const MetricSample& s : sources_.metrics->Collect()) {
    const bool lag = s.name == "spate_kafka_consumer_lag_messages";
    if (lag || s.name == "spate_kafka_committed_offset") {
      const std::string_view partition = s.Label("partition");
      Partition& p = partitions[{std::string(s.Label("topic")), PartitionNumber(partition),
                                 std::string(partition)}];
      (lag ? p.lag : p.committed) = s.value;
    } else if (s.name == "spate_kafka_producer_queue_messages") {
      producer_queue += s.value;
    }
  }
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("partitions");
  json.BeginArray();
  for (const auto& [key, p] : partitions) {
    const auto& [topic, number, text] = key;
    json.BeginObject();
    json.Key("topic");
    Text(json, topic);
    json.Key("partition");
    if (number >= 0) {
      json.Int(number);
    } else {
      Text(json, text);
    }
    Optional(json, "lag", p.lag);
    Optional(json, "committed_offset", p.committed);
    json.EndObject();
  }
  json.EndArray();
  Count(json, "producer_queue_messages", producer_queue);
  json.EndObject();
  return body;
}

std::string DashboardApi::MetricsJson() const {
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("metrics");
  json.BeginArray();
  for (const MetricSample& s : sources_.metrics->Collect()) {
    json.BeginObject();
    json.Key("name");
    json.String(s.name);
    json.Key("type");
    json.String(MetricTypeName(s.type));
    json.Key("labels");
    json.BeginObject();
    for (const auto& [key, value] : s.labels) {
      json.Key(key);
      Text(json, value);
    }
    json.EndObject();
    if (s.type == MetricType::kHistogram) {
      const HistogramSnapshot& h = s.histogram;
      const bool any = h.count > 0;
      Count(json, "count", static_cast<double>(h.count));
      Number(json, "sum", h.sum);
      Optional(json, "max", any ? std::optional(h.max) : std::nullopt);
      Optional(json, "p50", any ? std::optional(h.Quantile(0.5)) : std::nullopt);
      Optional(json, "p90", any ? std::optional(h.Quantile(0.9)) : std::nullopt);
      Optional(json, "p99", any ? std::optional(h.Quantile(0.99)) : std::nullopt);
    } else {
      Number(json, "value", s.value);
    }
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return body;
}

std::string DashboardApi::Healthz() const {
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("status");
  json.String("ok");
  Number(
      json, "uptime_seconds",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_monotonic_).count());
  json.EndObject();
  return body;
}

std::pair<std::string, bool> DashboardApi::Readyz() const {
  const std::vector<HealthCheck> checks = sources_.health->Checks();
  // The same rule as HealthBoard::Ready, on the same list (a second call could differ).
  const bool ready = !checks.empty() && std::all_of(checks.begin(), checks.end(),
                                                    [](const HealthCheck& c) { return c.ready; });
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("status");
  json.String(ready ? "ready" : "not_ready");
  json.Key("checks");
  json.BeginArray();
  for (const HealthCheck& c : checks) {
    json.BeginObject();
    json.Key("name");
    Text(json, c.name);
    json.Key("ready");
    json.Bool(c.ready);
    json.Key("detail");
    Text(json, c.detail);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return {body, ready};
}

HttpAnswer JsonAnswer(int status, std::string body) { return Json(status, std::move(body)); }

HttpAnswer ErrorAnswer(int status, std::string_view message) { return Error(status, message); }

std::optional<int64_t> WholeNumberParam(const std::multimap<std::string, std::string>& params,
                                        const std::string& key, int64_t fallback, int64_t min,
                                        int64_t max) {
  return NumberParam(params, key, fallback, min, max);
}

void RegisterProcessInfo(MetricsRegistry& registry, const DashboardInfo& info) {
  registry
      .GetGauge("spate_build_info", "spate's version and command (always 1)",
                {{"version", info.version}, {"command", info.command}})
      .Set(1);
  registry.GetGauge("spate_start_time_seconds", "Unix time the command started")
      .Set(std::chrono::duration<double>(info.started_at.time_since_epoch()).count());
}

std::string_view SpateVersion() { return SPATE_VERSION; }

std::string Rfc3339(std::chrono::system_clock::time_point time) {
  return Rfc3339Ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count());
}

std::string Rfc3339Ms(int64_t unix_ms) {
  // Floor division: a time before 1970 still gets milliseconds in [0, 1000).
  int64_t seconds = unix_ms / 1000;
  int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    --seconds;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::string ValidUtf8(std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  auto cont = [&](size_t at, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return at < n && p[at] >= lo && p[at] <= hi;
  };
  while (i < n) {
    const unsigned char c = p[i];
    size_t length = 0;
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      length = cont(i + 1) ? 2 : 0;
    } else if (c >= 0xE0 && c <= 0xEF) {
      // No overlong forms (E0 A0..), no UTF-16 surrogates (ED 80..9F).
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
      length = cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
    } else if (c >= 0xF0 && c <= 0xF4) {
      // Nothing past U+10FFFF, no overlong forms.
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
      length = cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    if (length == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

}  // namespace spate
