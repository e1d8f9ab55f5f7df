#include "sinks/sqlite_sink.h"

#include <chrono>
#include <filesystem>
#include <iterator>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/hash.h"

namespace spate {
namespace {

// Column types in kRowColumns order.
const char* ColumnType(std::string_view column) {
  if (column == "id") return "TEXT PRIMARY KEY NOT NULL";
  if (column == "age") return "INTEGER";
  if (column == "latitude" || column == "longitude") return "REAL";
  return "TEXT";
}

Status Step(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  const int primary = rc & 0xff;
  std::string text = fmt::format("{}: {}", what, sqlite3_errmsg(db));
  return (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? Status::Retriable(text)
                                                              : Status::Fatal(text);
}

void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  // SQLITE_STATIC: the Row outlives the step; no copy.
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

}  // namespace

std::string SqlitePragmaSql() {
  // WAL + NORMAL: a commit survives a process crash (not a power cut) without an fsync per
  // batch, and readers (spate query) never block the writer. A 16 MiB page cache holds the
  // hot part of the id index; larger caches cost RSS for little speed (docs/benchmarks.md).
  // A larger autocheckpoint writes each hot page back once per 64 MiB of WAL, not per 4 MiB.
  return fmt::format(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384; "
      "PRAGMA wal_autocheckpoint={};",
      kWalCheckpointPages);
}

std::string SqliteSchemaSql() {
  std::string columns;
  for (const char* column : kRowColumns) {
    if (!columns.empty()) columns += ", ";
    columns += fmt::format("{} {}", column, ColumnType(column));
  }
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS spate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS created_users ({});"
      "CREATE TABLE IF NOT EXISTS rejected_users (id TEXT PRIMARY KEY NOT NULL, "
      "reason TEXT NOT NULL, origin TEXT NOT NULL, position INTEGER NOT NULL, raw BLOB, "
      "rejected_at TEXT NOT NULL, item INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
      columns);
}

namespace {

// Version 2 (issue 17) adds the record's item to rejected_users: 0 for what version 1
// stored. Only a column is added, so Open does this itself.
std::string UpgradeFrom1Statements() {
  return fmt::format(
      "ALTER TABLE rejected_users ADD COLUMN item INTEGER NOT NULL DEFAULT 0;\n"
      "UPDATE spate_meta SET value = '{}' WHERE key = 'schema_version' AND value = '1';\n",
      kSqliteSchemaVersion);
}

}  // namespace

Result<std::string> SqliteUpgradeSql(int from_version) {
  if (from_version != 1) {
    return Status::Fatal(
        fmt::format("no upgrade from SQLite schema version {}: this spate upgrades version 1 to {}",
                    from_version, kSqliteSchemaVersion));
  }
  return "BEGIN IMMEDIATE;\n" + UpgradeFrom1Statements() + "COMMIT;\n";
}

namespace {

// What differs between the columns `table` has and those spate writes; empty if nothing.
Result<std::string> MissingColumns(SqliteDb& db, std::string_view table,
                                   const std::vector<std::string>& expected) {
  auto stmt = db.Prepare("SELECT name FROM pragma_table_info(?1)");
  if (!stmt.ok()) return stmt.status();
  sqlite3_bind_text(stmt->get(), 1, table.data(), static_cast<int>(table.size()), SQLITE_STATIC);
  std::set<std::string> have;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    have.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0)));
  }
  if (rc != SQLITE_DONE) return db.Error(fmt::format("read the columns of {}", table));
  std::string missing;
  for (const std::string& column : expected) {
    if (have.count(column) == 0) missing += (missing.empty() ? "" : ", ") + column;
  }
  return missing;
}

}  // namespace

std::string SqliteUpsertSql() {
  std::string names, params, updates;
  for (size_t i = 0; i < kRowColumnCount; ++i) {
    const std::string_view column = kRowColumns[i];
    names += fmt::format("{}{}", i ? ", " : "", column);
    params += fmt::format("{}?{}", i ? ", " : "", i + 1);
    if (column != "id") {
      updates += fmt::format("{}{} = excluded.{}", updates.empty() ? "" : ", ", column, column);
    }
  }
  return fmt::format("INSERT INTO created_users ({}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {}",
                     names, params, updates);
}

Status BindRow(sqlite3_stmt* stmt, const Row& row, std::string_view ingested_at) {
  int i = 0;
  BindText(stmt, ++i, row.id);
  BindText(stmt, ++i, row.first_name);
  BindText(stmt, ++i, row.last_name);
  BindText(stmt, ++i, row.gender);
  BindText(stmt, ++i, row.address);
  BindText(stmt, ++i, row.post_code);
  BindText(stmt, ++i, row.email);
  BindText(stmt, ++i, row.username);
  BindText(stmt, ++i, row.registered_date);
  BindText(stmt, ++i, row.phone);
  BindText(stmt, ++i, row.picture);
  BindText(stmt, ++i, row.dob);
  sqlite3_bind_int64(stmt, ++i, row.age);
  BindText(stmt, ++i, row.nat);
  BindText(stmt, ++i, row.city);
  BindText(stmt, ++i, row.state);
  BindText(stmt, ++i, row.country);
  sqlite3_bind_double(stmt, ++i, row.latitude);
  sqlite3_bind_double(stmt, ++i, row.longitude);
  BindText(stmt, ++i, row.timezone);
  BindText(stmt, ++i, row.cell);
  BindText(stmt, ++i, ingested_at);
  return Status::Ok();
}

