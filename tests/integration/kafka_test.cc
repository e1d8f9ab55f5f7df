// End-to-end tests of the Kafka transport: the real spate binary against librdkafka's mock
// cluster (three brokers on loopback, started by each test through the rig), with kcat as an
// independent client to read what spate produced and to produce input spate must consume.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "db_query.h"
#include "kafka_rig.h"
#include "spate_process.h"
#include "transforms/user_transform.h"

namespace spate {
namespace {

using spate::testing::CommittedOffsets;
using spate::testing::KafkaRig;
using spate::testing::KcatConsume;
using spate::testing::KcatProduce;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::QueryStrings;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;
using spate::testing::WaitFor;
using namespace std::chrono_literals;

int64_t TryCount(const std::string& data_dir, const std::string& sql) {
  return QueryInt(data_dir, sql);  // -1 while the database is not there yet.
}

std::set<std::string> Ids(const std::string& data_dir) {
  return QueryStrings(data_dir, "SELECT id FROM created_users");
}

KafkaRig::Options Topic(const std::string& spec) {
  KafkaRig::Options options;
  options.topics = {spec};
  return options;
}

// Flags every command here shares: the rig's brokers, and a short group session so a member
// killed with -9 is noticed in seconds rather than the default 45.
std::vector<std::string> Kafka(const KafkaRig& rig, std::vector<std::string> args) {
  args.insert(args.end(), {"--brokers", rig.bootstrap(), "--progress", "never"});
  return args;
}

std::vector<std::string> Process(const KafkaRig& rig, const std::string& data,
                                 const std::string& group, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"process",
                                   "--data-dir",
                                   data,
                                   "--group",
                                   group,
                                   "--kafka-opt",
                                   "session.timeout.ms=6000",
                                   "--kafka-opt",
                                   "heartbeat.interval.ms=500"};
  args.insert(args.end(), extra.begin(), extra.end());
  return Kafka(rig, args);
}

std::map<std::string, std::string> KeysToValues(const std::vector<std::string>& lines) {
  std::map<std::string, std::string> out;
  for (const std::string& line : lines) {
    const size_t tab = line.find('\t');
    if (tab != std::string::npos) out[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return out;
}

TEST(Kafka, ProduceThenProcessStoresEveryRecordOnceWithTheRightKeys) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");

  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--count", "3000", "--seed", "k1"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  EXPECT_NE(produced.err.find("3,000 delivered to users_created"), std::string::npos)
      << produced.err;

  // kcat, an independent client, sees every record once, keyed by its login.uuid, without
  // the login secrets.
  const auto lines = KcatConsume(rig.bootstrap(), "users_created", "%k\t%s");
  ASSERT_EQ(lines.size(), 3000u);
  const auto by_key = KeysToValues(lines);
  ASSERT_EQ(by_key.size(), 3000u) << "duplicate keys on the topic";
  KeyReader reader;
  for (const auto& [key, value] : by_key) {
    ASSERT_TRUE(IsValidUuid(key)) << key;
    ASSERT_EQ(reader.LoginUuid(value), key);
    ASSERT_EQ(value.find("\"password\""), std::string::npos);
    ASSERT_EQ(value.find("\"sha256\""), std::string::npos);
  }

  Outcome processed = RunSpate(dir, Process(rig, data, "g1", {"--exit-at-end"}));
  ASSERT_EQ(processed.exit_code, 0) << processed.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 3000);
  std::set<std::string> keys;
  for (const auto& [key, value] : by_key) keys.insert(key);
  EXPECT_EQ(Ids(data), keys);

  // The same topic again under a new group: every record re-read, still one row each.
  Outcome again = RunSpate(dir, Process(rig, data, "g2", {"--exit-at-end"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("3,000 rows stored"), std::string::npos) << again.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 3000);

  // The first group committed everything: a restart of it has nothing left to do.
  const auto committed = CommittedOffsets(rig.bootstrap(), "g1", "users_created", 6);
  int64_t total = 0;
  for (const auto& [partition, offset] : committed) total += offset > 0 ? offset : 0;
  EXPECT_EQ(total, 3000);
}

// A new group starts where --from says (spate looks up the start offsets itself when it is
// assigned partitions; kafka_source.h, FillStartOffsets).
TEST(Kafka, FromLatestSkipsWhatIsThereAndReadsWhatComesAfter) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome old = RunSpate(dir, Kafka(rig, {"produce", "--count", "500", "--seed", "old"}));
  ASSERT_EQ(old.exit_code, 0) << old.err;

  // Starting at the end with --exit-at-end: already there, nothing stored.
  Outcome none = RunSpate(dir, Process(rig, data, "late", {"--from", "latest", "--exit-at-end"}));
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.err.find(" 0 rows stored"), std::string::npos) << none.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 0);

  // A member that keeps running reads what is produced after it started, and only that.
  SpateProcess late(dir, Process(rig, data, "later", {"--from", "latest"}));
  ASSERT_TRUE(WaitFor(
      [&] { return late.Stderr().find("assigned users_created[") != std::string::npos; }, 60s))
      << late.Stderr();
  // The start offsets are looked up as the partitions are assigned; a wide margin so that
  // records sent now are past them.
  std::this_thread::sleep_for(2s);
  Outcome fresh = RunSpate(dir, Kafka(rig, {"produce", "--count", "300", "--seed", "new"}));
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  ASSERT_TRUE(
      WaitFor([&] { return TryCount(data, "SELECT count(*) FROM created_users") >= 300; }, 60s))
      << late.Stderr();
  late.Signal(SIGTERM);
  Outcome done = late.Wait(60s);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 300) << done.err;
}

