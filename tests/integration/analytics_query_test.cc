// `spate query` shows the aggregation tables (issue 19): for each table spate_aggregations
// names, the latest windows, newest first, and in each the groups with the most users, with
// the numbers the table holds (compared with a plain SELECT of the whole table, grouped and
// ordered here, not by the query's SQL). A store without aggregations prints nothing more; a
// table that cannot be read is said so, exit 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <simdjson.h>

#include "dashboard_rig.h"
#include "pg_rig.h"
#include "sinks/sqlite_db.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::DashboardPort;
using spate::testing::Eventually;
using spate::testing::Fifo;
using spate::testing::HttpGet;
using spate::testing::Outcome;
using spate::testing::PgRig;
using spate::testing::PgRows;
using spate::testing::PgStatus;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;
using spate::testing::UserLines;

struct Window {
  std::string start;
  std::string end;
  bool complete = false;
  int64_t groups = 0;
  int64_t users = 0;
  std::vector<std::pair<std::string, int64_t>> rows;  // (country, users), as shown.
  bool operator==(const Window&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Window& w) {
  os << w.start << ".." << w.end << (w.complete ? "" : " (in progress)") << " " << w.groups
     << " groups " << w.users << " users:";
  for (const auto& [k, v] : w.rows) os << " " << k << "=" << v;
  return os;
}

int64_t Number(const std::string& text) { return std::stoll(text); }

// The windows `spate query` printed for the table `name`, whose columns are country, users.
std::vector<Window> ShownWindows(const std::string& out, const std::string& name) {
  std::vector<Window> windows;
  const size_t at = out.find("\n  " + name + ": window");
  if (at == std::string::npos) return windows;
  std::istringstream lines(out.substr(at + 1));
  std::string line;
  std::getline(lines, line);  // The table's own line.
  bool header = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("      (")) continue;  // "(N more groups, M users)"
    if (line.starts_with("      ")) {
      if (header) {
        header = false;  // "country  users"
        continue;
      }
      const size_t space = line.find_last_of(' ');
      std::string country = line.substr(6, space - 6);
      while (!country.empty() && country.back() == ' ') country.pop_back();
      windows.back().rows.emplace_back(country, Number(line.substr(space + 1)));
    } else if (line.starts_with("    ") && line.size() > 4 && line[4] != ' ' && line[4] != '(') {
      // "    START to END[ (in progress)]: G groups, U users"
      Window& w = windows.emplace_back();
      std::istringstream words(line);
      std::string to, groups_word, users;
      words >> w.start >> to >> w.end;
      w.complete = line.find("(in progress)") == std::string::npos;
      if (!w.end.empty() && w.end.back() == ':') w.end.pop_back();
      if (w.end.size() < w.start.size()) w.end = w.start.substr(0, 11) + w.end;
      const size_t colon = line.rfind(": ");
      std::istringstream counts(line.substr(colon + 2));
      std::string g, u;
      counts >> g >> groups_word >> u;
      w.groups = Number(g);
      w.users = Number(u);
      header = true;
    } else {
      break;
    }
  }
  return windows;
}

// One row of an aggregation table by country: window_start, window_end, country, users.
using TableRow = std::tuple<std::string, std::string, std::string, int64_t>;

// What the table holds, given whole: its latest `windows` windows, newest first, each with
// its `groups` top groups (most users, then by name).
std::vector<Window> LatestWindows(const std::vector<TableRow>& table, int windows, int groups,
                                  const std::string& now) {
  std::map<std::string, Window, std::greater<>> all;
  for (const auto& [start, end, country, users] : table) {
    Window& w = all[start];
    w.start = start;
    w.end = end;
    w.complete = w.end <= now;
    w.groups += 1;
    w.users += users;
    w.rows.emplace_back(country, users);
  }
  std::vector<Window> out;
  for (auto& [start, w] : all) {
    if (static_cast<int>(out.size()) == windows) break;
    std::sort(w.rows.begin(), w.rows.end(), [](const auto& a, const auto& b) {
      return std::tie(b.second, a.first) < std::tie(a.second, b.first);
    });
    if (static_cast<int>(w.rows.size()) > groups) w.rows.resize(groups);
    out.push_back(w);
  }
  return out;
}

std::vector<TableRow> SqliteTable(SqliteDb& db, const std::string& table) {
  std::vector<TableRow> rows;
  auto stmt = db.Prepare("SELECT window_start, window_end, country, users FROM " + table);
  EXPECT_TRUE(stmt.ok()) << stmt.status().message();
  if (!stmt.ok()) return rows;
  auto text = [&](int i) {
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), i)));
  };
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    rows.emplace_back(text(0), text(1), text(2), sqlite3_column_int64(stmt->get(), 3));
  }
  return rows;
}

