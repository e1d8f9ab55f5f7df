// The --http server's answers (src/http: DashboardApi, MetricsHistory, PipelineView,
// DashboardServer): every key of the JSON shapes in src/http/README.md, parsed back with
// simdjson from a registry filled by hand; rates and quantiles from samples; hostile dead
// letters; 400/404/405; and the server itself on a free port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "http/dashboard_api.h"
#include "http/dashboard_assets.h"
#include "http/dashboard_server.h"
#include "http/metrics_history.h"
#include "json_test_util.h"
#include "observe/feeds.h"
#include "observe/metrics.h"
#include "test_util.h"

namespace spate {
namespace {

using spate::testing::ParseJson;

using std::chrono::milliseconds;
using std::chrono::seconds;

// A registry, feeds and history of one test's own (the process-wide ones are shared).
struct World {
  MetricsRegistry metrics;
  DeadLetterFeed dead_letters{100};
  LandedTally landed;
  HealthBoard health;
  MetricsHistory history{metrics};
  DashboardSources sources() { return DashboardSources{&metrics, &dead_letters, &landed, &health}; }
  DashboardInfo info(std::string command = "run", std::string topic = "") {
    return DashboardInfo{std::move(command), "9.9.9", std::move(topic),
                         std::chrono::system_clock::now() - seconds(3)};
  }
};

MetricLabels Run(std::string_view key, std::string_view value) {
  return {{"pipeline", "run"}, {std::string(key), std::string(value)}};
}

// What `spate run --sink sqlite` reports after 1000 records: 990 rows, 10 dead letters.
void FillRun(MetricsRegistry& m, uint64_t records) {
  m.GetCounter("spate_source_records_total", "h", Run("source", "generator")).Add(records);
  m.GetCounter("spate_source_bytes_total", "h", Run("source", "generator")).Add(records * 1400);
  m.GetGauge("spate_queue_batches", "h", Run("queue", "ingested")).Set(3);
  m.GetGauge("spate_queue_capacity_batches", "h", Run("queue", "ingested")).Set(8);
  m.GetGauge("spate_queue_batches", "h", Run("queue", "processed")).Set(7);
  m.GetGauge("spate_queue_capacity_batches", "h", Run("queue", "processed")).Set(8);
  const uint64_t dead = records / 100;
  m.GetCounter("spate_process_records_total", "h", Run("outcome", "row")).Add(records - dead);
  m.GetCounter("spate_process_records_total", "h", Run("outcome", "dead_letter")).Add(dead);
  m.GetCounter("spate_sink_rows_total", "h", Run("sink", "sqlite")).Add(records - dead);
  m.GetCounter("spate_sink_rejected_total", "h", Run("sink", "sqlite")).Add(dead);
  m.GetCounter("spate_sink_retries_total", "h", Run("sink", "sqlite")).Add(2);
  m.GetCounter("spate_sink_errors_total", "h",
               {{"pipeline", "run"}, {"sink", "sqlite"}, {"kind", "retriable"}})
      .Add(2);
  m.GetCounter("spate_dead_letters_total", "h",
               {{"pipeline", "run"}, {"stage", "process"}, {"reason", "malformed_json"}})
      .Add(dead);
}

Histogram& EndToEnd(MetricsRegistry& m) {
  return m.GetHistogram("spate_end_to_end_latency_seconds", "h", Run("sink", "sqlite"),
                        kLatencyBuckets);
}
Histogram& Commit(MetricsRegistry& m) {
  return m.GetHistogram("spate_sink_commit_seconds", "h", Run("sink", "sqlite"), kLatencyBuckets);
}

void ExpectKeys(simdjson::dom::element object, const std::vector<std::string>& keys) {
  ASSERT_TRUE(object.is_object()) << simdjson::to_string(object);
  for (const std::string& key : keys) {
    EXPECT_EQ(object[key].error(), simdjson::SUCCESS)
        << "no \"" << key << "\" in " << simdjson::to_string(object);
  }
}

simdjson::dom::element NodeById(simdjson::dom::element overview, std::string_view id) {
  for (simdjson::dom::element node : overview["nodes"].get_array()) {
    if (std::string_view(node["id"]) == id) return node;
  }
  ADD_FAILURE() << "no node " << id << " in " << simdjson::to_string(overview);
  return {};
}

const auto kT0 = std::chrono::steady_clock::time_point(seconds(1000));
const auto kW0 = std::chrono::system_clock::time_point(seconds(1'800'000'000));

TEST(DashboardApi, OverviewHasEveryKeyAndTheRunsNumbers) {
  World w;
  FillRun(w.metrics, 1000);
  EndToEnd(w.metrics).Observe(0.004, 1000);
  Commit(w.metrics).Observe(0.002, 4);
  DashboardApi api(w.info(), w.sources(), w.history);

  simdjson::dom::parser parser;
  const std::string body = api.Overview();
  simdjson::dom::element doc = ParseJson(parser, body);
  ExpectKeys(doc, {"command", "version", "started_at", "now", "uptime_seconds", "state", "nodes",
                   "edges", "totals", "latency"});
  EXPECT_EQ(std::string_view(doc["command"]), "run");
  EXPECT_EQ(std::string_view(doc["version"]), "9.9.9");
  EXPECT_EQ(std::string_view(doc["state"]), "running");
  EXPECT_GE(double(doc["uptime_seconds"]), 2.5);
  // RFC 3339 UTC with milliseconds.
  const std::string_view started = doc["started_at"];
  ASSERT_EQ(started.size(), 24u) << started;
  EXPECT_EQ(started[10], 'T');
  EXPECT_EQ(started[19], '.');
  EXPECT_EQ(started.back(), 'Z');

  ExpectKeys(NodeById(doc, "source:generator"),
             {"id", "kind", "name", "records_total", "bytes_total", "rate", "errors_total"});
  EXPECT_EQ(int64_t(NodeById(doc, "source:generator")["records_total"]), 1000);
  EXPECT_EQ(int64_t(NodeById(doc, "source:generator")["bytes_total"]), 1'400'000);
  ExpectKeys(NodeById(doc, "queue:run/ingested"), {"id", "kind", "name", "fill", "capacity"});
  EXPECT_EQ(double(NodeById(doc, "queue:run/processed")["fill"]), 7);
  EXPECT_EQ(double(NodeById(doc, "queue:run/processed")["capacity"]), 8);
  ExpectKeys(NodeById(doc, "process:run"),
             {"id", "kind", "name", "records_total", "rows_total", "dead_letters_total", "rate"});
  EXPECT_EQ(int64_t(NodeById(doc, "process:run")["rows_total"]), 990);
  EXPECT_EQ(int64_t(NodeById(doc, "process:run")["dead_letters_total"]), 10);
  ExpectKeys(NodeById(doc, "sink:run/sqlite"),
             {"id", "kind", "name", "rows_total", "rejected_total", "errors_total", "retries_total",
              "rate"});
  EXPECT_EQ(std::string_view(NodeById(doc, "sink:run/sqlite")["name"]), "sqlite");
  EXPECT_EQ(int64_t(NodeById(doc, "sink:run/sqlite")["errors_total"]), 2);
  EXPECT_EQ(int64_t(NodeById(doc, "sink:run/sqlite")["retries_total"]), 2);

  // source -> ingested -> process -> processed -> sink.
  std::vector<std::pair<std::string, std::string>> edges;
  for (simdjson::dom::element e : doc["edges"].get_array()) {
    edges.emplace_back(std::string_view(e["from"]), std::string_view(e["to"]));
  }
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"source:generator", "queue:run/ingested"},
      {"queue:run/ingested", "process:run"},
      {"process:run", "queue:run/processed"},
      {"queue:run/processed", "sink:run/sqlite"}};
  EXPECT_EQ(edges, expected);

  ExpectKeys(doc["totals"], {"ingested", "stored", "rejected", "dead_letters"});
  EXPECT_EQ(int64_t(doc["totals"]["ingested"]), 1000);
  EXPECT_EQ(int64_t(doc["totals"]["stored"]), 990);
  EXPECT_EQ(int64_t(doc["totals"]["rejected"]), 10);
  EXPECT_EQ(int64_t(doc["totals"]["dead_letters"]), 10);

  for (const char* which : {"end_to_end", "commit"}) {
    ExpectKeys(doc["latency"][which], {"p50_seconds", "p99_seconds", "max_seconds", "count"});
  }
  EXPECT_EQ(int64_t(doc["latency"]["end_to_end"]["count"]), 1000);
  EXPECT_GT(double(doc["latency"]["end_to_end"]["p50_seconds"]), 0.003);
  EXPECT_LE(double(doc["latency"]["end_to_end"]["p50_seconds"]), 0.005);
  EXPECT_EQ(int64_t(doc["latency"]["commit"]["count"]), 4);

  api.SetFinished();
  EXPECT_EQ(std::string_view(ParseJson(parser, api.Overview())["state"]), "finished");
}

TEST(DashboardApi, NoObservationsMeansNullLatencyNotZero) {
  World w;
  FillRun(w.metrics, 10);
  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Overview());
  EXPECT_TRUE(doc["latency"]["end_to_end"]["p50_seconds"].is_null());
  EXPECT_TRUE(doc["latency"]["commit"]["max_seconds"].is_null());
  EXPECT_EQ(int64_t(doc["latency"]["end_to_end"]["count"]), 0);
}

TEST(DashboardApi, RatesComeFromTheDifferenceOfTwoSamples) {
  World w;
  FillRun(w.metrics, 1000);
  w.history.Sample(kW0, kT0);  // The baseline.
  FillRun(w.metrics, 3000);    // 3000 more records in the next two seconds.
  w.history.Sample(kW0 + seconds(2), kT0 + seconds(2));

  const auto points = w.history.Points(600);
  ASSERT_EQ(points.size(), 1u) << "the baseline is not a point";
  EXPECT_DOUBLE_EQ(points[0].input_rate, 1500);
  EXPECT_DOUBLE_EQ(points[0].processing_rate, 1500);  // Every record left process.
  EXPECT_DOUBLE_EQ(w.history.Rate("source:generator", seconds(5)).value(), 1500);
  EXPECT_DOUBLE_EQ(w.history.Rate("sink:run/sqlite", seconds(5)).value(), 1500);

  // Quiet for three seconds: the rate over the last two is 0, over five it is lower.
  w.history.Sample(kW0 + seconds(4), kT0 + seconds(4));
  w.history.Sample(kW0 + seconds(5), kT0 + seconds(5));
  EXPECT_DOUBLE_EQ(w.history.Points(1)[0].input_rate, 0);
  EXPECT_DOUBLE_EQ(w.history.Rate("source:generator", seconds(1)).value(), 0);
  EXPECT_DOUBLE_EQ(w.history.Rate("source:generator", seconds(5)).value(), 3000.0 / 5);

  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Overview());
  EXPECT_DOUBLE_EQ(double(NodeById(doc, "source:generator")["rate"]), 3000.0 / 5);
  EXPECT_DOUBLE_EQ(double(NodeById(doc, "process:run")["rate"]), 3000.0 / 5);
}

