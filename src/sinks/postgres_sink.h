// PostgresSink: the relational store (libpq).
//
// Tables (SchemaSql has the DDL):
//   spate_schema    one row: the schema version (2).
//   created_users   the canonical row, id uuid primary key (upsert on id).
//   raw_users       the ingest stage's archive (`--raw-sink postgres`): each raw document as
//                   jsonb, keyed by a SHA-256 of it as stored, with where it was first seen
//                   (origin, position, item). Different documents never share a row; the
//                   same document replayed lands on the row it made first (unchanged).
//   rejected_users  dead letters: reason, origin, position, item, the raw bytes.
// and, with aggregations configured (issue 19), spate_aggregations (name, definition) and one
// table per aggregation, kept by triggers on created_users (pg_aggregate.h).
//
// Open looks before it creates: it creates only the tables that are missing, and checks the
// ones that exist (columns, types, primary key), refusing with the difference. So a role that
// may only read and write tables an admin made (from SchemaSql) can run spate. A database of
// another schema version is refused, never altered; version 1 can be upgraded with the SQL of
// UpgradeSql(1) (`spate schema --sink postgres --upgrade-from 1`).
//
// Each Write is one transaction, committed before Write returns (the pipeline acknowledges
// after that). Rows go in with COPY: straight into the table when none of the ids is there
// yet (a new stream, the common case), else into a temporary staging table followed by one
// INSERT ... SELECT ... ON CONFLICT DO UPDATE. Both give the same rows; the first does half
// the work. raw_users always goes through its stage: the server computes the key from the document
// as jsonb stores it (one INSERT ... SELECT ... ON CONFLICT DO NOTHING).
//
// Failures: a lost connection or a transient server condition (restart, shutdown, deadlock,
// too many connections) is retriable: the transaction is gone, the connection is dropped,
// and the pipeline's retry reconnects and writes the whole batch again (upserts make that
// safe). A record PostgreSQL cannot hold (a NUL character) is dead-lettered with the reason,
// its position, item and bytes (RefusedRow).
//
// Thread-safety: one thread at a time (the pipeline's sink or process thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "analytics/aggregate.h"
#include "sinks/pg.h"
#include "sinks/sink.h"

namespace spate {

inline constexpr int kPostgresSchemaVersion = 2;

struct PostgresSinkOptions {
  std::string dsn;  // libpq connection string; may hold a password (never logged).
  std::chrono::milliseconds connect_timeout{10000};
  // false: stores batch.rows and batch.dead (a --sink). true: stores batch.records in
  // raw_users (the ingest stage's --raw-sink) and what cannot be stored in rejected_users.
  bool raw = false;
  // The bytes a dead letter keeps of a row's record that did not pass ingest in this process
  // (partition >= 0: read from Kafka, where any producer may have written secrets). Unset:
  // such dead letters keep none.
  std::function<std::string(std::string_view)> scrub_raw;
  // Windowed aggregations kept exact next to created_users (pg_aggregate.h): Open builds
  // each one's table from created_users when it is missing or was made under another
  // definition, and installs the triggers that keep it; aggregations in the database that
  // are not here any more stop being maintained (their tables stay). Unused when raw.
  std::vector<AggregationSpec> aggregations;
};

class PostgresSink final : public Sink {
 public:
  explicit PostgresSink(PostgresSinkOptions options);

  Status Open() override;
  Status Write(const Batch& batch) override;
  Status Close() override;
  std::string Describe() const override { return description_; }
  std::string_view kind() const override { return "postgres"; }
  bool group_commit() const override { return !options_.raw; }
  uint64_t TakeRefused() override { return std::exchange(refused_, 0); }

  // The DDL an admin runs: every table spate needs (CREATE TABLE IF NOT EXISTS, one
  // transaction), the version row, and the privileges spate needs, as comments.
  static std::string SchemaSql();
  // The same with the tables, definitions, function and triggers of `aggregations` (rebuilt
  // from created_users); fails on an aggregation spate cannot keep.
  static Result<std::string> SchemaSql(const std::vector<AggregationSpec>& aggregations);
  // The SQL that upgrades a database of schema version `from_version` to this one.
  static Result<std::string> UpgradeSql(int from_version);
  // One row in COPY's binary format (columns in kRowColumns order).
  static void AppendCopyRow(const Row& row, std::string& out);

 private:
  Status Connect(bool reconnecting);
  Status SetUp();
  // Within SetUp's transaction: the configured aggregations' tables (built or rebuilt from
  // created_users), definitions and triggers; the triggers of unconfigured ones dropped.
  Status SetUpAggregations(PGconn* c);
  // Each appends what it cannot store (and stores nothing of) to `extra`.
  Status WriteRows(const Batch& batch, std::vector<DeadLetter>& extra);
  Status WriteRaw(const Batch& batch, std::vector<DeadLetter>& extra);
  // The dead letter of a row PostgreSQL cannot hold: the record's own position, item and
  // bytes, so it is the same dead letter (one row) as the raw sink's of that record.
  DeadLetter RefusedRow(const Row& row, const std::string& origin) const;
  Status WriteDead(std::span<const DeadLetter> dead, const std::vector<DeadLetter>& extra);
  // The COPY of one Write: buffer_ holds its text. With `direct`, the text streams into
  // `table` as it is formatted (StreamSome); CopyFinish ends that, and on a key collision
  // (or without `direct`) sends the text to `stage` and upserts from there on `conflict`.
  struct CopyState {
    std::string table;
    std::string stage;
    std::string conflict;
    bool direct = false;
    bool started = false;
    size_t sent = 0;  // Bytes of buffer_ already sent.
    size_t rows = 0;  // Rows in buffer_.
  };
  Status StreamSome(std::string_view what);
  Status CopyFinish(std::string_view what);
  // The raw stage's rows into raw_users, each key once (CopyFinish's raw end).
  Status RawFromStage(std::string_view what);
  Status CopyIn(const std::string& table, std::string_view data, std::string_view what);
  Status CopyStart(const std::string& table, std::string_view what);
  Status CopySend(std::string_view data, std::string_view what);
  Status CopyEnd(std::string_view rest, std::string_view what);
  // Ends a failed Write: drops the connection when retrying will reconnect, rolls back
  // otherwise, and scrubs the password from the message.
  Status Fail(const Status& status);

  const PostgresSinkOptions options_;
  const std::string description_;
  PgConn conn_;
  bool fast_path_ = true;  // Last batch's direct COPY worked (no conflicts).
  uint64_t batches_since_fallback_ = 0;
  std::string buffer_;         // COPY data (binary format), reused between batches.
  std::string last_sqlstate_;  // Of the last failed COPY.
  CopyState copy_;
  uint64_t refused_ = 0;  // Rows dead-lettered because PostgreSQL cannot hold them.
};

}  // namespace spate
