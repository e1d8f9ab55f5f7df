// spate query: what landed in the store the options name (--sink sqlite, the default,
// postgres or cassandra). Every store answers with the same summary (row counts, rejected
// records by reason, top countries, sample rows), printed the same way; the SQL stores add
// their aggregation tables (issue 19): the latest windows of each, top groups by users.
// A query that fails (a corrupt page, tables spate did not make) is an error: exit 1.
//
// The aggregation reading is shared with the dashboard (query_aggregates.h): one reading of
// the tables, whoever shows it.
#include "app/query_aggregates.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "analytics/aggregate.h"
#include "app/commands.h"
#include "app/components.h"
#include "sinks/cassandra_query.h"
#include "sinks/pg.h"
#include "sinks/postgres_sink.h"
#include "sinks/sqlite_db.h"
#include "sinks/sqlite_sink.h"

namespace spate {

// components.cc (not in components.h): --cassandra-* and --keyspace as sink options.

namespace {

constexpr int kTopReasons = 20;
constexpr int kTopCountries = 10;

// What one store holds, in the shape every store's query fills.
struct Summary {
  std::string where;  // "database: ..." line.
  int64_t rows = 0;
  int64_t rejected = 0;
  std::optional<int64_t> raw;  // raw_users, where the store has it.
  std::vector<std::pair<int64_t, std::string>> reasons;
  std::vector<std::pair<int64_t, std::string>> countries;
  std::vector<std::string> samples;  // "id  first last <email> nat  address"
  std::vector<StoreAggregate> aggregates;
};

// "1m", "90s", "2h", "1500ms".
std::string DurationText(int64_t ms) {
  if (ms > 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms > 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms > 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string CellText(const AggregateCell& cell) {
  switch (cell.type) {
    case AggregateCell::Type::kNull:
      return "";
    case AggregateCell::Type::kInteger:
      return std::to_string(cell.integer);
    case AggregateCell::Type::kReal:
      return fmt::format("{:.6g}", cell.real);
    case AggregateCell::Type::kText:
      return cell.text;
  }
  return "";
}

// One window's groups as a plain table: a column as wide as its widest cell, numbers right
// aligned, text left aligned.
void PrintRows(const StoreAggregate& a, const StoreAggregate::Window& w) {
  std::vector<size_t> width(a.columns.size());
  std::vector<bool> right(a.columns.size(), true);
  for (size_t i = 0; i < a.columns.size(); ++i) width[i] = a.columns[i].size();
  for (const auto& row : w.rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], CellText(row[i]).size());
      if (row[i].type == AggregateCell::Type::kText) right[i] = false;
    }
  }
  auto line = [&](auto cell_of) {
    std::string text = "      ";
    for (size_t i = 0; i < width.size(); ++i) {
      if (i > 0) text += "  ";
      const std::string cell = cell_of(i);
      text +=
          right[i] ? fmt::format("{:>{}}", cell, width[i]) : fmt::format("{:<{}}", cell, width[i]);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    fmt::print("{}\n", text);
  };
  line([&](size_t i) { return a.columns[i]; });
  for (const auto& row : w.rows) {
    line([&](size_t i) { return i < row.size() ? CellText(row[i]) : std::string(); });
  }
  const int64_t shown_users = [&] {
    int64_t sum = 0;
    const auto users = std::find(a.columns.begin(), a.columns.end(), "users") - a.columns.begin();
    for (const auto& row : w.rows) {
      if (static_cast<size_t>(users) < row.size()) sum += row[users].integer;
    }
    return sum;
  }();
  if (w.groups > static_cast<int64_t>(w.rows.size())) {
    fmt::print("      ({} more groups, {} users)\n", w.groups - static_cast<int64_t>(w.rows.size()),
               w.users - shown_users);
  }
}

void PrintAggregates(const std::vector<StoreAggregate>& aggregates) {
  if (aggregates.empty()) return;
  fmt::print("\naggregations (latest {} windows, top {} groups by users):\n", kAggregateWindows,
             kAggregateGroups);
  for (const StoreAggregate& a : aggregates) {
    if (!a.error.empty()) {
      fmt::print("  {}: cannot be read: {}\n", a.name, a.error);
      continue;
    }
    std::string shape = "window " + DurationText(a.window_ms);
    if (a.slide_ms != a.window_ms) shape += " every " + DurationText(a.slide_ms);
    if (!a.group_by.empty()) {
      shape += ", by ";
      for (size_t i = 0; i < a.group_by.size(); ++i) shape += (i ? ", " : "") + a.group_by[i];
    }
    fmt::print("  {}: {}\n", a.name, shape);
    if (a.windows.empty()) fmt::print("    (no windows yet)\n");
    for (const StoreAggregate::Window& w : a.windows) {
      // The end's date is the start's but for windows that cross midnight: time only, then.
      const bool same_day = w.start.substr(0, 11) == w.end.substr(0, 11);
      fmt::print("    {} to {}{}: {} groups, {} users\n", w.start,
                 same_day ? w.end.substr(11) : w.end, w.complete ? "" : " (in progress)", w.groups,
                 w.users);
      PrintRows(a, w);
    }
  }
}

void Print(const Summary& s) {
  fmt::print("database: {}\n", s.where);
  fmt::print("created_users:  {} rows\n", s.rows);
  fmt::print("rejected_users: {} rows\n", s.rejected);
  if (s.raw) fmt::print("raw_users:      {} rows\n", *s.raw);
  if (!s.reasons.empty()) {
    fmt::print("\nrejected, by reason:\n");
    for (const auto& [n, reason] : s.reasons) fmt::print("  {:>8}  {}\n", n, reason);
  }
  if (!s.countries.empty()) {
    fmt::print("\ntop countries:\n");
    for (const auto& [n, country] : s.countries) fmt::print("  {:>8}  {}\n", n, country);
  }
  if (!s.samples.empty()) {
    fmt::print("\nsample rows:\n");
    for (const std::string& line : s.samples) fmt::print("  {}\n", line);
  }
  PrintAggregates(s.aggregates);
}

// What every store's aggregation reading starts from: the table's stored definition, read
// back into its spec (so its columns are known without asking the store's catalogue).
struct AggregateTable {
  StoreAggregate out;
  AggregationSpec spec;
  std::vector<AggColumn> columns;  // Without window_start and window_end.
};

AggregateTable DescribeAggregate(std::string store, std::string name, std::string definition) {
  AggregateTable t;
  t.out.store = std::move(store);
  t.out.name = std::move(name);
  t.out.definition = std::move(definition);
  auto spec = ParseAggregation(t.out.definition);
  if (!spec.ok()) {
    t.out.error = "its definition does not parse: " + spec.status().message();
    return t;
  }
  if (spec->name != t.out.name) {
    t.out.error = fmt::format("its definition names another table, {}", spec->name);
    return t;
  }
  t.spec = std::move(*spec);
  t.out.window_ms = t.spec.size_ms;
  t.out.slide_ms = t.spec.slide_ms;
  t.out.group_by = t.spec.group_by;
  for (AggColumn& c : AggregateColumns(t.spec)) {
    if (c.name == "window_start" || c.name == "window_end") continue;
    t.out.columns.push_back(c.name);
    t.columns.push_back(std::move(c));
  }
  return t;
}

// The table's columns for a SELECT, and the order of its top groups: most users first, then
// by group, so that equal counts always list the same way.
std::string SelectList(const AggregateTable& t) {
  std::string list;
  for (const AggColumn& c : t.columns) list += (list.empty() ? "\"" : ", \"") + c.name + "\"";
  return list;
}
std::string GroupOrder(const AggregateTable& t) {
  std::string order = "users DESC";
  for (const std::string& g : t.spec.group_by) order += ", \"" + g + "\"";
  return order;
}
std::string Quoted(std::string_view name) { return fmt::format("\"{}\"", name); }

// How many of a table's latest windows to read: `windows`, or for the dashboard, which shows
// the latest complete one, enough to hold one: a hopping window overlaps size/slide - 1
// newer ones that may all be open.
int WindowsToRead(const AggregationSpec& spec, int windows, bool complete_one) {
  if (!complete_one || spec.slide_ms <= 0) return windows;
  return static_cast<int>(std::clamp<int64_t>(spec.size_ms / spec.slide_ms + 1, windows, 64));
}

// The time in the tables' form, to compare window ends with as text (the same fixed width).
std::string NowText() { return Rfc3339(std::chrono::system_clock::now()); }

// --- SQLite ---

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// Runs `sql` (with `limit` bound to ?1 if >= 0) and calls `on_row` per result row; any error
// of SQLite's, at any row, is the result.
template <typename Fn>
Status ForEachRow(SqliteDb& db, std::string_view sql, int64_t limit, Fn&& on_row) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (limit >= 0) sqlite3_bind_int64(stmt->get(), 1, limit);
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) on_row(stmt->get());
  if (rc != SQLITE_DONE) return db.Error("query");
  return Status::Ok();
}

