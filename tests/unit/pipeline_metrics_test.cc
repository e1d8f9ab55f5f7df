// The pipeline's metrics (issue 18) against what it counted itself and what the sinks saw:
// each test runs a pipeline over test sources and sinks, reporting to a registry of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "observe/feeds.h"
#include "observe/metrics.h"
#include "pipeline/pipeline.h"
#include "sources/generator.h"

namespace spate {
namespace {

// The series `name` whose labels include every one of `labels`; nullopt if none.
std::optional<MetricSample> Find(const MetricsRegistry& metrics, std::string_view name,
                                 const MetricLabels& labels) {
  for (MetricSample& sample : metrics.Collect()) {
    if (sample.name != name) continue;
    const bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& label) {
      return sample.Label(label.first) == label.second;
    });
    if (match) return sample;
  }
  return std::nullopt;
}

double Value(const MetricsRegistry& metrics, std::string_view name, const MetricLabels& labels) {
  auto sample = Find(metrics, name, labels);
  EXPECT_TRUE(sample.has_value()) << name;
  return sample ? sample->value : -1;
}

HistogramSnapshot Histo(const MetricsRegistry& metrics, std::string_view name,
                        const MetricLabels& labels) {
  auto sample = Find(metrics, name, labels);
  EXPECT_TRUE(sample.has_value()) << name;
  return sample ? sample->histogram : HistogramSnapshot{};
}

GeneratorSource Generator(uint64_t count) {
  auto generator = UserGenerator::Create(GeneratorOptions{"seed", {}, false});
  EXPECT_TRUE(generator.ok());
  return GeneratorSource(std::move(generator).value(), count);
}

// Counts what it was given; can fail, refuse rows, merge batches.
class TestSink final : public Sink {
 public:
  explicit TestSink(std::string kind = "sqlite") : kind_(std::move(kind)) {}
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    if (!script.empty()) {
      Status next = script.front();
      script.pop_front();
      if (!next.ok()) return next;
    }
    ++writes;
    rows += batch.rows.size() + batch.records.size();
    dead += batch.dead.size();
    for (const Row& row : batch.rows) {
      bytes += row.record_size;
      if (row.ingest_us == 0) ++unstamped;
    }
    for (const RawRecord& record : batch.records) {
      if (record.ingest_us == 0) ++unstamped;
    }
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "test"; }
  std::string_view kind() const override { return kind_; }
  bool group_commit() const override { return merge; }
  bool stores_rows() const override { return keeps_rows; }
  uint64_t TakeRefused() override {
    if (refused_writes == writes) return 0;  // Once per write.
    refused_writes = writes;
    refused_reported += refuse_per_write;
    return refuse_per_write;
  }

  std::deque<Status> script;
  bool merge = false;
  bool keeps_rows = true;
  uint64_t refuse_per_write = 0;
  uint64_t writes = 0;
  uint64_t rows = 0;
  uint64_t dead = 0;
  uint64_t bytes = 0;
  uint64_t unstamped = 0;
  uint64_t refused_reported = 0;
  uint64_t refused_writes = 0;

 private:
  std::string kind_;
};

PipelineOptions Options(MetricsRegistry* metrics, std::string name = "run") {
  PipelineOptions options;
  options.batch_size = 100;
  options.queue_capacity = 2;
  options.sink_backoff_initial = std::chrono::milliseconds(1);
  options.metrics = metrics;
  options.name = std::move(name);
  return options;
}

