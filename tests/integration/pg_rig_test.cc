// The PostgreSQL rig itself: a real server that enforces passwords, keeps stored text intact,
// keeps what was committed across a clean stop and across a SIGKILL, comes back on the same
// port, and leaves nothing behind. The PostgreSQL sink's tests rely on all of this.

#include "pg_rig.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spate::testing {
namespace {

// What breaks naive quoting or a lossy encoding: single and double quotes, backslashes (one
// right before a quote), and characters of two, three and four bytes in UTF-8.
const std::string kAwkwardText =
    "it's a \"quote\", a back\\slash, \\' and unicode: \u00fc \u65e5\u672c \U0001F418";

// Characters in UTF-8 `text`: every byte but a continuation byte (10xxxxxx) starts one.
size_t CodePoints(std::string_view text) {
  size_t count = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  }
  return count;
}

// The ids in `table` of database `db`, in order; one string per row.
std::vector<std::string> Ids(const PgRig& rig, const std::string& db, const std::string& table,
                             std::string* error) {
  std::vector<std::string> ids;
  const PgRows result = rig.Query(db, "SELECT id FROM " + table + " ORDER BY id");
  if (!result.ok()) {
    *error = result.status.error();
    return ids;
  }
  for (const PgValues& row : result.rows) ids.push_back(row.at(0).value_or("NULL"));
  return ids;
}

std::vector<std::string> Numbers(int from, int to) {
  std::vector<std::string> numbers;
  for (int i = from; i <= to; ++i) numbers.push_back(std::to_string(i));
  return numbers;
}

TEST(PgRig, StoresAwkwardTextThroughBoundParametersAndReadsItBack) {
  PgRig rig;
  const PgStatus started = rig.Start();
  ASSERT_TRUE(started.ok()) << started.error();
  EXPECT_TRUE(rig.running());
  EXPECT_GT(rig.port(), 0);
  // Mixed case and a space: only right if CreateDatabase quotes the identifier and Dsn the
  // dbname value.
  const std::string db = "Rig Test";
  PgStatus s = rig.CreateDatabase(db);
  ASSERT_TRUE(s.ok()) << s.error();
  s = rig.Exec(db, "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL, extra text)");
  ASSERT_TRUE(s.ok()) << s.error();

  const PgRows inserted =
      rig.Query(db, "INSERT INTO notes VALUES ($1, $2, $3)", {"1", kAwkwardText, std::nullopt});
  ASSERT_TRUE(inserted.ok()) << inserted.status.error();
  EXPECT_TRUE(inserted.rows.empty());

  // length() counts characters in the database encoding: it only matches the code points if
  // the database is UTF-8 and the text arrived as UTF-8, not as bytes of another encoding.
  const PgRows rows =
      rig.Query(db,
                "SELECT id, body, extra, length(body), octet_length(body), current_database() "
                "FROM notes");
  ASSERT_TRUE(rows.ok()) << rows.status.error();
  const std::vector<PgValues> expected = {{"1", kAwkwardText, std::nullopt,
                                           std::to_string(CodePoints(kAwkwardText)),
                                           std::to_string(kAwkwardText.size()), db}};
  EXPECT_EQ(rows.rows, expected);

  // The server sees the same text when it compares, not only the client on the way back.
  const PgRows matches =
      rig.Query(db, "SELECT count(*) FROM notes WHERE body = $1", {kAwkwardText});
  ASSERT_TRUE(matches.ok()) << matches.status.error();
  EXPECT_EQ(matches.rows, (std::vector<PgValues>{{"1"}}));

  // A statement the server rejects comes back as an error, with its message.
  const PgRows duplicate =
      rig.Query(db, "INSERT INTO notes VALUES ($1, $2, $3)", {"1", "again", std::nullopt});
  EXPECT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.status.error().find("duplicate key"), std::string::npos)
      << duplicate.status.error();
}

TEST(PgRig, EnforcesPasswordsAndListensOnLoopbackOnly) {
  PgRig rig;
  const PgStatus started = rig.Start();
  ASSERT_TRUE(started.ok()) << started.error();

  std::string error;
  const PgConnPtr good = rig.Connect(rig.Dsn(), &error);
  ASSERT_TRUE(good) << error;
  // The server asked for the password and checked it with SCRAM: libpq says so.
  EXPECT_TRUE(PQconnectionUsedPassword(good.get()));

  // The wrong password holds a quote and a backslash: a Dsn that quoted them badly would fail
  // to parse instead of reaching the server.
  error.clear();
  const PgConnPtr bad = rig.Connect(rig.Dsn("postgres", "postgres", "wrong 'pass\\word"), &error);
  EXPECT_FALSE(bad);
  EXPECT_NE(error.find("password authentication failed for user \"postgres\""), std::string::npos)
      << error;

  error.clear();
  const PgConnPtr none = rig.Connect(rig.Dsn("postgres", "postgres", ""), &error);
  EXPECT_FALSE(none);
  EXPECT_FALSE(error.empty());

  const PgRows listen = rig.Query("postgres", "SHOW listen_addresses");
  ASSERT_TRUE(listen.ok()) << listen.status.error();
  EXPECT_EQ(listen.rows, (std::vector<PgValues>{{"127.0.0.1"}}));
}

