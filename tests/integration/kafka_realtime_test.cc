// Real-time behaviour of the Kafka transport (issue 18): a record's ingest time travels as its
// message timestamp, and a slow stream is handed on record by record rather than held back
// for a full batch. The producer sink and the consumer source run in this process against
// librdkafka's mock cluster (the rig); kcat, an independent client, reads the timestamps
// the topic holds.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "kafka_clients.h"
#include "kafka_rig.h"
#include "observe/metrics.h"
#include "transport/kafka_sink.h"
#include "transport/kafka_source.h"

namespace spate {
namespace {

using spate::testing::KafkaRig;
using spate::testing::KcatConsume;
using namespace std::chrono_literals;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

KafkaSettings Settings(const KafkaRig& rig) {
  KafkaSettings settings;
  settings.brokers = rig.bootstrap();
  settings.connect_timeout = 10s;
  // Only real failures in the test log.
  settings.options = {{"log_level", "3"}};
  return settings;
}

std::unique_ptr<KafkaProducerSink> OpenProducer(const KafkaRig& rig, const std::string& topic,
                                                MetricsRegistry& metrics) {
  return spate::testing::OpenTestProducer(Settings(rig), topic, metrics);
}

// A reader of every partition from the beginning, outside any group.
std::unique_ptr<KafkaSource> OpenReader(const KafkaRig& rig, const std::string& topic,
                                        MetricsRegistry& metrics) {
  KafkaSourceOptions options;
  options.settings = Settings(rig);
  options.topic = topic;
  options.group.clear();
  options.from = "earliest";
  options.metrics = &metrics;
  auto source = KafkaSource::Create(std::move(options));
  EXPECT_TRUE(source.ok()) << source.status().message();
  return source.ok() ? std::move(source).value() : nullptr;
}

// Reads until `count` records arrived or `timeout` passed; returns them by key.
std::map<std::string, RawRecord> ReadAll(KafkaSource& source, size_t count,
                                         std::chrono::milliseconds timeout) {
  std::map<std::string, RawRecord> out;
  std::stop_source stop;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t sequence = 0;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    Batch batch;
    batch.sequence = ++sequence;
    auto state = source.Next(batch, 1000, stop.get_token());
    if (!state.ok()) {
      ADD_FAILURE() << state.status().message();
      break;
    }
    for (RawRecord& record : batch.records) out[record.key] = std::move(record);
  }
  return out;
}

TEST(KafkaRealtime, IngestTimeTravelsAsTheMessageTimestamp) {
  KafkaRig rig({.brokers = 3, .topics = {"stamps:3"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  MetricsRegistry metrics;
  auto producer = OpenProducer(rig, "stamps", metrics);
  ASSERT_NE(producer, nullptr);

  // Ingest times an hour ago, 7 ms apart, some with microseconds the topic cannot carry
  // (milliseconds only); one record without an ingest time gets the time it was produced.
  const int64_t base_ms = NowUs() / 1000 - 3'600'000;
  Batch batch;
  batch.sequence = 1;
  std::map<std::string, int64_t> sent_us;
  for (int i = 0; i < 40; ++i) {
    RawRecord& record = batch.AddRecord();
    record.key = "user-" + std::to_string(i);
    record.json = R"({"n":)" + std::to_string(i) + "}";
    record.ingest_us = (base_ms + 7 * i) * 1000 + (i % 3 == 0 ? 789 : 0);
    sent_us[record.key] = record.ingest_us;
  }
  RawRecord& unstamped = batch.AddRecord();
  unstamped.key = "unstamped";
  unstamped.json = "{}";
  const int64_t before_us = NowUs();
  const Status written = producer->Write(batch);
  const int64_t after_us = NowUs();
  ASSERT_TRUE(written.ok()) << written.message();
  ASSERT_TRUE(producer->Close().ok());

  // What the topic holds, as another client sees it: kcat's %T is the message timestamp (ms).
  std::string error;
  const std::vector<std::string> lines =
      KcatConsume(rig.bootstrap(), "stamps", "%k %T", 30s, &error);
  ASSERT_TRUE(error.empty()) << error;
  std::map<std::string, int64_t> kcat_ms;
  for (const std::string& line : lines) {
    const size_t space = line.find(' ');
    if (space != std::string::npos)
      kcat_ms[line.substr(0, space)] = std::stoll(line.substr(space + 1));
  }
  ASSERT_EQ(kcat_ms.size(), sent_us.size() + 1);
  for (const auto& [key, us] : sent_us) EXPECT_EQ(kcat_ms[key], us / 1000) << key;
  EXPECT_GE(kcat_ms["unstamped"], before_us / 1000);
  EXPECT_LE(kcat_ms["unstamped"], after_us / 1000 + 1);

  // spate's consumer reads them back as ingest times (ms precision).
  auto reader = OpenReader(rig, "stamps", metrics);
  ASSERT_NE(reader, nullptr);
  const auto read = ReadAll(*reader, sent_us.size() + 1, 30s);
  ASSERT_EQ(read.size(), sent_us.size() + 1);
  for (const auto& [key, us] : sent_us) EXPECT_EQ(read.at(key).ingest_us, us / 1000 * 1000) << key;
  EXPECT_EQ(read.at("unstamped").ingest_us, kcat_ms["unstamped"] * 1000);
}

// 100 records/s for 1.5 s: each must reach the consumer long before a full batch (1000
// records, 10 s at this rate) could have gathered. The bound is loose on purpose (a loaded
// 2-core machine); a consumer that waited for full batches would miss it by seconds.
TEST(KafkaRealtime, ATrickleIsHandedOnWithinLingerNotHeldForAFullBatch) {
  KafkaRig rig({.brokers = 3, .topics = {"trickle:3"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  MetricsRegistry metrics;
  auto producer = OpenProducer(rig, "trickle", metrics);
  ASSERT_NE(producer, nullptr);
  KafkaSourceOptions options;
  options.settings = Settings(rig);
  options.topic = "trickle";
  options.group.clear();
  options.from = "earliest";
  options.metrics = &metrics;
  auto created = KafkaSource::Create(std::move(options));
  ASSERT_TRUE(created.ok()) << created.status().message();
  std::unique_ptr<KafkaSource> source = std::move(created).value();

  constexpr int kRecords = 150;
  std::jthread writer([&](std::stop_token stop) {
    for (int i = 0; i < kRecords && !stop.stop_requested(); ++i) {
      Batch batch;
      batch.sequence = static_cast<uint64_t>(i) + 1;
      RawRecord& record = batch.AddRecord();
      record.key = "k" + std::to_string(i);
      record.json = "{}";
      record.ingest_us = NowUs();
      if (!producer->Write(batch).ok()) return;
      std::this_thread::sleep_for(10ms);
    }
  });

  std::vector<int64_t> latencies_us;
  size_t batches = 0;
  std::stop_source stop;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (latencies_us.size() < kRecords && std::chrono::steady_clock::now() < deadline) {
    Batch batch;
    auto state = source->Next(batch, 1000, stop.get_token());
    ASSERT_TRUE(state.ok()) << state.status().message();
    const int64_t now_us = NowUs();
    if (batch.records.empty()) continue;
    ++batches;
    for (const RawRecord& record : batch.records) {
      ASSERT_GT(record.ingest_us, 0);
      latencies_us.push_back(now_us - record.ingest_us);
    }
  }
  writer.join();
  ASSERT_EQ(latencies_us.size(), static_cast<size_t>(kRecords));
  EXPECT_GT(batches, 3u) << "records were held back and handed on in a few large batches";
  std::sort(latencies_us.begin(), latencies_us.end());
  const int64_t median_us = latencies_us[latencies_us.size() / 2];
  std::printf("trickle: %zu batches, latency median %.1f ms, max %.1f ms\n", batches,
              static_cast<double>(median_us) / 1000,
              static_cast<double>(latencies_us.back()) / 1000);
  // linger is 5 ms; the rest is the producer's delivery and the mock's fetch. Seconds would
  // mean the consumer waited for a full batch.
  EXPECT_LT(median_us, 1'000'000);
  EXPECT_LT(latencies_us.back(), 5'000'000);
}

// linger 0 means "never wait for more", not "one record per batch": what is already queued
// still fills the batch.
TEST(KafkaRealtime, LingerZeroStillFillsBatchesFromWhatIsQueued) {
  KafkaRig rig({.brokers = 3, .topics = {"busy:3"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  MetricsRegistry metrics;
  auto producer = OpenProducer(rig, "busy", metrics);
  ASSERT_NE(producer, nullptr);
  constexpr int kRecords = 3000;
  Batch batch;
  batch.sequence = 1;
  for (int i = 0; i < kRecords; ++i) {
    RawRecord& record = batch.AddRecord();
    record.key = "k" + std::to_string(i);
    record.json = R"({"n":)" + std::to_string(i) + "}";
  }
  ASSERT_TRUE(producer->Write(batch).ok());

  KafkaSourceOptions options;
  options.settings = Settings(rig);
  options.topic = "busy";
  options.group.clear();
  options.from = "earliest";
  options.linger = 0ms;
  options.metrics = &metrics;
  auto created = KafkaSource::Create(std::move(options));
  ASSERT_TRUE(created.ok()) << created.status().message();
  std::unique_ptr<KafkaSource> source = std::move(created).value();
  // Let the fetchers queue the topic first, so that batches are limited by what is queued.
  std::this_thread::sleep_for(500ms);
  size_t records = 0;
  size_t batches = 0;
  std::stop_source stop;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (records < kRecords && std::chrono::steady_clock::now() < deadline) {
    Batch got;
    auto state = source->Next(got, 1000, stop.get_token());
    ASSERT_TRUE(state.ok()) << state.status().message();
    if (got.records.empty()) continue;
    records += got.records.size();
    ++batches;
  }
  ASSERT_EQ(records, static_cast<size_t>(kRecords));
  // One record per batch would be 3000; the bound leaves room for a loaded machine's fetches
  // arriving piecemeal.
  EXPECT_LE(batches, 300u) << "batches of " << records / batches << " records on average";
}

}  // namespace
}  // namespace spate