TEST(DashboardApi, SeriesQuantilesAreOfTheirIntervalOnly) {
  World w;
  FillRun(w.metrics, 100);
  w.history.Sample(kW0, kT0);
  EndToEnd(w.metrics).Observe(0.004, 500);  // Interval 1: ~4 ms.
  Commit(w.metrics).Observe(0.02, 5);
  w.history.Sample(kW0 + seconds(1), kT0 + seconds(1));
  EndToEnd(w.metrics).Observe(0.2, 500);  // Interval 2: ~200 ms; no commits.
  w.history.Sample(kW0 + seconds(2), kT0 + seconds(2));
  w.history.Sample(kW0 + seconds(3), kT0 + seconds(3));  // Interval 3: nothing.

  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Series(300));
  ExpectKeys(doc, {"interval_seconds", "points"});
  EXPECT_EQ(int64_t(doc["interval_seconds"]), 1);
  simdjson::dom::array points = doc["points"];
  ASSERT_EQ(points.size(), 3u);
  for (simdjson::dom::element p : points) {
    ExpectKeys(p, {"time", "input_rate", "processing_rate", "end_to_end_p50_seconds",
                   "end_to_end_p99_seconds", "commit_p50_seconds", "commit_p99_seconds",
                   "queue_fill", "lag"});
  }
  EXPECT_EQ(std::string_view(points.at(0)["time"]), "2027-01-15T08:00:01.000Z");
  const double p50_1 = points.at(0)["end_to_end_p50_seconds"];
  EXPECT_GT(p50_1, 0.003);
  EXPECT_LE(p50_1, 0.005);
  const double p50_2 = points.at(1)["end_to_end_p50_seconds"];
  EXPECT_GT(p50_2, 0.15) << "interval 2's 200 ms, not the run's mix";
  EXPECT_LE(p50_2, 0.25);
  EXPECT_GT(double(points.at(0)["commit_p99_seconds"]), 0.015);
  EXPECT_TRUE(points.at(1)["commit_p50_seconds"].is_null()) << "no commit in interval 2";
  EXPECT_TRUE(points.at(2)["end_to_end_p99_seconds"].is_null());
  // The fullest queue (7 of 8 batches).
  EXPECT_DOUBLE_EQ(double(points.at(0)["queue_fill"]), 7);

  // ?seconds= keeps the newest points.
  EXPECT_EQ(ParseJson(parser, api.Series(1))["points"].get_array().size(), 1u);
}

