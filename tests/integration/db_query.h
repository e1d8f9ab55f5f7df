// Reading what spate stored, for end-to-end tests. Never asserts: callers poll a database
// that a running process may not have created yet.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <set>
#include <string>

#include "sinks/sqlite_db.h"

namespace spate::testing {

// The first column of the first row of `sql` on <data_dir>/spate.db, or -1 when the database
// or the table is not there.
inline int64_t QueryInt(const std::string& data_dir, const std::string& sql) {
  auto db = SqliteDb::Open(data_dir + "/spate.db", false);
  if (!db.ok()) return -1;
  auto stmt = db->Prepare(sql);
  if (!stmt.ok() || sqlite3_step(stmt->get()) != SQLITE_ROW) return -1;
  return sqlite3_column_int64(stmt->get(), 0);
}

// The first column of every row of `sql`; empty when the database is not there.
inline std::set<std::string> QueryStrings(const std::string& data_dir, const std::string& sql) {
  std::set<std::string> out;
  auto db = SqliteDb::Open(data_dir + "/spate.db", false);
  if (!db.ok()) return out;
  auto stmt = db->Prepare(sql);
  if (!stmt.ok()) return out;
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    out.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 0)));
  }
  return out;
}

}  // namespace spate::testing