namespace {

// Switching a database that another connection is creating to WAL can fail "locked" at once:
// SQLite's busy handler does not wait out that case. Setup is retried for a few seconds.
Status ExecWhileBusy(SqliteDb& db, const std::string& sql) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (true) {
    Status s = db.Exec(sql);
    if (!s.retriable() || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

namespace {

// ---- Aggregations ----

std::string Quoted(std::string_view name) { return fmt::format("\"{}\"", name); }

const char* SqlType(AggColumn::Type type) {
  switch (type) {
    case AggColumn::Type::kTimestamp:
    case AggColumn::Type::kText:
      return "TEXT NOT NULL";
    case AggColumn::Type::kInteger:
      return "INTEGER";
    case AggColumn::Type::kReal:
      return "REAL";
  }
  return "TEXT";
}

// "2026-12-06T09:15:30.123Z" (FormatIso8601Millis's form, which created_users.ingested_at
// holds) -> epoch ms; nullopt for anything else.
std::optional<int64_t> ParseIsoMillis(std::string_view s) {
  if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != '.' || s[23] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](size_t at, size_t n, int64_t& out) {
    out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int64_t y, m, d, hh, mm, ss, ms;
  if (!number(0, 4, y) || !number(5, 2, m) || !number(8, 2, d) || !number(11, 2, hh) ||
      !number(14, 2, mm) || !number(17, 2, ss) || !number(20, 3, ms) || m < 1 || m > 12 || d < 1 ||
      d > 31) {
    return std::nullopt;
  }
  // Days from the civil date (Howard Hinnant's algorithm).
  y -= m <= 2;
  const int64_t era = y / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;
  return ((days * 24 + hh) * 60 + mm) * 60000 + ss * 1000 + ms;
}

// What a column of an aggregation table holds.
struct ColumnRole {
  enum Kind { kWindowStart, kWindowEnd, kGroup, kUsers, kMin, kMax, kSum, kAvg } kind;
  size_t slot = 0;  // kMin..kAvg: AggGroupDelta::values index. kGroup: group_by index.
};

ColumnRole RoleOf(const AggregationSpec& spec, const AggColumn& column) {
  const std::string& n = column.name;
  if (n == "window_start") return {ColumnRole::kWindowStart};
  if (n == "window_end") return {ColumnRole::kWindowEnd};
  if (n == "users") return {ColumnRole::kUsers};
  for (size_t i = 0; i < spec.group_by.size(); ++i) {
    if (spec.group_by[i] == n) return {ColumnRole::kGroup, i};
  }
  const std::string_view value = std::string_view(n).substr(4);
  size_t slot = 0;
  for (size_t i = 0; i < kAggValueColumnCount; ++i) {
    if (value == kAggValueColumns[i]) slot = i;
  }
  if (n.starts_with("min_")) return {ColumnRole::kMin, slot};
  if (n.starts_with("max_")) return {ColumnRole::kMax, slot};
  if (n.starts_with("sum_")) return {ColumnRole::kSum, slot};
  return {ColumnRole::kAvg, slot};
}

bool IsExtreme(const ColumnRole& role) {
  return role.kind == ColumnRole::kMin || role.kind == ColumnRole::kMax;
}

// The SQL expression of a group column over created_users.
std::string GroupExpression(std::string_view column) {
  if (column == "age_band") return "(CASE WHEN age < 0 THEN 0 ELSE age / 10 * 10 END)";
  return Quoted(column);
}

std::string CreateTableSql(const AggregationSpec& spec, const std::vector<AggColumn>& columns) {
  std::string defs, key;
  for (const AggColumn& c : columns) {
    std::string type = SqlType(c.type);
    if (c.key || c.name == "users")
      type = c.type == AggColumn::Type::kInteger ? "INTEGER NOT NULL" : "TEXT NOT NULL";
    defs += fmt::format("{}{} {}", defs.empty() ? "" : ", ", Quoted(c.name), type);
    if (c.key) key += fmt::format("{}{}", key.empty() ? "" : ", ", Quoted(c.name));
  }
  return fmt::format("CREATE TABLE {} ({}, PRIMARY KEY ({})) WITHOUT ROWID", Quoted(spec.name),
                     defs, key);
}

// Parameters: every column but the avg ones, in table order, from ?1 (avg is computed from
// its sum and users).
std::string UpsertSql(const AggregationSpec& spec, const std::vector<AggColumn>& columns) {
  std::vector<int> param(columns.size(), 0);
  int next = 0, users_param = 0;
  std::vector<int> sum_param(kAggValueColumnCount, 0);
  for (size_t i = 0; i < columns.size(); ++i) {
    const ColumnRole role = RoleOf(spec, columns[i]);
    if (role.kind == ColumnRole::kAvg) continue;
    param[i] = ++next;
    if (role.kind == ColumnRole::kUsers) users_param = next;
    if (role.kind == ColumnRole::kSum) sum_param[role.slot] = next;
  }
  std::string names, values, key, sets, returning = "\"users\"";
  for (size_t i = 0; i < columns.size(); ++i) {
    const AggColumn& c = columns[i];
    const ColumnRole role = RoleOf(spec, c);
    const std::string q = Quoted(c.name);
    names += fmt::format("{}{}", i ? ", " : "", q);
    if (role.kind == ColumnRole::kAvg) {
      values += fmt::format("{}CAST(?{} AS REAL) / ?{}", i ? ", " : "", sum_param[role.slot],
                            users_param);
    } else {
      values += fmt::format("{}?{}", i ? ", " : "", param[i]);
    }
    if (c.key) key += fmt::format("{}{}", key.empty() ? "" : ", ", q);
    std::string set;
    switch (role.kind) {
      case ColumnRole::kUsers:
      case ColumnRole::kSum:
        set = fmt::format("{0} = {0} + excluded.{0}", q);
        break;
      case ColumnRole::kAvg: {
        const std::string sum = Quoted(fmt::format("sum_{}", kAggValueColumns[role.slot]));
        set = fmt::format("{} = CAST({} + excluded.{} AS REAL) / (\"users\" + excluded.\"users\")",
                          q, sum, sum);
        break;
      }
      case ColumnRole::kMin:
      case ColumnRole::kMax:
        // NULL in excluded: nothing was put in; keep what is stored.
        set = fmt::format(
            "{0} = CASE WHEN excluded.{0} IS NULL THEN {0} WHEN {0} IS NULL THEN excluded.{0} "
            "ELSE {1}({0}, excluded.{0}) END",
            q, role.kind == ColumnRole::kMin ? "min" : "max");
        returning += ", " + q;
        break;
      default:
        break;
    }
    if (!set.empty()) sets += fmt::format("{}{}", sets.empty() ? "" : ", ", set);
  }
  return fmt::format(
      "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} RETURNING {}",
      Quoted(spec.name), names, values, key, sets, returning);
}

// WHERE for a group by key: window_start = ?{first}, then the group columns.
std::string KeyWhere(const AggregationSpec& spec, int first) {
  std::string where = fmt::format("\"window_start\" = ?{}", first);
  for (size_t i = 0; i < spec.group_by.size(); ++i) {
    where +=
        fmt::format(" AND {} = ?{}", Quoted(spec.group_by[i]), first + 1 + static_cast<int>(i));
  }
  return where;
}

}  // namespace

SqliteSink::SqliteSink(std::string data_dir, std::vector<AggregationSpec> aggregations)
    : data_dir_(std::move(data_dir)), aggregations_(std::move(aggregations)) {}

SqliteSink::~SqliteSink() = default;

Status SqliteSink::Open() {
  std::error_code ec;
  std::filesystem::create_directories(data_dir_, ec);
  if (ec) {
    return Status::Fatal(fmt::format("cannot create data directory '{}': {} (set --data-dir)",
                                     data_dir_, ec.message()));
  }
  auto db = SqliteDb::Open(path(), /*create=*/true);
  if (!db.ok()) return db.status();
  db_.emplace(std::move(db).value());
  // First, so that setting up a database another process (a second `spate process` of the
  // same group) is setting up at the same moment waits instead of failing "locked".
  sqlite3_busy_timeout(db_->get(), 5000);
  // WAL + NORMAL: commits survive a process crash and readers never block the writer.
  // Errors do not name the database: the caller puts Describe() (which does) in front.
  if (Status s = ExecWhileBusy(*db_, SqlitePragmaSql()); !s.ok()) return s;
  if (Status s = ExecWhileBusy(*db_, SqliteSchemaSql()); !s.ok()) {
    return s.WithContext("create tables");
  }
  // Stamp a new database (OR IGNORE: a peer may have just done it), then refuse one written
  // by a different schema version rather than corrupt it.
  if (Status s = ExecWhileBusy(
          *db_, fmt::format(
                    "INSERT OR IGNORE INTO spate_meta (key, value) VALUES ('schema_version', '{}')",
                    kSqliteSchemaVersion));
      !s.ok()) {
    return s;
  }
  auto read_version = [&]() -> Result<std::string> {
    auto version = db_->Prepare("SELECT value FROM spate_meta WHERE key = 'schema_version'");
    if (!version.ok()) return version.status();
    if (sqlite3_step(version->get()) != SQLITE_ROW) return db_->Error("read the schema version");
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(version->get(), 0)));
  };
  auto found = read_version();
  if (!found.ok()) return found.status();
  if (*found == "1") {
    // Version 1 lacks rejected_users.item: adding it is all the upgrade is, and it keeps
    // every row. BEGIN IMMEDIATE and the version in the WHERE make a peer doing the same at
    // once harmless (it waits, then finds version 2).
    (void)ExecWhileBusy(*db_, "BEGIN IMMEDIATE");
    auto again = read_version();
    Status s = again.ok() ? Status::Ok() : again.status();
    if (s.ok() && *again == "1") s = db_->Exec(UpgradeFrom1Statements());
    if (!s.ok()) {
      (void)db_->Exec("ROLLBACK");
      return s.WithContext("upgrade schema version 1 to 2");
    }
    if (!sqlite3_get_autocommit(db_->get())) (void)db_->Exec("COMMIT");
    found = read_version();
    if (!found.ok()) return found.status();
  }
  if (*found != std::to_string(kSqliteSchemaVersion)) {
    return Status::Fatal(fmt::format(
        "the database has spate schema version {}, this spate understands {}: use another "
        "--data-dir",
        *found, kSqliteSchemaVersion));
  }
  // Tables made by something else under these names must have what spate writes.
  std::vector<std::string> user_columns(std::begin(kRowColumns), std::end(kRowColumns));
  const std::pair<const char*, std::vector<std::string>> tables[] = {
      {"created_users", user_columns},
      {"rejected_users", {"id", "reason", "origin", "position", "item", "raw", "rejected_at"}}};
  for (const auto& [table, columns] : tables) {
    auto missing = MissingColumns(*db_, table, columns);
    if (!missing.ok()) return missing.status();
    if (!missing->empty()) {
      return Status::Fatal(fmt::format(
          "table {} lacks the columns {} that spate writes: it was not made by spate; use "
          "another --data-dir",
          table, *missing));
    }
  }
  struct {
    SqliteStmt* target;
    std::string sql;
  } statements[] = {
      {&upsert_, SqliteUpsertSql()},
      {&reject_,
       "INSERT INTO rejected_users (id, reason, origin, position, raw, rejected_at, item) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET reason = "
       "excluded.reason, "
       "rejected_at = excluded.rejected_at"},
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
  };
  for (auto& [target, sql] : statements) {
    auto stmt = db_->Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    *target = std::move(stmt).value();
  }
  if (!aggregations_.empty()) return OpenAggregations();
  return Status::Ok();
}

namespace {

// Reads the current row of `stmt`, whose columns are `columns` (AggregateDelta::row_columns),
// into `row`; text is copied into `text` (assign keeps each string's buffer, so a warm sink
// allocates nothing). False if ingested_at is not in spate's form: such a row is in no
// window, whether it goes in or out.
bool ReadAggregatedColumns(sqlite3_stmt* stmt, const std::vector<std::string>& columns, Row& row,
                           std::vector<std::string>& text) {
  if (text.size() < columns.size()) text.resize(columns.size());
  bool in_windows = true;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string& column = columns[i];
    const int at = static_cast<int>(i);
    if (column == "age") {
      row.age = sqlite3_column_int64(stmt, at);
    } else if (column == "latitude") {
      row.latitude = sqlite3_column_double(stmt, at);
    } else if (column == "longitude") {
      row.longitude = sqlite3_column_double(stmt, at);
    } else {
      const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(stmt, at));
      const std::string_view value(bytes ? bytes : "",
                                   bytes ? static_cast<size_t>(sqlite3_column_bytes(stmt, at)) : 0);
      if (column == "ingested_at") {
        const auto ms = ParseIsoMillis(value);
        if (ms) row.ingested_at_ms = *ms;
        in_windows = ms.has_value();
      } else if (auto member = RowTextColumn(column)) {
        text[i].assign(value);
        row.*member = text[i];
      }
    }
  }
  return in_windows;
}

