// spate query (issue 17, items 15 and 22): it reads the store the options name, reads a
// database it cannot write (a read-only directory, WAL mode), and a query that fails is an
// error with a message and a non-zero exit, never a partial summary with exit 0.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cql_rig.h"
#include "pg_rig.h"
#include "sinks/sqlite_db.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::CqlRig;
using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::ReadFile;
using spate::testing::RunSpate;
using spate::testing::TempDir;

// `spate args...` as a user without any right to write `dir`'s files: under root (which
// ignores file modes) as nobody, through setpriv; else as ourselves, since the modes bind us.
Outcome RunUnprivileged(const TempDir& dir, std::vector<std::string> args) {
  std::vector<std::string> argv;
  if (geteuid() == 0) {
    argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
  }
  argv.push_back(SPATE_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::string out = dir.File("unpriv-out"), err = dir.File("unpriv-err");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  Outcome outcome;
  if (posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ) == 0) {
    int status = 0;
    waitpid(pid, &status, 0);
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  posix_spawn_file_actions_destroy(&actions);
  outcome.out = ReadFile(out);
  outcome.err = ReadFile(err);
  return outcome;
}

TEST(Query, ReadsADatabaseInAReadOnlyDirectory) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, {"run", "--count", "300", "--data-dir", data, "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_FALSE(std::filesystem::exists(data + "/spate.db-shm"));
  // Readable by all, writable by none: SQLite cannot make the WAL index next to the file.
  chmod(dir.path().c_str(), 0755);
  chmod(data.c_str(), 0555);
  chmod((data + "/spate.db").c_str(), 0444);
  Outcome query = RunUnprivileged(dir, {"query", "--data-dir", data});
  chmod(data.c_str(), 0755);
  EXPECT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("created_users:  300 rows"), std::string::npos) << query.out;
  EXPECT_FALSE(std::filesystem::exists(data + "/spate.db-shm"));
}

