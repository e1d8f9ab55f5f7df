// spate query: what landed in the SQLite store.
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "sinks/sqlite_db.h"

namespace spate {
namespace {

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// Runs `sql` and calls `on_row` per result row. Returns false (after logging) on error.
template <typename Fn>
bool ForEachRow(SqliteDb& db, std::string_view sql, Fn&& on_row) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) {
    spdlog::error("{}", stmt.status().message());
    return false;
  }
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) on_row(stmt->get());
  return true;
}

}  // namespace

int QueryCommand(const Config& config) {
  const std::string path = config.GetString("data_dir") + "/spate.db";
  if (!std::filesystem::exists(path)) {
    spdlog::error("no data at {}: run `spate run` first, or point --data-dir at its directory",
                  path);
    return kExitFailure;
  }
  auto db = SqliteDb::Open(path, /*create=*/false);
  if (!db.ok()) {
    spdlog::error("{}", db.status().message());
    return kExitFailure;
  }
  sqlite3_busy_timeout(db->get(), 5000);  // A run may be writing right now.
  int64_t rows = 0, rejected = 0;
  bool ok = ForEachRow(*db,
                       "SELECT (SELECT count(*) FROM created_users), "
                       "(SELECT count(*) FROM rejected_users)",
                       [&](sqlite3_stmt* s) {
                         rows = sqlite3_column_int64(s, 0);
                         rejected = sqlite3_column_int64(s, 1);
                       });
  if (!ok) return kExitFailure;
  fmt::print("database: {}\n", path);
  fmt::print("created_users:  {} rows\n", rows);
  fmt::print("rejected_users: {} rows\n", rejected);
  if (rejected > 0) {
    fmt::print("\nrejected, by reason:\n");
    ForEachRow(*db,
               "SELECT count(*), reason FROM rejected_users GROUP BY reason "
               "ORDER BY count(*) DESC, reason LIMIT 20",
               [](sqlite3_stmt* s) {
                 fmt::print("  {:>8}  {}\n", sqlite3_column_int64(s, 0), Text(s, 1));
               });
  }
  if (rows > 0) {
    fmt::print("\ntop countries:\n");
    ForEachRow(*db,
               "SELECT count(*), country FROM created_users GROUP BY country "
               "ORDER BY count(*) DESC, country LIMIT 10",
               [](sqlite3_stmt* s) {
                 fmt::print("  {:>8}  {}\n", sqlite3_column_int64(s, 0), Text(s, 1));
               });
    const int64_t samples = config.GetInt("samples");
    if (samples > 0) {
      fmt::print("\nsample rows:\n");
      auto stmt = db->Prepare(
          "SELECT id, first_name, last_name, email, nat, address FROM created_users "
          "ORDER BY id LIMIT ?1");
      if (stmt.ok()) {
        sqlite3_bind_int64(stmt->get(), 1, samples);
        while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
          sqlite3_stmt* s = stmt->get();
          fmt::print("  {}  {} {} <{}> {}  {}\n", Text(s, 0), Text(s, 1), Text(s, 2), Text(s, 3),
                     Text(s, 4), Text(s, 5));
        }
      }
    }
  }
  return kExitOk;
}

}  // namespace spate
