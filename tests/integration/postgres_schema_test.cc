// PostgreSQL schema handling against a real server (pg_rig.h), issue 17: a role that may only
// read and write tables an admin made runs spate (item 17); Open looks before it creates and
// names what differs; an older schema is refused with the way to upgrade it, and the printed
// upgrade works; errors name the sink once (item 23).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pg_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::RunSpate;
using spate::testing::TempDir;

constexpr const char* kWriter = "spate_writer";
constexpr const char* kWriterPassword = "writer-secret";

class PostgresSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    const PgStatus started = rig_.Start();
    ASSERT_TRUE(started.ok()) << started.error();
    const PgStatus created = rig_.CreateDatabase("spate");
    ASSERT_TRUE(created.ok()) << created.error();
    // A login role with no privileges of its own: what PUBLIC has, no more.
    const PgStatus role = rig_.Exec(
        "spate", fmt::format("CREATE ROLE {} LOGIN PASSWORD '{}'", kWriter, kWriterPassword));
    ASSERT_TRUE(role.ok()) << role.error();
  }

  int64_t Int(const std::string& sql) {
    const PgRows r = rig_.Query("spate", sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status.error();
    if (!r.ok() || r.rows.size() != 1 || !r.rows[0].at(0)) return -1;
    return std::stoll(*r.rows[0][0]);
  }

  std::string WriterDsn() const { return rig_.Dsn("spate", kWriter, kWriterPassword); }

  Outcome Spate(std::vector<std::string> args) { return RunSpate(dir_, std::move(args)); }

  Outcome RunAs(const std::string& dsn, std::vector<std::string> extra) {
    std::vector<std::string> args = {"run",        "--sink",          "postgres",   "--pg-dsn", dsn,
                                     "--data-dir", dir_.File("data"), "--progress", "never"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Spate(args);
  }

  // The DDL `spate schema --sink postgres` prints, run by the superuser (the admin).
  void AdminCreatesTables() {
    Outcome ddl = Spate({"schema", "--sink", "postgres"});
    ASSERT_EQ(ddl.exit_code, 0) << ddl.err;
    const PgStatus s = rig_.Exec("spate", ddl.out);
    ASSERT_TRUE(s.ok()) << s.error() << "\n" << ddl.out;
  }

  TempDir dir_;
  PgRig rig_;
};

TEST_F(PostgresSchema, ARoleThatMayOnlyReadAndWriteTheTablesRunsSpate) {
  // The setting: the role may not create anything in the schema (PostgreSQL 15's
  // default for public), and has TEMP on the database only because PUBLIC has it by default.
  EXPECT_EQ(Int(fmt::format("SELECT has_schema_privilege('{}', 'public', 'CREATE')::int", kWriter)),
            0);
  EXPECT_EQ(Int(fmt::format("SELECT has_database_privilege('{}', 'spate', 'TEMP')::int", kWriter)),
            1);

  // Before an admin made the tables, the role is refused with the way out.
  Outcome early = RunAs(WriterDsn(), {"--count", "10"});
  EXPECT_EQ(early.exit_code, 1) << early.err;
  EXPECT_NE(early.err.find("permission denied for schema public"), std::string::npos) << early.err;
  EXPECT_NE(early.err.find("spate schema --sink postgres"), std::string::npos) << early.err;
  EXPECT_EQ(early.err.find(kWriterPassword), std::string::npos) << early.err;

  AdminCreatesTables();
  // Exactly the privileges the DDL's comment lists, each needed:
  //  - spate_schema SELECT: Open reads the version;
  //  - created_users, rejected_users SELECT, INSERT, UPDATE: upserts (INSERT ... ON CONFLICT
  //    DO UPDATE reads the key and updates), and COPY FROM (INSERT);
  //    CREATE TEMP TABLE ... (LIKE created_users) reads its definition (SELECT);
  //  - raw_users INSERT only: the archive inserts, ON CONFLICT DO NOTHING.
  const PgStatus granted = rig_.Exec(
      "spate", fmt::format("GRANT SELECT ON spate_schema TO {0}; "
                           "GRANT SELECT, INSERT, UPDATE ON created_users, rejected_users TO {0}; "
                           "GRANT INSERT ON raw_users TO {0}",
                           kWriter));
  ASSERT_TRUE(granted.ok()) << granted.error();

  Outcome run = RunAs(WriterDsn(), {"--count", "3000", "--raw-sink", "postgres"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 3000);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 3000);
  // Again: every row an upsert of one already there (the UPDATE path), every raw document a
  // replay onto itself.
  Outcome again = RunAs(WriterDsn(), {"--count", "3000", "--raw-sink", "postgres"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 3000);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 3000);
  // Dead letters too (a file with a bad line), twice.
  const std::string file = dir_.File("bad.jsonl");
  std::ofstream(file) << "{\"not\":\"a user\"}\nnot json\n";
  for (int i = 0; i < 2; ++i) {
    Outcome bad = RunAs(WriterDsn(), {"--source", "file", "--input", file});
    ASSERT_EQ(bad.exit_code, 0) << bad.err;
  }
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users"), 2);
  // The role never got, and never needed, the right to create.
  EXPECT_EQ(Int("SELECT count(*) FROM pg_tables WHERE tableowner = 'spate_writer'"), 0);

  // Without a privilege it needs, the message says which.
  const PgStatus revoked =
      rig_.Exec("spate", fmt::format("REVOKE UPDATE ON created_users FROM {}", kWriter));
  ASSERT_TRUE(revoked.ok()) << revoked.error();
  Outcome denied = RunAs(WriterDsn(), {"--count", "3000"});
  EXPECT_EQ(denied.exit_code, 1) << denied.err;
  EXPECT_NE(denied.err.find("permission denied for table created_users"), std::string::npos)
      << denied.err;
}

TEST_F(PostgresSchema, OpenCreatesOnlyWhatIsMissingAndNamesWhatDiffers) {
  // An admin made created_users only; the owner role (the superuser here) creates the rest.
  AdminCreatesTables();
  ASSERT_TRUE(rig_.Exec("spate", "DROP TABLE raw_users, rejected_users").ok());
  Outcome run = RunAs(rig_.Dsn("spate"), {"--count", "10", "--raw-sink", "postgres"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("created raw_users, rejected_users"), std::string::npos) << run.err;
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 10);

  // Each kind of difference is named: a missing column, a wrong type, an extra column, the
  // primary key. Nothing is written, nothing altered.
  struct Case {
    const char* alter;
    const char* restore;
    const char* says;
  } cases[] = {
      {"ALTER TABLE rejected_users DROP COLUMN item",
       "ALTER TABLE rejected_users ADD COLUMN item integer", "missing column item integer"},
      {"ALTER TABLE raw_users ALTER COLUMN position TYPE text",
       "ALTER TABLE raw_users ALTER COLUMN position TYPE bigint USING position::bigint",
       "column position is text, expected bigint"},
      {"ALTER TABLE created_users ADD COLUMN extra text",
       "ALTER TABLE created_users DROP COLUMN extra", "unexpected column extra text"},
      {"ALTER TABLE raw_users DROP CONSTRAINT raw_users_pkey, ADD PRIMARY KEY (id, origin)",
       "ALTER TABLE raw_users DROP CONSTRAINT raw_users_pkey, ADD PRIMARY KEY (id)",
       "primary key is (id, origin), expected (id)"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(rig_.Exec("spate", c.alter).ok()) << c.alter;
    Outcome refused = RunAs(rig_.Dsn("spate"), {"--count", "5", "--seed", "other"});
    EXPECT_EQ(refused.exit_code, 1) << c.alter;
    EXPECT_NE(refused.err.find(c.says), std::string::npos) << c.alter << ": " << refused.err;
    EXPECT_NE(refused.err.find("spate schema --sink postgres"), std::string::npos) << refused.err;
    EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 10) << c.alter;
    const PgStatus restored = rig_.Exec("spate", c.restore);
    ASSERT_TRUE(restored.ok()) << restored.error();
  }
  Outcome fine = RunAs(rig_.Dsn("spate"), {"--count", "5", "--seed", "other"});
  EXPECT_EQ(fine.exit_code, 0) << fine.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 15);
}

