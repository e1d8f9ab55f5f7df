// One record too large never costs its neighbours (issue 17, item 18): `produce` has
// --max-record-bytes, and a record Kafka refuses as too large (librdkafka at produce time, or
// the broker in its delivery report) is dead-lettered with the reason while the batch goes on,
// for `produce` and `run --transport kafka`. Checked on the mock cluster with kcat.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "db_query.h"
#include "kafka_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::KafkaRig;
using spate::testing::KcatConsume;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::RunSpate;
using spate::testing::TempDir;

std::string Uuid(int i) { return fmt::format("00000000-0000-4000-8000-{:012}", i); }

// One API-shaped user (v1.4); `padding` bytes of an extra field make it as large as needed.
std::string User(int i, size_t padding = 0) {
  return fmt::format(
      R"({{"gender":"female","name":{{"title":"Ms","first":"First{}","last":"Last"}},)"
      R"("location":{{"street":{{"number":1,"name":"Main St"}},"city":"Town","state":"State",)"
      R"("country":"Land","postcode":"12345","coordinates":{{"latitude":"1.5","longitude":"-2.25"}},)"
      R"("timezone":{{"offset":"+1:00","description":"x"}}}},"email":"a@example.com",)"
      R"("login":{{"uuid":"{}","username":"user1"}},"dob":{{"date":"1990-01-01T00:00:00.000Z","age":35}},)"
      R"("registered":{{"date":"2015-01-01T00:00:00.000Z","age":10}},"phone":"1","cell":"2",)"
      R"("picture":{{"large":"l","medium":"m","thumbnail":"t"}},"nat":"US","padding":"{}"}})",
      i, Uuid(i), std::string(padding, 'p'));
}

constexpr int kGood = 20;
constexpr int kBigAt = 11;  // The big record's line (1-based).
constexpr int kBigId = 99;

// kGood users, one per line, and a large one (`big_bytes`) at line kBigAt.
std::string WriteInput(const TempDir& dir, size_t big_bytes) {
  std::string lines;
  int good = 0;
  for (int line = 1; line <= kGood + 1; ++line) {
    if (line == kBigAt) {
      const std::string small = User(kBigId);
      lines += User(kBigId, big_bytes - small.size()) + "\n";
    } else {
      lines += User(good++) + "\n";
    }
  }
  const std::string file = dir.File("users.jsonl");
  std::ofstream(file) << lines;
  return file;
}

std::vector<std::string> Kafka(const KafkaRig& rig, std::vector<std::string> args) {
  args.insert(args.end(), {"--brokers", rig.bootstrap(), "--progress", "never"});
  return args;
}

KafkaRig::Options Topic(const std::string& spec) {
  KafkaRig::Options options;
  options.topics = {spec};
  return options;
}

std::set<std::string> Keys(const std::vector<std::string>& lines) {
  return std::set<std::string>(lines.begin(), lines.end());
}

std::set<std::string> GoodKeys() {
  std::set<std::string> keys;
  for (int i = 0; i < kGood; ++i) keys.insert(Uuid(i));
  return keys;
}