Status StepFailed(sqlite3* db, int rc, std::string_view what) {
  const int primary = rc & 0xff;
  std::string text = fmt::format("{}: {}", what, sqlite3_errmsg(db));
  return (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? Status::Retriable(text)
                                                              : Status::Fatal(text);
}

std::string ColumnList(const std::vector<std::string>& columns) {
  std::string list;
  for (const std::string& c : columns) list += (list.empty() ? "" : ", ") + Quoted(c);
  return list;
}

}  // namespace

Result<SqliteSink::AggStatements> SqliteSink::PrepareAggregation(const AggregationSpec& spec) {
  AggStatements st;
  st.columns = AggregateColumns(spec);
  std::string extremes, recompute;
  std::vector<const char*> hold_columns;  // The min/max columns' value columns, in order.
  for (const AggColumn& column : st.columns) {
    const ColumnRole role = RoleOf(spec, column);
    st.roles.emplace_back(role.kind, role.slot);
    if (!IsExtreme(role)) continue;
    extremes +=
        fmt::format("{}{} = ?{}", extremes.empty() ? "" : ", ", Quoted(column.name), ++st.extremes);
    recompute += fmt::format("{}{}({})", recompute.empty() ? "" : ", ",
                             role.kind == ColumnRole::kMin ? "min" : "max",
                             Quoted(kAggValueColumns[role.slot]));
    hold_columns.push_back(kAggValueColumns[role.slot]);
  }
  std::string group_where;
  for (size_t i = 0; i < spec.group_by.size(); ++i) {
    group_where += fmt::format(" AND {} = ?{}", GroupExpression(spec.group_by[i]), i + 3);
  }
  struct {
    SqliteStmt* target;
    std::string sql;
  } statements[] = {
      {&st.upsert, UpsertSql(spec, st.columns)},
      {&st.remove, fmt::format("DELETE FROM {} WHERE {}", Quoted(spec.name), KeyWhere(spec, 1))},
      {&st.recompute, st.extremes == 0
                          ? std::string()
                          : fmt::format("SELECT {} FROM created_users WHERE ingested_at >= ?1 AND "
                                        "ingested_at < ?2{}",
                                        recompute, group_where)},
      {&st.set_extremes, st.extremes == 0
                             ? std::string()
                             : fmt::format("UPDATE {} SET {} WHERE {}", Quoted(spec.name), extremes,
                                           KeyWhere(spec, st.extremes + 1))},
  };
  for (auto& [target, sql] : statements) {
    if (sql.empty()) continue;
    auto stmt = db_->Prepare(sql);
    if (!stmt.ok()) return stmt.status().WithContext(fmt::format("aggregation {}", spec.name));
    *target = std::move(stmt).value();
  }
  for (const char* column : hold_columns) {
    auto stmt = db_->Prepare(fmt::format(
        "SELECT 1 FROM created_users WHERE ingested_at >= ?1 AND ingested_at < ?2{} AND {} = ?{} "
        "LIMIT 1",
        group_where, Quoted(column), spec.group_by.size() + 3));
    if (!stmt.ok()) return stmt.status().WithContext(fmt::format("aggregation {}", spec.name));
    st.holds.push_back(std::move(stmt).value());
  }
  return st;
}

