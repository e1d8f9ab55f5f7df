// End to end into Cassandra: the spate binary and its own CQL client against the in-memory
// CQL test server (cql_rig.h; the DataStax driver test shows that server is faithful).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cql/session.h"
#include "cql_rig.h"
#include "kafka_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::CqlRig;
using spate::testing::Fixture;
using spate::testing::KafkaRig;
using spate::testing::Outcome;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;

// "node=0 writes=5 misrouted=0 lz4_in=3 node=1 ..." -> per node, per counter.
std::vector<std::map<std::string, long>> Stats(CqlRig& rig) {
  std::vector<std::map<std::string, long>> nodes;
  std::istringstream words(rig.Command("stats"));
  std::string word;
  while (words >> word) {
    const size_t eq = word.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = word.substr(0, eq);
    const long value = std::atol(word.c_str() + eq + 1);
    if (key == "node") {
      nodes.emplace_back();
    } else if (!nodes.empty()) {
      nodes.back()[key] = value;
    }
  }
  return nodes;
}

long Sum(const std::vector<std::map<std::string, long>>& nodes, const std::string& key) {
  long total = 0;
  for (const auto& n : nodes) total += n.at(key);
  return total;
}

class Cassandra : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& args = {}) {
    ASSERT_TRUE(rig_.Start(args)) << rig_.error();
  }

  std::vector<std::string> Run(std::vector<std::string> extra, const std::string& hosts = "") {
    std::vector<std::string> args = {"run",
                                     "--sink",
                                     "cassandra",
                                     "--cassandra-hosts",
                                     hosts.empty() ? rig_.Hosts() : hosts,
                                     "--data-dir",
                                     dir_.File("data"),
                                     "--progress",
                                     "never"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  TempDir dir_;
  CqlRig rig_;
};

TEST_F(Cassandra, EveryColumnIsRightAndTheSameInputAgainKeepsNRows) {
  Start();
  const std::string file = dir_.File("br.json");
  std::ofstream(file) << Fixture("v1.4-1-user-br.json");
  Outcome one = RunSpate(dir_, Run({"--source", "file", "--input", file}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const std::string row =
      rig_.Command("get spark_streams.created_users 4bbbf423-b3dd-409f-b35b-53957fc1b362");
  for (const char* expected : {
           R"("id": "4bbbf423-b3dd-409f-b35b-53957fc1b362")",
           R"("first_name": "Damas")",
           R"("last_name": "Oliveira")",
           R"("gender": "male")",
           R"("address": "6972 Rua Vinte E Quatro de Outubro, Cotia, Bahia, Brazil")",
           R"("post_code": "32158")",
           R"("email": "damas.oliveira@example.com")",
           R"("username": "goldenpeacock430")",
           R"("registered_date": "2014-08-30T05:19:44.274Z")",
           R"("phone": "(49) 7072-4143")",
           R"("picture": "https://randomuser.me/api/portraits/med/men/37.jpg")",
           R"("dob": "1958-06-23T03:40:17.665Z")",
           R"("age": 64)",
           R"("nat": "BR")",
           R"("latitude": -78.1478)",
           R"("longitude": -175.9694)",
           R"("timezone": "+5:30")",
           R"("cell": "(97) 9244-6490")",
       }) {
    EXPECT_NE(row.find(expected), std::string::npos) << expected << " not in " << row;
  }
  // ingested_at is a timestamp from this run (milliseconds since the epoch).
  const size_t at = row.find("\"ingested_at\": ");
  ASSERT_NE(at, std::string::npos) << row;
  const long long ingested = std::atoll(row.c_str() + at + 15);
  const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  EXPECT_GT(ingested, now - 5 * 60 * 1000);
  EXPECT_LE(ingested, now);

  Outcome many = RunSpate(dir_, Run({"--count", "5000", "--seed", "cql"}));
  ASSERT_EQ(many.exit_code, 0) << many.err;
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 5001);
  Outcome again = RunSpate(dir_, Run({"--count", "5000", "--seed", "cql"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("5,000 rows stored"), std::string::npos) << again.err;
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 5001);
  EXPECT_EQ(rig_.Rows("spark_streams.rejected_users"), 0);
  // The default is LZ4 when the node offers it; the frames really were compressed.
  EXPECT_GT(Sum(Stats(rig_), "lz4_in"), 0);
}

TEST_F(Cassandra, RetriableErrorsAndDroppedConnectionsLoseNothing) {
  Start();
  constexpr int kRecords = 40000;
  SpateProcess run(
      dir_, Run({"--count", std::to_string(kRecords), "--seed", "faults", "--log-level", "debug"}));
  // Once rows flow, inject: Overloaded, Write_timeout, Unavailable, Write_failure (retried,
  // not dead-lettered: it is seldom the row's fault), a forgotten statement cache
  // (Unprepared), and two connections closed under in-flight writes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (rig_.Rows("spark_streams.created_users") < 2000 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const char* command : {"fail 1001 40", "fail 1100 40", "fail 1000 20", "fail 1500 20",
                              "forget", "drop 1", "drop 1"}) {
    EXPECT_EQ(rig_.Command(command), "ok") << command;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Outcome done = run.Wait();
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), kRecords);
  EXPECT_EQ(rig_.Rows("spark_streams.rejected_users"), 0);
  // The faults were met and handled, not skipped: retries, a re-prepare, a reconnect.
  EXPECT_NE(done.err.find("Overloaded"), std::string::npos) << done.err;
  // The server reports the consistency level each write asked for: the default.
  EXPECT_NE(done.err.find("Write_timeout: injected by the test (LOCAL_QUORUM"), std::string::npos);
  EXPECT_NE(done.err.find("Write_failure"), std::string::npos);
  EXPECT_NE(done.err.find("preparing again"), std::string::npos);
  EXPECT_NE(done.err.find("reconnected"), std::string::npos);
  EXPECT_NE(done.err.find("writes of this batch were retried"), std::string::npos);
}