TEST(PgRig, DataSurvivesStopAndStartOnTheSamePort) {
  PgRig rig;
  PgStatus s = rig.Start();
  ASSERT_TRUE(s.ok()) << s.error();
  s = rig.Exec("postgres",
               "CREATE TABLE kept (id integer PRIMARY KEY);"
               "INSERT INTO kept SELECT generate_series(1, 3)");
  ASSERT_TRUE(s.ok()) << s.error();
  const int port = rig.port();

  s = rig.Stop();
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_FALSE(rig.running());
  // Really down, not just forgotten by the rig: nothing answers on the port.
  EXPECT_EQ(PQping(rig.Dsn().c_str()), PQPING_NO_RESPONSE);
  std::string error;
  EXPECT_TRUE(Ids(rig, "postgres", "kept", &error).empty());
  EXPECT_FALSE(error.empty());

  s = rig.Start();
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(rig.port(), port);
  error.clear();
  EXPECT_EQ(Ids(rig, "postgres", "kept", &error), Numbers(1, 3)) << error;

  // Restart() is the same in one call, and writes after the first restart survive it too.
  s = rig.Exec("postgres", "INSERT INTO kept VALUES (4)");
  ASSERT_TRUE(s.ok()) << s.error();
  s = rig.Restart();
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(rig.port(), port);
  EXPECT_EQ(Ids(rig, "postgres", "kept", &error), Numbers(1, 4)) << error;
  EXPECT_TRUE(rig.Stop().ok());
}

TEST(PgRig, CommittedDataSurvivesKillAndStart) {
  PgRig rig;
  PgStatus s = rig.Start();
  ASSERT_TRUE(s.ok()) << s.error();
  s = rig.Exec("postgres", "CREATE TABLE crash (id integer PRIMARY KEY)");
  ASSERT_TRUE(s.ok()) << s.error();
  const int port = rig.port();

  // One transaction per row, and the last commit right before the kill: a commit that is
  // acknowledged before its WAL is written would be lost here. The connection stays open
  // across the kill, so its backend outlives the postmaster for a moment, as a sink's would.
  std::string error;
  const PgConnPtr conn = rig.Connect("postgres", &error);
  ASSERT_TRUE(conn) << error;
  for (int i = 1; i <= 100; ++i) {
    const std::string id = std::to_string(i);
    const char* values[] = {id.c_str()};
    const PgResultPtr result(PQexecParams(conn.get(), "INSERT INTO crash VALUES ($1)", 1, nullptr,
                                          values, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(result.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(result.get());
  }

  s = rig.Kill();
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_FALSE(rig.running());
  EXPECT_EQ(PQping(rig.Dsn().c_str()), PQPING_NO_RESPONSE);
  EXPECT_FALSE(rig.Kill().ok()) << "a second Kill has nothing to kill";

  s = rig.Start();
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(rig.port(), port);
  // It was a crash to postgres, not a shutdown: it replayed its WAL.
  EXPECT_NE(rig.ServerLog().find("automatic recovery in progress"), std::string::npos)
      << rig.ServerLog();
  EXPECT_EQ(Ids(rig, "postgres", "crash", &error), Numbers(1, 100)) << error;
}

TEST(PgRig, DestructorStopsTheServerAndRemovesItsDirectory) {
  std::string dir;
  std::string dsn;
  {
    PgRig rig;
    const PgStatus started = rig.Start();
    ASSERT_TRUE(started.ok()) << started.error();
    dir = rig.dir();
    dsn = rig.Dsn();
    ASSERT_FALSE(dir.empty());
    ASSERT_TRUE(std::filesystem::exists(dir + "/data/PG_VERSION"));
    ASSERT_EQ(PQping(dsn.c_str()), PQPING_OK);
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  EXPECT_EQ(PQping(dsn.c_str()), PQPING_NO_RESPONSE);
}

TEST(PgRig, StartWithoutServerBinariesSaysToRunSetup) {
  PgRig rig({.install_root = "/nonexistent/postgresql"});
  const PgStatus started = rig.Start();
  EXPECT_FALSE(started.ok());
  EXPECT_NE(started.error().find("scripts/setup.sh"), std::string::npos) << started.error();
  EXPECT_FALSE(rig.running());
  EXPECT_TRUE(rig.dir().empty());
}

TEST(PgRig, HelpersRefuseConnectionStringsForOtherHosts) {
  // The check comes before any connection attempt, so no server is needed.
  PgRig rig;
  for (const std::string target :
       {"host=db.example.com dbname=postgres", "host=127.0.0.1,db.example.com dbname=postgres",
        "host=127.0.0.1 hostaddr=10.0.0.1 dbname=postgres", "postgresql://db.example.com/postgres",
        // No host: libpq would use $PGHOST or the system socket.
        "dbname=postgres"}) {
    const PgStatus s = rig.Exec(target, "SELECT 1");
    EXPECT_FALSE(s.ok()) << target;
    EXPECT_NE(s.error().find("refusing"), std::string::npos) << target << ": " << s.error();
  }
}

}  // namespace
}  // namespace spate::testing