TEST(PipelineMetrics, CountersEqualTheStatsAndTheSinksCounts) {
  MetricsRegistry metrics;
  GeneratorSource source = Generator(1050);
  TestSink sqlite;
  TestSink discard("discard");
  const uint64_t landed_before = Landed().Snapshot().rows;
  Pipeline pipeline(source, {&sqlite, &discard}, Options(&metrics));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  const PipelineStats& stats = pipeline.stats();
  ASSERT_EQ(stats.ingested.load(), 1050u);

  const MetricLabels run = {{"pipeline", "run"}};
  const MetricLabels source_labels = {{"pipeline", "run"}, {"source", "generator"}};
  EXPECT_EQ(Value(metrics, "spate_source_records_total", source_labels), 1050);
  EXPECT_EQ(Value(metrics, "spate_source_bytes_total", source_labels), sqlite.bytes);
  EXPECT_EQ(Value(metrics, "spate_source_errors_total", source_labels), 0);
  const HistogramSnapshot source_batches =
      Histo(metrics, "spate_batch_records", {{"pipeline", "run"}, {"stage", "source"}});
  EXPECT_EQ(source_batches.count, 11u);  // 10 of 100, one of 50.
  EXPECT_EQ(source_batches.sum, 1050);
  EXPECT_EQ(source_batches.max, 100);
  const HistogramSnapshot sink_batches =
      Histo(metrics, "spate_batch_records", {{"pipeline", "run"}, {"stage", "sink"}});
  EXPECT_EQ(sink_batches.count, sqlite.writes);
  EXPECT_EQ(sink_batches.sum, 1050);

  EXPECT_EQ(
      Value(metrics, "spate_process_records_total", {{"pipeline", "run"}, {"outcome", "row"}}),
      stats.stored.load());
  EXPECT_EQ(Value(metrics, "spate_process_records_total",
                  {{"pipeline", "run"}, {"outcome", "dead_letter"}}),
            0);
  for (TestSink* sink : {&sqlite, &discard}) {
    const MetricLabels labels = {{"pipeline", "run"}, {"sink", std::string(sink->kind())}};
    EXPECT_EQ(Value(metrics, "spate_sink_rows_total", labels), sink->rows) << sink->kind();
    EXPECT_EQ(Value(metrics, "spate_sink_rejected_total", labels), 0);
    EXPECT_EQ(Value(metrics, "spate_sink_retries_total", labels), 0);
    EXPECT_EQ(Histo(metrics, "spate_sink_commit_seconds", labels).count, sink->writes);
    // Every row's latency, once per sink that stored it.
    const HistogramSnapshot e2e = Histo(metrics, "spate_end_to_end_latency_seconds", labels);
    EXPECT_EQ(e2e.count, sink->rows);
    EXPECT_GT(e2e.max, 0);
    EXPECT_LT(e2e.max, 60);  // Seconds: not microseconds taken for seconds.
    EXPECT_EQ(sink->unstamped, 0u) << "every row carries its ingest time";
  }
  EXPECT_EQ(sqlite.rows, 1050u);
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", {{"pipeline", "run"}, {"sink", "sqlite"}}),
            stats.sinks[0].stored.load());

  for (const char* queue : {"ingested", "processed"}) {
    const MetricLabels labels = {{"pipeline", "run"}, {"queue", queue}};
    EXPECT_EQ(Value(metrics, "spate_queue_batches", labels), 0) << queue;
    EXPECT_EQ(Value(metrics, "spate_queue_capacity_batches", labels), 2) << queue;
  }
  // Rows landed: once per batch, not once per sink.
  EXPECT_EQ(Landed().Snapshot().rows - landed_before, 1050u);
  // The summary's line, from the same histogram.
  const std::string text = EndToEndLatencyText(metrics, "run");
  EXPECT_NE(text.find("latency: ingest->stored (sqlite) p50 "), std::string::npos) << text;
  EXPECT_NE(text.find("(1,050 rows)"), std::string::npos) << text;
  EXPECT_EQ(EndToEndLatencyText(metrics, "process"), "");
}

