// Thin RAII wrappers over the SQLite C API, shared by the sink, `spate query` and the tests.
//
// Thread-safety: a SqliteDb (and its statements) is used from one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "core/status.h"

namespace spate {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct SqliteFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using SqliteStmt = std::unique_ptr<sqlite3_stmt, SqliteFinalizer>;

class SqliteDb {
 public:
  // Opens (creating if `create`) the database file. Errors say the cause, not the path
  // (callers name it in their context).
  static Result<SqliteDb> Open(const std::string& path, bool create);
  // Opens the database file to read, also where SQLite cannot write its WAL index next to
  // it (a read-only directory or file, a copy on read-only media): then it is opened as
  // immutable, which is right when nothing can be writing to it and its WAL is empty (spate
  // folds the WAL back on close). A non-empty WAL that cannot be read is an error.
  static Result<SqliteDb> OpenForReading(const std::string& path);

  sqlite3* get() const { return db_.get(); }
  // Runs one or more statements without results.
  Status Exec(std::string_view sql);
  Result<SqliteStmt> Prepare(std::string_view sql);
  // Status for the last error on this handle: BUSY/LOCKED are retriable, the rest fatal.
  Status Error(std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, SqliteCloser> db_;
};

}  // namespace spate