// Version 1's DDL, as spate before issue 17 created it.
constexpr const char* kVersion1Ddl =
    "CREATE TABLE spate_schema (version integer NOT NULL); INSERT INTO spate_schema VALUES (1);"
    "CREATE TABLE created_users (id uuid, first_name text, last_name text, gender text, "
    "address text, post_code text, email text, username text, registered_date text, phone "
    "text, picture text, dob text, age bigint, nat text, city text, state text, country text, "
    "latitude double precision, longitude double precision, timezone text, cell text, "
    "ingested_at timestamp with time zone, PRIMARY KEY (id));"
    "CREATE TABLE raw_users (origin text, position bigint, user_id uuid, raw jsonb, landed_at "
    "timestamp with time zone, PRIMARY KEY (origin, position));"
    "CREATE TABLE rejected_users (id text, reason text, origin text, position bigint, raw "
    "bytea, rejected_at timestamp with time zone, PRIMARY KEY (id));"
    "INSERT INTO raw_users VALUES ('generator', 1, NULL, '{\"a\": 1}', now()), "
    "('generator', 2, NULL, '{\"b\": 2}', now()), ('file:x', 7, NULL, '{\"a\":1}', now());"
    "INSERT INTO rejected_users VALUES ('d1', 'bad', 'file:x', 3, 'xx', now());";