TEST(Query, ACorruptPageIsAnErrorNotAPartialSummary) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome run =
      RunSpate(dir, {"run", "--count", "20000", "--data-dir", data, "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string db = data + "/spate.db";
  const auto size = std::filesystem::file_size(db);
  ASSERT_GT(size, 64u * 4096);
  {
    // Garbage over pages in the middle of the file (past the schema on page 1).
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    const std::string junk(16 * 4096, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  Outcome query = RunSpate(dir, {"query", "--data-dir", data});
  EXPECT_EQ(query.exit_code, 1) << query.out;
  EXPECT_NE(query.err.find("malformed"), std::string::npos) << query.err;
  EXPECT_NE(query.err.find(db), std::string::npos) << "names the database: " << query.err;
}

TEST(Query, ADatabaseSpateDidNotMakeIsSaidSo) {
  TempDir dir;
  const std::string data = dir.File("data");
  std::filesystem::create_directories(data);
  {
    auto db = SqliteDb::Open(data + "/spate.db", /*create=*/true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE created_users (x); CREATE TABLE other (y);").ok());
  }
  Outcome query = RunSpate(dir, {"query", "--data-dir", data});
  EXPECT_EQ(query.exit_code, 1) << query.out;
  EXPECT_NE(query.err.find("not a spate database"), std::string::npos) << query.err;

  // A spate database whose tables were damaged: the query's error, exit 1.
  {
    auto db = SqliteDb::Open(data + "/spate.db", /*create=*/true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("CREATE TABLE spate_meta (key TEXT PRIMARY KEY, value TEXT);"
                         "INSERT INTO spate_meta VALUES ('schema_version', '2');")
                    .ok());
  }
  Outcome damaged = RunSpate(dir, {"query", "--data-dir", data});
  EXPECT_EQ(damaged.exit_code, 1) << damaged.out;
  EXPECT_NE(damaged.err.find("no such table: rejected_users"), std::string::npos) << damaged.err;
}

TEST(Query, ShowsWhatLandedInPostgres) {
  PgRig rig;
  const PgStatus started = rig.Start();
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(rig.CreateDatabase("spate").ok());
  TempDir dir;
  const std::string file = dir.File("in.jsonl");
  std::ofstream(file) << "not json\n";
  // Nothing there yet: said so, exit 1.
  Outcome empty = RunSpate(dir, {"query", "--sink", "postgres", "--pg-dsn", rig.Dsn("spate")});
  EXPECT_EQ(empty.exit_code, 1) << empty.out;
  EXPECT_NE(empty.err.find("no spate tables"), std::string::npos) << empty.err;
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--count", "250", "--raw-sink", "postgres"}, {"--source", "file", "--input", file}}) {
    std::vector<std::string> args = {"run",         "--sink",         "postgres",
                                     "--pg-dsn",    rig.Dsn("spate"), "--data-dir",
                                     dir.File("d"), "--progress",     "never"};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome run = RunSpate(dir, args);
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  Outcome query = RunSpate(
      dir, {"query", "--sink", "postgres", "--pg-dsn", rig.Dsn("spate"), "--samples", "3"});
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("created_users:  250 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("rejected_users: 1 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("raw_users:      250 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("top countries:"), std::string::npos) << query.out;
  // The reason, as stored, with its count.
  const PgRows reason = rig.Query("spate", "SELECT reason FROM rejected_users");
  ASSERT_TRUE(reason.ok() && reason.rows.size() == 1) << reason.status.error();
  EXPECT_NE(query.out.find(fmt::format("       1  {}\n", *reason.rows[0][0])), std::string::npos)
      << query.out;
  EXPECT_EQ(query.err.find(rig.password()), std::string::npos) << query.err;
  // Three sample rows, each a stored id.
  const std::string tail = query.out.substr(query.out.find("sample rows:\n") + 13);
  std::istringstream lines(tail);
  size_t samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    ++samples;
    const PgRows found = rig.Query(
        "spate", "SELECT count(*) FROM created_users WHERE id::text = $1", {line.substr(2, 36)});
    ASSERT_TRUE(found.ok()) << found.status.error();
    EXPECT_EQ(found.rows.at(0).at(0), "1") << line;
  }
  EXPECT_EQ(samples, 3u) << query.out;
  // The default store is still SQLite.
  Outcome sqlite = RunSpate(dir, {"query", "--data-dir", dir.File("none")});
  EXPECT_EQ(sqlite.exit_code, 1);
  EXPECT_NE(sqlite.err.find("no data at"), std::string::npos) << sqlite.err;
}

TEST(Query, ShowsWhatLandedInCassandraInTheSameShape) {
  CqlRig rig;
  ASSERT_TRUE(rig.Start()) << rig.error();
  TempDir dir;
  const std::vector<std::string> cassandra = {"--sink",    "cassandra",  "--cassandra-hosts",
                                              rig.Hosts(), "--keyspace", "ks_query"};
  // Nothing there yet: an error, not an empty summary.
  std::vector<std::string> args = {"query", "--samples", "2"};
  args.insert(args.end(), cassandra.begin(), cassandra.end());
  Outcome empty = RunSpate(dir, args);
  EXPECT_EQ(empty.exit_code, 1) << empty.out;
  const std::string file = dir.File("in.jsonl");
  std::ofstream(file) << "not json\n";
  for (const std::vector<std::string>& extra : std::vector<std::vector<std::string>>{
           {"--count", "120"}, {"--source", "file", "--input", file}}) {
    std::vector<std::string> run = {"run", "--progress", "never", "--data-dir", dir.File("d")};
    run.insert(run.end(), cassandra.begin(), cassandra.end());
    run.insert(run.end(), extra.begin(), extra.end());
    Outcome ran = RunSpate(dir, run);
    ASSERT_EQ(ran.exit_code, 0) << ran.err;
  }
  Outcome query = RunSpate(dir, args);
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("database: cassandra "), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("created_users:  120 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("rejected_users: 1 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("rejected, by reason:\n         1  "), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("top countries:"), std::string::npos) << query.out;
  const size_t samples = query.out.find("sample rows:\n");
  ASSERT_NE(samples, std::string::npos) << query.out;
  EXPECT_EQ(
      std::count(query.out.begin() + static_cast<std::ptrdiff_t>(samples), query.out.end(), '<'), 2)
      << query.out;
}

}  // namespace
}  // namespace spate