TEST(Kafka, TwoProcessesShareTheGroupAndTheSurvivorTakesOver) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  // Both members write to one database (upserts), as two workers of one job would.
  SpateProcess a(dir, Process(rig, data, "shared"));
  SpateProcess b(dir, Process(rig, data, "shared"));
  // Wait until the group has settled with both members holding partitions.
  auto holds_partitions = [](const SpateProcess& p) {
    const std::string err = p.Stderr();
    const size_t last = err.rfind("assigned users_created[");
    return last != std::string::npos && err.find("revoked", last) == std::string::npos;
  };
  ASSERT_TRUE(WaitFor([&] { return holds_partitions(a) && holds_partitions(b); }, 60s))
      << a.Stderr() << "\n---\n"
      << b.Stderr();

  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--count", "4000", "--seed", "g"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  ASSERT_TRUE(
      WaitFor([&] { return TryCount(data, "SELECT count(*) FROM created_users") == 4000; }, 60s));

  // Stop one: it leaves the group and the other takes over all partitions.
  a.Signal(SIGTERM);
  Outcome a_done = a.Wait(60s);
  ASSERT_EQ(a_done.exit_code, 0) << a_done.err;
  ASSERT_TRUE(WaitFor(
      [&] { return b.Stderr().find("assigned users_created[0,1,2,3,4,5]") != std::string::npos; },
      60s))
      << b.Stderr();
  Outcome more = RunSpate(dir, Kafka(rig, {"produce", "--count", "1000", "--seed", "h"}));
  ASSERT_EQ(more.exit_code, 0) << more.err;
  ASSERT_TRUE(
      WaitFor([&] { return TryCount(data, "SELECT count(*) FROM created_users") == 5000; }, 60s));
  b.Signal(SIGTERM);
  Outcome b_done = b.Wait(60s);
  ASSERT_EQ(b_done.exit_code, 0) << b_done.err;

  // Both did part of the work; together every record once.
  auto stored = [](const std::string& err) {
    const size_t at = err.find("spate process: ");
    return at == std::string::npos ? std::string() : err.substr(at, err.find('\n', at) - at);
  };
  EXPECT_EQ(stored(a_done.err).find("spate process: 0 records"), std::string::npos) << a_done.err;
  EXPECT_EQ(stored(b_done.err).find("spate process: 0 records"), std::string::npos) << b_done.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 5000);
}