TEST(DashboardApi, HistoryKeepsItsCapacity) {
  World w;
  MetricsHistory history(w.metrics, "", 5);
  for (int i = 0; i <= 20; ++i) history.Sample(kW0 + seconds(i), kT0 + seconds(i));
  const auto points = history.Points(600);
  ASSERT_EQ(points.size(), 5u);
  EXPECT_EQ(points.back().time_unix_ms, (1'800'000'000LL + 20) * 1000);
}

TEST(DashboardApi, KafkaRunIsTwoPipelinesJoinedByTheTopic) {
  World w;
  MetricsRegistry& m = w.metrics;
  const MetricLabels produce_src = {{"pipeline", "produce"}, {"source", "generator"}};
  m.GetCounter("spate_source_records_total", "h", produce_src).Add(500);
  m.GetCounter("spate_sink_rows_total", "h", {{"pipeline", "produce"}, {"sink", "kafka"}}).Add(500);
  m.GetCounter("spate_source_records_total", "h", {{"pipeline", "process"}, {"source", "kafka"}})
      .Add(400);
  m.GetCounter("spate_sink_rows_total", "h", {{"pipeline", "process"}, {"sink", "sqlite"}})
      .Add(390);
  m.GetCounter("spate_sink_rejected_total", "h", {{"pipeline", "process"}, {"sink", "sqlite"}})
      .Add(10);
  // process's dead-letter producer: not a store.
  m.GetCounter("spate_sink_rejected_total", "h", {{"pipeline", "process"}, {"sink", "kafka"}})
      .Add(10);
  for (int p = 0; p < 3; ++p) {
    const MetricLabels labels = {{"topic", "users_created"}, {"partition", std::to_string(p)}};
    m.GetGauge("spate_kafka_consumer_lag_messages", "h", labels).Set(10 * (p + 1));
    m.GetGauge("spate_kafka_committed_offset", "h", labels).Set(100 + p);
  }
  m.GetGauge("spate_kafka_consumer_lag_messages", "h",
             {{"topic", "users_created"}, {"partition", "10"}})
      .Set(1);
  m.GetGauge("spate_kafka_producer_queue_messages", "h").Set(42);

  DashboardApi api(w.info("run", "users_created"), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Overview());
  ExpectKeys(NodeById(doc, "topic:users_created"), {"id", "kind", "name", "lag"});
  EXPECT_EQ(int64_t(NodeById(doc, "topic:users_created")["lag"]), 61);
  bool into_topic = false, out_of_topic = false;
  for (simdjson::dom::element e : doc["edges"].get_array()) {
    into_topic |= std::string_view(e["from"]) == "sink:produce/kafka" &&
                  std::string_view(e["to"]) == "topic:users_created";
    out_of_topic |= std::string_view(e["from"]) == "topic:users_created" &&
                    std::string_view(e["to"]) == "source:kafka";
  }
  EXPECT_TRUE(into_topic) << simdjson::to_string(doc["edges"]);
  EXPECT_TRUE(out_of_topic) << simdjson::to_string(doc["edges"]);
  EXPECT_EQ(int64_t(doc["totals"]["ingested"]), 500) << "the first pipeline's source";
  EXPECT_EQ(int64_t(doc["totals"]["stored"]), 390) << "the last pipeline's store, not the DLQ";
  EXPECT_EQ(int64_t(doc["totals"]["rejected"]), 10);

  simdjson::dom::element kafka = ParseJson(parser, api.KafkaJson());
  ExpectKeys(kafka, {"partitions", "producer_queue_messages"});
  EXPECT_EQ(int64_t(kafka["producer_queue_messages"]), 42);
  simdjson::dom::array partitions = kafka["partitions"];
  ASSERT_EQ(partitions.size(), 4u);
  ExpectKeys(partitions.at(0), {"topic", "partition", "lag", "committed_offset"});
  EXPECT_EQ(int64_t(partitions.at(1)["partition"]), 1);
  EXPECT_EQ(int64_t(partitions.at(1)["lag"]), 20);
  EXPECT_EQ(int64_t(partitions.at(1)["committed_offset"]), 101);
  EXPECT_EQ(int64_t(partitions.at(3)["partition"]), 10) << "numeric order: 2 before 10";
  EXPECT_TRUE(partitions.at(3)["committed_offset"].is_null());

  // The series carries lag per partition.
  w.history.Sample(kW0, kT0);
  w.history.Sample(kW0 + seconds(1), kT0 + seconds(1));
  simdjson::dom::element series = ParseJson(parser, api.Series(10));
  EXPECT_EQ(int64_t(series["points"].at(0)["lag"]["users_created/2"]), 30);
}

TEST(DashboardApi, ProduceAloneEndsAtTheTopicWithUnknownLag) {
  World w;
  MetricsRegistry& m = w.metrics;
  m.GetCounter("spate_source_records_total", "h",
               {{"pipeline", "produce"}, {"source", "generator"}})
      .Add(300);
  m.GetCounter("spate_process_records_total", "h",
               {{"pipeline", "produce"}, {"outcome", "forwarded"}})
      .Add(300);
  m.GetCounter("spate_sink_rows_total", "h", {{"pipeline", "produce"}, {"sink", "kafka"}}).Add(300);
  DashboardApi api(w.info("produce", "users_created"), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Overview());
  EXPECT_TRUE(NodeById(doc, "topic:users_created")["lag"].is_null())
      << "no consumer here: the lag is not known, not 0";
  EXPECT_EQ(std::string_view(NodeById(doc, "process:produce")["name"]), "ingest");
  EXPECT_EQ(int64_t(NodeById(doc, "process:produce")["rows_total"]), 300);
  EXPECT_EQ(int64_t(doc["totals"]["stored"]), 300) << "delivered to the topic";
  const std::string last_edge =
      simdjson::to_string(doc["edges"].at(doc["edges"].get_array().size() - 1));
  EXPECT_EQ(last_edge, R"({"from":"sink:produce/kafka","to":"topic:users_created"})");
}

TEST(DashboardApi, KafkaIsEmptyWhenNotOnKafka) {
  World w;
  FillRun(w.metrics, 10);
  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.KafkaJson());
  EXPECT_EQ(doc["partitions"].get_array().size(), 0u);
  EXPECT_EQ(int64_t(doc["producer_queue_messages"]), 0);
}

TEST(DashboardApi, HostileDeadLetterIsValidEscapedJson) {
  World w;
  // Markup, quotes, backslashes, control characters and bytes that are not UTF-8 (a lone
  // continuation byte, a truncated sequence, an overlong '/', a surrogate).
  const std::string raw =
      std::string("<script>alert(1)</script><img src=x onerror=\"alert('x')\">") +
      "\\\"\x01\x1f\x7f\n\t" + "\x80 \xc3 \xc0\xaf \xed\xa0\x80 ok \xc3\xa9";
  std::vector<DeadLetter> dead = {
      DeadLetter{"malformed JSON: <b>bad</b>", "file:<x>.json", 7, raw, 2},
      DeadLetter{"second", "generator", 8, "{}", 0}};
  w.dead_letters.Add(dead, "process");
  DashboardApi api(w.info(), w.sources(), w.history);

  const HttpAnswer answer = api.Handle("GET", "/api/dead_letters", {});
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(answer.body.find('<'), std::string::npos) << answer.body;
  EXPECT_EQ(answer.body.find('>'), std::string::npos) << answer.body;
  simdjson::dom::parser parser;  // Validates UTF-8 as it parses.
  simdjson::dom::element doc = ParseJson(parser, answer.body);
  ExpectKeys(doc, {"total", "dead_letters"});
  EXPECT_EQ(int64_t(doc["total"]), 2);
  simdjson::dom::array list = doc["dead_letters"];
  ASSERT_EQ(list.size(), 2u);
  simdjson::dom::element first = list.at(1);  // Newest first: the hostile one is second.
  ExpectKeys(first, {"time", "stage", "reason", "origin", "position", "item", "raw"});
  EXPECT_EQ(std::string_view(first["stage"]), "process");
  EXPECT_EQ(std::string_view(first["reason"]), "malformed JSON: <b>bad</b>");
  EXPECT_EQ(std::string_view(first["origin"]), "file:<x>.json");
  EXPECT_EQ(int64_t(first["position"]), 7);
  EXPECT_EQ(int64_t(first["item"]), 2);
  // The same text back, every invalid byte as U+FFFD.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(std::string_view(first["raw"]),
            std::string("<script>alert(1)</script><img src=x onerror=\"alert('x')\">") +
                "\\\"\x01\x1f\x7f\n\t" + fffd + " " + fffd + " " + fffd + fffd + " " + fffd + fffd +
                fffd + " ok \xc3\xa9");

  // ?limit= bounds the list.
  EXPECT_EQ(ParseJson(parser,
                      api.Handle("GET", "/api/dead_letters", {{"limit", "1"}}).body)["dead_letters"]
                .get_array()
                .size(),
            1u);
}

