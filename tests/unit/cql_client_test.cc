// The parts of the CQL client and the Cassandra sink that need no server: host lists, the
// schema spate creates, and the values bound for a row.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cql/connection.h"
#include "sinks/cassandra_sink.h"

namespace spate {
namespace {

TEST(ParseEndpoints, HostsPortsAndMistakes) {
  auto hosts = cql::ParseEndpoints(" db1, 127.0.0.1:9043,[::1]:9044,[::1]");
  ASSERT_TRUE(hosts.ok()) << hosts.status().message();
  ASSERT_EQ(hosts->size(), 4u);
  EXPECT_EQ((*hosts)[0].ToString(), "db1:9042");
  EXPECT_EQ((*hosts)[1].ToString(), "127.0.0.1:9043");
  EXPECT_EQ((*hosts)[2].ToString(), "[::1]:9044");
  EXPECT_EQ((*hosts)[3].ToString(), "[::1]:9042");
  for (const char* bad : {"", ",", "db1:0", "db1:99999", "db1:x", ":9042", "[::1"}) {
    auto parsed = cql::ParseEndpoints(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  EXPECT_NE(cql::ParseEndpoints("db1:x").status().message().find("'x' is not a port"),
            std::string::npos);
}

TEST(CassandraSchema, TutorialColumnsFirstThenTheExtrasAndTheReplication) {
  CassandraSinkOptions options;
  auto cql = CassandraSink::SchemaCql(options);
  ASSERT_TRUE(cql.ok());
  ASSERT_EQ(cql->size(), 3u);
  EXPECT_EQ((*cql)[0],
            "CREATE KEYSPACE IF NOT EXISTS spark_streams WITH replication = {'class': "
            "'SimpleStrategy', 'replication_factor': 1}");
  EXPECT_EQ((*cql)[1].find("CREATE TABLE IF NOT EXISTS spark_streams.created_users (id uuid "
                           "PRIMARY KEY, first_name text, last_name text, gender text, address "
                           "text, post_code text, email text, username text, registered_date "
                           "text, phone text, picture text, dob text, age bigint"),
            0u)
      << (*cql)[1];
  EXPECT_NE((*cql)[1].find("latitude double"), std::string::npos);
  EXPECT_NE((*cql)[1].find("ingested_at timestamp)"), std::string::npos);
  EXPECT_NE((*cql)[2].find("rejected_users (id text PRIMARY KEY"), std::string::npos);

  options.datacenters = {"dc1:3", "dc2:2"};
  options.keyspace = "users_2";
  cql = CassandraSink::SchemaCql(options);
  ASSERT_TRUE(cql.ok());
  EXPECT_EQ((*cql)[0],
            "CREATE KEYSPACE IF NOT EXISTS users_2 WITH replication = {'class': "
            "'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}");

  options.datacenters = {"dc1"};
  EXPECT_FALSE(CassandraSink::SchemaCql(options).ok());
  options.datacenters = {"dc'1:3"};
  EXPECT_FALSE(CassandraSink::SchemaCql(options).ok());
  options.datacenters = {};
  const std::string too_long(49, 'k');
  for (const std::string& bad :
       std::vector<std::string>{"", "1abc", "bad-name", "a b", "x;DROP", too_long}) {
    options.keyspace = bad;
    auto refused = CassandraSink::SchemaCql(options);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("not a valid Cassandra keyspace name"),
              std::string::npos);
  }
}

TEST(CassandraRowValues, OneValuePerColumnWithTheRightTypes) {
  Row row;
  row.id = "4bbbf423-b3dd-409f-b35b-53957fc1b362";
  row.first_name = "Damas";
  row.age = 64;
  row.latitude = -78.1478;
  row.ingested_at_ms = 1700000000123;
  auto values = CassandraSink::RowValues(row);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), kRowColumnCount);
  EXPECT_EQ((*values)[0], cql::Value::Of(*cql::Uuid::Parse(row.id)));
  EXPECT_EQ((*values)[1], cql::Value::Text("Damas"));
  EXPECT_EQ((*values)[12], cql::Value::Bigint(64));                         // age
  EXPECT_EQ((*values)[17], cql::Value::Double(-78.1478));                   // latitude
  EXPECT_EQ((*values)[21], cql::Value::Of(cql::Timestamp{1700000000123}));  // ingested_at
  row.id = "not-a-uuid";
  EXPECT_FALSE(CassandraSink::RowValues(row).ok());
}

}  // namespace
}  // namespace spate