TEST(Kafka, KillNineMidStreamNeverCommitsPastStoredRecordsAndRestartFinishes) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  constexpr int kRecords = 30000;
  Outcome produced =
      RunSpate(dir, Kafka(rig, {"produce", "--count", std::to_string(kRecords), "--seed", "kill"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  {
    // Small batches and frequent commits make the window in which it dies a busy one.
    SpateProcess victim(
        dir, Process(rig, data, "crash",
                     {"--batch-size", "20", "--kafka-opt", "auto.commit.interval.ms=50"}));
    ASSERT_TRUE(WaitFor(
        [&] { return TryCount(data, "SELECT count(*) FROM created_users") >= kRecords / 3; }, 90s))
        << victim.Stderr();
    victim.Signal(SIGKILL);
    EXPECT_EQ(victim.Wait(10s).exit_code, 128 + SIGKILL);
  }

  // Everything below each committed offset must already be stored.
  const auto committed = CommittedOffsets(rig.bootstrap(), "crash", "users_created", 6);
  const std::set<std::string> stored = Ids(data);
  ASSERT_LT(stored.size(), static_cast<size_t>(kRecords)) << "killed too late to test anything";
  int64_t committed_total = 0;
  for (const std::string& line : KcatConsume(rig.bootstrap(), "users_created", "%p %o %k")) {
    const int32_t partition = std::stoi(line.substr(0, line.find(' ')));
    const int64_t offset = std::stoll(line.substr(line.find(' ') + 1));
    const std::string key = line.substr(line.rfind(' ') + 1);
    auto it = committed.find(partition);
    if (it != committed.end() && offset < it->second) {
      ++committed_total;
      ASSERT_TRUE(stored.count(key)) << "offset " << offset << " of partition " << partition
                                     << " is committed but its record was not stored";
    }
  }
  EXPECT_GT(committed_total, 0) << "nothing was committed before the kill";

  Outcome restarted = RunSpate(dir, Process(rig, data, "crash", {"--exit-at-end"}));
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), kRecords);
  EXPECT_EQ(Ids(data).size(), static_cast<size_t>(kRecords));
}

// librdkafka 2.0 stops fetching while its queue is full and may then idle for up to a second;
// KafkaSource wakes the fetchers by seeking a partition (kafka_source.h). With a 256 KB queue
// this run fills it dozens of times: every record must still arrive exactly once, in a few
// seconds rather than a minute of one-second stalls.
TEST(Kafka, AFullPrefetchQueueIsRefilledWithoutLosingOrRepeatingRecords) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  constexpr int kRecords = 20000;
  Outcome produced =
      RunSpate(dir, Kafka(rig, {"produce", "--count", std::to_string(kRecords), "--seed", "full"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  SpateProcess process(dir, Process(rig, data, "full",
                                    {"--exit-at-end", "--log-level", "debug", "--kafka-opt",
                                     "queued.max.messages.kbytes=256"}));
  const Outcome processed = process.Wait(60s);
  ASSERT_EQ(processed.exit_code, 0) << processed.err.substr(0, 4000);
  // A record delivered twice would be counted twice here, though the upsert hides it below.
  EXPECT_NE(processed.err.find("20,000 rows stored"), std::string::npos)
      << processed.err.substr(processed.err.size() - std::min<size_t>(processed.err.size(), 2000));
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), kRecords);
  const size_t at = processed.err.find("woke stalled fetchers ");
  ASSERT_NE(at, std::string::npos) << "no wake-up count in the log";
  EXPECT_GT(std::stoi(processed.err.substr(at + 22)), 0) << "the queue never filled";
  int64_t committed = 0;
  for (const auto& [partition, offset] :
       CommittedOffsets(rig.bootstrap(), "full", "users_created", 6)) {
    committed += offset > 0 ? offset : 0;
  }
  EXPECT_EQ(committed, kRecords);
}

TEST(Kafka, ABrokerDownDuringProduceAndDuringProcessLosesNothing) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");

  // Produce while broker 1 is down: its partitions wait; nothing may be lost or reported
  // delivered before it is.
  ASSERT_TRUE(rig.BrokerDown(1));
  SpateProcess producer(dir, Kafka(rig, {"produce", "--count", "6000", "--seed", "down"}));
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(rig.BrokerUp(1));
  Outcome produced = producer.Wait(120s);
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  const auto keys = KeysToValues(KcatConsume(rig.bootstrap(), "users_created", "%k\t%s"));
  ASSERT_EQ(keys.size(), 6000u);

  // Process while broker 2 is down.
  ASSERT_TRUE(rig.BrokerDown(2));
  SpateProcess processor(dir, Process(rig, data, "down", {"--exit-at-end"}));
  std::this_thread::sleep_for(4s);
  ASSERT_TRUE(rig.BrokerUp(2));
  Outcome processed = processor.Wait(120s);
  ASSERT_EQ(processed.exit_code, 0) << processed.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 6000);
  EXPECT_EQ(Ids(data).size(), 6000u);
}