// A store as spate makes it, from a real run, with aggregation tables in the documented
// layout (src/analytics/aggregate.h) filled from its rows: four one-minute windows of 2026
// and one that ends in 2999, still in progress.
void AddAggregations(const std::string& db_path) {
  auto db = SqliteDb::Open(db_path, /*create=*/true);
  ASSERT_TRUE(db.ok()) << db.status().message();
  const Status s = db->Exec(
      "CREATE TABLE spate_aggregations (name TEXT PRIMARY KEY, definition TEXT NOT NULL);"
      "INSERT INTO spate_aggregations VALUES ('users_per_minute_by_country', "
      "'{\"name\":\"users_per_minute_by_country\",\"window\":\"1m\",\"slide\":\"1m\","
      "\"group_by\":[\"country\"],\"agg\":[]}');"
      "CREATE TABLE users_per_minute_by_country (window_start TEXT NOT NULL, window_end TEXT "
      "NOT NULL, country TEXT NOT NULL, users INTEGER NOT NULL, "
      "PRIMARY KEY (window_start, country));"
      "INSERT INTO users_per_minute_by_country "
      "SELECT w.s, w.e, country, count(*) FROM created_users, "
      "(SELECT 0 AS k, '2026-01-01T00:00:00.000Z' AS s, '2026-01-01T00:01:00.000Z' AS e "
      " UNION ALL SELECT 1, '2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z' "
      " UNION ALL SELECT 2, '2026-01-01T00:02:00.000Z', '2026-01-01T00:03:00.000Z' "
      " UNION ALL SELECT 3, '2999-01-01T00:00:00.000Z', '2999-01-01T00:01:00.000Z') AS w "
      "WHERE created_users.rowid % 4 = w.k GROUP BY w.s, w.e, country;"
      // Equal counts, to see them ordered by name.
      "INSERT INTO users_per_minute_by_country VALUES ('2026-01-01T00:02:00.000Z', "
      "'2026-01-01T00:03:00.000Z', 'Aaa tie', 1), ('2026-01-01T00:02:00.000Z', "
      "'2026-01-01T00:03:00.000Z', 'Zzz tie', 1);");
  ASSERT_TRUE(s.ok()) << s.message();
}

std::string Now() {
  auto db = SqliteDb::Open(":memory:", true);
  auto stmt = db->Prepare("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')");
  sqlite3_step(stmt->get());
  return reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0));
}

// Whether a query that started at `before` showed the table's latest windows (3, top 10
// groups) as they were at some moment of its run: the newest window may end while the
// query runs (a slow machine), which turns it from in progress into complete.
bool ShownAsStored(const std::vector<Window>& shown, const std::vector<TableRow>& rows,
                   const std::string& before) {
  return shown == LatestWindows(rows, 3, 10, before) || shown == LatestWindows(rows, 3, 10, Now());
}

TEST(AnalyticsQuery, ShowsTheLatestWindowsOfEachAggregationAsStored) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, {"run", "--count", "600", "--data-dir", data, "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Before any aggregation: the summary alone.
  Outcome plain = RunSpate(dir, {"query", "--data-dir", data});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("aggregations"), std::string::npos) << plain.out;

  AddAggregations(data + "/spate.db");
  Outcome query = RunSpate(dir, {"query", "--data-dir", data});
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("\naggregations (latest 3 windows, top 10 groups by users):\n"),
            std::string::npos)
      << query.out;
  EXPECT_NE(query.out.find("\n  users_per_minute_by_country: window 1m, by country\n"),
            std::string::npos)
      << query.out;
  const std::vector<Window> shown = ShownWindows(query.out, "users_per_minute_by_country");
  auto db = SqliteDb::Open(data + "/spate.db", false);
  ASSERT_TRUE(db.ok());
  const std::vector<Window> stored =
      LatestWindows(SqliteTable(*db, "users_per_minute_by_country"), 3, 10, Now());
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(shown, stored) << query.out;
  // The newest is the one still in progress; the one with ties lists them by name.
  EXPECT_FALSE(shown.at(0).complete);
  EXPECT_TRUE(shown.at(1).complete);
  EXPECT_GT(shown.at(1).groups, 10) << "the run's 600 users come from more than 10 countries";
  EXPECT_NE(query.out.find("more groups"), std::string::npos);
}