// A source of good records, records process cannot use, and dead letters of its own.
class MixedSource final : public Source {
 public:
  Result<SourceState> Next(Batch& batch, size_t, std::stop_token) override {
    batch.origin = "mixed";
    auto generator = UserGenerator::Create(GeneratorOptions{"s", {}, false});
    for (uint64_t i = 0; i < 5; ++i) {
      RawRecord& record = batch.records.emplace_back();
      generator->AppendUser(i, record.json);
      record.position = i;
    }
    for (const char* bad : {R"({"gender":1})", "{", "{", "[1]"}) {
      RawRecord& record = batch.records.emplace_back();
      record.json = bad;
      record.position = 10;
    }
    batch.dead.push_back({"malformed JSON: line 3", "mixed", 20, "{x", 0});
    batch.dead.push_back({"not a user object", "mixed", 21, "1", 0});
    batch.source_records = 11;
    return SourceState::kFinished;
  }
  std::string Describe() const override { return "mixed"; }
  std::string_view kind() const override { return "file"; }
};

TEST(PipelineMetrics, DeadLettersByStageAndReason) {
  MetricsRegistry metrics;
  MixedSource source;
  TestSink sink;
  const uint64_t feed_before = DeadLetters().total();
  Pipeline pipeline(source, {&sink}, Options(&metrics));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  ASSERT_EQ(pipeline.stats().stored.load(), 5u);
  ASSERT_EQ(pipeline.stats().rejected.load(), 6u);

  // What the transform said about each bad record, classed.
  uint64_t process_total = 0;
  uint64_t ingest_total = 0;
  for (const MetricSample& sample : metrics.Collect()) {
    if (sample.name != "spate_dead_letters_total") continue;
    EXPECT_EQ(sample.Label("pipeline"), "run");
    if (sample.Label("stage") == "process") process_total += static_cast<uint64_t>(sample.value);
    if (sample.Label("stage") == "ingest") ingest_total += static_cast<uint64_t>(sample.value);
  }
  EXPECT_EQ(process_total, 4u);
  EXPECT_EQ(ingest_total, 2u);
  EXPECT_EQ(Value(metrics, "spate_dead_letters_total",
                  {{"stage", "ingest"}, {"reason", ReasonClass("malformed JSON: line 3")}}),
            1);
  EXPECT_EQ(Value(metrics, "spate_dead_letters_total",
                  {{"stage", "ingest"}, {"reason", ReasonClass("not a user object")}}),
            1);
  EXPECT_EQ(Value(metrics, "spate_dead_letters_total",
                  {{"stage", "process"}, {"reason", ReasonClass("gender: expected string")}}),
            1);
  EXPECT_EQ(Value(metrics, "spate_process_records_total", {{"outcome", "dead_letter"}}), 4);
  EXPECT_EQ(Value(metrics, "spate_process_records_total", {{"outcome", "row"}}), 5);
  EXPECT_EQ(Value(metrics, "spate_sink_rejected_total", {{"sink", "sqlite"}}), 6);
  EXPECT_EQ(Value(metrics, "spate_source_records_total", {{"source", "file"}}), 11);
  // The dashboard's feed has them all, each with its stage.
  EXPECT_EQ(DeadLetters().total() - feed_before, 6u);
  const std::vector<FeedEntry> latest = DeadLetters().Latest(6);
  ASSERT_EQ(latest.size(), 6u);
  EXPECT_EQ(std::count_if(latest.begin(), latest.end(),
                          [](const FeedEntry& e) { return e.stage == "ingest"; }),
            2);
  EXPECT_EQ(std::count_if(latest.begin(), latest.end(),
                          [](const FeedEntry& e) { return e.stage == "process"; }),
            4);
  // Only rows stored have a latency.
  EXPECT_EQ(Histo(metrics, "spate_end_to_end_latency_seconds", {{"sink", "sqlite"}}).count, 5u);
}

