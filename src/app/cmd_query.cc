// spate query: what landed in the store the options name (--sink sqlite, the default,
// postgres or cassandra). Every store answers with the same summary (row counts, rejected
// records by reason, top countries, sample rows), printed the same way.
// A query that fails (a corrupt page, tables spate did not make) is an error: exit 1.
#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "app/components.h"
#include "sinks/cassandra_query.h"
#include "sinks/pg.h"
#include "sinks/postgres_sink.h"
#include "sinks/sqlite_db.h"
#include "sinks/sqlite_sink.h"

namespace spate {

// components.cc (not in components.h): --cassandra-* and --keyspace as sink options.

namespace {

constexpr int kTopReasons = 20;
constexpr int kTopCountries = 10;

// What one store holds, in the shape every store's query fills.
struct Summary {
  std::string where;  // "database: ..." line.
  int64_t rows = 0;
  int64_t rejected = 0;
  std::optional<int64_t> raw;  // raw_users, where the store has it.
  std::vector<std::pair<int64_t, std::string>> reasons;
  std::vector<std::pair<int64_t, std::string>> countries;
  std::vector<std::string> samples;  // "id  first last <email> nat  address"
};

void Print(const Summary& s) {
  fmt::print("database: {}\n", s.where);
  fmt::print("created_users:  {} rows\n", s.rows);
  fmt::print("rejected_users: {} rows\n", s.rejected);
  if (s.raw) fmt::print("raw_users:      {} rows\n", *s.raw);
  if (!s.reasons.empty()) {
    fmt::print("\nrejected, by reason:\n");
    for (const auto& [n, reason] : s.reasons) fmt::print("  {:>8}  {}\n", n, reason);
  }
  if (!s.countries.empty()) {
    fmt::print("\ntop countries:\n");
    for (const auto& [n, country] : s.countries) fmt::print("  {:>8}  {}\n", n, country);
  }
  if (!s.samples.empty()) {
    fmt::print("\nsample rows:\n");
    for (const std::string& line : s.samples) fmt::print("  {}\n", line);
  }
}

// --- SQLite ---

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

// Runs `sql` (with `limit` bound to ?1 if >= 0) and calls `on_row` per result row; any error
// of SQLite's, at any row, is the result.
template <typename Fn>
Status ForEachRow(SqliteDb& db, std::string_view sql, int64_t limit, Fn&& on_row) {
  auto stmt = db.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (limit >= 0) sqlite3_bind_int64(stmt->get(), 1, limit);
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) on_row(stmt->get());
  if (rc != SQLITE_DONE) return db.Error("query");
  return Status::Ok();
}

Result<Summary> QuerySqlite(const Config& config) {
  const std::string path = config.GetString("data_dir") + "/spate.db";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::Fatal(fmt::format(
        "no data at {}: run `spate run` first, or point --data-dir at its directory", path));
  }
  auto db = SqliteDb::OpenForReading(path);
  if (!db.ok()) return db.status().WithContext(path);
  sqlite3_busy_timeout(db->get(), 5000);  // A run may be writing right now.
  // A database spate did not make is said so, not queried into "no such table" errors.
  std::string version;
  Status s = ForEachRow(*db, "SELECT value FROM spate_meta WHERE key = 'schema_version'", -1,
                        [&](sqlite3_stmt* st) { version = Text(st, 0); });
  if (!s.ok() && s.message().find("no such table") != std::string::npos) {
    return Status::Fatal(
        fmt::format("{}: not a spate database (it has no spate_meta table)", path));
  }
  if (!s.ok()) return s.WithContext(path);
  // Version 1 differs only in rejected_users.item, which is not read here.
  if (version != "1" && version != std::to_string(kSqliteSchemaVersion)) {
    return Status::Fatal(fmt::format("{}: spate schema version '{}', this spate reads 1 to {}",
                                     path, version, kSqliteSchemaVersion));
  }
  Summary out;
  out.where = path;
  s = ForEachRow(*db,
                 "SELECT (SELECT count(*) FROM created_users), "
                 "(SELECT count(*) FROM rejected_users)",
                 -1, [&](sqlite3_stmt* st) {
                   out.rows = sqlite3_column_int64(st, 0);
                   out.rejected = sqlite3_column_int64(st, 1);
                 });
  auto pair_of = [](std::vector<std::pair<int64_t, std::string>>& into) {
    return
        [&into](sqlite3_stmt* st) { into.emplace_back(sqlite3_column_int64(st, 0), Text(st, 1)); };
  };
  if (s.ok()) {
    s = ForEachRow(*db,
                   "SELECT count(*), reason FROM rejected_users GROUP BY reason "
                   "ORDER BY count(*) DESC, reason LIMIT ?1",
                   kTopReasons, pair_of(out.reasons));
  }
  if (s.ok()) {
    s = ForEachRow(*db,
                   "SELECT count(*), country FROM created_users GROUP BY country "
                   "ORDER BY count(*) DESC, country LIMIT ?1",
                   kTopCountries, pair_of(out.countries));
  }
  if (s.ok()) {
    s = ForEachRow(
        *db,
        "SELECT id, first_name, last_name, email, nat, address FROM created_users "
        "ORDER BY id LIMIT ?1",
        config.GetInt("samples"), [&](sqlite3_stmt* st) {
          out.samples.push_back(fmt::format("{}  {} {} <{}> {}  {}", Text(st, 0), Text(st, 1),
                                            Text(st, 2), Text(st, 3), Text(st, 4), Text(st, 5)));
        });
  }
  if (!s.ok()) return s.WithContext(path);
  return out;
}

// --- PostgreSQL ---