TEST(DashboardApi, ValidUtf8KeepsValidTextAndReplacesTheRest) {
  EXPECT_EQ(ValidUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(ValidUtf8("M\xc3\xbcller \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80"),
            "M\xc3\xbcller \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(ValidUtf8("\xff"), "\xEF\xBF\xBD");
  EXPECT_EQ(ValidUtf8("a\xf4\x90\x80\x80"), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD")
      << "past U+10FFFF";
  EXPECT_EQ(ValidUtf8("\xe2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "truncated at the end";
}

TEST(DashboardApi, LandedHasCountsByCountryGenderAndAge) {
  World w;
  std::vector<Row> rows(3);
  rows[0].country = "Germany";
  rows[0].gender = "female";
  rows[0].age = 25;
  rows[1].country = "Germany";
  rows[1].gender = "male";
  rows[1].age = 31;
  rows[2].country = "<Brazil>";
  rows[2].gender = "female";
  rows[2].age = 27;
  w.landed.Add(rows);
  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Handle("GET", "/api/landed", {}).body);
  ExpectKeys(doc, {"rows", "by_country", "by_gender", "by_age"});
  EXPECT_EQ(int64_t(doc["rows"]), 3);
  simdjson::dom::element top = doc["by_country"].at(0);
  ExpectKeys(top, {"key", "rows"});
  EXPECT_EQ(std::string_view(top["key"]), "Germany");
  EXPECT_EQ(int64_t(top["rows"]), 2);
  EXPECT_EQ(std::string_view(doc["by_country"].at(1)["key"]), "<Brazil>");
  EXPECT_EQ(std::string_view(doc["by_gender"].at(0)["key"]), "female");
  int64_t twenties = -1;
  for (simdjson::dom::element band : doc["by_age"].get_array()) {
    if (std::string_view(band["key"]) == "20-29") twenties = int64_t(band["rows"]);
  }
  EXPECT_EQ(twenties, 2);
}

TEST(DashboardApi, ReadyOnlyWhenEveryCheckIsReady) {
  World w;
  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  HttpAnswer answer = api.Handle("GET", "/readyz", {});
  EXPECT_EQ(answer.status, 503) << "no check yet: not ready";
  EXPECT_EQ(std::string_view(ParseJson(parser, answer.body)["status"]), "not_ready");

  w.health.Set("source generator", true);
  w.health.Set("sink sqlite", false, "opening");
  answer = api.Handle("GET", "/readyz", {});
  EXPECT_EQ(answer.status, 503);
  simdjson::dom::element doc = ParseJson(parser, answer.body);
  ExpectKeys(doc, {"status", "checks"});
  bool found = false;
  for (simdjson::dom::element c : doc["checks"].get_array()) {
    ExpectKeys(c, {"name", "ready", "detail"});
    if (std::string_view(c["name"]) == "sink sqlite") {
      found = true;
      EXPECT_FALSE(bool(c["ready"]));
      EXPECT_EQ(std::string_view(c["detail"]), "opening");
    }
  }
  EXPECT_TRUE(found);

  w.health.Set("sink sqlite", true);
  answer = api.Handle("GET", "/readyz", {});
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(std::string_view(ParseJson(parser, answer.body)["status"]), "ready");

  answer = api.Handle("GET", "/healthz", {});
  EXPECT_EQ(answer.status, 200);
  doc = ParseJson(parser, answer.body);
  ExpectKeys(doc, {"status", "uptime_seconds"});
  EXPECT_EQ(std::string_view(doc["status"]), "ok");
}

TEST(DashboardApi, MetricsAsJsonListsEverySeries) {
  World w;
  FillRun(w.metrics, 100);
  EndToEnd(w.metrics).Observe(0.01, 3);
  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, api.Handle("GET", "/api/metrics", {}).body);
  simdjson::dom::array list = doc["metrics"];
  EXPECT_EQ(list.size(), w.metrics.Collect().size());
  bool counter = false, histogram = false;
  for (simdjson::dom::element m : list) {
    ExpectKeys(m, {"name", "type", "labels"});
    const std::string_view name = m["name"];
    if (name == "spate_sink_rows_total") {
      counter = true;
      EXPECT_EQ(std::string_view(m["type"]), "counter");
      EXPECT_EQ(std::string_view(m["labels"]["sink"]), "sqlite");
      EXPECT_EQ(double(m["value"]), 99);
    }
    if (name == "spate_end_to_end_latency_seconds") {
      histogram = true;
      ExpectKeys(m, {"count", "sum", "max", "p50", "p90", "p99"});
      EXPECT_EQ(int64_t(m["count"]), 3);
    }
  }
  EXPECT_TRUE(counter && histogram);
}

TEST(DashboardApi, PrometheusTextAtMetrics) {
  World w;
  FillRun(w.metrics, 100);
  DashboardApi api(w.info(), w.sources(), w.history);
  const HttpAnswer answer = api.Handle("GET", "/metrics", {});
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(answer.body, w.metrics.RenderPrometheus());
  EXPECT_NE(answer.body.find("spate_sink_rows_total{pipeline=\"run\",sink=\"sqlite\"} 99"),
            std::string::npos)
      << answer.body;
}

TEST(DashboardApi, BuildInfoAndStartTime) {
  MetricsRegistry m;
  const auto started = std::chrono::system_clock::time_point(seconds(1'700'000'000));
  RegisterProcessInfo(m, DashboardInfo{"process", "1.2.3", "", started});
  const std::string text = m.RenderPrometheus();
  EXPECT_NE(text.find("spate_build_info{version=\"1.2.3\",command=\"process\"} 1"),
            std::string::npos)
      << text;
  const size_t at = text.find("\nspate_start_time_seconds ");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_DOUBLE_EQ(std::strtod(text.c_str() + at + 26, nullptr), 1'700'000'000) << text;
}

TEST(DashboardApi, ErrorsAreJsonWithTheRightStatus) {
  World w;
  DashboardApi api(w.info(), w.sources(), w.history);
  simdjson::dom::parser parser;
  struct Case {
    std::string method, path;
    std::multimap<std::string, std::string> params;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/nope", {}, 404},
      {"GET", "/api/overview/", {}, 404},
      {"GET", "/api/<script>", {}, 404},
      {"POST", "/api/overview", {}, 405},
      {"DELETE", "/metrics", {}, 405},
      {"PUT", "/", {}, 405},
      {"GET", "/api/series", {{"seconds", "abc"}}, 400},
      {"GET", "/api/series", {{"seconds", "-"}}, 400},
      {"GET", "/api/dead_letters", {{"limit", "1e3"}}, 400},
  };
  for (const Case& c : cases) {
    const HttpAnswer answer = api.Handle(c.method, c.path, c.params);
    EXPECT_EQ(answer.status, c.status) << c.method << " " << c.path;
    EXPECT_EQ(answer.content_type, "application/json; charset=utf-8");
    simdjson::dom::element doc = ParseJson(parser, answer.body);
    ExpectKeys(doc, {"error"});
    EXPECT_EQ(answer.body.find('<'), std::string::npos) << answer.body;
  }
  // Out-of-range numbers are clamped, not refused.
  EXPECT_EQ(api.Handle("GET", "/api/series", {{"seconds", "100000"}}).status, 200);
  EXPECT_EQ(api.Handle("GET", "/api/dead_letters", {{"limit", "0"}}).status, 200);
  EXPECT_EQ(api.Handle("HEAD", "/api/overview", {}).status, 200);
}

TEST(DashboardApi, ServesThePageFilesFromTheBinary) {
  World w;
  DashboardApi api(w.info(), w.sources(), w.history);
  const std::string web = std::string(SPATE_FIXTURES_DIR) + "/../../web/";
  struct Case {
    std::string path, file, type;
  };
  for (const Case& c : std::vector<Case>{{"/", "index.html", "text/html; charset=utf-8"},
                                         {"/index.html", "index.html", "text/html; charset=utf-8"},
                                         {"/app.js", "app.js", "text/javascript; charset=utf-8"},
                                         {"/style.css", "style.css", "text/css; charset=utf-8"}}) {
    const HttpAnswer answer = api.Handle("GET", c.path, {});
    EXPECT_EQ(answer.status, 200) << c.path;
    EXPECT_EQ(answer.content_type, c.type) << c.path;
    const std::string expected = testing::ReadFile(web + c.file);
    ASSERT_FALSE(expected.empty()) << web + c.file;
    EXPECT_EQ(answer.body, expected) << c.path << " is web/" << c.file << " as built";
  }
  // Every file in the table is one of web/'s.
  for (const DashboardAsset& asset : DashboardAssets()) {
    EXPECT_EQ(testing::ReadFile(web + std::string(asset.path.substr(1))), asset.body) << asset.path;
  }
}

// --- The server itself, on a free loopback port. ---

TEST(DashboardServer, AnswersOverHttpWithStatusTypesAndHeaders) {
  World w;
  FillRun(w.metrics, 100);
  w.health.Set("sink sqlite", true);
  DashboardServer server(w.info(), w.sources());
  auto port = server.Start(DashboardServerOptions{});
  ASSERT_TRUE(port.ok()) << port.status().message();
  ASSERT_GT(port.value(), 0);
  EXPECT_EQ(server.port(), port.value());

  httplib::Client client("127.0.0.1", port.value());
  auto r = client.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");

  r = client.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);

  r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r->body.find("spate_source_records_total"), std::string::npos);

  r = client.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);

  simdjson::dom::parser parser;
  r = client.Get("/no/such/thing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  ExpectKeys(ParseJson(parser, r->body), {"error"});

  r = client.Post("/api/overview", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  ExpectKeys(ParseJson(parser, r->body), {"error"});

  httplib::Client again("127.0.0.1", port.value());
  r = again.Get("/api/series?seconds=zz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  r = again.Get("/api/overview");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(int64_t(ParseJson(parser, r->body)["totals"]["stored"]), 99);

  server.Stop();
  server.Stop();  // Idempotent.
  EXPECT_FALSE(httplib::Client("127.0.0.1", port.value()).Get("/healthz"));
}

TEST(DashboardServer, ABusyPortIsAClearError) {
  World w;
  DashboardServer first(w.info(), w.sources());
  auto port = first.Start(DashboardServerOptions{});
  ASSERT_TRUE(port.ok());
  DashboardServer second(w.info(), w.sources());
  DashboardServerOptions options;
  options.port = port.value();
  auto busy = second.Start(options);
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.status().message().find("in use"), std::string::npos) << busy.status().message();
  EXPECT_NE(busy.status().message().find(std::to_string(port.value())), std::string::npos);
  // The first one still answers alone.
  EXPECT_TRUE(httplib::Client("127.0.0.1", port.value()).Get("/healthz"));
}

TEST(DashboardServer, CountsScrapesAndThoseAfterTheEnd) {
  World w;
  DashboardServer server(w.info(), w.sources());
  auto port = server.Start(DashboardServerOptions{});
  ASSERT_TRUE(port.ok());
  httplib::Client client("127.0.0.1", port.value());
  EXPECT_FALSE(server.scrape_interval());
  ASSERT_TRUE(client.Get("/metrics"));
  ASSERT_TRUE(client.Get("/api/overview"));  // Not a scrape.
  ASSERT_TRUE(client.Get("/metrics"));
  EXPECT_EQ(server.scrapes(), 2u);
  EXPECT_EQ(server.final_scrapes(), 0u);
  EXPECT_TRUE(server.scrape_interval());
  server.SetFinished();
  ASSERT_TRUE(client.Get("/metrics"));
  EXPECT_EQ(server.scrapes(), 3u);
  EXPECT_EQ(server.final_scrapes(), 1u);
}

// A socket that sent the start of a request and then nothing.
class HalfRequest {
 public:
  explicit HalfRequest(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
    const std::string half = "GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\nAcc";
    connected_ =
        ::send(fd_, half.data(), half.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(half.size());
  }
  ~HalfRequest() {
    if (fd_ >= 0) ::close(fd_);
  }
  HalfRequest(const HalfRequest&) = delete;
  HalfRequest& operator=(const HalfRequest&) = delete;
  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST(DashboardServer, StalledClientsAreLetGoAndOthersStillAnswered) {
  World w;
  DashboardServer server(w.info(), w.sources());
  DashboardServerOptions options;
  options.workers = 2;
  options.queue = 2;
  options.read_timeout = milliseconds(300);
  auto port = server.Start(options);
  ASSERT_TRUE(port.ok());
  // More stalled clients than workers and queue together.
  std::vector<std::unique_ptr<HalfRequest>> stalled;
  for (int i = 0; i < 12; ++i) {
    stalled.push_back(std::make_unique<HalfRequest>(port.value()));
    ASSERT_TRUE(stalled.back()->connected()) << i;
  }
  httplib::Client client("127.0.0.1", port.value());
  client.set_read_timeout(30, 0);
  client.set_connection_timeout(30, 0);
  for (int i = 0; i < 3; ++i) {
    auto r = client.Get("/healthz");
    ASSERT_TRUE(r) << "answered once the stalled ones timed out";
    EXPECT_EQ(r->status, 200);
  }
  // Stop returns although the stalled sockets are still open on our side.
  server.Stop();
}

}  // namespace
}  // namespace spate
