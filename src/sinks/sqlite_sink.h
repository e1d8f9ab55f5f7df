// SqliteSink: the embedded store. created_users (upsert on id) and rejected_users (the
// dead-letter table) in <data_dir>/spate.db.
//
// Each Write is one transaction: the batch's rows and dead letters are committed together,
// and only then does Write return ok (the pipeline acknowledges after that). WAL mode with
// synchronous=NORMAL: a committed batch survives a process crash; `spate query` can read
// while a run writes.
//
// Checkpoints (the WAL copied back into the database file, with an fsync) run inside the
// commit that crosses the WAL threshold and stall it, with every record behind it. In bulk
// (full batches) a large threshold (kWalCheckpointPages, 64 MiB) writes each hot page back
// rarely, which is worth a third of the throughput; a stream that the sink keeps up with
// (small batches, closed by --linger rather than by size) checkpoints every
// kWalCheckpointPagesStreaming (16 MiB) instead, so each stall is a quarter as long: that
// halved p99 ingest->stored latency at 10,000 records/s (docs/benchmarks.md). (A
// checkpointer thread with its own connection was tried and was worse: the writer's WAL
// restart then waits on the checkpointer's locks through SQLite's busy handler, whose sleeps
// are up to 100 ms.)
//
// Aggregations (issue 19): each configured aggregation has a table (WITHOUT ROWID, keyed by
// window_start and the group columns) and a row in spate_aggregations with its Definition().
// Open (re)builds a table from created_users when it is missing or its definition differs.
// Write keeps every table equal to a GROUP BY over created_users in the batch's
// transaction: each row is INSERTed (the common case: new rows cost what the upsert costs);
// on a primary-key conflict the old version's columns are read by id and the row upserted,
// and the engine (AggregateDelta) takes the old contribution out and puts the new one in;
// the changed groups are then upserted in key order, groups left with no users deleted,
// and min/max recomputed from created_users (through an index on ingested_at) only for
// groups where a value taken out could have been the min or max. With no aggregations Write
// is the plain upsert loop it always was.
//
// Thread-safety: one thread at a time (the pipeline's sink thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analytics/aggregate.h"
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
  explicit SqliteSink(std::string data_dir, std::vector<AggregationSpec> aggregations = {});
  ~SqliteSink() override;

  Status Open() override;
  Status Write(const Batch& batch) override;
  Status Close() override;
  std::string Describe() const override { return "sqlite " + path(); }
  std::string_view kind() const override { return "sqlite"; }

  std::string path() const { return data_dir_ + "/spate.db"; }

 private:
  // One aggregation's prepared statements (their SQL: sqlite_sink.cc).
  struct AggStatements {
    SqliteStmt upsert;        // Adds a group's change; RETURNING users and the min/max columns.
    SqliteStmt remove;        // Deletes a group by key.
    SqliteStmt recompute;     // The min/max columns of a group, from created_users.
    SqliteStmt set_extremes;  // Stores them.
    // Per min/max column: does a row of the group still hold this value? (Ties are common,
    // e.g. ages: a hit, found early in the window's scan, saves the whole recompute.)
    std::vector<SqliteStmt> holds;
    std::vector<AggColumn> columns;
    std::vector<std::pair<int, size_t>> roles;  // Per column: what it holds (sqlite_sink.cc).
    int extremes = 0;                           // How many min/max columns.
  };

  Status WriteLocked(const Batch& batch);
  Status WriteRows(const Batch& batch);
  Status WriteRowsAggregated(const Batch& batch);
  Status OpenAggregations();
  Status BuildAggregation(const AggregationSpec& spec);
  Result<AggStatements> PrepareAggregation(const AggregationSpec& spec);
  // Applies `delta`'s groups through `statements` (one per delta spec).
  Status ApplyDelta(AggregateDelta& delta, std::vector<AggStatements>& statements);

  const std::string data_dir_;
  const std::vector<AggregationSpec> aggregations_;
  std::optional<AggregateDelta> delta_;  // Set when there are aggregations.
  std::vector<AggStatements> agg_statements_;
  SqliteStmt insert_;    // Plain INSERT: fails on an existing id (then read_old_, upsert_).
  SqliteStmt read_old_;  // The columns aggregations read, of the row with an id.
  Row old_row_;          // The old version, its text in old_text_.
  std::vector<std::string> old_text_;
  std::vector<AggKeyValue> key_values_;
  std::string window_text_[2];  // Cache: window_start, window_end of the last group bound.
  int64_t window_ms_[2] = {-1, -1};
  std::optional<SqliteDb> db_;
  SqliteStmt upsert_;
  SqliteStmt reject_;
  SqliteStmt begin_;
  SqliteStmt commit_;
  SqliteStmt rollback_;
  int64_t formatted_ms_ = -1;  // Cache: consecutive rows share one ingested_at.
  std::string formatted_;
  int checkpoint_pages_ = 0;  // The WAL autocheckpoint threshold now set (see above).
};

// WAL autocheckpoint thresholds in pages of 4 KiB (see SqliteSink), and the batch size
// (rows and dead letters) below which a Write counts as streaming.
inline constexpr int kWalCheckpointPages = 16384;
inline constexpr int kWalCheckpointPagesStreaming = 4096;
inline constexpr size_t kStreamingBatchRecords = 256;

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