TEST_F(Cassandra, WritesGoToTheNodeThatOwnsTheToken) {
  Start({"--nodes", "3"});
  Outcome all = RunSpate(dir_, Run({"--count", "3000", "--seed", "ring"}));
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto stats = Stats(rig_);
  ASSERT_EQ(stats.size(), 3u);
  for (const auto& node : stats) {
    EXPECT_GT(node.at("writes"), 500);  // Murmur3 spreads uuids about evenly.
    EXPECT_EQ(node.at("misrouted"), 0);
  }
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 3000);

  // Given one node only, spate cannot route; that node coordinates (and the counter shows
  // the test would see misrouting).
  Outcome one = RunSpate(dir_, Run({"--count", "3000", "--seed", "one"},
                                   "127.0.0.1:" + std::to_string(rig_.ports()[1])));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_GT(Sum(Stats(rig_), "misrouted"), 1000);
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 6000);
}

TEST_F(Cassandra, LoginFromTheEnvironmentAndTheServersErrorsReachTheUser) {
  Start({"--auth", "spate:s3cret-pw,reader:r3ad-pw", "--read-only", "reader"});
  // No credentials: says what to set.
  Outcome none = RunSpate(dir_, Run({"--count", "10"}));
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("SPATE_CASSANDRA_USER"), std::string::npos) << none.err;

  setenv("SPATE_CASSANDRA_USER", "spate", 1);
  setenv("SPATE_CASSANDRA_PASSWORD", "wrong-pw", 1);
  Outcome bad = RunSpate(dir_, Run({"--count", "10", "--log-level", "debug"}));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("Bad_credentials"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("check cassandra_user"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.find("wrong-pw"), std::string::npos) << bad.err;

  setenv("SPATE_CASSANDRA_PASSWORD", "s3cret-pw", 1);
  Outcome good = RunSpate(dir_, Run({"--count", "1000", "--log-level", "debug"}));
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 1000);
  EXPECT_EQ(good.err.find("s3cret-pw"), std::string::npos) << good.err;

  // A reserved word as the keyspace: the server's syntax error, and what to do.
  Outcome keyword = RunSpate(dir_, Run({"--count", "10", "--keyspace", "select"}));
  EXPECT_NE(keyword.exit_code, 0);
  EXPECT_NE(keyword.err.find("Syntax_error"), std::string::npos) << keyword.err;
  EXPECT_NE(keyword.err.find("choose another --keyspace"), std::string::npos) << keyword.err;

  // Not a name at all: refused before anything is sent.
  Outcome name = RunSpate(dir_, Run({"--count", "10", "--keyspace", "bad-name"}));
  EXPECT_NE(name.exit_code, 0);
  EXPECT_NE(name.err.find("not a valid Cassandra keyspace name"), std::string::npos) << name.err;

  // A user without CREATE permission.
  setenv("SPATE_CASSANDRA_USER", "reader", 1);
  setenv("SPATE_CASSANDRA_PASSWORD", "r3ad-pw", 1);
  Outcome reader = RunSpate(dir_, Run({"--count", "10", "--keyspace", "other"}));
  unsetenv("SPATE_CASSANDRA_USER");
  unsetenv("SPATE_CASSANDRA_PASSWORD");
  EXPECT_NE(reader.exit_code, 0);
  EXPECT_NE(reader.err.find("Unauthorized"), std::string::npos) << reader.err;
  EXPECT_NE(reader.err.find("no CREATE permission"), std::string::npos) << reader.err;
  EXPECT_NE(reader.err.find("grant the user CREATE"), std::string::npos) << reader.err;
  EXPECT_EQ(rig_.Rows("other.created_users"), -1);
}

