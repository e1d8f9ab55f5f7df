// `spate process --http` on Kafka (librdkafka's mock cluster, tests/rigs): the graph has the
// topic before the consumer, /api/kafka has every partition's lag and committed offset, and
// /readyz has the consumer's and the dead-letter producer's checks, while the copy runs
// until Ctrl-C.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "dashboard_rig.h"
#include "db_query.h"
#include "kafka_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using testing::DashboardPort;
using testing::Eventually;
using testing::HttpGet;
using testing::KafkaRig;
using testing::Outcome;
using testing::QueryInt;
using testing::RunSpate;
using testing::SpateProcess;
using testing::TempDir;

constexpr int kPartitions = 6;
constexpr int kRecords = 2000;

// Sums of /api/kafka over the partitions: {partitions, lag, committed}; {-1,...} when it
// cannot be read.
struct KafkaTotals {
  int64_t partitions = -1;
  int64_t lag = 0;
  int64_t committed = 0;
};

KafkaTotals ReadKafka(int port) {
  KafkaTotals totals;
  auto r = HttpGet(port, "/api/kafka");
  if (!r || r->status != 200) return totals;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return totals;
  totals.partitions = 0;
  for (simdjson::dom::element p : doc["partitions"].get_array()) {
    if (std::string_view(p["topic"]) != "users_created") continue;
    ++totals.partitions;
    int64_t value = 0;
    if (p["lag"].get(value) == simdjson::SUCCESS) totals.lag += value;
    if (p["committed_offset"].get(value) == simdjson::SUCCESS) totals.committed += value;
  }
  return totals;
}

TEST(HttpEndpointsKafka, ProcessShowsTheTopicItsPartitionsAndItsChecks) {
  KafkaRig::Options options;
  options.topics = {"users_created:" + std::to_string(kPartitions)};
  KafkaRig rig(options);
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  const Outcome produced = RunSpate(dir, {"produce", "--count", std::to_string(kRecords),
                                          "--brokers", rig.bootstrap(), "--progress", "never"});
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  const std::string data = dir.File("data");
  SpateProcess process(dir, {"process", "--brokers", rig.bootstrap(), "--group", "dash",
                             "--data-dir", data, "--http", "127.0.0.1:0", "--progress", "never"});
  const int port = DashboardPort(process);
  ASSERT_GT(port, 0) << process.Stderr();

  // Everything stored, every offset committed, no lag.
  EXPECT_TRUE(Eventually([&] {
    const KafkaTotals t = ReadKafka(port);
    return t.partitions == kPartitions && t.lag == 0 && t.committed == kRecords;
  })) << HttpGet(port, "/api/kafka")->body;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), kRecords);

  auto overview = HttpGet(port, "/api/overview");
  ASSERT_TRUE(overview);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(overview->body).get(doc), simdjson::SUCCESS) << overview->body;
  EXPECT_EQ(std::string_view(doc["command"]), "process");
  EXPECT_EQ(int64_t(doc["totals"]["stored"]), kRecords) << overview->body;
  bool topic = false, edge = false;
  for (simdjson::dom::element n : doc["nodes"].get_array()) {
    if (std::string_view(n["id"]) == "topic:users_created") {
      topic = true;
      EXPECT_EQ(int64_t(n["lag"]), 0) << overview->body;
    }
  }
  for (simdjson::dom::element e : doc["edges"].get_array()) {
    edge |= std::string_view(e["from"]) == "topic:users_created" &&
            std::string_view(e["to"]) == "source:kafka";
  }
  EXPECT_TRUE(topic && edge) << overview->body;

  auto ready = HttpGet(port, "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_NE(ready->body.find("\"name\":\"sink sqlite\",\"ready\":true"), std::string::npos)
      << ready->body;
  EXPECT_NE(ready->body.find("kafka"), std::string::npos) << ready->body;

  process.Signal(SIGINT);
  const Outcome outcome = process.Wait(std::chrono::seconds(60));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_FALSE(HttpGet(port, "/healthz"));
}

}  // namespace
}  // namespace spate