Status SqliteSink::OpenAggregations() {
  if (Status s = ExecWhileBusy(*db_,
                               "CREATE TABLE IF NOT EXISTS spate_aggregations (name TEXT PRIMARY "
                               "KEY NOT NULL, definition TEXT NOT NULL)");
      !s.ok()) {
    return s.WithContext("create spate_aggregations");
  }
  delta_.emplace(aggregations_);
  bool extremes = false;
  for (size_t i = 0; i < aggregations_.size(); ++i) extremes |= delta_->has_extremes(i);
  if (extremes) {
    // Recomputing a group's min or max reads its window's rows through this index.
    if (Status s = ExecWhileBusy(*db_,
                                 "CREATE INDEX IF NOT EXISTS created_users_ingested_at ON "
                                 "created_users (ingested_at)");
        !s.ok()) {
      return s.WithContext("create the index on created_users (ingested_at)");
    }
  }
  for (const AggregationSpec& spec : aggregations_) {
    if (Status s = BuildAggregation(spec); !s.ok()) {
      return s.WithContext(fmt::format("aggregation {}", spec.name));
    }
    auto st = PrepareAggregation(spec);
    if (!st.ok()) return st.status();
    agg_statements_.push_back(std::move(st).value());
  }
  // The plain INSERT is the upsert without its conflict clause: same columns, same binding.
  const std::string upsert = SqliteUpsertSql();
  auto insert = db_->Prepare(upsert.substr(0, upsert.find(" ON CONFLICT")));
  if (!insert.ok()) return insert.status();
  insert_ = std::move(insert).value();
  auto read_old = db_->Prepare(
      fmt::format("SELECT {} FROM created_users WHERE id = ?1", ColumnList(delta_->row_columns())));
  if (!read_old.ok()) return read_old.status();
  read_old_ = std::move(read_old).value();
  return Status::Ok();
}