TEST_F(Cassandra, ARowTheServerRefusesIsDeadLetteredAndAStatementErrorStopsTheRun) {
  Start();
  constexpr int kRecords = 20000;
  SpateProcess run(dir_, Run({"--count", std::to_string(kRecords), "--seed", "refused"}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (rig_.Rows("spark_streams.created_users") < 1000 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(rig_.Command("fail 2200 1 this row is not acceptable"), "ok");
  Outcome done = run.Wait();
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), kRecords - 1);
  EXPECT_EQ(rig_.Rows("spark_streams.rejected_users"), 1);
  EXPECT_NE(done.err.find("this row is not acceptable"), std::string::npos) << done.err;
  // The run's summary counts the refused row as rejected, not stored.
  EXPECT_NE(done.err.find("19,999 rows stored, 1 rejected"), std::string::npos) << done.err;

  // Unauthorized on a write is about the statement: the run stops with the server's words.
  SpateProcess second(dir_, Run({"--count", std::to_string(kRecords), "--seed", "second"}));
  while (rig_.Rows("spark_streams.created_users") < kRecords + 1000 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(rig_.Command("fail 2100 1 User spate has no MODIFY permission on <table "
                         "spark_streams.created_users>"),
            "ok");
  Outcome stopped = second.Wait();
  EXPECT_NE(stopped.exit_code, 0);
  EXPECT_NE(stopped.err.find("no MODIFY permission"), std::string::npos) << stopped.err;
}

TEST_F(Cassandra, UnreachableNodesFailFastAndCompressionCanBeTurnedOff) {
  Start();
  const auto start = std::chrono::steady_clock::now();
  // A port nothing listens on (the rig's, after it is stopped).
  CqlRig gone;
  ASSERT_TRUE(gone.Start()) << gone.error();
  const std::string gone_hosts = gone.Hosts();
  gone.Stop();
  Outcome down = RunSpate(dir_, Run({"--count", "10"}, gone_hosts));
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.err.find("none of the Cassandra nodes answered"), std::string::npos) << down.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));

  // One node down of two: the run goes on with the other.
  Outcome half = RunSpate(dir_, Run({"--count", "2000", "--cassandra-compression", "none"},
                                    gone_hosts + "," + rig_.Hosts()));
  ASSERT_EQ(half.exit_code, 0) << half.err;
  EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 2000);
  EXPECT_EQ(Sum(Stats(rig_), "lz4_in"), 0);
}

// The tutorial's path: records through Kafka, a consumer group member storing them in
// Cassandra; a second member of another group stores the same users again (upserts).
TEST_F(Cassandra, ProcessStoresWhatWasProducedToKafka) {
  Start();
  KafkaRig::Options options;
  options.topics = {"users_created:6"};
  KafkaRig kafka(options);
  ASSERT_TRUE(kafka.ok()) << kafka.error();
  Outcome produced = RunSpate(dir_, {"produce", "--brokers", kafka.bootstrap(), "--count", "3000",
                                     "--seed", "cqlk", "--progress", "never"});
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  for (const char* group : {"one", "two"}) {
    Outcome processed =
        RunSpate(dir_, {"process", "--brokers", kafka.bootstrap(), "--group", group,
                        "--exit-at-end", "--sink", "cassandra", "--cassandra-hosts", rig_.Hosts(),
                        "--progress", "never", "--kafka-opt", "session.timeout.ms=6000"});
    ASSERT_EQ(processed.exit_code, 0) << processed.err;
    EXPECT_EQ(rig_.Rows("spark_streams.created_users"), 3000) << group;
  }
}