// `process`'s dead-letter producer is a sink that keeps only the dead letters.
TEST(PipelineMetrics, ADeadLetterOnlySinkCountsNoRowsAndNoLatency) {
  MetricsRegistry metrics;
  MixedSource source;
  TestSink sqlite;
  TestSink dlq("kafka");
  dlq.keeps_rows = false;
  Pipeline pipeline(source, {&sqlite, &dlq}, Options(&metrics, "process"));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  const MetricLabels kafka = {{"pipeline", "process"}, {"sink", "kafka"}};
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", kafka), 0);
  EXPECT_EQ(Value(metrics, "spate_sink_rejected_total", kafka), 6);
  EXPECT_EQ(Histo(metrics, "spate_end_to_end_latency_seconds", kafka).count, 0u);
  EXPECT_EQ(Histo(metrics, "spate_sink_commit_seconds", kafka).count, 1u);
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", {{"pipeline", "process"}, {"sink", "sqlite"}}),
            5);
  // The summary speaks of the sink that stored rows, without naming it.
  const std::string text = EndToEndLatencyText(metrics, "process");
  EXPECT_NE(text.find("  latency: ingest->stored p50 "), std::string::npos) << text;
  EXPECT_NE(text.find("(5 rows)\n"), std::string::npos) << text;
}

TEST(PipelineMetrics, SinkErrorsRetriesAndRefusedRows) {
  MetricsRegistry metrics;
  GeneratorSource source = Generator(300);
  TestSink sink("postgres");
  sink.script = {Status::Retriable("connection lost"), Status::Retriable("connection lost")};
  sink.refuse_per_write = 1;  // One row of each write goes to the sink's own dead letters.
  Pipeline pipeline(source, {&sink}, Options(&metrics));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  const MetricLabels labels = {{"pipeline", "run"}, {"sink", "postgres"}};
  EXPECT_EQ(Value(metrics, "spate_sink_retries_total", labels), 2);
  EXPECT_EQ(pipeline.stats().sink_retries.load(), 2u);
  EXPECT_EQ(Value(metrics, "spate_sink_errors_total",
                  {{"pipeline", "run"}, {"sink", "postgres"}, {"kind", "retriable"}}),
            2);
  EXPECT_EQ(Value(metrics, "spate_sink_errors_total",
                  {{"pipeline", "run"}, {"sink", "postgres"}, {"kind", "fatal"}}),
            0);
  const SinkCounts& counts = pipeline.stats().sinks.front();
  EXPECT_EQ(counts.stored.load() + counts.rejected.load(), 300u);
  EXPECT_EQ(counts.rejected.load(), sink.refused_reported);
  EXPECT_GT(sink.refused_reported, 0u);
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", labels), counts.stored.load());
  EXPECT_EQ(Value(metrics, "spate_sink_rejected_total", labels), counts.rejected.load());
  EXPECT_EQ(Value(metrics, "spate_dead_letters_total", {{"stage", "sink"}}), sink.refused_reported);
  // Only successful writes are commits.
  EXPECT_EQ(Histo(metrics, "spate_sink_commit_seconds", labels).count, sink.writes);
}

TEST(PipelineMetrics, AFatalSinkErrorIsCounted) {
  MetricsRegistry metrics;
  GeneratorSource source = Generator(300);
  TestSink sink;
  sink.script = {Status::Ok(), Status::Fatal("disk full")};
  Pipeline pipeline(source, {&sink}, Options(&metrics));
  pipeline.Start();
  EXPECT_FALSE(pipeline.Wait().ok());
  EXPECT_EQ(Value(metrics, "spate_sink_errors_total", {{"sink", "sqlite"}, {"kind", "fatal"}}), 1);
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", {{"sink", "sqlite"}}), sink.rows);
}

TEST(PipelineMetrics, GroupCommitObservesEveryRowOnce) {
  MetricsRegistry metrics;
  GeneratorSource source = Generator(2000);
  TestSink sink("postgres");
  sink.merge = true;
  Pipeline pipeline(source, {&sink}, Options(&metrics));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(sink.rows, 2000u);
  EXPECT_EQ(Histo(metrics, "spate_end_to_end_latency_seconds", {{"sink", "postgres"}}).count,
            2000u);
  EXPECT_EQ(Histo(metrics, "spate_batch_records", {{"stage", "sink"}}).sum, 2000);
}

