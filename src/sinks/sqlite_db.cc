#include "sinks/sqlite_db.h"

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace spate {

Result<SqliteDb> SqliteDb::Open(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_NOMUTEX |
                    (create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  // Debian's SQLite is built with SQLITE_USE_URI, so a name starting with "file:" would be
  // read as a URI (`file:x?mode=memory` stores nothing on disk). A path is always a path:
  // "./" in front of a relative one keeps SQLite from seeing a scheme (issue 17, item 14).
  const std::string name = path.starts_with('/') ? path : "./" + path;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  SqliteDb db(raw);  // Owns the handle even on failure: sqlite3 allocates one anyway.
  if (rc != SQLITE_OK) {
    // The path is the caller's to add: its context (the sink's Describe) names it already.
    return Status::Fatal(fmt::format("cannot open the SQLite database: {}",
                                     raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

namespace {

// `path` as a file: URI (RFC 3986 escapes for what would end the path or start an escape).
std::string FileUri(const std::string& path) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      uri += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    } else {
      uri += c;
    }
  }
  return uri;
}

}  // namespace

Result<SqliteDb> SqliteDb::OpenForReading(const std::string& path) {
  auto db = Open(path, /*create=*/false);
  if (!db.ok()) return db;
  // Opening is lazy: the first read is where a WAL database finds it cannot make its -shm.
  Status probe = db->Exec("SELECT count(*) FROM sqlite_master");
  if (probe.ok()) return db;
  const int code = sqlite3_extended_errcode(db->get());
  const int primary = code & 0xff;
  if (primary != SQLITE_CANTOPEN && primary != SQLITE_READONLY) return probe;
  std::error_code ec;
  const auto wal_size = std::filesystem::file_size(path + "-wal", ec);
  if (!ec && wal_size > 0) {
    return Status::Fatal(fmt::format(
        "{} (its write-ahead log holds data, and its directory is not writable: copy the "
        "directory somewhere writable, or let the writer finish)",
        probe.message()));
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2((FileUri(path) + "?immutable=1").c_str(), &raw,
                      SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb immutable(raw);
  if (rc != SQLITE_OK) {
    return Status::Fatal(fmt::format("cannot open the SQLite database: {}",
                                     raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  return immutable;
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
