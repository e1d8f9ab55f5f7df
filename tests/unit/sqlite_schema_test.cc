// The SQLite store's schema, issue 17: version 2 keeps a dead letter's item; a version-1
// database is upgraded in place (a column added, every row kept); a database of another
// version or with foreign tables is refused; errors leave naming the database to the caller
// (item 23: the sink is named once).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "sinks/sqlite_sink.h"
#include "test_util.h"

namespace spate {
namespace {

using spate::testing::TempDir;

int64_t Int(const std::string& path, const std::string& sql) {
  auto db = SqliteDb::Open(path, /*create=*/false);
  if (!db.ok()) return -1;
  auto stmt = db->Prepare(sql);
  if (!stmt.ok() || sqlite3_step(stmt->get()) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(stmt->get(), 0);
}

void MakeDb(const std::string& dir, const std::string& sql) {
  std::filesystem::create_directories(dir);
  auto db = SqliteDb::Open(dir + "/spate.db", /*create=*/true);
  ASSERT_TRUE(db.ok()) << db.status().message();
  const Status s = db->Exec(sql);
  ASSERT_TRUE(s.ok()) << s.message();
}

constexpr const char* kVersion1 =
    "CREATE TABLE spate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO spate_meta VALUES ('schema_version', '1');"
    "CREATE TABLE created_users (id TEXT PRIMARY KEY NOT NULL, first_name TEXT, last_name TEXT, "
    "gender TEXT, address TEXT, post_code TEXT, email TEXT, username TEXT, registered_date TEXT, "
    "phone TEXT, picture TEXT, dob TEXT, age INTEGER, nat TEXT, city TEXT, state TEXT, country "
    "TEXT, latitude REAL, longitude REAL, timezone TEXT, cell TEXT, ingested_at TEXT);"
    "CREATE TABLE rejected_users (id TEXT PRIMARY KEY NOT NULL, reason TEXT NOT NULL, origin "
    "TEXT NOT NULL, position INTEGER NOT NULL, raw BLOB, rejected_at TEXT NOT NULL) WITHOUT "
    "ROWID;"
    "INSERT INTO rejected_users VALUES ('old', 'bad', 'file:x', 3, 'raw', '2020-01-01');";

TEST(SqliteSchema, DeadLettersKeepTheirItem) {
  TempDir dir;
  SqliteSink sink(dir.File("d"));
  ASSERT_TRUE(sink.Open().ok());
  Batch batch;
  for (uint32_t item = 0; item < 20; ++item) {
    batch.dead.push_back({"bad", "file:x", 1, "[1]", item});  // Same line and bytes.
  }
  ASSERT_TRUE(sink.Write(batch).ok());
  ASSERT_TRUE(sink.Close().ok());
  const std::string db = dir.File("d") + "/spate.db";
  EXPECT_EQ(Int(db, "SELECT count(*) FROM rejected_users"), 20) << "one row per item";
  EXPECT_EQ(Int(db, "SELECT count(DISTINCT item) FROM rejected_users"), 20);
  EXPECT_EQ(Int(db, "SELECT max(item) FROM rejected_users"), 19);
  EXPECT_EQ(Int(db, "SELECT value FROM spate_meta WHERE key = 'schema_version'"),
            kSqliteSchemaVersion);
}

TEST(SqliteSchema, AVersion1DatabaseIsUpgradedKeepingItsRows) {
  TempDir dir;
  const std::string data = dir.File("d");
  MakeDb(data, kVersion1);
  SqliteSink sink(data);
  const Status opened = sink.Open();
  ASSERT_TRUE(opened.ok()) << opened.message();
  Batch batch;
  batch.dead.push_back({"bad", "file:y", 2, "x", 7});
  ASSERT_TRUE(sink.Write(batch).ok());
  ASSERT_TRUE(sink.Close().ok());
  const std::string db = data + "/spate.db";
  EXPECT_EQ(Int(db, "SELECT value FROM spate_meta WHERE key = 'schema_version'"), 2);
  EXPECT_EQ(Int(db, "SELECT item FROM rejected_users WHERE id = 'old'"), 0);
  EXPECT_EQ(Int(db, "SELECT item FROM rejected_users WHERE origin = 'file:y'"), 7);
  // Opening again: nothing more to do.
  SqliteSink again(data);
  EXPECT_TRUE(again.Open().ok());
  EXPECT_TRUE(again.Close().ok());
  // The statements `spate schema --sink sqlite --upgrade-from 1` prints do the same.
  TempDir other;
  MakeDb(other.File("d"), kVersion1);
  auto sql = SqliteUpgradeSql(1);
  ASSERT_TRUE(sql.ok());
  MakeDb(other.File("d"), *sql);
  EXPECT_EQ(Int(other.File("d") + "/spate.db", "SELECT count(item) FROM rejected_users"), 1);
  EXPECT_FALSE(SqliteUpgradeSql(2).ok());
}

TEST(SqliteSchema, OtherVersionsAndForeignTablesAreRefusedNamingTheDatabaseOnce) {
  struct Case {
    const char* sql;
    const char* says;
  } cases[] = {
      {"CREATE TABLE spate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
       "INSERT INTO spate_meta VALUES ('schema_version', '99');",
       "schema version 99"},
      {"CREATE TABLE created_users (id TEXT PRIMARY KEY, name TEXT);",
       "table created_users lacks the columns first_name"},
      {"CREATE TABLE rejected_users (id TEXT PRIMARY KEY, why TEXT);",
       "table rejected_users lacks the columns reason, origin, position, item, raw, "
       "rejected_at"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    MakeDb(dir.File("d"), c.sql);
    SqliteSink sink(dir.File("d"));
    const Status s = sink.Open();
    ASSERT_FALSE(s.ok()) << c.sql;
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
    // What the pipeline and `spate run` print: the sink's name, then the message.
    const std::string shown = s.WithContext(sink.Describe()).message();
    EXPECT_EQ(shown.find(sink.path()), shown.rfind(sink.path())) << shown;
  }
  // A database that cannot be opened (a directory where the file should be).
  TempDir dir;
  std::filesystem::create_directories(dir.File("d") + "/spate.db");
  SqliteSink sink(dir.File("d"));
  const Status s = sink.Open();
  ASSERT_FALSE(s.ok());
  const std::string shown = s.WithContext(sink.Describe()).message();
  EXPECT_NE(shown.find(sink.path()), std::string::npos) << shown;
  EXPECT_EQ(shown.find(sink.path()), shown.rfind(sink.path())) << shown;
}

}  // namespace
}  // namespace spate