// A pipelined sink (Kafka's producer's shape) that completes everything at the next Poll.
class PipelinedSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch&) override { return Status::Fatal("pipelined only"); }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "pipelined"; }
  std::string_view kind() const override { return "kafka"; }
  bool pipelined() const override { return true; }
  Status Submit(const Batch& batch) override {
    pending.push_back(batch.sequence);
    records += batch.records.size() + batch.rows.size();
    for (const RawRecord& record : batch.records) unstamped += record.ingest_us == 0;
    return Status::Ok();
  }
  std::vector<Completion> Poll(std::chrono::milliseconds) override {
    std::vector<Completion> out;
    for (uint64_t sequence : pending) {
      if (sequence == 1 && !failed_once) {
        failed_once = true;
        out.push_back({sequence, Status::Retriable("leader moved")});
      } else {
        out.push_back({sequence, Status::Ok()});
      }
    }
    pending.clear();
    return out;
  }
  std::vector<uint64_t> pending;
  bool failed_once = false;
  uint64_t records = 0;
  uint64_t unstamped = 0;
};

TEST(PipelineMetrics, ForwardingToAPipelinedSink) {
  MetricsRegistry metrics;
  GeneratorSource source = Generator(550);
  PipelinedSink sink;
  PipelineOptions options = Options(&metrics, "");
  options.transform = false;  // produce
  const uint64_t landed_before = Landed().Snapshot().rows;
  Pipeline pipeline(source, {&sink}, options);
  EXPECT_EQ(pipeline.name(), "produce");
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  const MetricLabels labels = {{"pipeline", "produce"}, {"sink", "kafka"}};
  EXPECT_EQ(Value(metrics, "spate_process_records_total",
                  {{"pipeline", "produce"}, {"outcome", "forwarded"}}),
            550);
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", labels), 550);
  EXPECT_EQ(Value(metrics, "spate_sink_rows_total", labels),
            pipeline.stats().sinks.front().stored.load());
  EXPECT_EQ(Value(metrics, "spate_sink_retries_total", labels), 1);
  EXPECT_EQ(Histo(metrics, "spate_sink_commit_seconds", labels).count, 6u);
  EXPECT_EQ(Histo(metrics, "spate_end_to_end_latency_seconds", labels).count, 550u);
  EXPECT_EQ(sink.unstamped, 0u);
  EXPECT_EQ(Landed().Snapshot().rows, landed_before) << "produce lands no rows";
  for (const char* queue : {"ingested", "processed"}) {
    EXPECT_EQ(Value(metrics, "spate_queue_batches", {{"pipeline", "produce"}, {"queue", queue}}),
              0);
  }
}

TEST(PipelineMetrics, SourceErrorsAndNoRegistry) {
  class FailingSource final : public Source {
   public:
    Result<SourceState> Next(Batch&, size_t, std::stop_token) override {
      return Status::Fatal("connection refused");
    }
    std::string Describe() const override { return "failing"; }
    std::string_view kind() const override { return "randomuser"; }
  };
  {
    MetricsRegistry metrics;
    FailingSource source;
    TestSink sink;
    Pipeline pipeline(source, {&sink}, Options(&metrics));
    pipeline.Start();
    EXPECT_FALSE(pipeline.Wait().ok());
    EXPECT_EQ(Value(metrics, "spate_source_errors_total", {{"source", "randomuser"}}), 1);
  }
  {
    // Without a registry the pipeline reports nothing and works the same.
    GeneratorSource source = Generator(250);
    TestSink sink;
    PipelineOptions options = Options(nullptr);
    Pipeline pipeline(source, {&sink}, options);
    pipeline.Start();
    ASSERT_TRUE(pipeline.Wait().ok());
    EXPECT_EQ(sink.rows, 250u);
  }
}

}  // namespace
}  // namespace spate
