// The Kafka transport's metrics and health checks (issue 18): consumer lag per partition,
// committed offsets, bytes produced and consumed, the producer queue, and "ready" following
// the brokers. The producer sink and the consumer source run in this process against
// librdkafka's mock cluster (the rig), each with a registry of its own; the partitions'
// contents and the group's commits are read back independently (kcat, a librdkafka query).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kafka_clients.h"
#include "kafka_rig.h"
#include "observe/feeds.h"
#include "observe/metrics.h"
#include "spate_process.h"
#include "transport/kafka_sink.h"
#include "transport/kafka_source.h"

namespace spate {
namespace {

using spate::testing::CommittedOffsets;
using spate::testing::KafkaRig;
using spate::testing::KcatConsume;
using spate::testing::WaitFor;
using namespace std::chrono_literals;

// name's series in `metrics` by the value of `label` (only series that also carry `topic`).
std::map<std::string, double> Series(const MetricsRegistry& metrics, std::string_view name,
                                     std::string_view topic, std::string_view label) {
  std::map<std::string, double> out;
  for (const MetricSample& sample : metrics.Collect()) {
    if (sample.name == name && sample.Label("topic") == topic) {
      out[std::string(sample.Label(label))] = sample.value;
    }
  }
  return out;
}

double Bytes(const MetricsRegistry& metrics, std::string_view topic, std::string_view direction) {
  auto series = Series(metrics, "spate_kafka_bytes_total", topic, "direction");
  auto it = series.find(std::string(direction));
  return it == series.end() ? -1 : it->second;
}

double QueueGauge(const MetricsRegistry& metrics) {
  for (const MetricSample& sample : metrics.Collect()) {
    if (sample.name == "spate_kafka_producer_queue_messages") return sample.value;
  }
  return -1;
}

const HealthCheck* Check(const std::vector<HealthCheck>& checks, const std::string& name) {
  for (const HealthCheck& check : checks) {
    if (check.name == name) return &check;
  }
  return nullptr;
}

// Ready (true/false) of the named check; nullopt-like -1 when absent.
int Ready(const std::string& name) {
  const auto checks = Health().Checks();
  const HealthCheck* check = Check(checks, name);
  return check == nullptr ? -1 : check->ready ? 1 : 0;
}

KafkaSettings Settings(const KafkaRig& rig) {
  KafkaSettings settings;
  settings.brokers = rig.bootstrap();
  settings.connect_timeout = 10s;
  // A short group session: the mock makes a joining member wait session.timeout.ms - 1 s.
  settings.options = {
      {"log_level", "3"}, {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  return settings;
}

std::unique_ptr<KafkaProducerSink> OpenProducer(const KafkaRig& rig, const std::string& topic,
                                                MetricsRegistry& metrics) {
  return spate::testing::OpenTestProducer(Settings(rig), topic, metrics);
}

std::unique_ptr<KafkaSource> OpenSource(const KafkaRig& rig, const std::string& topic,
                                        const std::string& group, MetricsRegistry& metrics) {
  KafkaSourceOptions options;
  options.settings = Settings(rig);
  options.topic = topic;
  options.group = group;
  options.from = "earliest";
  options.metrics = &metrics;
  auto source = KafkaSource::Create(std::move(options));
  EXPECT_TRUE(source.ok()) << source.status().message();
  return source.ok() ? std::move(source).value() : nullptr;
}

// Records of varied sizes, keyed so that they spread over the partitions.
Batch MakeBatch(int count, uint64_t sequence, uint64_t* bytes) {
  Batch batch;
  batch.sequence = sequence;
  for (int i = 0; i < count; ++i) {
    RawRecord& record = batch.AddRecord();
    record.key = "user-" + std::to_string(sequence) + "-" + std::to_string(i);
    record.json = R"({"name":")" + std::string(static_cast<size_t>(i % 37), 'x') + R"("})";
    *bytes += record.json.size();
  }
  return batch;
}

TEST(KafkaMetrics, LagIsWhatTheGroupHasNotReadAndCommittedOffsetsAreTheGroups) {
  KafkaRig rig({.brokers = 3, .topics = {"lagged:3"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  MetricsRegistry produced_metrics;
  auto producer = OpenProducer(rig, "lagged", produced_metrics);
  ASSERT_NE(producer, nullptr);
  constexpr int kRecords = 300;
  uint64_t produced_bytes = 0;
  const Batch batch = MakeBatch(kRecords, 1, &produced_bytes);
  ASSERT_TRUE(producer->Write(batch).ok());
  EXPECT_EQ(Bytes(produced_metrics, "lagged", "produced"), static_cast<double>(produced_bytes));
  ASSERT_TRUE(producer->Close().ok());

  // Records per partition, as an independent client sees the topic.
  std::string error;
  std::map<std::string, int64_t> per_partition;
  for (const std::string& p : KcatConsume(rig.bootstrap(), "lagged", "%p", 30s, &error)) {
    ++per_partition[p];
  }
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(per_partition.size(), 3u) << "every partition should hold records";

  // A group member reads 150 of them and acknowledges each batch (as the sinks would).
  MetricsRegistry metrics;
  auto source = OpenSource(rig, "lagged", "lag-group", metrics);
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(Ready(source->HealthName()), 0) << "ready before the group assigned partitions";
  constexpr size_t kRead = 150;
  std::map<std::string, int64_t> read;
  uint64_t read_bytes = 0;
  size_t total = 0;
  std::stop_source stop;
  uint64_t sequence = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (total < kRead && std::chrono::steady_clock::now() < deadline) {
    Batch got;
    got.sequence = ++sequence;
    auto state = source->Next(got, kRead - total, stop.get_token());
    ASSERT_TRUE(state.ok()) << state.status().message();
    for (const RawRecord& record : got.records) {
      ++read[std::to_string(record.partition)];
      read_bytes += record.json.size();
    }
    total += got.records.size();
    source->Acknowledge(got.sequence);
  }
  ASSERT_EQ(total, kRead);
  EXPECT_EQ(Ready(source->HealthName()), 1);
  EXPECT_EQ(Bytes(metrics, "lagged", "consumed"), static_cast<double>(read_bytes));

  // Lag: what each partition holds beyond what was read. The watermarks are librdkafka's
  // cached ones, so they may need a fetch or two to be known for every partition.
  std::map<std::string, double> expected_lag;
  for (const auto& [partition, records] : per_partition) {
    const auto it = read.find(partition);
    expected_lag[partition] = static_cast<double>(records - (it == read.end() ? 0 : it->second));
  }
  std::map<std::string, double> lag;
  WaitFor(
      [&] {
        source->PublishMetrics();
        lag = Series(metrics, "spate_kafka_consumer_lag_messages", "lagged", "partition");
        return lag == expected_lag;
      },
      10s);
  EXPECT_EQ(lag, expected_lag);
  double sum = 0;
  for (const auto& [partition, value] : lag) sum += value;
  EXPECT_EQ(sum, static_cast<double>(kRecords - kRead));

  // Closing commits what was acknowledged; the gauges say what the group's coordinator says.
  source->Close();
  const std::map<int32_t, int64_t> committed =
      CommittedOffsets(rig.bootstrap(), "lag-group", "lagged", 3, 10s, &error);
  ASSERT_TRUE(error.empty()) << error;
  std::map<std::string, double> expected_committed;
  for (const auto& [partition, offset] : committed) {
    if (offset >= 0) expected_committed[std::to_string(partition)] = static_cast<double>(offset);
  }
  std::map<std::string, double> read_as_offsets;
  for (const auto& [partition, records] : read) {
    read_as_offsets[partition] = static_cast<double>(records);
  }
  EXPECT_EQ(expected_committed, read_as_offsets) << "the group committed what was acknowledged";
  EXPECT_EQ(Series(metrics, "spate_kafka_committed_offset", "lagged", "partition"),
            expected_committed);
  // Revoked on close: the partitions' lag is no longer this member's to report.
  for (const auto& [partition, value] :
       Series(metrics, "spate_kafka_consumer_lag_messages", "lagged", "partition")) {
    EXPECT_EQ(value, 0) << "partition " << partition;
  }

  // Every record read back once: as many bytes consumed as were produced.
  MetricsRegistry reread;
  auto reader = OpenSource(rig, "lagged", "", reread);
  ASSERT_NE(reader, nullptr);
  size_t reread_records = 0;
  const auto reread_deadline = std::chrono::steady_clock::now() + 30s;
  while (reread_records < kRecords && std::chrono::steady_clock::now() < reread_deadline) {
    Batch got;
    auto state = reader->Next(got, 1000, stop.get_token());
    ASSERT_TRUE(state.ok()) << state.status().message();
    reread_records += got.records.size();
  }
  ASSERT_EQ(reread_records, static_cast<size_t>(kRecords));
  EXPECT_EQ(Bytes(reread, "lagged", "consumed"), Bytes(produced_metrics, "lagged", "produced"));
}

TEST(KafkaMetrics, HealthAndTheProducerQueueFollowTheBrokers) {
  KafkaRig rig({.brokers = 3, .topics = {"flaky:3", "flaky.dlq:1"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  MetricsRegistry metrics;
  auto producer = OpenProducer(rig, "flaky", metrics);
  ASSERT_NE(producer, nullptr);
  EXPECT_EQ(Ready(producer->HealthName()), 1);
  // process' dead-letter producer: written to (synchronously) with batches that mostly hold
  // no dead letters, and it must notice the brokers all the same.
  KafkaProducerOptions dlq_options;
  dlq_options.settings = Settings(rig);
  dlq_options.dlq_topic = "flaky.dlq";
  dlq_options.metrics = &metrics;
  KafkaProducerSink dead_letters(std::move(dlq_options));
  ASSERT_TRUE(dead_letters.Open().ok());
  EXPECT_EQ(dead_letters.HealthName(), "sink kafka flaky.dlq");
  EXPECT_EQ(Ready(dead_letters.HealthName()), 1);
  uint64_t ignored_bytes = 0;
  const Batch no_dead_letters = MakeBatch(3, 9, &ignored_bytes);  // Records only: not its.
  auto reader = OpenSource(rig, "flaky", "", metrics);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(Ready(reader->HealthName()), 1) << "a reader without a group has its partitions";
  std::stop_source stop;
  auto read_some = [&] {
    Batch got;
    auto state = reader->Next(got, 1000, stop.get_token());
    EXPECT_TRUE(state.ok()) << state.status().message();
    return got.records.size();
  };

  ASSERT_TRUE(rig.BrokerDown(-1));
  uint64_t bytes = 0;
  const Batch batch = MakeBatch(50, 7, &bytes);
  ASSERT_TRUE(producer->Submit(batch).ok());
  std::vector<Sink::Completion> done;
  auto poll = [&] {
    for (Sink::Completion& c : producer->Poll(20ms)) done.push_back(std::move(c));
    EXPECT_TRUE(dead_letters.Write(no_dead_letters).ok());
  };
  EXPECT_TRUE(WaitFor(
      [&] {
        poll();
        read_some();
        return Ready(producer->HealthName()) == 0 && Ready(reader->HealthName()) == 0 &&
               Ready(dead_letters.HealthName()) == 0 && QueueGauge(metrics) == 50;
      },
      30s))
      << "sink ready " << Ready(producer->HealthName()) << ", source ready "
      << Ready(reader->HealthName()) << ", dead letters ready " << Ready(dead_letters.HealthName())
      << ", queue " << QueueGauge(metrics);
  const auto checks = Health().Checks();
  ASSERT_NE(Check(checks, producer->HealthName()), nullptr);
  EXPECT_NE(Check(checks, producer->HealthName())->detail.find("down"), std::string::npos)
      << Check(checks, producer->HealthName())->detail;
  EXPECT_TRUE(done.empty());

  ASSERT_TRUE(rig.BrokerUp(-1));
  size_t read = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        poll();
        read += read_some();
        return Ready(producer->HealthName()) == 1 && Ready(reader->HealthName()) == 1 &&
               Ready(dead_letters.HealthName()) == 1 && done.size() == 1 &&
               QueueGauge(metrics) == 0;
      },
      60s))
      << "sink ready " << Ready(producer->HealthName()) << ", source ready "
      << Ready(reader->HealthName()) << ", dead letters ready " << Ready(dead_letters.HealthName())
      << ", completions " << done.size() << ", queue " << QueueGauge(metrics);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].status.ok()) << done[0].status.message();
  EXPECT_EQ(Bytes(metrics, "flaky", "produced"), static_cast<double>(bytes));
  ASSERT_TRUE(producer->Close().ok());
  EXPECT_EQ(QueueGauge(metrics), 0);
}

}  // namespace
}  // namespace spate
