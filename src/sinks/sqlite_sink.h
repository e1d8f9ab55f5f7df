// SqliteSink: the embedded store. created_users (upsert on id) and rejected_users (the
// dead-letter table) in <data_dir>/spate.db.
//
// Each Write is one transaction: the batch's rows and dead letters are committed together,
// and only then does Write return ok (the pipeline acknowledges after that). WAL mode with
// synchronous=NORMAL: a committed batch survives a process crash; `spate query` can read
// while a run writes.
//
// Thread-safety: one thread at a time (the pipeline's sink thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sinks/sink.h"
#include "sinks/sqlite_db.h"

namespace spate {

// Schema version this build writes; a database with a different one is refused.
// Version 2 (issue 17) added rejected_users.item; Open upgrades a version-1 database itself.
inline constexpr int kSqliteSchemaVersion = 2;

// The connection settings, the DDL and the upsert statement, shared with the benchmark's
// plain-loop baseline so both measure the same database work.
std::string SqlitePragmaSql();
std::string SqliteSchemaSql();
std::string SqliteUpsertSql();
// The SQL that upgrades a database of schema version `from_version` to this one.
Result<std::string> SqliteUpgradeSql(int from_version);

// Binds `row` to an upsert prepared from SqliteUpsertSql(). `ingested_at` is the row's
// ingested_at_ms already formatted (callers format once per batch).
Status BindRow(sqlite3_stmt* stmt, const Row& row, std::string_view ingested_at);

class SqliteSink final : public Sink {
 public:
  explicit SqliteSink(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  Status Open() override;
  Status Write(const Batch& batch) override;
  Status Close() override;
  std::string Describe() const override { return "sqlite " + path(); }
  std::string_view kind() const override { return "sqlite"; }

  std::string path() const { return data_dir_ + "/spate.db"; }

 private:
  Status WriteLocked(const Batch& batch);

  const std::string data_dir_;
  std::optional<SqliteDb> db_;
  SqliteStmt upsert_;
  SqliteStmt reject_;
  SqliteStmt begin_;
  SqliteStmt commit_;
  SqliteStmt rollback_;
  int64_t formatted_ms_ = -1;  // Cache: consecutive rows share one ingested_at.
  std::string formatted_;
};

// Discards everything and reports success: measures the pipeline without a store.
class DiscardSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch&) override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "discard"; }
  std::string_view kind() const override { return "discard"; }
};

}  // namespace spate
