// The SQL that keeps an aggregation (analytics/aggregate.h) exact in PostgreSQL.
//
// Each aggregation is a table (aggregate.h's layout: window_start/window_end timestamptz,
// group columns text or bigint, users bigint, min_/max_/sum_ typed like the source column,
// avg_ double precision; primary key window_start + group columns), a row in
// spate_aggregations (name, definition), and one plpgsql function fired by statement-level
// AFTER triggers on created_users: INSERT, UPDATE and DELETE, each with its transition
// tables, and TRUNCATE (which empties the table). The function applies the set-based delta of the
// statement: new rows' contributions in, old rows' out (an UPDATE that leaves a row's contribution
// as it was, a replay, contributes nothing), summed per (window, group), upserted in key order (so
// concurrent writers lock aggregate rows in one order), then groups that reach 0 rows are
// deleted and min/max are recomputed from created_users where a retracted value could have
// been the extreme. COPY and INSERT ... ON CONFLICT DO UPDATE fire these triggers like any
// INSERT or UPDATE, so every path into created_users keeps the aggregates exact in the
// writer's own transaction.
//
// Why this is exact under concurrent writers (READ COMMITTED): counts and sums are applied
// as increments to the row version the upsert locked, and the min/max recompute is a later
// statement of the same function, so its snapshot is taken after that lock was granted: it
// sees every committed writer that touched the group before, and a writer that comes after
// waits for the lock and applies its own change on top. Each statement locks its groups in
// key order, so writers do not deadlock on them, except that INSERT ... ON CONFLICT runs two
// (the UPDATE trigger's, then the INSERT trigger's): two such statements can still cross;
// PostgreSQL then aborts one (40P01, which PgError calls retriable) and the pipeline writes
// that batch again.
//
// Window arithmetic is integer: date_bin(slide, ingested_at, epoch) on timestamptz's
// microseconds (no float epoch rounding; a third of the cost of EXTRACT's numeric), so a
// row's window starts are multiples of the slide since the Unix epoch, as WindowStarts
// computes them.
//
// Identifiers come only from a checked spec (CheckPgAggregation: the name's characters, group
// and value columns spate knows) and are quoted; no value is spliced into SQL except the
// definition in the admin script (SchemaScript), which quotes it as a literal.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "analytics/aggregate.h"
#include "core/status.h"

namespace spate {

// The table every SQL store keeps: one row per aggregation spate maintains.
inline constexpr const char* kPgAggregationsTableSql =
    "CREATE TABLE IF NOT EXISTS spate_aggregations (\n"
    "  name text PRIMARY KEY,\n"
    "  definition text NOT NULL\n"
    ");\n";

// The index that makes a min/max recompute read one window of created_users, not all of it.
inline constexpr const char* kPgIngestedAtIndex = "spate_created_users_ingested_at";
inline constexpr const char* kPgIngestedAtIndexSql =
    "CREATE INDEX IF NOT EXISTS spate_created_users_ingested_at ON created_users (ingested_at);\n";

// Every statement one aggregation needs, generated once from its spec.
struct PgAggregateSql {
  std::string table;                                         // The table's name, unquoted.
  std::vector<std::pair<std::string, std::string>> columns;  // name, type as format_type spells it.
  std::vector<std::string> key;                              // Primary key columns, in order.
  std::string create_table;                                  // CREATE TABLE.
  std::string build;            // INSERT INTO table SELECT ... FROM created_users GROUP BY ...
  std::string function_name;    // Unquoted.
  std::string function_body;    // The plpgsql body (what pg_proc.prosrc holds).
  std::string create_function;  // CREATE OR REPLACE FUNCTION ... with the body.
  std::vector<std::string> trigger_names;  // Unquoted: _ins, _upd, _del, _trn.
  std::string create_triggers;             // The CREATE TRIGGER statements.
  std::string drop_triggers;               // DROP TRIGGER IF EXISTS for each.
  bool uses_min_max = false;               // Needs kPgIngestedAtIndex.
};

// Checks that `spec` is one this generator can turn into SQL safely: a name of [a-z0-9_]
// starting with a letter, at most 48 bytes; group columns among created_users' columns (not
// id or ingested_at) or age_band; values of age, latitude or longitude; a window and slide
// that are positive with the slide dividing the window.
Status CheckPgAggregation(const AggregationSpec& spec);

// The SQL of `spec` (checked first).
Result<PgAggregateSql> MakePgAggregateSql(const AggregationSpec& spec);

// The names of the triggers that maintain aggregation `name` (for dropping those of
// aggregations no longer configured): unquoted.
std::vector<std::string> PgAggregateTriggerNames(const std::string& name);

// The admin's script for `aggregations` (appended to PostgresSink::SchemaSql): the
// spate_aggregations table, the index when needed, and for each aggregation its table
// (dropped and rebuilt from created_users under a lock that keeps writers out), definition
// row, function and triggers. Empty when there are none.
Result<std::string> PgAggregationsScript(const std::vector<AggregationSpec>& aggregations);

// `text` as an SQL string literal (standard_conforming_strings: quotes doubled).
std::string PgLiteral(std::string_view text);

}  // namespace spate