// spate's client on its own (no pipeline): a BATCH of prepared inserts, then a SELECT read
// back page by page, every value decoded to what was written.
TEST_F(Cassandra, ClientBatchesAndReadsBackOverSeveralPages) {
  Start();
  auto endpoints = cql::ParseEndpoints(rig_.Hosts());
  ASSERT_TRUE(endpoints.ok());
  cql::SessionOptions options;
  options.hosts = endpoints.value();
  options.consistency = cql::Consistency::kOne;
  auto session = cql::Session::Connect(options);
  ASSERT_TRUE(session.ok()) << session.status().message();
  cql::Session& s = *session.value();
  for (const char* ddl :
       {"CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': "
        "1}",
        "CREATE TABLE ks.t (id uuid PRIMARY KEY, name text, n bigint, x double, ok boolean, "
        "tags list<text>, attrs map<text, int>, at timestamp)"}) {
    auto done = s.Query(ddl);
    ASSERT_TRUE(done.ok()) << done.status().message();
    EXPECT_EQ(done->message.kind, cql::ResultKind::kSchemaChange);
  }
  auto again = s.Query("CREATE TABLE ks.t (id uuid PRIMARY KEY)");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("Already_exists"), std::string::npos)
      << again.status().message();
  auto insert = s.Prepare(
      "INSERT INTO ks.t (id, name, n, x, ok, tags, attrs, at) VALUES (?, ?, ?, ?, ?, ?, "
      "?, ?)");
  ASSERT_TRUE(insert.ok()) << insert.status().message();
  EXPECT_EQ(insert.value()->pk_indexes, std::vector<uint16_t>{0});

  constexpr int kRows = 250;
  std::map<std::string, std::vector<cql::Value>> written;
  std::vector<std::vector<cql::Value>> batch;
  for (int i = 0; i < kRows; ++i) {
    cql::Uuid id;
    id.bytes[15] = static_cast<uint8_t>(i);
    id.bytes[14] = static_cast<uint8_t>(i >> 8);
    std::vector<cql::Value> row = {
        cql::Value::Of(id),
        cql::Value::Text(fmt::format("user {} 'quoted' \u00e9 é", i)),
        cql::Value::Bigint(int64_t{1} << 40 | i),
        cql::Value::Double(i / 4.0),
        cql::Value::Boolean(i % 2 == 0),
        cql::Value::Of(cql::List{cql::Value::Text("a"), cql::Value::Text(std::to_string(i))}),
        cql::Value::Of(cql::Map{{cql::Value::Text("k"), cql::Value::Int(i)}}),
        cql::Value::Of(cql::Timestamp{1700000000000 + i}),
    };
    written[id.ToString()] = row;
    batch.push_back(std::move(row));
    if (batch.size() == 100 || i == kRows - 1) {
      auto done = s.Batch(*insert.value(), batch);
      ASSERT_TRUE(done.ok()) << done.status().message();
      EXPECT_EQ(done->message.kind, cql::ResultKind::kVoid);
      batch.clear();
    }
  }
  EXPECT_EQ(rig_.Rows("ks.t"), kRows);

  cql::QueryParams params;
  params.consistency = cql::Consistency::kOne;
  params.page_size = 100;
  int pages = 0;
  size_t read = 0;
  do {
    auto page = s.Query("SELECT id, name, n, x, ok, tags, attrs, at FROM ks.t", params);
    ASSERT_TRUE(page.ok()) << page.status().message();
    ASSERT_EQ(page->message.kind, cql::ResultKind::kRows);
    const cql::RowsResult& rows = page->message.rows;
    ASSERT_EQ(rows.columns.size(), 8u);
    ++pages;
    for (const auto& row : rows.rows) {
      std::vector<cql::Value> values;
      for (size_t c = 0; c < row.size(); ++c) {
        ASSERT_TRUE(row[c].has_value());
        auto v = cql::DecodeValue(rows.columns[c].type, *row[c]);
        ASSERT_TRUE(v.ok()) << v.status().message();
        values.push_back(std::move(v).value());
      }
      const auto* id = std::get_if<cql::Uuid>(&values[0].v);
      ASSERT_NE(id, nullptr);
      ASSERT_EQ(written.count(id->ToString()), 1u);
      EXPECT_EQ(values, written[id->ToString()]);
      ++read;
    }
    params.paging_state = rows.paging_state;
  } while (params.paging_state);
  EXPECT_EQ(read, static_cast<size_t>(kRows));
  EXPECT_EQ(pages, 3);
}

}  // namespace
}  // namespace spate
