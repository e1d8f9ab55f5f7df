// The SQLite run store (src/schedule/run_store_sqlite.cc): the shared contract
// (schedule_store_contract.h) over a store in a temporary directory, and what is SQLite's own.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "schedule/run_store.h"
#include "schedule_store_contract.h"
#include "sinks/sqlite_db.h"
#include "test_util.h"

namespace spate::testing {
namespace {

// A history in a fresh temporary directory; every Open() is another connection to it.
class SqliteBackend {
 public:
  std::string Setup() { return ""; }
  Result<std::unique_ptr<RunStore>> Open() { return OpenSqliteRunStore(dir_.path()); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
};

class ScheduleStoreSqliteContract : public ScheduleStoreContract<SqliteBackend> {};
SPATE_SCHEDULE_STORE_CONTRACT_TESTS(ScheduleStoreSqliteContract)

TEST(ScheduleStoreSqlite, CreatesTheDirectoryAndTheDatabaseInWalMode) {
  TempDir dir;
  const std::string data_dir = dir.File("nested/data");
  auto store = OpenSqliteRunStore(data_dir);
  ASSERT_TRUE(store.ok()) << store.status().message();
  EXPECT_TRUE(std::filesystem::is_regular_file(data_dir + "/schedule.db"));
  EXPECT_EQ((*store)->Describe(), "sqlite " + data_dir + "/schedule.db");

  // WAL: `spate runs` reads while the scheduler writes.
  auto db = SqliteDb::Open(data_dir + "/schedule.db", /*create=*/false);
  ASSERT_TRUE(db.ok()) << db.status().message();
  auto stmt = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(stmt.ok());
  ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0)), "wal");
}

TEST(ScheduleStoreSqlite, TheUniqueIndexHoldsForWritersOtherThanTheStore) {
  // The index, not the store's code, keeps an interval to one run: a plain INSERT from
  // elsewhere (an older spate, a user's script) is refused too.
  TempDir dir;
  auto store = OpenSqliteRunStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().message();
  ASSERT_TRUE((*store)->Create(NewRun("tick", RunType::kScheduled, kT0, kT0 + 1000)).ok());
  auto db = SqliteDb::Open(dir.File("schedule.db"), /*create=*/true);
  ASSERT_TRUE(db.ok());
  const std::string insert =
      "INSERT INTO spate_runs (job, run_type, interval_start, interval_end, state, queued_at) "
      "VALUES ('tick', '{}', " +
      std::to_string(kT0) + ", 0, 'queued', 0)";
  auto with_type = [&](const std::string& type) {
    std::string sql = insert;
    sql.replace(sql.find("{}"), 2, type);
    return db->Exec(sql);
  };
  EXPECT_FALSE(with_type("backfill").ok());
  EXPECT_FALSE(with_type("scheduled").ok());
  EXPECT_TRUE(with_type("manual").ok());
}

TEST(ScheduleStoreSqlite, RunIdsAreNeverReused) {
  // Run ids name files (runs/RUN_ID.yaml, the logs): a deleted newest run's id stays used.
  TempDir dir;
  auto store = OpenSqliteRunStore(dir.path());
  ASSERT_TRUE(store.ok()) << store.status().message();
  auto first = (*store)->Create(NewRun("tick", RunType::kManual, kT0, kT0));
  ASSERT_TRUE(first.ok() && first->has_value());
  auto db = SqliteDb::Open(dir.File("schedule.db"), /*create=*/true);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("DELETE FROM spate_runs").ok());
  auto second = (*store)->Create(NewRun("tick", RunType::kManual, kT0, kT0));
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_GT(**second, **first);
}

TEST(ScheduleStoreSqlite, AnUnusableDataDirectoryIsAnError) {
  TempDir dir;
  const std::string file = dir.File("not-a-dir");
  { std::ofstream(file) << "x"; }
  auto store = OpenSqliteRunStore(file);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(file), std::string::npos) << store.status().message();
}

TEST(ScheduleStoreSqlite, TheLockFileIsPrivateAndOutlivesNoHolder) {
  TempDir dir;
  {
    auto store = OpenSqliteRunStore(dir.path());
    ASSERT_TRUE(store.ok()) << store.status().message();
    ASSERT_TRUE((*store)->Lock("me:1", kT0).ok());
    struct stat st {};
    ASSERT_EQ(::stat(dir.File("schedule.lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  // The file stays; the lock went with its store.
  auto again = OpenSqliteRunStore(dir.path());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->Lock("me:2", kT0).ok());
}

}  // namespace
}  // namespace spate::testing
