// CassandraSink::AlterCql: what an existing table (its system_schema.columns rows) needs to
// hold what spate writes (issue 17, item 17; decisions point 3: rejected_users.item).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sinks/cassandra_sink.h"

namespace spate {
namespace {

using Column = CassandraSink::Column;

// The columns of a table made by SchemaCql, as system_schema.columns lists them.
std::vector<Column> Made(const std::string& table) {
  auto schema = CassandraSink::SchemaCql(CassandraSinkOptions{});
  EXPECT_TRUE(schema.ok());
  const std::string& create = (*schema)[table == "created_users" ? 1 : 2];
  // "CREATE TABLE IF NOT EXISTS ks.t (a type PRIMARY KEY, b type, ...)"
  std::string list = create.substr(create.find('(') + 1);
  list.pop_back();
  std::vector<Column> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t comma = list.find(", ", start);
    if (comma == std::string::npos) comma = list.size();
    std::string def = list.substr(start, comma - start);
    const size_t space = def.find(' ');
    std::string type = def.substr(space + 1);
    const bool key = type.find(" PRIMARY KEY") != std::string::npos;
    if (key) type.resize(type.find(" PRIMARY KEY"));
    out.push_back({def.substr(0, space), key ? "partition_key" : "regular", type});
    start = comma + 2;
  }
  return out;
}

TEST(CassandraAlterCql, WhatSchemaCqlMakesNeedsNothing) {
  for (const char* table : {"created_users", "rejected_users"}) {
    auto alters = CassandraSink::AlterCql("spark_streams", table, Made(table));
    ASSERT_TRUE(alters.ok()) << alters.status().message();
    EXPECT_TRUE(alters->empty()) << table;
  }
  // The new column is in the CREATE.
  const auto rejected = Made("rejected_users");
  EXPECT_TRUE(std::any_of(rejected.begin(), rejected.end(),
                          [](const Column& c) { return c.name == "item" && c.type == "int"; }));
}

TEST(CassandraAlterCql, TheOldRejectedUsersGetsItem) {
  std::vector<Column> old = Made("rejected_users");
  old.erase(std::find_if(old.begin(), old.end(), [](const Column& c) { return c.name == "item"; }));
  auto alters = CassandraSink::AlterCql("ks", "rejected_users", old);
  ASSERT_TRUE(alters.ok()) << alters.status().message();
  EXPECT_EQ(*alters, std::vector<std::string>{"ALTER TABLE ks.rejected_users ADD item int"});
}

TEST(CassandraAlterCql, UpgradeCqlIsTheAlterForAnAdmin) {
  CassandraSinkOptions options;
  options.keyspace = "mine";
  auto upgrade = CassandraSink::UpgradeCql(options);
  ASSERT_TRUE(upgrade.ok()) << upgrade.status().message();
  EXPECT_EQ(*upgrade, std::vector<std::string>{"ALTER TABLE mine.rejected_users ADD item int"});
  options.keyspace = "bad-name";
  EXPECT_FALSE(CassandraSink::UpgradeCql(options).ok());
}

TEST(CassandraAlterCql, VarcharIsTextAndExtraColumnsAreLeftAlone) {
  std::vector<Column> columns = Made("created_users");
  for (Column& c : columns) {
    if (c.type == "text") c.type = "varchar";
  }
  columns.push_back({"note", "regular", "map<text, int>"});
  auto alters = CassandraSink::AlterCql("ks", "created_users", columns);
  ASSERT_TRUE(alters.ok()) << alters.status().message();
  EXPECT_TRUE(alters->empty());
}

TEST(CassandraAlterCql, AnotherKeyOrClusteringIsRefused) {
  std::vector<Column> columns = Made("created_users");
  columns[0].kind = "regular";  // id
  columns.push_back({"bucket", "partition_key", "int"});
  columns.push_back({"at", "clustering", "timestamp"});
  auto alters = CassandraSink::AlterCql("ks", "created_users", columns);
  ASSERT_FALSE(alters.ok());
  EXPECT_NE(alters.status().message().find("its partition key is (bucket), spate's is (id)"),
            std::string::npos)
      << alters.status().message();
  EXPECT_NE(alters.status().message().find("it has clustering columns (at)"), std::string::npos);
}

// Property: for random damage (columns dropped, types changed), the ALTERs are exactly the
// dropped columns when no type changed; otherwise the error names every changed column and
// no other.
TEST(CassandraAlterCql, RandomDamageIsRepairedOrNamedExactly) {
  std::mt19937 rng(17);
  const std::vector<std::string> wrong_types = {"int", "text", "blob", "double", "list<text>"};
  for (int round = 0; round < 2000; ++round) {
    const std::string table = round % 2 ? "created_users" : "rejected_users";
    const std::vector<Column> made = Made(table);
    std::vector<Column> damaged;
    std::set<std::string> dropped;
    std::set<std::string> changed;
    for (size_t i = 0; i < made.size(); ++i) {
      Column c = made[i];
      const unsigned roll = rng() % 10;
      if (i > 0 && roll == 0) {
        dropped.insert(c.name);
        continue;
      }
      if (i > 0 && roll == 1) {
        const std::string& t = wrong_types[rng() % wrong_types.size()];
        if (t != c.type) {
          c.type = t;
          changed.insert(c.name);
        }
      }
      damaged.push_back(c);
    }
    std::shuffle(damaged.begin(), damaged.end(), rng);
    auto alters = CassandraSink::AlterCql("ks", table, damaged);
    if (changed.empty()) {
      ASSERT_TRUE(alters.ok()) << alters.status().message();
      std::set<std::string> added;
      for (const std::string& a : *alters) {
        const std::string prefix = "ALTER TABLE ks." + table + " ADD ";
        ASSERT_EQ(a.rfind(prefix, 0), 0u) << a;
        const std::string rest = a.substr(prefix.size());
        const std::string name = rest.substr(0, rest.find(' '));
        const auto expected =
            std::find_if(made.begin(), made.end(), [&](const Column& c) { return c.name == name; });
        ASSERT_NE(expected, made.end()) << a;
        EXPECT_EQ(rest.substr(rest.find(' ') + 1), expected->type) << a;
        added.insert(name);
      }
      EXPECT_EQ(added, dropped) << "round " << round;
    } else {
      ASSERT_FALSE(alters.ok()) << "round " << round;
      const std::string& message = alters.status().message();
      for (const Column& c : made) {
        const bool named = message.find("column " + c.name + " is ") != std::string::npos;
        EXPECT_EQ(named, changed.count(c.name) == 1) << c.name << ": " << message;
      }
    }
  }
}

}  // namespace
}  // namespace spate
