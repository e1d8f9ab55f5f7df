#include "sinks/sqlite_sink.h"

#include <chrono>
#include <filesystem>
#include <iterator>
#include <set>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

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
  return Status::Ok();
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

Status SqliteSink::WriteLocked(const Batch& batch) {
  sqlite3* db = db_->get();
  for (const Row& row : batch.rows) {
    if (row.ingested_at_ms != formatted_ms_) {
      formatted_ms_ = row.ingested_at_ms;
      formatted_ = FormatIso8601Millis(formatted_ms_);
    }
    (void)BindRow(upsert_.get(), row, formatted_);
    if (Status s = Step(db, upsert_.get(), "upsert into created_users"); !s.ok()) return s;
  }
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