// In one transaction, so that a peer opening at the same moment waits and then finds the
// table built, and a crash leaves either the old table and definition or the new ones.
Status SqliteSink::BuildAggregation(const AggregationSpec& spec) {
  const std::string definition = spec.Definition();
  auto state = [&](bool& exists, std::optional<std::string>& stored) -> Status {
    auto table =
        db_->Prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
    if (!table.ok()) return table.status();
    BindText(table->get(), 1, spec.name);
    if (sqlite3_step(table->get()) != SQLITE_ROW) return db_->Error("look for the table");
    exists = sqlite3_column_int64(table->get(), 0) > 0;
    auto def = db_->Prepare("SELECT definition FROM spate_aggregations WHERE name = ?1");
    if (!def.ok()) return def.status();
    BindText(def->get(), 1, spec.name);
    const int rc = sqlite3_step(def->get());
    if (rc == SQLITE_ROW) {
      stored = reinterpret_cast<const char*>(sqlite3_column_text(def->get(), 0));
    } else if (rc != SQLITE_DONE) {
      return db_->Error("read spate_aggregations");
    }
    return Status::Ok();
  };
  bool exists = false;
  std::optional<std::string> stored;
  if (Status s = state(exists, stored); !s.ok()) return s;
  if (exists && stored == definition) return Status::Ok();  // The common case: no lock taken.

  if (Status s = ExecWhileBusy(*db_, "BEGIN IMMEDIATE"); !s.ok()) return s;
  auto fail = [&](Status s) {
    (void)db_->Exec("ROLLBACK");
    return s;
  };
  stored.reset();
  if (Status s = state(exists, stored); !s.ok()) return fail(s);
  if (exists && stored == definition) return db_->Exec("COMMIT");  // A peer built it.
  if (exists && !stored) {
    return fail(Status::Fatal(fmt::format(
        "a table {} exists that spate did not make for an aggregation: rename the aggregation "
        "or drop that table",
        spec.name)));
  }
  const auto columns = AggregateColumns(spec);
  if (Status s = db_->Exec(fmt::format("DROP TABLE IF EXISTS {}; {}", Quoted(spec.name),
                                       CreateTableSql(spec, columns)));
      !s.ok()) {
    return fail(s.WithContext("create the table"));
  }
  // Every stored row goes in through the engine that Write uses; the groups are flushed
  // every so often to bound memory (upserts add up, so flushing early changes nothing).
  AggregateDelta delta({spec});
  std::vector<AggStatements> statements;
  auto st = PrepareAggregation(spec);
  if (!st.ok()) return fail(st.status());
  statements.push_back(std::move(st).value());
  auto rows =
      db_->Prepare(fmt::format("SELECT {} FROM created_users", ColumnList(delta.row_columns())));
  if (!rows.ok()) return fail(rows.status());
  Row row;
  std::vector<std::string> text;
  int64_t count = 0;
  int rc;
  while ((rc = sqlite3_step(rows->get())) == SQLITE_ROW) {
    if (ReadAggregatedColumns(rows->get(), delta.row_columns(), row, text)) delta.Add(row);
    ++count;
    if (delta.group_count() >= 100000) {
      if (Status s = ApplyDelta(delta, statements); !s.ok()) return fail(s);
      delta.Clear();
    }
  }
  if (rc != SQLITE_DONE) return fail(db_->Error("read created_users"));
  rows->reset();
  if (Status s = ApplyDelta(delta, statements); !s.ok()) return fail(s);
  statements.clear();
  auto save = db_->Prepare(
      "INSERT INTO spate_aggregations (name, definition) VALUES (?1, ?2) ON CONFLICT (name) DO "
      "UPDATE SET definition = excluded.definition");
  if (!save.ok()) return fail(save.status());
  BindText(save->get(), 1, spec.name);
  BindText(save->get(), 2, definition);
  if (Status s = Step(db_->get(), save->get(), "record the definition"); !s.ok()) return fail(s);
  save->reset();
  if (Status s = db_->Exec("COMMIT"); !s.ok()) return fail(s);
  spdlog::info("aggregation {}: {} table from {} rows of created_users", spec.name,
               exists ? "rebuilt the" : "built its", count);
  return Status::Ok();
}

