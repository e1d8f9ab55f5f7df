// A SQLite path is a path, never a URI (issue 17, item 14): Debian's SQLite reads a name that
// starts with "file:" as a URI, so `--data-dir 'file:x?mode=memory'` stored nothing on disk
// and reported success.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "sinks/sqlite_db.h"
#include "test_util.h"

namespace spate {
namespace {

// Runs in `dir` as the working directory, as a relative --data-dir would.
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) : old_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~InDirectory() { std::filesystem::current_path(old_); }

 private:
  std::filesystem::path old_;
};

TEST(SqlitePath, ANameThatLooksLikeAUriIsAFileOnDisk) {
  spate::testing::TempDir dir;
  for (const std::string name : {"file:x?mode=memory", "file:spate.db", "file::memory:"}) {
    SCOPED_TRACE(name);
    {
      InDirectory in(dir.path());
      auto db = SqliteDb::Open(name, /*create=*/true);
      ASSERT_TRUE(db.ok()) << db.status().message();
      ASSERT_TRUE(db->Exec("CREATE TABLE t (x); INSERT INTO t VALUES (1);").ok());
    }
    EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::path(dir.path()) / name));
    auto again = SqliteDb::Open(dir.path() + "/" + name, /*create=*/false);
    ASSERT_TRUE(again.ok()) << again.status().message();
    auto stmt = again->Prepare("SELECT count(*) FROM t");
    ASSERT_TRUE(stmt.ok());
    ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(stmt->get(), 0), 1);
  }
}

}  // namespace
}  // namespace spate
