// CassandraSink: created_users in Cassandra, written with spate's own CQL client (src/cql).
//
// Open connects to every --cassandra-hosts node and creates what is missing: the keyspace
// (SimpleStrategy with the configured replication factor, or NetworkTopologyStrategy when
// datacenters are given), created_users (the tutorial's eleven text columns with id uuid as
// the primary key, then the canonical extra columns) and rejected_users. A table that
// exists with other columns is found when the INSERT is prepared, and refused.
//
// Write sends one prepared INSERT per row (an upsert: replays rewrite the same row), up to
// max_in_flight at once across the nodes, token-aware. It returns once every row of the
// batch is written (acknowledged by the consistency level) or dead-lettered:
//   - retriable errors (Overloaded, Write_timeout, Unavailable, a lost connection...) are
//     retried per row with exponential backoff; a row that still fails after max_attempts
//     makes the Write fail as retriable, and the pipeline writes the batch again. Write_failure
//     is retried too (it is seldom the row's fault), but if it persists the run stops;
//   - errors about the statement (Unauthorized, Syntax, a missing table) stop the run with
//     the server's message: every row would meet them;
//   - other errors about one row (Invalid) dead-letter that row, with the
//     server's message as the reason, into rejected_users.
//
// Thread-safety: one thread at a time (the pipeline's sink thread); Interrupt from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cql/session.h"
#include "sinks/sink.h"

namespace spate {

struct CassandraSinkOptions {
  std::string hosts = "127.0.0.1:9042";  // h1,h2:9042
  std::string keyspace = "spark_streams";
  std::string user;
  std::string password;  // Never logged.
  std::string consistency = "LOCAL_QUORUM";
  int replication_factor = 1;
  // "dc1:3" items: NetworkTopologyStrategy with these replication factors.
  std::vector<std::string> datacenters;
  size_t max_in_flight = 512;
  bool compression = true;
  std::chrono::milliseconds timeout{12000};  // To connect, and for each request.
  int max_attempts = 8;                      // Per row, per Write.
  std::chrono::milliseconds backoff_initial{50};
  std::chrono::milliseconds backoff_max{2000};
};

class CassandraSink final : public Sink {
 public:
  explicit CassandraSink(CassandraSinkOptions options);
  ~CassandraSink() override;

  Status Open() override;
  Status Write(const Batch& batch) override;
  Status Close() override;
  std::string Describe() const override;
  void Interrupt() override { interrupted_ = true; }
  uint64_t TakeRefused() override { return std::exchange(refused_, 0); }

  // The CQL that creates the keyspace and tables (for docs and tests).
  static Result<std::vector<std::string>> SchemaCql(const CassandraSinkOptions& options);
  // The values of one created_users INSERT, in kRowColumns order.
  static Result<std::vector<cql::Value>> RowValues(const Row& row);

 private:
  Status Fail(Status status);

  const CassandraSinkOptions options_;
  std::unique_ptr<cql::Session> session_;
  std::shared_ptr<const cql::Prepared> insert_row_;
  std::shared_ptr<const cql::Prepared> insert_dead_;
  std::atomic<bool> interrupted_{false};
  uint64_t refused_ = 0;  // Rows dead-lettered by the server's refusal, for TakeRefused.
};

}  // namespace spate