TEST(KafkaLimits, ProduceDeadLettersARecordOverMaxRecordBytesAndDeliversTheOthers) {
  KafkaRig rig(Topic("users_created:3"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string file = WriteInput(dir, 8000);
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--source", "file", "--input", file,
                                               "--max-record-bytes", "4096"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  EXPECT_NE(produced.err.find("20 delivered to users_created, 1 dead letters"), std::string::npos)
      << produced.err;
  EXPECT_EQ(Keys(KcatConsume(rig.bootstrap(), "users_created", "%k")), GoodKeys());
  const auto dead = KcatConsume(rig.bootstrap(), "users_created.dlq", "%h");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("too large"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find(fmt::format("position={}", kBigAt)), std::string::npos) << dead[0];
}

// Over librdkafka's message.max.bytes: refused at produce time ("Message size too large",
// which used to stop produce with exit 1 and lose the records around it).
TEST(KafkaLimits, ProduceDeadLettersARecordKafkaRefusesAndDeliversTheOthers) {
  KafkaRig rig(Topic("users_created:3"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const size_t big = 10000;
  const std::string file = WriteInput(dir, big);
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--source", "file", "--input", file,
                                               "--kafka-opt", "message.max.bytes=4000"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  EXPECT_NE(produced.err.find("20 delivered to users_created, 1 dead letters"), std::string::npos)
      << produced.err;
  EXPECT_EQ(Keys(KcatConsume(rig.bootstrap(), "users_created", "%k")), GoodKeys());
  const auto dead = KcatConsume(rig.bootstrap(), "users_created.dlq", "%h\t%s");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find(fmt::format("reason=Kafka refused the record ({} bytes)", big)),
            std::string::npos)
      << dead[0];
  EXPECT_NE(dead[0].find("Message size too large"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find(fmt::format("truncated={}", big)), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find(fmt::format("position={}", kBigAt)), std::string::npos) << dead[0];
  // The dead letter keeps the record's first 1024 bytes.
  const std::string value = dead[0].substr(dead[0].find('\t') + 1);
  EXPECT_EQ(value, User(kBigId, big - User(kBigId).size()).substr(0, 1024));
}

// The broker refuses a whole produce request as too large (the mock is told to, once): the
// broker checks its limit per batch, so each record of it is sent again alone, and all are
// delivered. Nothing is lost, dead-lettered or delivered twice, and the run goes on.
TEST(KafkaLimits, ARecordBatchTheBrokerRefusesIsSentAgainRecordByRecord) {
  KafkaRig rig(Topic("users_created:1"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string file = WriteInput(dir, 2000);
  std::string reply;
  ASSERT_TRUE(rig.Command("errors 0 MSG_SIZE_TOO_LARGE 1", &reply)) << reply;
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--source", "file", "--input", file}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  EXPECT_NE(produced.err.find("Message size too large"), std::string::npos)
      << "the injected refusal was not seen: " << produced.err;
  const auto delivered = KcatConsume(rig.bootstrap(), "users_created", "%k");
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kGood + 1));
  std::set<std::string> expected = GoodKeys();
  expected.insert(Uuid(kBigId));
  EXPECT_EQ(Keys(delivered), expected);
  EXPECT_TRUE(KcatConsume(rig.bootstrap(), "users_created.dlq", "%k").empty());
  EXPECT_NE(produced.err.find("21 delivered to users_created, 0 dead letters"), std::string::npos)
      << produced.err;
}

// The broker refuses the batch, and then one record sent alone: that one is a dead letter
// with the reason, the others are delivered. (Errors on the topic's leader only; the
// dead-letter topic's leader is another broker.)
TEST(KafkaLimits, ARecordTheBrokerRefusesEvenAloneIsDeadLetteredAndTheOthersDelivered) {
  KafkaRig::Options options;
  options.topics = {"users_created:1", "users_created.dlq:1"};
  KafkaRig rig(options);
  ASSERT_TRUE(rig.ok()) << rig.error();
  std::string reply;
  ASSERT_TRUE(rig.Command("leader users_created 0 1", &reply)) << reply;
  ASSERT_TRUE(rig.Command("leader users_created.dlq 0 2", &reply)) << reply;
  TempDir dir;
  const std::string file = WriteInput(dir, 2000);
  ASSERT_TRUE(rig.Command("broker-errors 1 0 MSG_SIZE_TOO_LARGE 2", &reply)) << reply;
  // One batch for the whole file: the first refusal is of all of it.
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--source", "file", "--input", file,
                                               "--kafka-opt", "linger.ms=500"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  const auto delivered = KcatConsume(rig.bootstrap(), "users_created", "%k");
  const auto dead = KcatConsume(rig.bootstrap(), "users_created.dlq", "%h");
  ASSERT_EQ(dead.size(), 1u) << produced.err;
  EXPECT_NE(dead[0].find("reason=Kafka refused the record"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("Message size too large"), std::string::npos) << dead[0];
  EXPECT_EQ(delivered.size(), static_cast<size_t>(kGood));
  EXPECT_EQ(Keys(delivered).size(), delivered.size()) << "a record delivered twice";
  EXPECT_NE(produced.err.find("20 delivered to users_created, 1 dead letters"), std::string::npos)
      << produced.err;
}

// Property: records of random sizes, a random share of them over message.max.bytes (well
// clear of it: librdkafka counts some overhead), in a fixed-seed shuffle: every small record
// is on the topic once, every large one is in the dead-letter topic once, at its line.
TEST(KafkaLimits, RandomSizesEveryRecordIsDeliveredOrDeadLetteredOnce) {
  KafkaRig rig(Topic("users_created:4"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  std::mt19937 random(180);
  const size_t limit = 6000;
  std::set<std::string> small_keys;
  std::set<std::string> large_lines;
  std::string lines;
  const int count = 300;
  for (int i = 0; i < count; ++i) {
    const bool large = random() % 7 == 0;
    const size_t size = large ? 2 * limit + random() % 20000 : 1500 + random() % (limit / 2);
    const std::string small = User(i);
    lines += User(i, size - small.size()) + "\n";
    if (large) {
      large_lines.insert(std::to_string(i + 1));
    } else {
      small_keys.insert(Uuid(i));
    }
  }
  const std::string file = dir.File("random.jsonl");
  std::ofstream(file) << lines;
  Outcome produced =
      RunSpate(dir, Kafka(rig, {"produce", "--source", "file", "--input", file, "--batch-size",
                                "37", "--kafka-opt", fmt::format("message.max.bytes={}", limit)}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  const auto delivered = KcatConsume(rig.bootstrap(), "users_created", "%k");
  EXPECT_EQ(delivered.size(), small_keys.size());
  EXPECT_EQ(Keys(delivered), small_keys);
  std::multiset<std::string> dead_lines;
  for (const std::string& headers : KcatConsume(rig.bootstrap(), "users_created.dlq", "%h")) {
    const size_t at = headers.find("position=");
    ASSERT_NE(at, std::string::npos) << headers;
    dead_lines.insert(headers.substr(at + 9, headers.find(',', at) - at - 9));
  }
  EXPECT_EQ(dead_lines.size(), large_lines.size());
  EXPECT_EQ(std::set<std::string>(dead_lines.begin(), dead_lines.end()), large_lines);
  EXPECT_NE(produced.err.find(fmt::format("{} delivered to users_created, {} dead letters",
                                          small_keys.size(), large_lines.size())),
            std::string::npos)
      << produced.err;
}

TEST(KafkaLimits, RunWithKafkaTransportDeadLettersARecordKafkaRefusesAndStoresTheOthers) {
  KafkaRig rig(Topic("users_created:3"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string file = WriteInput(dir, 10000);
  const std::string data = dir.File("data");
  Outcome run =
      RunSpate(dir, Kafka(rig, {"run", "--transport", "kafka", "--source", "file", "--input", file,
                                "--data-dir", data, "--kafka-opt", "message.max.bytes=4000"}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), kGood);
  EXPECT_NE(run.err.find("20 rows stored, 0 rejected"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("produced: 20 records to kafka users_created, 1 dead letters"),
            std::string::npos)
      << run.err;
  const auto dead = KcatConsume(rig.bootstrap(), "users_created.dlq", "%h");
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_NE(dead[0].find("Message size too large"), std::string::npos) << dead[0];
}

}  // namespace
}  // namespace spate
