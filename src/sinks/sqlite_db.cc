#include "sinks/sqlite_db.h"

#include <fmt/format.h>

namespace spate {

Result<SqliteDb> SqliteDb::Open(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_NOMUTEX |
                    (create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqliteDb db(raw);  // Owns the handle even on failure: sqlite3 allocates one anyway.
  if (rc != SQLITE_OK) {
    return Status::Fatal(fmt::format("cannot open SQLite database '{}': {}", path,
                                     raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status SqliteDb::Exec(std::string_view sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_.get(), std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Status::Ok();
  std::string text = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  const int primary = rc & 0xff;
  return (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) ? Status::Retriable(text)
                                                              : Status::Fatal(text);
}

Result<SqliteStmt> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    return Error("prepare");
  }
  return SqliteStmt(stmt);
}

Status SqliteDb::Error(std::string_view what) const {
  const int code = sqlite3_extended_errcode(db_.get()) & 0xff;
  std::string text = fmt::format("{}: {}", what, sqlite3_errmsg(db_.get()));
  return (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? Status::Retriable(std::move(text))
                                                        : Status::Fatal(std::move(text));
}

}  // namespace spate