// A real run with aggregations into SQLite (the sink keeps the tables in the rows'
// transactions): the query shows each table's latest windows as the table holds them.
TEST(AnalyticsQuery, ShowsTheAggregationsOfASqliteRun) {
  TempDir dir;
  const std::string data = dir.File("data");
  // One-second windows, and a run of about three seconds: several windows.
  Outcome run = RunSpate(
      dir, {"run", "--count", "900", "--rate", "300", "--data-dir", data, "--aggregate",
            "by_country:1s:country", "--aggregate", "per_second:1s", "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string before = Now();
  Outcome query = RunSpate(dir, {"query", "--data-dir", data});
  ASSERT_EQ(query.exit_code, 0) << query.err << query.out;
  EXPECT_NE(query.out.find("\n  by_country: window 1s, by country\n"), std::string::npos)
      << query.out;
  EXPECT_NE(query.out.find("\n  per_second: window 1s\n"), std::string::npos) << query.out;
  auto db = SqliteDb::Open(data + "/spate.db", false);
  ASSERT_TRUE(db.ok());
  const std::vector<TableRow> rows = SqliteTable(*db, "by_country");
  int64_t users = 0;
  for (const TableRow& r : rows) users += std::get<3>(r);
  EXPECT_EQ(users, 900) << "every user of the run is in exactly one window";
  const std::vector<Window> stored = LatestWindows(rows, 3, 10, Now());
  ASSERT_GE(stored.size(), 2u) << "a run of about 3 s fills more than one 1 s window";
  EXPECT_TRUE(ShownAsStored(ShownWindows(query.out, "by_country"), rows, before)) << query.out;
}

TEST(AnalyticsQuery, ATableThatCannotBeReadIsAnError) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, {"run", "--count", "50", "--data-dir", data, "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  AddAggregations(data + "/spate.db");
  {
    auto db = SqliteDb::Open(data + "/spate.db", true);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("DROP TABLE users_per_minute_by_country").ok());
  }
  Outcome query = RunSpate(dir, {"query", "--data-dir", data});
  EXPECT_EQ(query.exit_code, 1) << query.out;
  EXPECT_NE(query.out.find("users_per_minute_by_country: cannot be read: "), std::string::npos)
      << query.out;
  EXPECT_NE(query.out.find("no such table"), std::string::npos) << query.out;
  // The rest of the summary is still there.
  EXPECT_NE(query.out.find("created_users:  50 rows"), std::string::npos) << query.out;
}

// A real run into PostgreSQL with aggregations (the sink keeps them by triggers): the query
// shows each table's latest windows as the table holds them; the DSN's password is never
// printed.
TEST(AnalyticsQuery, ShowsPostgresAggregationsAsStored) {
  PgRig rig;
  const PgStatus started = rig.Start();
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(rig.CreateDatabase("spate").ok());
  TempDir dir;
  // One-second windows, and a run of about three seconds: several windows.
  Outcome run = RunSpate(dir, {"run", "--sink", "postgres", "--pg-dsn", rig.Dsn("spate"), "--count",
                               "900", "--rate", "300", "--aggregate", "by_country:1s:country",
                               "--aggregate", "per_second:1s", "--progress", "never"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string before = Now();
  Outcome query = RunSpate(dir, {"query", "--sink", "postgres", "--pg-dsn", rig.Dsn("spate")});
  ASSERT_EQ(query.exit_code, 0) << query.err << query.out;
  EXPECT_EQ(query.out.find(rig.password()), std::string::npos);
  EXPECT_EQ(query.err.find(rig.password()), std::string::npos);
  EXPECT_NE(query.out.find("\n  by_country: window 1s, by country\n"), std::string::npos)
      << query.out;
  EXPECT_NE(query.out.find("\n  per_second: window 1s\n"), std::string::npos) << query.out;

  const PgRows table = rig.Query(
      "spate",
      "SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "to_char(window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), country, "
      "users::text FROM by_country");
  ASSERT_TRUE(table.ok()) << table.status.error();
  std::vector<TableRow> rows;
  for (const auto& r : table.rows) rows.emplace_back(*r[0], *r[1], *r[2], std::stoll(*r[3]));
  const std::vector<Window> stored = LatestWindows(rows, 3, 10, Now());
  ASSERT_GE(stored.size(), 2u) << "a run of about 3 s fills more than one 1 s window";
  EXPECT_TRUE(ShownAsStored(ShownWindows(query.out, "by_country"), rows, before)) << query.out;
  // Every user of the run is in exactly one window.
  const PgRows sum = rig.Query("spate", "SELECT sum(users)::text FROM by_country");
  ASSERT_TRUE(sum.ok()) << sum.status.error();
  EXPECT_EQ(*sum.rows.at(0).at(0), "900");
}

// The windows of table `name` in an /api/aggregates answer (rows by country).
std::vector<Window> ServedWindows(simdjson::dom::element doc, std::string_view name) {
  std::vector<Window> served;
  for (simdjson::dom::element a : doc["aggregations"].get_array()) {
    if (std::string_view(a["name"]) != name) continue;
    EXPECT_TRUE(a["error"].is_null()) << simdjson::to_string(a);
    EXPECT_EQ(std::string_view(a["store"]), "postgres");
    for (simdjson::dom::element w : a["windows"].get_array()) {
      Window& got = served.emplace_back();
      got.start = std::string(w["start"].get_string().value());
      got.end = std::string(w["end"].get_string().value());
      got.complete = bool(w["complete"]);
      got.groups = int64_t(w["groups"]);
      got.users = int64_t(w["users"]);
      for (simdjson::dom::element row : w["rows"].get_array()) {
        got.rows.emplace_back(std::string(row["country"].get_string().value()),
                              int64_t(row["users"]));
      }
    }
  }
  return served;
}

std::vector<TableRow> PgTable(const PgRig& rig, const std::string& table) {
  const PgRows found = rig.Query(
      "spate",
      "SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "to_char(window_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), country, "
      "users::text FROM " +
          table);
  EXPECT_TRUE(found.ok()) << found.status.error();
  std::vector<TableRow> rows;
  for (const auto& r : found.rows) rows.emplace_back(*r[0], *r[1], *r[2], std::stoll(*r[3]));
  return rows;
}

// The same reading on the dashboard: /api/aggregates of a run into PostgreSQL (the run's
// DSN, never served) holds each table's latest windows as the table holds them: 3 of a
// tumbling one; of a hopping one (4 s every 1 s) 5, enough to hold a complete window.
TEST(AnalyticsQuery, TheDashboardServesTheSameWindows) {
  PgRig rig;
  const PgStatus started = rig.Start();
  ASSERT_TRUE(started.ok()) << started.error();
  ASSERT_TRUE(rig.CreateDatabase("spate").ok());
  TempDir dir;
  Fifo fifo(dir.File("users.jsonl"));
  ASSERT_TRUE(fifo.ok());
  SpateProcess spate(
      dir, {"run", "--source", "file", "--input", fifo.path(), "--sink", "postgres", "--pg-dsn",
            rig.Dsn("spate"), "--aggregate", "by_country:1s:country", "--aggregate",
            R"({"name":"hopping","window":"4s","slide":"1s","group_by":["country"]})", "--http",
            "127.0.0.1:0", "--progress", "never"});
  ASSERT_TRUE(fifo.OpenWriter());  // The run opens its input before the dashboard starts.
  const int port = DashboardPort(spate);
  ASSERT_GT(port, 0) << spate.Stderr();
  // Three bursts a second and a half apart: windows of both tables on either side of them.
  for (int burst = 0; burst < 3; ++burst) {
    if (burst > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ASSERT_TRUE(fifo.Write(UserLines(burst * 100, 100)));
  }
  // All stored: the tables no longer change.
  ASSERT_TRUE(Eventually([&] {
    const PgRows sum = rig.Query("spate", "SELECT coalesce(sum(users), 0)::text FROM by_country");
    return sum.ok() && *sum.rows.at(0).at(0) == "300";
  })) << spate.Stderr();
  const std::vector<TableRow> tumbling = PgTable(rig, "by_country");
  const std::vector<TableRow> hopping = PgTable(rig, "hopping");

  std::string body;
  std::vector<Window> served, stored, served_hopping, stored_hopping;
  // A reading from before the last commit is at most a second old: the next one has all.
  const bool same = Eventually([&] {
    auto r = HttpGet(port, "/api/aggregates");
    if (!r || r->status != 200) return false;
    body = r->body;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body).get(doc)) return false;
    const std::string read_at(doc["read_at"].get_string().value());
    stored = LatestWindows(tumbling, 3, 10, read_at);
    stored_hopping = LatestWindows(hopping, 5, 10, read_at);
    served = ServedWindows(doc, "by_country");
    served_hopping = ServedWindows(doc, "hopping");
    return served == stored && served_hopping == stored_hopping;
  });
  EXPECT_TRUE(same) << body;
  EXPECT_EQ(served, stored);
  EXPECT_EQ(served_hopping, stored_hopping);
  EXPECT_GE(stored.size(), 2u);
  EXPECT_EQ(stored_hopping.size(), 5u) << "3 s of bursts fill 6 or more 4 s windows every 1 s";
  EXPECT_EQ(body.find(rig.password()), std::string::npos);
  fifo.Close();
  const Outcome end = spate.Wait();
  EXPECT_EQ(end.exit_code, 0) << end.err;
  EXPECT_EQ(end.err.find(rig.password()), std::string::npos);
}

}  // namespace
}  // namespace spate