TEST(Kafka, MalformedMessagesGoToTheDeadLetterTopicAndTableAndTheConsumerGoesOn) {
  KafkaRig rig(Topic("users_created:1"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  ASSERT_TRUE(KcatProduce(rig.bootstrap(), "users_created",
                          {{"k-bad-json", "this is not json"},
                           {"k-wrong-shape", R"({"name":{"first":1},"login":{"password":"pw1"}})"},
                           {"k-array", "[1,2,3]"}}));
  // Good records after the bad ones: the consumer must get past the bad ones to store them.
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--count", "50", "--seed", "bad"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  Outcome processed = RunSpate(dir, Process(rig, data, "dlq", {"--exit-at-end"}));
  ASSERT_EQ(processed.exit_code, 0) << processed.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 50);
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM rejected_users"), 3);
  EXPECT_EQ(TryCount(data,
                     "SELECT count(*) FROM rejected_users WHERE reason LIKE "
                     "'%not a JSON object%' AND origin = 'kafka:users_created/0'"),
            2);  // The text and the array.
  // The secret in the wrong-shaped record is not kept in the table.
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM rejected_users WHERE raw LIKE '%pw1%'"), 0);

  const auto dead = KcatConsume(rig.bootstrap(), "users_created.dlq", "%k\t%h\t%s");
  ASSERT_EQ(dead.size(), 3u);
  for (const std::string& line : dead) {
    EXPECT_NE(line.find("reason="), std::string::npos) << line;
    EXPECT_EQ(line.find("pw1"), std::string::npos) << line;
  }
  // The dead-letter topic has its own partitions, so look the bad-JSON one up by content.
  const auto not_json = std::find_if(dead.begin(), dead.end(), [](const std::string& line) {
    return line.find("this is not json") != std::string::npos;
  });
  ASSERT_NE(not_json, dead.end());
  EXPECT_NE(not_json->find("reason=not a JSON object"), std::string::npos) << *not_json;
}

TEST(Kafka, RunWithKafkaTransportProducesAndProcessesInOneProcess) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, Kafka(rig, {"run", "--transport", "kafka", "--count", "2500",
                                          "--data-dir", data, "--group", "inproc"}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(TryCount(data, "SELECT count(*) FROM created_users"), 2500);
  EXPECT_EQ(KcatConsume(rig.bootstrap(), "users_created", "%k").size(), 2500u);
}

TEST(Kafka, UnreachableBrokerFailsWithinTheTimeoutAndSaysWhatToCheck) {
  TempDir dir;
  const auto started = std::chrono::steady_clock::now();
  // Port 1 on loopback: nothing listens there.
  Outcome out = RunSpate(dir, {"produce", "--brokers", "127.0.0.1:1", "--kafka-timeout", "2s",
                               "--count", "10", "--progress", "never"});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(out.exit_code, 1) << out.err;
  EXPECT_NE(out.err.find("no Kafka broker at 127.0.0.1:1 answered within 2000 ms"),
            std::string::npos)
      << out.err;
  EXPECT_LT(took, 15s);

  Outcome process = RunSpate(dir, {"process", "--brokers", "127.0.0.1:1", "--kafka-timeout", "2s",
                                   "--data-dir", dir.File("d"), "--progress", "never"});
  EXPECT_EQ(process.exit_code, 1) << process.err;
  EXPECT_NE(process.err.find("no Kafka broker"), std::string::npos) << process.err;
}

TEST(Kafka, SecretKafkaOptionsAreNeverPrinted) {
  TempDir dir;
  Outcome out = RunSpate(
      dir, {"produce", "--brokers", "127.0.0.1:1", "--kafka-opt", "sasl.password=hunter2-secret",
            "--kafka-opt", "no.such.setting=1", "--count", "1", "--log-level", "debug"});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.err.find("no.such.setting"), std::string::npos) << out.err;
  EXPECT_EQ(out.err.find("hunter2-secret"), std::string::npos) << out.err;

  // A secret value that librdkafka rejects is named by its key only.
  Outcome bad = RunSpate(dir, {"produce", "--brokers", "127.0.0.1:1", "--kafka-opt",
                               "ssl.key.password", "--count", "1"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("not key=value"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace spate
