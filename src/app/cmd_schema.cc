// spate schema: prints the statements that create the tables of the store --sink names, for
// an admin to run so that spate itself can run as a role that may only read and write them
// (and, with --upgrade-from N, the statements that upgrade an older schema). Connects to
// nothing: the output is the same for every database.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/components.h"
#include "sinks/cassandra_sink.h"
#include "sinks/postgres_sink.h"
#include "sinks/sqlite_sink.h"

namespace spate {

// components.cc (not in components.h yet): --cassandra-* and --keyspace as sink options.

namespace {

// SQLite's DDL one statement a line, as the other stores print theirs.
std::string OneStatementALine(const std::string& sql) {
  std::string out;
  for (const char c : sql) {
    out += c;
    if (c == ';') out += '\n';
  }
  return out;
}

Result<std::string> Statements(const std::string& store, const Config& config, int upgrade_from,
                               const std::vector<AggregationSpec>& aggregations) {
  if (store == "postgres") {
    if (upgrade_from > 0) return PostgresSink::UpgradeSql(upgrade_from);
    // With --aggregate: their tables and the triggers that keep them too (issue 19), so that
    // spate can keep them as a role that may not create tables.
    if (!aggregations.empty()) return PostgresSink::SchemaSql(aggregations);
    return PostgresSink::SchemaSql();
  }
  if (store == "sqlite") {
    if (upgrade_from > 0) return SqliteUpgradeSql(upgrade_from);
    return fmt::format("-- spate's SQLite schema, version {} (spate creates it itself).\n{}",
                       kSqliteSchemaVersion, OneStatementALine(SqliteSchemaSql()));
  }
  if (store == "cassandra") {
    if (upgrade_from > 1) {
      return Status::Fatal(fmt::format(
          "no upgrade of Cassandra tables from version {}: --upgrade-from 1 prints the ALTERs "
          "for tables of a spate before issue 17",
          upgrade_from));
    }
    auto cql = upgrade_from == 1 ? CassandraSink::UpgradeCql(CassandraOptions(config))
                                 : CassandraSink::SchemaCql(CassandraOptions(config));
    if (!cql.ok()) return cql.status();
    std::string out = upgrade_from == 1
                          ? "-- Upgrades spate's Cassandra tables (run with cqlsh as a role with "
                            "ALTER).\n"
                          : "-- spate's Cassandra schema (run with cqlsh as a role with CREATE).\n";
    for (const std::string& statement : *cql) out += statement + ";\n";
    return out;
  }
  return Status::Fatal(fmt::format(
      "--sink {}: has no schema (spate schema prints sqlite, postgres or cassandra)", store));
}

}  // namespace

void AddSchemaFlags(CLI::App& command, SchemaFlags& flags) {
  command
      .add_option("--upgrade-from", flags.upgrade_from,
                  "Print instead the statements that upgrade a database of this schema version "
                  "(what spate says when it refuses an older one)")
      ->type_name("VERSION")
      ->check(CLI::Range(1, 1000));
}

int SchemaCommand(const Config& config, const SchemaFlags& flags) {
  std::vector<std::string> stores;
  for (const std::string& name : config.GetList("sink")) {
    if (std::find(stores.begin(), stores.end(), name) == stores.end()) stores.push_back(name);
  }
  if (stores.empty()) stores.push_back("sqlite");
  auto aggregations = ParseAggregations(config.GetList("aggregate"));
  if (!aggregations.ok()) {
    spdlog::error("{}", aggregations.status().WithContext(config.Origin("aggregate")).message());
    return kExitUsage;
  }
  if (!aggregations->empty() &&
      std::find(stores.begin(), stores.end(), "postgres") == stores.end()) {
    // Otherwise the flag would be silently ignored.
    spdlog::error(
        "{}: spate schema prints aggregation tables for --sink postgres only (spate makes "
        "SQLite's itself; Cassandra keeps none)",
        config.Origin("aggregate"));
    return kExitUsage;
  }
  std::string out;
  for (const std::string& store : stores) {
    auto sql = Statements(store, config, flags.upgrade_from, aggregations.value());
    if (!sql.ok()) {
      spdlog::error("{}", sql.status().message());
      return kExitUsage;
    }
    out += (out.empty() ? "" : "\n") + *sql;
  }
  fmt::print("{}", out);
  return kExitOk;
}

}  // namespace spate