// Runs `sql` with `limit` as $1 (if >= 0); the rows in text form.
Result<std::vector<std::vector<std::string>>> PgRowsOf(PGconn* c, const char* sql,
                                                       int64_t limit = -1) {
  const std::string text = std::to_string(limit);
  const char* params[] = {text.c_str()};
  PgResult result(PQexecParams(c, sql, limit >= 0 ? 1 : 0, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) return PgError(c, result.get(), "query");
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    auto& row = rows.emplace_back();
    for (int f = 0; f < PQnfields(result.get()); ++f)
      row.emplace_back(PQgetvalue(result.get(), r, f));
  }
  return rows;
}

Result<Summary> QueryPostgres(const Config& config) {
  const PostgresSinkOptions options = PostgresOptions(config, /*raw=*/false);
  const std::string where = DescribeDsn(options.dsn);
  auto conn = PgConnect(options.dsn, options.connect_timeout, /*unreachable_is_retriable=*/false);
  if (!conn.ok()) return conn.status().WithContext("postgres " + where);
  PGconn* c = conn->get();
  auto fail = [&](const Status& s) {
    return Status::Fatal(RedactSecrets(s.message())).WithContext("postgres " + where);
  };
  auto version = PgRowsOf(c, "SELECT version::text FROM spate_schema");
  if (!version.ok() && version.status().message().find("does not exist") != std::string::npos) {
    return Status::Fatal(fmt::format(
        "postgres {}: no spate tables there: run `spate run --sink postgres` first, or name the "
        "right database in --pg-dsn",
        where));
  }
  if (!version.ok()) return fail(version.status());
  if (version->size() != 1 || (*version)[0][0] != std::to_string(kPostgresSchemaVersion)) {
    return Status::Fatal(fmt::format("postgres {}: spate schema version {}, this spate reads {}",
                                     where, version->empty() ? "(none)" : (*version)[0][0],
                                     kPostgresSchemaVersion));
  }
  Summary out;
  out.where = "postgres " + where;
  auto counts = PgRowsOf(c,
                         "SELECT (SELECT count(*) FROM created_users), "
                         "(SELECT count(*) FROM rejected_users), (SELECT count(*) FROM raw_users)");
  if (!counts.ok()) return fail(counts.status());
  out.rows = std::stoll((*counts)[0][0]);
  out.rejected = std::stoll((*counts)[0][1]);
  out.raw = std::stoll((*counts)[0][2]);
  for (auto [sql, limit, into] :
       {std::tuple{"SELECT count(*), reason FROM rejected_users GROUP BY reason "
                   "ORDER BY count(*) DESC, reason LIMIT $1::bigint",
                   kTopReasons, &out.reasons},
        std::tuple{"SELECT count(*), country FROM created_users GROUP BY country "
                   "ORDER BY count(*) DESC, country LIMIT $1::bigint",
                   kTopCountries, &out.countries}}) {
    auto rows = PgRowsOf(c, sql, limit);
    if (!rows.ok()) return fail(rows.status());
    for (const auto& r : *rows) into->emplace_back(std::stoll(r[0]), r[1]);
  }
  auto samples = PgRowsOf(c,
                          "SELECT id::text, first_name, last_name, email, nat, address "
                          "FROM created_users ORDER BY id LIMIT $1::bigint",
                          config.GetInt("samples"));
  if (!samples.ok()) return fail(samples.status());
  for (const auto& r : *samples) {
    out.samples.push_back(fmt::format("{}  {} {} <{}> {}  {}", r[0], r[1], r[2], r[3], r[4], r[5]));
  }
  return out;
}

// --- Cassandra (the figures come from cassandra_query.h) ---

Result<Summary> QueryCassandraStore(const Config& config) {
  const CassandraSinkOptions options = CassandraOptions(config);
  auto figures = QueryCassandra(options, static_cast<size_t>(config.GetInt("samples")));
  const std::string where =
      fmt::format("cassandra {} keyspace {}", options.hosts, options.keyspace);
  if (!figures.ok()) return figures.status().WithContext(where);
  Summary out;
  out.where = where;
  out.rows = figures->rows;
  out.rejected = figures->rejected;
  for (const CassandraCount& c : figures->rejected_by_reason)
    out.reasons.emplace_back(c.count, c.key);
  for (const CassandraCount& c : figures->top_countries) out.countries.emplace_back(c.count, c.key);
  for (const CassandraSampleRow& r : figures->samples) {
    out.samples.push_back(fmt::format("{}  {} {} <{}> {}  {}", r.id, r.first_name, r.last_name,
                                      r.email, r.nat, r.address));
  }
  return out;
}

}  // namespace

int QueryCommand(const Config& config) {
  // Each store named once, in order (--sink sqlite --sink postgres shows both).
  std::vector<std::string> stores;
  for (const std::string& name : config.GetList("sink")) {
    if (std::find(stores.begin(), stores.end(), name) == stores.end()) stores.push_back(name);
  }
  if (stores.empty()) stores.push_back("sqlite");
  int exit_code = kExitOk;
  for (size_t i = 0; i < stores.size(); ++i) {
    const std::string& store = stores[i];
    if (store != "sqlite" && store != "postgres" && store != "cassandra") {
      spdlog::error("--sink {}: nothing to query (spate query reads sqlite, postgres or cassandra)",
                    store);
      return kExitUsage;
    }
    Result<Summary> summary = store == "sqlite"     ? QuerySqlite(config)
                              : store == "postgres" ? QueryPostgres(config)
                                                    : QueryCassandraStore(config);
    if (!summary.ok()) {
      spdlog::error("{}", summary.status().message());
      exit_code = kExitFailure;
      continue;
    }
    if (i > 0) fmt::print("\n");
    Print(*summary);
  }
  return exit_code;
}

}  // namespace spate
