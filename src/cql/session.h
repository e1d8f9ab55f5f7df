// Session: spate's view of a Cassandra cluster, one Connection per node it was given.
//
// Execute is asynchronous: it routes the request and returns; Poll then hands back one
// Completion per request (by the caller's tag), in whatever order the nodes answer. Nothing
// is retried here except what is invisible to the caller:
//   - Unprepared: the statement is prepared again on that node and the request resent
//     (the node restarted, or evicted it from its cache).
// Everything else comes back as a Completion whose Status says whether to retry: a lost
// connection or timeout completes every request that was on it with a retriable error, and
// the node is reconnected in the background with exponential backoff.
//
// Routing is token-aware: a prepared statement's partition key columns (the pk_indexes the
// node returned) are hashed with Murmur3 and the request goes to the node that owns that
// token, read from each node's system.local. A node that is down, or a token no connected
// node owns, falls back to the next node on the ring that is up (which then coordinates).
// Only the nodes listed are used: system.peers is not followed, so list every node (or a
// node per rack) in --cassandra-hosts for writes to go straight to a replica.
//
// Thread-safety: one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "cql/connection.h"
#include "cql/protocol.h"
#include "cql/value.h"

namespace spate::cql {

struct SessionOptions {
  std::vector<Endpoint> hosts;
  ConnectionOptions connection;
  Consistency consistency = Consistency::kLocalQuorum;
  // A request without an answer for this long is lost; its connection is closed.
  std::chrono::milliseconds request_timeout{12000};
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{10000};
  // Connect timeout of reconnects after the start (the writes wait meanwhile).
  std::chrono::milliseconds reconnect_timeout{2000};
};

struct Prepared {
  std::string cql;
  std::string id;
  std::vector<ColumnSpec> bind;
  std::vector<uint16_t> pk_indexes;
};

// A RESULT with the body its Rows views point into (kept together, so they stay valid).
struct QueryResult {
  std::unique_ptr<std::string> body;
  ResultMessage message;
};

struct Completion {
  uint64_t tag = 0;
  Status status;
  std::optional<ErrorCode> code;  // When the node answered with an ERROR.
};

class Session {
 public:
  // Connects to every host; at least one must answer. Hosts that do not are retried later.
  static Result<std::unique_ptr<Session>> Connect(SessionOptions options);
  ~Session();

  // Synchronous, on the first node that answers: for set-up (DDL, USE, a SELECT, with
  // params.page_size and paging_state for paging).
  Result<QueryResult> Query(std::string_view cql, const QueryParams& params = {});
  // An unlogged BATCH of executions of `statement`, synchronous, at the session's
  // consistency. (The sink sends single EXECUTEs instead: they route to each row's replica.)
  Result<QueryResult> Batch(const Prepared& statement, const std::vector<std::vector<Value>>& rows);
  // Prepares on every connected node; the result is valid on all of them.
  Result<std::shared_ptr<const Prepared>> Prepare(std::string_view cql);
  // Waits until every connected node reports the same schema_version (after DDL, before
  // statements that depend on it run elsewhere). Gives up, with a warning, after `timeout`.
  void WaitForSchemaAgreement(std::chrono::milliseconds timeout);

  // Sends an EXECUTE of `statement` with `values` at the session's consistency. The outcome
  // arrives as a Completion with `tag` from Poll.
  void Execute(const std::shared_ptr<const Prepared>& statement, std::vector<Value> values,
               uint64_t tag);
  // Requests not yet completed.
  size_t in_flight() const { return in_flight_; }
  // Waits up to `timeout` for answers (less when some are ready) and appends the finished
  // requests to `out`. Also reconnects nodes whose backoff has passed.
  void Poll(std::chrono::milliseconds timeout, std::vector<Completion>& out);

  size_t hosts_up() const;
  std::string Describe() const;  // "cassandra 127.0.0.1:9042,127.0.0.1:9043"

 private:
  struct Host;
  struct Pending;
  explicit Session(SessionOptions options);
  Status Reconnect(size_t h, bool background);
  // One synchronous request on node h (answers to others meanwhile are dispatched); a
  // connection that fails is marked down.
  Result<Response> Call(size_t h, std::string frame);
  Result<QueryResult> OnAnyNode(const std::string& frame, std::string_view what);
  Status ReadTopology(size_t h, std::chrono::milliseconds timeout);
  void RebuildRing();
  void HostDown(size_t h, const Status& why);
  void Dispatch(size_t h, Response response);
  void Complete(uint64_t tag, Status status, std::optional<ErrorCode> code = std::nullopt);
  void SendUser(size_t h, Pending pending);
  // Reconnects the nodes whose backoff has passed; whether it tried any.
  bool ReconnectDue();
  void CheckTimeouts();
  std::optional<size_t> PickHost(std::optional<int64_t> token) const;
  // The Murmur3 token of the partition key among `values`; nullopt if there is none.
  std::optional<int64_t> TokenOf(const Prepared& statement, const std::vector<Value>& values);

  SessionOptions options_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::vector<std::pair<int64_t, size_t>> ring_;  // (token, host), sorted by token.
  std::unordered_map<std::string, std::shared_ptr<const Prepared>> by_id_;
  std::vector<Completion> done_;
  size_t in_flight_ = 0;
  size_t next_host_ = 0;
  std::string key_scratch_;  // TokenOf's serialization buffer.  // Round robin when there is no
                             // token to route by.
  std::chrono::steady_clock::time_point next_timeout_check_{};
};

}  // namespace spate::cql
