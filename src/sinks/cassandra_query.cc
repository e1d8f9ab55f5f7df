#include "sinks/cassandra_query.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace spate {
namespace {

// Adds one to `key`'s count; past kCassandraQueryMaxDistinct keys, new ones count as
// "(other)" so that a table of unique reasons cannot grow the map without bound.
void Count(std::unordered_map<std::string, int64_t>& counts, const std::string& key) {
  auto it = counts.find(key);
  if (it != counts.end()) {
    ++it->second;
  } else if (counts.size() < kCassandraQueryMaxDistinct) {
    counts.emplace(key, 1);
  } else {
    ++counts["(other)"];
  }
}

std::vector<CassandraCount> Top(const std::unordered_map<std::string, int64_t>& counts, size_t n) {
  std::vector<CassandraCount> out;
  out.reserve(counts.size());
  for (const auto& [key, count] : counts) out.push_back({key, count});
  std::sort(out.begin(), out.end(), [](const CassandraCount& a, const CassandraCount& b) {
    return a.count != b.count ? a.count > b.count : a.key < b.key;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

}  // namespace

Result<CassandraSummary> QueryCassandra(const CassandraSinkOptions& options, size_t samples) {
  // The same name rules as the sink: a bad keyspace is refused before anything is sent.
  if (auto schema = CassandraSink::SchemaCql(options); !schema.ok()) return schema.status();
  auto connected = CassandraSink::Connect(options);
  if (!connected.ok()) return connected.status();
  cql::Session& session = **connected;
  const cql::Consistency consistency = *cql::ParseConsistency(options.consistency);
  CassandraSummary out;
  for (char c : options.keyspace) {
    out.keyspace += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string& ks = out.keyspace;

  // Which tables are there: a clear "nothing landed here yet" rather than the server's
  // "unconfigured table".
  std::vector<std::string> tables;
  Status s =
      CqlForEachRow(session, "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
                    {cql::Value::Text(ks)}, cql::Consistency::kOne, 1000, [&](const auto& row) {
                      if (!row.empty()) tables.push_back(row[0]);
                      return true;
                    });
  if (!s.ok()) return Status::Fatal(fmt::format("cannot read the schema: {}", s.message()));
  for (const char* table : {"created_users", "rejected_users"}) {
    if (std::find(tables.begin(), tables.end(), table) == tables.end()) {
      return Status::Fatal(fmt::format(
          "no table {}.{} at {}: run `spate run --sink cassandra` first, or check --keyspace "
          "and --cassandra-hosts",
          ks, table, options.hosts));
    }
  }

  std::unordered_map<std::string, int64_t> countries;
  s = CqlForEachRow(session, fmt::format("SELECT country FROM {}.created_users", ks), {},
                    consistency, kCassandraQueryPageSize, [&](const auto& row) {
                      ++out.rows;
                      if (!row.empty()) Count(countries, row[0]);
                      return true;
                    });
  if (!s.ok()) return s;
  std::unordered_map<std::string, int64_t> reasons;
  s = CqlForEachRow(session, fmt::format("SELECT reason FROM {}.rejected_users", ks), {},
                    consistency, kCassandraQueryPageSize, [&](const auto& row) {
                      ++out.rejected;
                      if (!row.empty()) Count(reasons, row[0]);
                      return true;
                    });
  if (!s.ok()) return s;
  out.top_countries = Top(countries, 10);
  out.rejected_by_reason = Top(reasons, 20);

  if (samples > 0) {
    s = CqlForEachRow(
        session,
        fmt::format("SELECT id, first_name, last_name, email, nat, address FROM {}.created_users "
                    "LIMIT {}",
                    ks, samples),
        {}, consistency, kCassandraQueryPageSize, [&](const auto& row) {
          if (row.size() == 6) {
            out.samples.push_back({row[0], row[1], row[2], row[3], row[4], row[5]});
          }
          return out.samples.size() < samples;
        });
    if (!s.ok()) return s;
  }
  return out;
}

}  // namespace spate