Status SqliteSink::ApplyDelta(AggregateDelta& delta, std::vector<AggStatements>& statements) {
  sqlite3* db = db_->get();
  double stored[16];
  bool stored_null[16];
  for (const uint32_t index : delta.Sorted()) {
    const AggGroupDelta& g = delta.group(index);
    const AggregationSpec& spec = delta.specs()[g.aggregation];
    AggStatements& st = statements[g.aggregation];
    delta.KeyValues(g, key_values_);
    const int64_t window[2] = {g.window_start, g.window_start + spec.size_ms};
    for (int k = 0; k < 2; ++k) {
      if (window_ms_[k] != window[k]) {
        window_ms_[k] = window[k];
        window_text_[k] = FormatIso8601Millis(window[k]);
      }
    }
    auto bind_key = [&](sqlite3_stmt* stmt, int first) {
      BindText(stmt, first, window_text_[0]);
      for (size_t i = 0; i < key_values_.size(); ++i) {
        const AggKeyValue& v = key_values_[i];
        const int at = first + 1 + static_cast<int>(i);
        if (v.integer) {
          sqlite3_bind_int64(stmt, at, v.number);
        } else {
          BindText(stmt, at, v.text);
        }
      }
    };
    auto bind_number = [](sqlite3_stmt* stmt, int at, size_t slot, double value) {
      if (slot == 0) {
        sqlite3_bind_int64(stmt, at, static_cast<int64_t>(value));
      } else {
        sqlite3_bind_double(stmt, at, value);
      }
    };

    sqlite3_stmt* up = st.upsert.get();
    int param = 0;
    for (const auto& [kind, slot] : st.roles) {
      const AggValueDelta& v = g.values[slot];
      switch (kind) {
        case ColumnRole::kWindowStart:
          BindText(up, ++param, window_text_[0]);
          break;
        case ColumnRole::kWindowEnd:
          BindText(up, ++param, window_text_[1]);
          break;
        case ColumnRole::kGroup:
          if (key_values_[slot].integer) {
            sqlite3_bind_int64(up, ++param, key_values_[slot].number);
          } else {
            BindText(up, ++param, key_values_[slot].text);
          }
          break;
        case ColumnRole::kUsers:
          sqlite3_bind_int64(up, ++param, g.users);
          break;
        case ColumnRole::kSum:
          if (slot == 0) {
            sqlite3_bind_int64(up, ++param, v.int_sum);
          } else {
            sqlite3_bind_double(up, ++param, v.real_sum);
          }
          break;
        case ColumnRole::kMin:
        case ColumnRole::kMax:
          if (!v.has_in()) {
            sqlite3_bind_null(up, ++param);
          } else {
            bind_number(up, ++param, slot, kind == ColumnRole::kMin ? v.in_min : v.in_max);
          }
          break;
        default:
          break;  // avg: computed from sum and users.
      }
    }
    int rc = sqlite3_step(up);
    if (rc != SQLITE_ROW) {
      sqlite3_reset(up);
      return StepFailed(db, rc, fmt::format("update {}", spec.name));
    }
    const int64_t users = sqlite3_column_int64(up, 0);
    for (int i = 0; i < st.extremes && i < 16; ++i) {
      stored_null[i] = sqlite3_column_type(up, i + 1) == SQLITE_NULL;
      stored[i] = sqlite3_column_double(up, i + 1);
    }
    sqlite3_reset(up);

    if (users <= 0) {  // The group is empty (< 0 would mean a table not kept by this sink).
      bind_key(st.remove.get(), 1);
      if (Status s = Step(db, st.remove.get(), fmt::format("delete from {}", spec.name)); !s.ok()) {
        return s;
      }
      continue;
    }
    if (st.extremes == 0) continue;
    // A value taken out at or beyond the stored min/max may have been it (see AggGroupDelta).
    bool recompute = false;
    int e = 0;
    for (const auto& [kind, slot] : st.roles) {
      if (kind != ColumnRole::kMin && kind != ColumnRole::kMax) continue;
      const AggValueDelta& v = g.values[slot];
      bool suspect = false;
      if (v.has_out()) {
        if (stored_null[e]) suspect = true;
        if (kind == ColumnRole::kMin && v.out_min <= stored[e]) suspect = true;
        if (kind == ColumnRole::kMax && v.out_max >= stored[e]) suspect = true;
      }
      if (suspect && !stored_null[e]) {
        // The stored value bounds the true one (see AggGroupDelta): if a row of the group
        // still holds it, it is still right.
        sqlite3_stmt* holds = st.holds[e].get();
        BindText(holds, 1, window_text_[0]);
        BindText(holds, 2, window_text_[1]);
        for (size_t i = 0; i < key_values_.size(); ++i) {
          if (key_values_[i].integer) {
            sqlite3_bind_int64(holds, static_cast<int>(i) + 3, key_values_[i].number);
          } else {
            BindText(holds, static_cast<int>(i) + 3, key_values_[i].text);
          }
        }
        bind_number(holds, static_cast<int>(key_values_.size()) + 3, slot, stored[e]);
        rc = sqlite3_step(holds);
        sqlite3_reset(holds);
        if (rc == SQLITE_ROW) {
          suspect = false;
        } else if (rc != SQLITE_DONE) {
          return StepFailed(db, rc, fmt::format("check min/max of {}", spec.name));
        }
      }
      recompute |= suspect;
      ++e;
    }
    if (!recompute) continue;
    sqlite3_stmt* re = st.recompute.get();
    BindText(re, 1, window_text_[0]);
    BindText(re, 2, window_text_[1]);
    for (size_t i = 0; i < key_values_.size(); ++i) {
      if (key_values_[i].integer) {
        sqlite3_bind_int64(re, static_cast<int>(i) + 3, key_values_[i].number);
      } else {
        BindText(re, static_cast<int>(i) + 3, key_values_[i].text);
      }
    }
    rc = sqlite3_step(re);
    if (rc != SQLITE_ROW) {
      sqlite3_reset(re);
      return StepFailed(db, rc, fmt::format("recompute min/max of {}", spec.name));
    }
    sqlite3_stmt* set = st.set_extremes.get();
    for (int i = 0; i < st.extremes; ++i) {
      if (sqlite3_column_type(re, i) == SQLITE_NULL) {
        sqlite3_bind_null(set, i + 1);
      } else {
        sqlite3_bind_value(set, i + 1, sqlite3_column_value(re, i));
      }
    }
    sqlite3_reset(re);
    bind_key(set, st.extremes + 1);
    if (Status s = Step(db, set, fmt::format("update min/max of {}", spec.name)); !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status SqliteSink::WriteRowsAggregated(const Batch& batch) {
  sqlite3* db = db_->get();
  delta_->Clear();
  for (const Row& row : batch.rows) {
    if (row.ingested_at_ms != formatted_ms_) {
      formatted_ms_ = row.ingested_at_ms;
      formatted_ = FormatIso8601Millis(formatted_ms_);
    }
    // Insert first: a new id (the usual case) costs one statement and adds its contribution.
    (void)BindRow(insert_.get(), row, formatted_);
    int rc = sqlite3_step(insert_.get());
    sqlite3_reset(insert_.get());
    if (rc == SQLITE_DONE) {
      delta_->Add(row);
      continue;
    }
    if (rc != SQLITE_CONSTRAINT_PRIMARYKEY) {
      return StepFailed(db, rc, "insert into created_users");
    }
    // The id is stored: its old version's contribution goes out, the new one's in.
    BindText(read_old_.get(), 1, row.id);
    rc = sqlite3_step(read_old_.get());
    if (rc != SQLITE_ROW) {
      sqlite3_reset(read_old_.get());
      return StepFailed(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "read the stored row");
    }
    const bool counted =
        ReadAggregatedColumns(read_old_.get(), delta_->row_columns(), old_row_, old_text_);
    sqlite3_reset(read_old_.get());
    (void)BindRow(upsert_.get(), row, formatted_);
    if (Status s = Step(db, upsert_.get(), "upsert into created_users"); !s.ok()) return s;
    if (counted) {
      delta_->Replace(old_row_, row);
    } else {
      delta_->Add(row);
    }
  }
  return ApplyDelta(*delta_, agg_statements_);
}

Status SqliteSink::Write(const Batch& batch) {
  const int pages = batch.rows.size() + batch.dead.size() < kStreamingBatchRecords
                        ? kWalCheckpointPagesStreaming
                        : kWalCheckpointPages;
  if (pages != checkpoint_pages_) {
    sqlite3_wal_autocheckpoint(db_->get(), pages);
    checkpoint_pages_ = pages;
  }
  if (Status s = Step(db_->get(), begin_.get(), "begin"); !s.ok()) return s;
  Status s = WriteLocked(batch);
  if (s.ok()) s = Step(db_->get(), commit_.get(), "commit");
  if (!s.ok() && !sqlite3_get_autocommit(db_->get())) {
    (void)Step(db_->get(), rollback_.get(), "rollback");  // The first error is the one to report.
  }
  return s;  // The pipeline names the sink (Describe has the path) in front of the message.
}

Status SqliteSink::WriteRows(const Batch& batch) {
  sqlite3* db = db_->get();
  for (const Row& row : batch.rows) {
    if (row.ingested_at_ms != formatted_ms_) {
      formatted_ms_ = row.ingested_at_ms;
      formatted_ = FormatIso8601Millis(formatted_ms_);
    }
    (void)BindRow(upsert_.get(), row, formatted_);
    if (Status s = Step(db, upsert_.get(), "upsert into created_users"); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SqliteSink::WriteLocked(const Batch& batch) {
  sqlite3* db = db_->get();
  if (Status s = delta_ ? WriteRowsAggregated(batch) : WriteRows(batch); !s.ok()) return s;
  if (batch.dead.empty()) return Status::Ok();
  const std::string now = FormatIso8601Millis(NowUnixMillis());
  for (const DeadLetter& dead : batch.dead) {
    const std::string id = DeadLetterId(dead);
    sqlite3_stmt* stmt = reject_.get();
    BindText(stmt, 1, id);
    BindText(stmt, 2, dead.reason);
    BindText(stmt, 3, dead.origin);
    sqlite3_bind_int64(stmt, 4, static_cast<int64_t>(dead.position));
    sqlite3_bind_blob(stmt, 5, dead.raw.data(), static_cast<int>(dead.raw.size()), SQLITE_STATIC);
    BindText(stmt, 6, now);
    sqlite3_bind_int64(stmt, 7, dead.item);
    if (Status s = Step(db, stmt, "insert into rejected_users"); !s.ok()) return s;
  }
  return Status::Ok();
}

Status SqliteSink::Close() {
  agg_statements_.clear();
  insert_.reset();
  read_old_.reset();
  upsert_.reset();
  reject_.reset();
  begin_.reset();
  commit_.reset();
  rollback_.reset();
  if (db_) {
    // Fold the WAL back into the main file so the database is one self-contained file.
    (void)db_->Exec("PRAGMA wal_checkpoint(TRUNCATE);");
    db_.reset();
  }
  return Status::Ok();
}

}  // namespace spate
