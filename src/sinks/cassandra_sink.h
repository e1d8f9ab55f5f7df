// CassandraSink: created_users in Cassandra, written with spate's own CQL client (src/cql).
//
// Open connects to every --cassandra-hosts node, then looks before it creates: it reads
// system_schema.keyspaces, .tables and .columns and creates only what is missing: the
// keyspace (SimpleStrategy with the configured replication factor, or
// NetworkTopologyStrategy when datacenters are given), created_users (the tutorial's eleven
// text columns with id uuid as the primary key, then the canonical extra columns) and
// rejected_users; a column spate writes that an existing table lacks (rejected_users.item,
// which earlier versions did not have) is added with ALTER TABLE ... ADD (an ALTER that
// fails because another client added the column first counts as done). Cassandra checks permissions
// before it looks at what exists, so a `CREATE ... IF NOT EXISTS` of something that exists still
// needs CREATE permission: looking first is what lets a role with only MODIFY and SELECT on the
// keyspace run spate once an admin made the schema. A column of another type, or another
// primary key, is refused with a message naming every difference; a missing column the role
// may not add is refused with the ALTER TABLE statements for an admin to run. Extra columns
// are left alone (spate does not write them).
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
#include <functional>
#include <memory>
#include <string>
#include <string_view>
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
  std::string_view kind() const override { return "cassandra"; }
  void Interrupt() override { interrupted_ = true; }
  uint64_t TakeRefused() override { return std::exchange(refused_, 0); }

  // The CQL that creates the keyspace and tables (for `spate schema`, docs and tests).
  static Result<std::vector<std::string>> SchemaCql(const CassandraSinkOptions& options);
  // The statements that bring the tables an earlier spate made up to SchemaCql's (for an
  // admin when spate's role may not ALTER): today rejected_users.item. On tables that have
  // the column already, Cassandra refuses them ("already exists") and changes nothing.
  static Result<std::vector<std::string>> UpgradeCql(const CassandraSinkOptions& options);
  // One row of system_schema.columns.
  struct Column {
    std::string name;
    std::string kind;  // partition_key, clustering, regular, static.
    std::string type;  // As Cassandra writes it: text, uuid, bigint, frozen<map<text, int>>...
  };
  // What makes the existing table `table` (created_users or rejected_users of `keyspace`; its
  // system_schema.columns rows) hold what spate writes: the ALTER TABLE ... ADD statements
  // for the columns it lacks (none when it matches), or a Fatal error naming every
  // difference that adding columns cannot fix (a column of another type, another primary
  // key).
  static Result<std::vector<std::string>> AlterCql(std::string_view keyspace,
                                                   std::string_view table,
                                                   const std::vector<Column>& existing);
  // Connects to options.hosts with its credentials, compression and timeout.
  static Result<std::unique_ptr<cql::Session>> Connect(const CassandraSinkOptions& options);
  // The values of one created_users INSERT, in kRowColumns order.
  static Result<std::vector<cql::Value>> RowValues(const Row& row);

 private:
  Status Fail(Status status);
  // Creates what is missing and checks what exists (see above).
  Status EnsureSchema(const std::vector<std::string>& schema);

  const CassandraSinkOptions options_;
  std::unique_ptr<cql::Session> session_;
  std::shared_ptr<const cql::Prepared> insert_row_;
  std::shared_ptr<const cql::Prepared> insert_dead_;
  std::atomic<bool> interrupted_{false};
  uint64_t refused_ = 0;  // Rows dead-lettered by the server's refusal, for TakeRefused.
};

// Runs the SELECT `cql` with `values` at `consistency` on any node, page by page
// (`page_size` rows a request), and calls `on_row` with each row's columns as text (uuid in
// its 8-4-4-4-12 form, numbers in decimal, null as ""). `on_row` returns false to stop.
Status CqlForEachRow(cql::Session& session, std::string_view cql, std::vector<cql::Value> values,
                     cql::Consistency consistency, int32_t page_size,
                     const std::function<bool(const std::vector<std::string>&)>& on_row);

}  // namespace spate