// As ForEachRow, with `bind` setting the statement's parameters.
template <typename Bind, typename Fn>
Status ForEachBoundRow(SqliteDb& db, std::string_view sql, Bind&& bind, Fn&& on_row) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  bind(stmt->get());
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) on_row(stmt->get());
  if (rc != SQLITE_DONE) return db.Error("query");
  return Status::Ok();
}

AggregateCell SqliteCell(sqlite3_stmt* st, int i, AggColumn::Type type) {
  AggregateCell cell;
  if (sqlite3_column_type(st, i) == SQLITE_NULL) return cell;
  switch (type) {
    case AggColumn::Type::kInteger:
      cell.type = AggregateCell::Type::kInteger;
      cell.integer = sqlite3_column_int64(st, i);
      break;
    case AggColumn::Type::kReal:
      cell.type = AggregateCell::Type::kReal;
      cell.real = sqlite3_column_double(st, i);
      break;
    default:
      cell.type = AggregateCell::Type::kText;
      cell.text = Text(st, i);
  }
  return cell;
}

// The latest `windows` windows of one table, each with its `groups` top groups.
Status ReadSqliteWindows(SqliteDb& db, AggregateTable& t, const std::string& now, int windows,
                         int groups) {
  const std::string table = Quoted(t.spec.name);
  Status s = ForEachBoundRow(
      db,
      fmt::format("SELECT window_start, max(window_end), count(*), sum(users) FROM {} "
                  "GROUP BY window_start ORDER BY window_start DESC LIMIT ?1",
                  table),
      [&](sqlite3_stmt* st) { sqlite3_bind_int64(st, 1, windows); },
      [&](sqlite3_stmt* st) {
        StoreAggregate::Window& w = t.out.windows.emplace_back();
        w.start = Text(st, 0);
        w.end = Text(st, 1);
        w.complete = w.end <= now;
        w.groups = sqlite3_column_int64(st, 2);
        w.users = sqlite3_column_int64(st, 3);
      });
  if (!s.ok()) return s;
  const std::string rows_sql =
      fmt::format("SELECT {} FROM {} WHERE window_start = ?1 ORDER BY {} LIMIT ?2", SelectList(t),
                  table, GroupOrder(t));
  for (StoreAggregate::Window& w : t.out.windows) {
    s = ForEachBoundRow(
        db, rows_sql,
        [&](sqlite3_stmt* st) {
          sqlite3_bind_text(st, 1, w.start.data(), static_cast<int>(w.start.size()), SQLITE_STATIC);
          sqlite3_bind_int64(st, 2, groups);
        },
        [&](sqlite3_stmt* st) {
          auto& row = w.rows.emplace_back();
          for (size_t i = 0; i < t.columns.size(); ++i) {
            row.push_back(SqliteCell(st, static_cast<int>(i), t.columns[i].type));
          }
        });
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// Every aggregation table of the database (none when it has no spate_aggregations table,
// as one made before issue 19). A table that cannot be read says so in its `error`.
Result<std::vector<StoreAggregate>> SqliteAggregates(SqliteDb& db, int windows, int groups,
                                                     bool complete_one = false) {
  std::vector<std::pair<std::string, std::string>> tables;
  Status s = ForEachRow(db, "SELECT name, definition FROM spate_aggregations ORDER BY name", -1,
                        [&](sqlite3_stmt* st) { tables.emplace_back(Text(st, 0), Text(st, 1)); });
  if (!s.ok() && s.message().find("no such table") != std::string::npos) {
    return std::vector<StoreAggregate>{};
  }
  if (!s.ok()) return s;
  const std::string now = NowText();
  std::vector<StoreAggregate> out;
  for (auto& [name, definition] : tables) {
    AggregateTable t = DescribeAggregate("sqlite", std::move(name), std::move(definition));
    if (t.out.error.empty()) {
      const int n = WindowsToRead(t.spec, windows, complete_one);
      if (Status r = ReadSqliteWindows(db, t, now, n, groups); !r.ok()) {
        t.out.error = r.message();
        t.out.windows.clear();
      }
    }
    out.push_back(std::move(t.out));
  }
  return out;
}

// --data-dir itself, before anything is opened: a path the system refuses (too long, a file
// where a directory is named) is a bad option, exit 2, and said so; a directory that does
// not exist yet is "no data" (exit 1, as a run with nothing stored). stat, not
// std::filesystem: no exception, whatever the name.
std::optional<std::string> DataDirProblem(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return fmt::format("--data-dir {}: {}", dir, std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return fmt::format("--data-dir {}: not a directory", dir);
  return std::nullopt;
}

Result<Summary> QuerySqlite(const Config& config) {
  const std::string path = config.GetString("data_dir") + "/spate.db";
  std::error_code ec;  // Set for anything but "not there" (too long, not searchable).
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) return Status::Fatal(fmt::format("{}: {}", path, ec.message()));
  if (!exists) {
    return Status::Fatal(fmt::format(
        "no data at {}: run `spate run` first, or point --data-dir at its directory", path));
  }
  auto db = SqliteDb::OpenForReading(path);
  if (!db.ok()) return db.status().WithContext(path);
  sqlite3_busy_timeout(db->get(), 5000);  // A run may be writing right now.
  // A database spate did not make is said so, not queried into "no such table" errors.
  std::string version;
  Status s = ForEachRow(*db, "SELECT value FROM spate_meta WHERE key = 'schema_version'", -1,
                        [&](sqlite3_stmt* st) { version = Text(st, 0); });
  if (!s.ok() && s.message().find("no such table") != std::string::npos) {
    return Status::Fatal(
        fmt::format("{}: not a spate database (it has no spate_meta table)", path));
  }
  if (!s.ok()) return s.WithContext(path);
  // Version 1 differs only in rejected_users.item, which is not read here.
  if (version != "1" && version != std::to_string(kSqliteSchemaVersion)) {
    return Status::Fatal(fmt::format("{}: spate schema version '{}', this spate reads 1 to {}",
                                     path, version, kSqliteSchemaVersion));
  }
  Summary out;
  out.where = path;
  s = ForEachRow(*db,
                 "SELECT (SELECT count(*) FROM created_users), "
                 "(SELECT count(*) FROM rejected_users)",
                 -1, [&](sqlite3_stmt* st) {
                   out.rows = sqlite3_column_int64(st, 0);
                   out.rejected = sqlite3_column_int64(st, 1);
                 });
  auto pair_of = [](std::vector<std::pair<int64_t, std::string>>& into) {
    return
        [&into](sqlite3_stmt* st) { into.emplace_back(sqlite3_column_int64(st, 0), Text(st, 1)); };
  };
  if (s.ok()) {
    s = ForEachRow(*db,
                   "SELECT count(*), reason FROM rejected_users GROUP BY reason "
                   "ORDER BY count(*) DESC, reason LIMIT ?1",
                   kTopReasons, pair_of(out.reasons));
  }
  if (s.ok()) {
    s = ForEachRow(*db,
                   "SELECT count(*), country FROM created_users GROUP BY country "
                   "ORDER BY count(*) DESC, country LIMIT ?1",
                   kTopCountries, pair_of(out.countries));
  }
  if (s.ok()) {
    s = ForEachRow(
        *db,
        "SELECT id, first_name, last_name, email, nat, address FROM created_users "
        "ORDER BY id LIMIT ?1",
        config.GetInt("samples"), [&](sqlite3_stmt* st) {
          out.samples.push_back(fmt::format("{}  {} {} <{}> {}  {}", Text(st, 0), Text(st, 1),
                                            Text(st, 2), Text(st, 3), Text(st, 4), Text(st, 5)));
        });
  }
  if (!s.ok()) return s.WithContext(path);
  auto aggregates = SqliteAggregates(*db, kAggregateWindows, kAggregateGroups);
  if (!aggregates.ok()) return aggregates.status().WithContext(path);
  out.aggregates = std::move(*aggregates);
  return out;
}

// --- PostgreSQL ---

// Runs `sql` with `limit` as $1 (if >= 0); the rows in text form.
Result<std::vector<std::vector<std::string>>> PgRowsOf(PGconn* c, const char* sql,
                                                       int64_t limit = -1) {
  const std::string text = std::to_string(limit);
  const char* params[] = {text.c_str()};
  PgResult result(PQexecParams(c, sql, limit >= 0 ? 1 : 0, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) return PgError(c, result.get(), "query");
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    auto& row = rows.emplace_back();
    for (int f = 0; f < PQnfields(result.get()); ++f)
      row.emplace_back(PQgetvalue(result.get(), r, f));
  }
  return rows;
}

// Runs `sql` with text parameters $1...; fails unless it returned rows.
Result<PgResult> PgQuery(PGconn* c, const std::string& sql,
                         const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  PgResult result(PQexecParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) return PgError(c, result.get(), "query");
  return result;
}

AggregateCell PgCell(const PGresult* r, int row, int i, AggColumn::Type type) {
  AggregateCell cell;
  if (PQgetisnull(r, row, i)) return cell;
  const std::string_view text = PQgetvalue(r, row, i);
  switch (type) {
    case AggColumn::Type::kInteger:
      cell.type = AggregateCell::Type::kInteger;
      std::from_chars(text.data(), text.data() + text.size(), cell.integer);
      break;
    case AggColumn::Type::kReal:
      cell.type = AggregateCell::Type::kReal;
      cell.real = std::strtod(std::string(text).c_str(), nullptr);
      break;
    default:
      cell.type = AggregateCell::Type::kText;
      cell.text = text;
  }
  return cell;
}

int64_t PgInt(const PGresult* r, int row, int i) {
  int64_t n = 0;
  const std::string_view text = PQgetvalue(r, row, i);
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

// window_start and window_end are timestamptz: shown in the SQLite tables' text form.
constexpr const char* kPgTimeText = R"(YYYY-MM-DD"T"HH24:MI:SS.MS"Z")";

Status ReadPgWindows(PGconn* c, AggregateTable& t, const std::string& now, int windows,
                     int groups) {
  const std::string table = Quoted(t.spec.name);
  auto found = PgQuery(c,
                       fmt::format("SELECT to_char(window_start AT TIME ZONE 'UTC', '{0}'), "
                                   "to_char(max(window_end) AT TIME ZONE 'UTC', '{0}'), count(*), "
                                   "coalesce(sum(users), 0)::bigint FROM {1} GROUP BY window_start "
                                   "ORDER BY window_start DESC LIMIT $1::bigint",
                                   kPgTimeText, table),
                       {std::to_string(windows)});
  if (!found.ok()) return found.status();
  const PGresult* r = found->get();
  for (int i = 0; i < PQntuples(r); ++i) {
    StoreAggregate::Window& w = t.out.windows.emplace_back();
    w.start = PQgetvalue(r, i, 0);
    w.end = PQgetvalue(r, i, 1);
    w.complete = w.end <= now;
    w.groups = PgInt(r, i, 2);
    w.users = PgInt(r, i, 3);
  }
  const std::string rows_sql = fmt::format(
      "SELECT {} FROM {} WHERE window_start = $1::timestamptz ORDER BY {} LIMIT $2::bigint",
      SelectList(t), table, GroupOrder(t));
  for (StoreAggregate::Window& w : t.out.windows) {
    auto rows = PgQuery(c, rows_sql, {w.start, std::to_string(groups)});
    if (!rows.ok()) return rows.status();
    const PGresult* g = rows->get();
    for (int row = 0; row < PQntuples(g); ++row) {
      auto& cells = w.rows.emplace_back();
      for (size_t i = 0; i < t.columns.size(); ++i) {
        cells.push_back(PgCell(g, row, static_cast<int>(i), t.columns[i].type));
      }
    }
  }
  return Status::Ok();
}

// As SqliteAggregates. Errors are redacted (a server's message may quote the DSN).
Result<std::vector<StoreAggregate>> PgAggregates(PGconn* c, int windows, int groups,
                                                 bool complete_one = false) {
  PgResult listed(PQexec(c, "SELECT name, definition FROM spate_aggregations ORDER BY name"));
  if (PQresultStatus(listed.get()) != PGRES_TUPLES_OK) {
    const char* state = PQresultErrorField(listed.get(), PG_DIAG_SQLSTATE);
    if (state != nullptr && std::string_view(state) == "42P01") {  // undefined_table
      return std::vector<StoreAggregate>{};
    }
    return Status::Fatal(RedactSecrets(PgError(c, listed.get(), "query").message()));
  }
  const std::string now = NowText();
  std::vector<StoreAggregate> out;
  for (int i = 0; i < PQntuples(listed.get()); ++i) {
    AggregateTable t = DescribeAggregate("postgres", PQgetvalue(listed.get(), i, 0),
                                         PQgetvalue(listed.get(), i, 1));
    if (t.out.error.empty()) {
      const int n = WindowsToRead(t.spec, windows, complete_one);
      if (Status r = ReadPgWindows(c, t, now, n, groups); !r.ok()) {
        t.out.error = RedactSecrets(r.message());
        t.out.windows.clear();
      }
    }
    out.push_back(std::move(t.out));
  }
  return out;
}

Result<Summary> QueryPostgres(const Config& config) {
  const PostgresSinkOptions options = PostgresOptions(config, /*raw=*/false);
  const std::string where = DescribeDsn(options.dsn);
  auto conn = PgConnect(options.dsn, options.connect_timeout, /*unreachable_is_retriable=*/false);
  if (!conn.ok()) return conn.status().WithContext("postgres " + where);
  PGconn* c = conn->get();
  auto fail = [&](const Status& s) {
    return Status::Fatal(RedactSecrets(s.message())).WithContext("postgres " + where);
  };
  auto version = PgRowsOf(c, "SELECT version::text FROM spate_schema");
  if (!version.ok() && version.status().message().find("does not exist") != std::string::npos) {
    return Status::Fatal(fmt::format(
        "postgres {}: no spate tables there: run `spate run --sink postgres` first, or name the "
        "right database in --pg-dsn",
        where));
  }
  if (!version.ok()) return fail(version.status());
  if (version->size() != 1 || (*version)[0][0] != std::to_string(kPostgresSchemaVersion)) {
    return Status::Fatal(fmt::format("postgres {}: spate schema version {}, this spate reads {}",
                                     where, version->empty() ? "(none)" : (*version)[0][0],
                                     kPostgresSchemaVersion));
  }
  Summary out;
  out.where = "postgres " + where;
  auto counts = PgRowsOf(c,
                         "SELECT (SELECT count(*) FROM created_users), "
                         "(SELECT count(*) FROM rejected_users), (SELECT count(*) FROM raw_users)");
  if (!counts.ok()) return fail(counts.status());
  out.rows = std::stoll((*counts)[0][0]);
  out.rejected = std::stoll((*counts)[0][1]);
  out.raw = std::stoll((*counts)[0][2]);
  for (auto [sql, limit, into] :
       {std::tuple{"SELECT count(*), reason FROM rejected_users GROUP BY reason "
                   "ORDER BY count(*) DESC, reason LIMIT $1::bigint",
                   kTopReasons, &out.reasons},
        std::tuple{"SELECT count(*), country FROM created_users GROUP BY country "
                   "ORDER BY count(*) DESC, country LIMIT $1::bigint",
                   kTopCountries, &out.countries}}) {
    auto rows = PgRowsOf(c, sql, limit);
    if (!rows.ok()) return fail(rows.status());
    for (const auto& r : *rows) into->emplace_back(std::stoll(r[0]), r[1]);
  }
  auto samples = PgRowsOf(c,
                          "SELECT id::text, first_name, last_name, email, nat, address "
                          "FROM created_users ORDER BY id LIMIT $1::bigint",
                          config.GetInt("samples"));
  if (!samples.ok()) return fail(samples.status());
  for (const auto& r : *samples) {
    out.samples.push_back(fmt::format("{}  {} {} <{}> {}  {}", r[0], r[1], r[2], r[3], r[4], r[5]));
  }
  auto aggregates = PgAggregates(c, kAggregateWindows, kAggregateGroups);
  if (!aggregates.ok()) return fail(aggregates.status());
  out.aggregates = std::move(*aggregates);
  return out;
}

// --- Cassandra (the figures come from cassandra_query.h) ---

Result<Summary> QueryCassandraStore(const Config& config) {
  const CassandraSinkOptions options = CassandraOptions(config);
  auto figures = QueryCassandra(options, static_cast<size_t>(config.GetInt("samples")));
  const std::string where =
      fmt::format("cassandra {} keyspace {}", options.hosts, options.keyspace);
  if (!figures.ok()) return figures.status().WithContext(where);
  Summary out;
  out.where = where;
  out.rows = figures->rows;
  out.rejected = figures->rejected;
  for (const CassandraCount& c : figures->rejected_by_reason)
    out.reasons.emplace_back(c.count, c.key);
  for (const CassandraCount& c : figures->top_countries) out.countries.emplace_back(c.count, c.key);
  for (const CassandraSampleRow& r : figures->samples) {
    out.samples.push_back(fmt::format("{}  {} {} <{}> {}  {}", r.id, r.first_name, r.last_name,
                                      r.email, r.nat, r.address));
  }
  return out;
}

// The dashboard's reader: connections opened on first use and kept; one that fails is
// dropped and opened again at the next reading (the store may not exist yet, or restart).
class StoreReader {
 public:
  explicit StoreReader(const Config& config) {
    for (const std::string& sink : config.GetList("sink")) {
      if (sink == "sqlite") sqlite_path_ = config.GetString("data_dir") + "/spate.db";
      if (sink == "postgres") postgres_ = PostgresOptions(config, /*raw=*/false);
    }
  }
  bool empty() const { return sqlite_path_.empty() && !postgres_; }

  StoreAggregates Read() {
    StoreAggregates out;
    auto take = [&](Result<std::vector<StoreAggregate>> read, std::string_view store) {
      if (read.ok()) {
        for (StoreAggregate& a : *read) out.aggregations.push_back(std::move(a));
        return true;
      }
      if (!out.error.empty()) out.error += "; ";
      out.error += fmt::format("{}: {}", store, read.status().message());
      return false;
    };
    if (!sqlite_path_.empty()) {
      std::error_code ec;
      if (!sqlite_ && std::filesystem::exists(sqlite_path_, ec)) {
        auto db = SqliteDb::OpenForReading(sqlite_path_);
        if (db.ok()) {
          // A reading waits little for a lock: the next one is a second away.
          sqlite3_busy_timeout(db->get(), 200);
          sqlite_.emplace(std::move(*db));
        } else {
          take(db.status(), "sqlite");
        }
      }
      if (sqlite_ && !take(SqliteAggregates(*sqlite_, kAggregateWindows, kAggregateGroups,
                                            /*complete_one=*/true),
                           "sqlite")) {
        sqlite_.reset();
      }
    }
    if (postgres_) {
      if (!pg_) {
        // Short: a page waits for the first reading (later ones answer from the last).
        auto conn = PgConnect(postgres_->dsn,
                              std::min(postgres_->connect_timeout, std::chrono::milliseconds(2000)),
                              /*unreachable_is_retriable=*/true);
        if (conn.ok()) {
          pg_ = std::move(*conn);
        } else {
          take(Status::Fatal(RedactSecrets(conn.status().message())), "postgres");
        }
      }
      if (pg_ &&
          !take(PgAggregates(pg_.get(), kAggregateWindows, kAggregateGroups, /*complete_one=*/true),
                "postgres")) {
        pg_.reset();
      }
    }
    return out;
  }

 private:
  std::string sqlite_path_;
  std::optional<PostgresSinkOptions> postgres_;
  std::optional<SqliteDb> sqlite_;
  PgConn pg_;
};

}  // namespace

AggregatesReader MakeStoreAggregatesReader(const Config& config) {
  auto reader = std::make_shared<StoreReader>(config);
  if (reader->empty()) return {};
  return [reader] { return reader->Read(); };
}

int QueryCommand(const Config& config) {
  // Each store named once, in order (--sink sqlite --sink postgres shows both).
  std::vector<std::string> stores;
  for (const std::string& name : config.GetList("sink")) {
    if (std::find(stores.begin(), stores.end(), name) == stores.end()) stores.push_back(name);
  }
  if (stores.empty()) stores.push_back("sqlite");
  int exit_code = kExitOk;
  for (size_t i = 0; i < stores.size(); ++i) {
    const std::string& store = stores[i];
    if (store != "sqlite" && store != "postgres" && store != "cassandra") {
      spdlog::error("--sink {}: nothing to query (spate query reads sqlite, postgres or cassandra)",
                    store);
      return kExitUsage;
    }
    if (store == "sqlite") {
      if (auto problem = DataDirProblem(config.GetString("data_dir"))) {
        spdlog::error("{}", *problem);
        return kExitUsage;
      }
    }
    Result<Summary> summary = store == "sqlite"     ? QuerySqlite(config)
                              : store == "postgres" ? QueryPostgres(config)
                                                    : QueryCassandraStore(config);
    if (!summary.ok()) {
      spdlog::error("{}", summary.status().message());
      exit_code = kExitFailure;
      continue;
    }
    if (i > 0) fmt::print("\n");
    Print(*summary);
    for (const StoreAggregate& a : summary->aggregates) {
      if (a.error.empty()) continue;
      spdlog::error("{}: aggregation {} cannot be read: {}", summary->where, a.name, a.error);
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

}  // namespace spate