TEST_F(PostgresSchema, AVersion1DatabaseIsRefusedWithTheUpgradeWhichThenWorks) {
  ASSERT_TRUE(rig_.Exec("spate", kVersion1Ddl).ok());
  Outcome refused = RunAs(rig_.Dsn("spate"), {"--count", "10"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("schema version 1"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("spate schema --sink postgres --upgrade-from 1"), std::string::npos)
      << refused.err;
  EXPECT_EQ(Int("SELECT version FROM spate_schema"), 1) << "refused, not altered";

  Outcome upgrade = Spate({"schema", "--sink", "postgres", "--upgrade-from", "1"});
  ASSERT_EQ(upgrade.exit_code, 0) << upgrade.err;
  const PgStatus s = rig_.Exec("spate", upgrade.out);
  ASSERT_TRUE(s.ok()) << s.error() << "\n" << upgrade.out;
  EXPECT_EQ(Int("SELECT version FROM spate_schema"), 2);
  // The two copies of {"a":1} are one archived document now (the first landed); nothing else
  // was lost.
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 2);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users WHERE id = encode(sha256(convert_to(raw::text, "
                "'UTF8')), 'hex')"),
            2);
  EXPECT_EQ(Int("SELECT count(*) FROM rejected_users WHERE item = 0"), 1);

  Outcome run = RunAs(rig_.Dsn("spate"), {"--count", "10", "--raw-sink", "postgres"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Int("SELECT count(*) FROM created_users"), 10);
  EXPECT_EQ(Int("SELECT count(*) FROM raw_users"), 12);

  Outcome unknown = Spate({"schema", "--sink", "postgres", "--upgrade-from", "7"});
  EXPECT_EQ(unknown.exit_code, 2);
}

// Item 23: a failed sink is named once, not once per layer that saw the error.
TEST_F(PostgresSchema, ErrorsNameTheSinkOnce) {
  ASSERT_TRUE(rig_.Exec("spate",
                        "CREATE TABLE spate_schema (version integer NOT NULL); "
                        "INSERT INTO spate_schema VALUES (99)")
                  .ok());
  const std::vector<std::vector<std::string>> failures = {
      {"--pg-dsn", rig_.Dsn("spate")},                            // Unknown schema version.
      {"--pg-dsn", rig_.Dsn("nope")},                             // No such database.
      {"--pg-dsn", rig_.Dsn("spate", "postgres", "wrong")},       // Wrong password.
      {"--pg-dsn", rig_.Dsn("spate") + " port=1"},                // Nothing listening.
      {"--pg-dsn", rig_.Dsn("spate"), "--raw-sink", "postgres"},  // The raw sink too.
  };
  for (const auto& extra : failures) {
    std::vector<std::string> args = {"run",        "--sink",       "postgres",   "--count", "5",
                                     "--data-dir", dir_.File("d"), "--progress", "never"};
    args.insert(args.end(), extra.begin(), extra.end());
    Outcome run = Spate(args);
    EXPECT_NE(run.exit_code, 0) << extra[1];
    size_t errors = 0;
    std::istringstream lines(run.err);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("[error]") == std::string::npos) continue;
      ++errors;
      size_t count = 0;
      for (size_t at = line.find("postgres://"); at != std::string::npos;
           at = line.find("postgres://", at + 1)) {
        ++count;
      }
      EXPECT_EQ(count, 1u) << line;
      EXPECT_EQ(line.find("postgres: postgres"), std::string::npos) << line;
    }
    EXPECT_GE(errors, 1u) << run.err;
    EXPECT_NE(run.err.find("postgres://postgres@127.0.0.1:"), std::string::npos) << run.err;
  }
}

}  // namespace
}  // namespace spate
