// `spate schema` (issue 17, item 17): prints the DDL of the store --sink names, connecting to
// nothing, so an admin can create the tables; what it prints is what spate accepts.
#include <gtest/gtest.h>

#include <string>

#include "db_query.h"
#include "sinks/sqlite_db.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::RunSpate;
using spate::testing::TempDir;

TEST(SchemaCommand, SqliteDdlMakesADatabaseSpateWritesInto) {
  TempDir dir;
  Outcome ddl = RunSpate(dir, {"schema"});  // sqlite is the default store.
  ASSERT_EQ(ddl.exit_code, 0) << ddl.err;
  EXPECT_NE(ddl.out.find("CREATE TABLE IF NOT EXISTS rejected_users"), std::string::npos);
  const std::string data = dir.File("data");
  std::filesystem::create_directories(data);
  {
    auto db = SqliteDb::Open(data + "/spate.db", /*create=*/true);
    ASSERT_TRUE(db.ok());
    const Status s = db->Exec(ddl.out);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  Outcome run = RunSpate(dir, {"run", "--count", "50", "--data-dir", data, "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), 50);
}

TEST(SchemaCommand, CassandraDdlUsesTheOptionsAndOtherStoresAreUsageErrors) {
  TempDir dir;
  Outcome cql = RunSpate(dir, {"schema", "--sink", "cassandra", "--keyspace", "ks_test",
                               "--cassandra-replication-factor", "3"});
  ASSERT_EQ(cql.exit_code, 0) << cql.err;
  EXPECT_NE(cql.out.find("CREATE KEYSPACE IF NOT EXISTS ks_test"), std::string::npos) << cql.out;
  EXPECT_NE(cql.out.find("'replication_factor': 3"), std::string::npos) << cql.out;
  EXPECT_NE(cql.out.find("ks_test.created_users"), std::string::npos) << cql.out;

  // The ALTER for tables of a spate before rejected_users had its item.
  Outcome alter = RunSpate(
      dir, {"schema", "--sink", "cassandra", "--keyspace", "ks_test", "--upgrade-from", "1"});
  ASSERT_EQ(alter.exit_code, 0) << alter.err;
  EXPECT_NE(alter.out.find("ALTER TABLE ks_test.rejected_users"), std::string::npos) << alter.out;

  // Both stores at once, one after the other.
  Outcome both = RunSpate(dir, {"schema", "--sink", "postgres", "--sink", "sqlite"});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_LT(both.out.find("spate_schema"), both.out.find("spate_meta"));

  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"schema", "--sink", "discard"},
           {"schema", "--sink", "cassandra", "--upgrade-from", "2"},
           {"schema", "--sink", "postgres", "--upgrade-from", "0"},
           {"schema", "--sink", "sqlite", "--upgrade-from", "5"}}) {
    Outcome out = RunSpate(dir, bad);
    EXPECT_EQ(out.exit_code, 2) << bad.back() << ": " << out.err;
    EXPECT_TRUE(out.out.empty()) << out.out;
  }
}

}  // namespace
}  // namespace spate
