// The Kafka rig itself: clients other than spate (kcat, kafka-python, librdkafka) can use the
// mock cluster it starts, and its fault commands take effect. Later Kafka tests rely on this.

#include "kafka_rig.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace spate::testing {
namespace {

// Generous for CI; on a laptop each kcat run takes well under a second.
constexpr std::chrono::milliseconds kToolTimeout = std::chrono::seconds(30);

std::vector<std::pair<std::string, std::string>> KeyValues(int count) {
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < count; ++i) {
    kvs.emplace_back("key-" + std::to_string(i), "value-" + std::to_string(i));
  }
  return kvs;
}

TEST(KafkaRig, RecordsProducedWithKcatAreReadBackFromAllPartitions) {
  KafkaRig rig({.topics = {"t:6"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  std::string error;
  ASSERT_TRUE(KcatProduce(rig.bootstrap(), "t", KeyValues(100), kToolTimeout, &error)) << error;

  const std::vector<std::string> lines =
      KcatConsume(rig.bootstrap(), "t", "%p %k %s", kToolTimeout, &error);
  ASSERT_TRUE(error.empty()) << error;
  ASSERT_EQ(lines.size(), 100u);
  std::set<int> partitions;
  std::map<std::string, std::string> records;
  for (const std::string& line : lines) {
    std::istringstream in(line);
    int partition = -1;
    std::string key;
    std::string value;
    in >> partition >> key >> value;
    partitions.insert(partition);
    records[key] = value;
  }
  // 100 distinct keys spread over all six partitions by the default partitioner.
  EXPECT_EQ(partitions, (std::set<int>{0, 1, 2, 3, 4, 5}));
  const auto expected = KeyValues(100);
  EXPECT_EQ(records, (std::map<std::string, std::string>(expected.begin(), expected.end())));
  EXPECT_EQ(rig.Stop(), 0);
}

TEST(KafkaRig, BrokerDownRefusesClientsUntilUp) {
  // With one broker, "down" leaves nothing to fail over to, so its effect is visible at once:
  // kcat gives up immediately on a refused connection.
  KafkaRig rig({.brokers = 1, .topics = {"t:1"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  std::string reply;
  ASSERT_TRUE(rig.BrokerDown(1));
  EXPECT_FALSE(KcatProduce(rig.bootstrap(), "t", KeyValues(1), kToolTimeout));
  ASSERT_TRUE(rig.BrokerUp(1));
  std::string error;
  ASSERT_TRUE(KcatProduce(rig.bootstrap(), "t", KeyValues(3), kToolTimeout, &error)) << error;
  EXPECT_EQ(KcatConsume(rig.bootstrap(), "t", "%k", kToolTimeout).size(), 3u);

  EXPECT_FALSE(rig.Command("down 7", &reply));
  EXPECT_TRUE(reply.starts_with("error ")) << reply;
}

TEST(KafkaRig, AnswersEveryCommand) {
  KafkaRig rig({.topics = {"t:2"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  std::string reply;
  EXPECT_TRUE(rig.CreateTopic("u", 4));
  EXPECT_FALSE(rig.Command("topic u 4", &reply));
  EXPECT_TRUE(reply.starts_with("error TOPIC_ALREADY_EXISTS")) << reply;
  EXPECT_TRUE(rig.Command("topic v 2 1", &reply)) << reply;
  EXPECT_FALSE(rig.Command("topic w 2 9", &reply));
  // Produce (api key 0): by number or by librdkafka's name.
  EXPECT_TRUE(rig.Command("errors 0 6 2", &reply)) << reply;
  EXPECT_TRUE(rig.Command("errors 0 NOT_LEADER_FOR_PARTITION 1", &reply)) << reply;
  EXPECT_FALSE(rig.Command("errors 0 NO_SUCH_ERROR 1", &reply));
  EXPECT_TRUE(rig.Command("clear 0", &reply)) << reply;
  EXPECT_TRUE(rig.Command("leader t 1 3", &reply)) << reply;
  EXPECT_TRUE(rig.Command("leader t 1 -1", &reply)) << reply;  // leaderless
  EXPECT_FALSE(rig.Command("leader t 1 4", &reply));
  EXPECT_FALSE(rig.Command("leader t 9 1", &reply));
  EXPECT_FALSE(rig.Command("fly away", &reply));
  EXPECT_TRUE(reply.starts_with("error ")) << reply;
  EXPECT_FALSE(rig.Command("up", &reply));
  // Still serving after all the bad ones.
  EXPECT_TRUE(rig.BrokerDown(3));
  EXPECT_TRUE(rig.BrokerUp(3));
  EXPECT_TRUE(rig.BrokerDown(-1));  // all of them
  EXPECT_TRUE(rig.BrokerUp(-1));
  EXPECT_EQ(rig.Stop(KafkaRig::StopBy::kSigterm), 0);
  EXPECT_FALSE(rig.Command("up 1", &reply));
}

TEST(KafkaRig, KafkaPythonProducerIsReadByKcat) {
  KafkaRig rig({.topics = {"py:3"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  // /usr/bin/python3: Debian's python3-kafka is installed for the system interpreter only.
  const char* kScript = R"(
import sys
from kafka import KafkaProducer
producer = KafkaProducer(bootstrap_servers=sys.argv[1].split(','))
for i in range(10):
    producer.send(sys.argv[2], key=b'py-%d' % i, value=b'v%d' % i).get(timeout=10)
producer.close(timeout=10)
)";
  const ToolResult py =
      RunTool({"/usr/bin/python3", "-c", kScript, rig.bootstrap(), "py"}, "", kToolTimeout);
  ASSERT_TRUE(py.ok()) << py.Describe();

  std::string error;
  const std::vector<std::string> keys =
      KcatConsume(rig.bootstrap(), "py", "%k", kToolTimeout, &error);
  ASSERT_TRUE(error.empty()) << error;
  std::set<std::string> want;
  for (int i = 0; i < 10; ++i) want.insert("py-" + std::to_string(i));
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), want);
  EXPECT_EQ(keys.size(), 10u);
}

TEST(KafkaRig, CommittedOffsetsSeesACommitFromAnotherClient) {
  KafkaRig rig({.topics = {"c:3"}});
  ASSERT_TRUE(rig.ok()) << rig.error();
  std::string error;
  const std::map<int32_t, int64_t> none =
      CommittedOffsets(rig.bootstrap(), "g", "c", 3, kToolTimeout, &error);
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(none, (std::map<int32_t, int64_t>{{0, RD_KAFKA_OFFSET_INVALID},
                                              {1, RD_KAFKA_OFFSET_INVALID},
                                              {2, RD_KAFKA_OFFSET_INVALID}}));

  // Commit as a group member would, with a separate librdkafka consumer of the same group.
  {
    namespace d = kafka_rig_detail;
    char errstr[512];
    KafkaConf conf(rd_kafka_conf_new());
    ASSERT_EQ(rd_kafka_conf_set(conf.get(), "bootstrap.servers", rig.bootstrap().c_str(), errstr,
                                sizeof(errstr)),
              RD_KAFKA_CONF_OK);
    ASSERT_EQ(rd_kafka_conf_set(conf.get(), "group.id", "g", errstr, sizeof(errstr)),
              RD_KAFKA_CONF_OK);
    KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof(errstr)));
    ASSERT_TRUE(consumer) << errstr;
    conf.release();
    PartitionList offsets(rd_kafka_topic_partition_list_new(2));
    rd_kafka_topic_partition_list_add(offsets.get(), "c", 0)->offset = 5;
    rd_kafka_topic_partition_list_add(offsets.get(), "c", 2)->offset = 7;
    ASSERT_EQ(rd_kafka_commit(consumer.get(), offsets.get(), /*async=*/0),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  const std::map<int32_t, int64_t> committed =
      CommittedOffsets(rig.bootstrap(), "g", "c", 3, kToolTimeout, &error);
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(committed, (std::map<int32_t, int64_t>{{0, 5}, {1, RD_KAFKA_OFFSET_INVALID}, {2, 7}}));
}

}  // namespace
}  // namespace spate::testing
