// What landed in Cassandra, for `spate query --sink cassandra`: the same figures the SQLite
// query shows (rows, rejected by reason, top countries, a few sample rows), read with spate's
// own CQL client.
//
// Cassandra has no GROUP BY on a non-key column and count(*) is itself a scan of the whole
// table, so the counts are made here by reading created_users (only its country column) and
// rejected_users (only reason) once, page by page (kCassandraQueryPageSize rows a request, at the
// configured consistency). That is a full scan, slow on tables of hundreds of millions of
// rows: acceptable for an occasional command, not for a dashboard. Memory is
// bounded by the distinct countries and reasons kept (kCassandraQueryMaxDistinct each; the rest is
// counted under "(other)").
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "sinks/cassandra_sink.h"

namespace spate {

struct CassandraCount {
  std::string key;  // A country or a reason.
  int64_t count = 0;
  bool operator==(const CassandraCount&) const = default;
};

struct CassandraSampleRow {
  std::string id;
  std::string first_name;
  std::string last_name;
  std::string email;
  std::string nat;
  std::string address;
};

struct CassandraSummary {
  std::string keyspace;
  int64_t rows = 0;      // In created_users.
  int64_t rejected = 0;  // In rejected_users.
  // Most first, ties by key; at most 20 reasons and 10 countries.
  std::vector<CassandraCount> rejected_by_reason;
  std::vector<CassandraCount> top_countries;
  // The first `samples` rows in the table's (token) order: Cassandra cannot order by id.
  std::vector<CassandraSampleRow> samples;
};

inline constexpr int32_t kCassandraQueryPageSize = 5000;
inline constexpr size_t kCassandraQueryMaxDistinct = 100000;

// Connects with `options` (hosts, credentials, consistency, timeout) and reads the figures
// of options.keyspace. Every error is a Status to report (the command exits non-zero): the
// keyspace or a table not there (the message says to run `spate run --sink cassandra`
// first), no node answering, bad credentials, or a query the server refused (its message).
Result<CassandraSummary> QueryCassandra(const CassandraSinkOptions& options, size_t samples);

}  // namespace spate
