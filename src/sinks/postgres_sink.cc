#include "sinks/postgres_sink.h"

#include <algorithm>
#include <bit>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/uuid.h"
#include "sinks/pg_aggregate.h"

namespace spate {
namespace {

// Serialises schema set-up between spate processes starting at once against one database
// (CREATE TABLE IF NOT EXISTS is not safe against itself). Any constant will do.
constexpr int64_t kSetupLockKey = 0x73706174650001;

const char* ColumnType(std::string_view column) {
  if (column == "id") return "uuid";
  if (column == "age") return "bigint";
  if (column == "latitude" || column == "longitude") return "double precision";
  if (column == "ingested_at") return "timestamp with time zone";
  return "text";
}

struct Column {
  std::string name;
  std::string type;  // As format_type() spells it.
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::vector<std::string> key;  // The primary key's columns; empty: none.
};

// Every table spate uses, in the order the DDL creates them. Version 2 (issue 17): raw_users
// is an archive keyed by a hash of the stored document, and both raw_users and rejected_users
// keep the record's item (its index within its position).
const std::vector<Table>& Tables() {
  static const std::vector<Table> tables = [] {
    std::vector<Table> t;
    t.push_back({"spate_schema", {{"version", "integer"}}, {}});
    Table users{"created_users", {}, {"id"}};
    for (const char* column : kRowColumns) users.columns.push_back({column, ColumnType(column)});
    t.push_back(std::move(users));
    t.push_back({"raw_users",
                 {{"id", "text"},
                  {"origin", "text"},
                  {"position", "bigint"},
                  {"item", "integer"},
                  {"user_id", "uuid"},
                  {"raw", "jsonb"},
                  {"landed_at", "timestamp with time zone"}},
                 {"id"}});
    t.push_back({"rejected_users",
                 {{"id", "text"},
                  {"reason", "text"},
                  {"origin", "text"},
                  {"position", "bigint"},
                  {"item", "integer"},
                  {"raw", "bytea"},
                  {"rejected_at", "timestamp with time zone"}},
                 {"id"}});
    return t;
  }();
  return tables;
}

const Table& FindTable(std::string_view name) {
  for (const Table& table : Tables()) {
    if (table.name == name) return table;
  }
  std::abort();  // Programmer error: the names are the constants above.
}

std::string ColumnList(const Table& table) {
  std::string list;
  for (const Column& c : table.columns) list += (list.empty() ? "" : ", ") + c.name;
  return list;
}

std::string CreateTableSql(const Table& table) {
  std::string columns;
  for (const Column& c : table.columns) {
    columns += fmt::format("{}{} {}{}", columns.empty() ? "" : ",\n  ", c.name, c.type,
                           table.key.empty() && c.name == "version" ? " NOT NULL" : "");
  }
  if (!table.key.empty()) {
    std::string key;
    for (const std::string& k : table.key) key += (key.empty() ? "" : ", ") + k;
    columns += fmt::format(",\n  PRIMARY KEY ({})", key);
  }
  return fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n);\n", table.name, columns);
}

// The raw stage: raw_users without its key, which the upsert computes from the document.
constexpr const char* kRawStageColumns = "origin, position, item, user_id, raw, landed_at";

// The raw archive's key: a SHA-256 of the document as jsonb stores it (its normal form), so
// the same document lands once however it was spaced, and different documents never share
// a row.
constexpr const char* kRawKeySql = "encode(sha256(convert_to(raw::text, 'UTF8')), 'hex')";

// INSERT from the staging table, updating rows whose key is already there.
std::string UpsertFromStageSql(const Table& table, std::string_view stage,
                               std::string_view conflict) {
  const std::string columns = ColumnList(table);
  std::string updates;
  for (const Column& c : table.columns) {
    if (conflict.find(c.name) != std::string_view::npos) continue;
    updates += fmt::format("{}{} = excluded.{}", updates.empty() ? "" : ", ", c.name, c.name);
  }
  return fmt::format("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {}",
                     table.name, columns, columns, stage, conflict, updates);
}

// COPY's binary format: a header, then per row a field count and length-prefixed values in
// each type's binary form, big-endian, then a trailer. The server then parses nothing (the
// text format has it parse every uuid, number and timestamp), and nothing needs escaping.
constexpr std::string_view kBinaryHeader("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
constexpr std::string_view kBinaryTrailer("\xff\xff", 2);

void PutBE(uint64_t v, int bytes, std::string& out) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> shift) & 0xff);
  }
}
void PutFieldCount(int n, std::string& out) { PutBE(static_cast<uint64_t>(n), 2, out); }
void PutNull(std::string& out) { PutBE(0xffffffffu, 4, out); }
void PutText(std::string_view text, std::string& out) {
  PutBE(text.size(), 4, out);
  out.append(text);
}
void PutInt32(int32_t v, std::string& out) {
  PutBE(4, 4, out);
  PutBE(static_cast<uint32_t>(v), 4, out);
}
void PutInt64(int64_t v, std::string& out) {
  PutBE(8, 4, out);
  PutBE(static_cast<uint64_t>(v), 8, out);
}
void PutDouble(double v, std::string& out) {
  PutBE(8, 4, out);
  PutBE(std::bit_cast<uint64_t>(v), 8, out);
}
// timestamptz: microseconds since 2000-01-01 00:00:00 UTC.
void PutTimestamp(int64_t unix_ms, std::string& out) {
  constexpr int64_t kPostgresEpochMs = 946684800000;
  PutInt64((unix_ms - kPostgresEpochMs) * 1000, out);
}
// uuid: its 16 bytes. `text` is a valid 8-4-4-4-12 hex uuid (checked by the caller).
void PutUuid(std::string_view text, std::string& out) {
  PutBE(16, 4, out);
  auto nibble = [](char c) {
    return static_cast<unsigned>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '-') {
      ++i;
      continue;
    }
    out += static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1]));
    i += 2;
  }
}
// jsonb: a format version byte (1), then the JSON text.
void PutJsonb(std::string_view json, std::string& out) {
  PutBE(json.size() + 1, 4, out);
  out += '\1';
  out.append(json);
}

bool HasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

bool RowHasNul(const Row& r) {
  for (const std::string_view* s :
       {&r.id, &r.first_name, &r.last_name, &r.gender, &r.address, &r.post_code, &r.email,
        &r.username, &r.registered_date, &r.phone, &r.picture, &r.dob, &r.nat, &r.city, &r.state,
        &r.country, &r.timezone, &r.cell}) {
    if (HasNul(*s)) return true;
  }
  return false;
}

// Text for a text column that may hold anything (reasons quote input): NUL spelled out.
std::string WithoutNul(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\0') {
      out += "\\u0000";
    } else {
      out += c;
    }
  }
  return out;
}

constexpr const char* kNulReason =
    "the record contains a NUL character, which PostgreSQL text and jsonb cannot store";

const char* SqlState(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

}  // namespace

PostgresSink::PostgresSink(PostgresSinkOptions options)
    : options_(std::move(options)),
      description_(fmt::format("postgres {}{}", DescribeDsn(options_.dsn),
                               options_.raw ? " (raw landing)" : "")) {}

std::string PostgresSink::SchemaSql() {
  std::string sql = fmt::format(
      "-- spate's PostgreSQL schema, version {}. Run it once as a role that may create tables\n"
      "-- in the schema (an admin); spate then needs only these privileges:\n"
      "--   GRANT SELECT ON spate_schema TO <role>;\n"
      "--   GRANT SELECT, INSERT, UPDATE ON created_users, rejected_users TO <role>;\n"
      "--   GRANT INSERT ON raw_users TO <role>;  -- only for --raw-sink postgres\n"
      "-- and TEMP on the database (granted to PUBLIC by default) for its staging tables.\n"
      "BEGIN;\n",
      kPostgresSchemaVersion);
  for (const Table& table : Tables()) {
    sql += CreateTableSql(table);
    if (table.name == "spate_schema") {
      sql += fmt::format(
          "INSERT INTO spate_schema (version) SELECT {} WHERE NOT EXISTS (SELECT FROM "
          "spate_schema);\n",
          kPostgresSchemaVersion);
    }
  }
  return sql + "COMMIT;\n";
}

Result<std::string> PostgresSink::SchemaSql(const std::vector<AggregationSpec>& aggregations) {
  auto script = PgAggregationsScript(aggregations);
  if (!script.ok()) return script.status();
  std::string sql = SchemaSql();
  // In the same transaction as the tables: created_users exists by then.
  constexpr std::string_view kCommit = "COMMIT;\n";
  sql.insert(sql.size() - kCommit.size(), *script);
  return sql;
}

Result<std::string> PostgresSink::UpgradeSql(int from_version) {
  if (from_version != 1) {
    return Status::Fatal(fmt::format(
        "no upgrade from PostgreSQL schema version {}: this spate upgrades version 1 to {}",
        from_version, kPostgresSchemaVersion));
  }
  // Version 1 kept one raw document per (origin, position); version 2 keys each by a hash
  // of its content, and both tables gain the record's item (0 for what version 1 stored: it
  // kept one record per position). Documents landed twice under other positions keep one
  // row, the first landed.
  return fmt::format(
      "-- Upgrades spate's PostgreSQL schema from version 1 to {}. Run it once, as the tables'\n"
      "-- owner, with no spate writing to the database.\n"
      "BEGIN;\n"
      "LOCK TABLE spate_schema, raw_users, rejected_users IN ACCESS EXCLUSIVE MODE;\n"
      "ALTER TABLE rejected_users ADD COLUMN item integer NOT NULL DEFAULT 0;\n"
      "ALTER TABLE raw_users ADD COLUMN id text, ADD COLUMN item integer NOT NULL DEFAULT 0;\n"
      "UPDATE raw_users SET id = {};\n"
      "DELETE FROM raw_users a USING raw_users b WHERE a.id = b.id AND "
      "(a.landed_at, a.origin, a.position) > (b.landed_at, b.origin, b.position);\n"
      "ALTER TABLE raw_users DROP CONSTRAINT raw_users_pkey, ALTER COLUMN id SET NOT NULL, "
      "ADD PRIMARY KEY (id);\n"
      "UPDATE spate_schema SET version = {} WHERE version = 1;\n"
      "COMMIT;\n",
      kPostgresSchemaVersion, kRawKeySql, kPostgresSchemaVersion);
}

void PostgresSink::AppendCopyRow(const Row& r, std::string& out) {
  PutFieldCount(static_cast<int>(kRowColumnCount), out);
  PutUuid(r.id, out);
  for (const std::string_view* text :
       {&r.first_name, &r.last_name, &r.gender, &r.address, &r.post_code, &r.email, &r.username,
        &r.registered_date, &r.phone, &r.picture, &r.dob}) {
    PutText(*text, out);
  }
  PutInt64(r.age, out);
  for (const std::string_view* text : {&r.nat, &r.city, &r.state, &r.country}) PutText(*text, out);
  PutDouble(r.latitude, out);
  PutDouble(r.longitude, out);
  PutText(r.timezone, out);
  PutText(r.cell, out);
  PutTimestamp(r.ingested_at_ms, out);
}

Status PostgresSink::Open() {
  if (Status s = Connect(/*reconnecting=*/false); !s.ok()) return s;
  spdlog::info("{}: connected (schema version {})", description_, kPostgresSchemaVersion);
  return Status::Ok();
}

Status PostgresSink::Connect(bool reconnecting) {
  auto conn = PgConnect(options_.dsn, options_.connect_timeout, reconnecting);
  if (!conn.ok()) return conn.status();
  conn_ = std::move(conn).value();
  // Server notices (CREATE ... IF NOT EXISTS "already exists, skipping") are not news.
  PQsetNoticeProcessor(
      conn_.get(), [](void*, const char*) {}, nullptr);
  if (Status s = SetUp(); !s.ok()) {
    conn_.reset();
    return s;
  }
  if (reconnecting) spdlog::info("{}: reconnected", description_);
  return Status::Ok();
}

namespace {

// The columns of `table` as they are ("name type"), empty when it does not exist. Read from
// the catalog, which every role may read, for the table that unqualified names reach (the
// search path), as every statement spate sends will.
Result<std::vector<std::string>> ExistingColumns(PGconn* c, const std::string& table) {
  const char* params[] = {table.c_str()};
  PgResult result(PQexecParams(c,
                               "SELECT attname || ' ' || format_type(atttypid, atttypmod) "
                               "FROM pg_attribute WHERE attrelid = to_regclass($1) "
                               "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                               1, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return PgError(c, result.get(), "read the columns of " + table);
  }
  std::vector<std::string> columns;
  for (int i = 0; i < PQntuples(result.get()); ++i)
    columns.emplace_back(PQgetvalue(result.get(), i, 0));
  return columns;
}

// The primary key's columns of `table`, sorted.
Result<std::vector<std::string>> PrimaryKey(PGconn* c, const std::string& table) {
  const char* params[] = {table.c_str()};
  PgResult result(PQexecParams(c,
                               "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                               "ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
                               "WHERE i.indrelid = to_regclass($1) AND i.indisprimary "
                               "ORDER BY a.attname",
                               1, nullptr, params, nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    return PgError(c, result.get(), "read the primary key of " + table);
  }
  std::vector<std::string> key;
  for (int i = 0; i < PQntuples(result.get()); ++i)
    key.emplace_back(PQgetvalue(result.get(), i, 0));
  return key;
}

// What differs between the columns and key `table` has and those spate expects; empty when
// nothing does. Column order does not matter: every statement names its columns.
std::string Difference(const Table& table, const std::vector<std::string>& found,
                       std::vector<std::string> key) {
  std::map<std::string, std::string> have;  // name -> type
  for (const std::string& column : found) {
    const size_t space = column.find(' ');
    have[column.substr(0, space)] = column.substr(space + 1);
  }
  std::vector<std::string> problems;
  for (const Column& c : table.columns) {
    auto it = have.find(c.name);
    if (it == have.end()) {
      problems.push_back(fmt::format("missing column {} {}", c.name, c.type));
      continue;
    }
    if (it->second != c.type) {
      problems.push_back(fmt::format("column {} is {}, expected {}", c.name, it->second, c.type));
    }
    have.erase(it);
  }
  for (const auto& [name, type] : have) {
    problems.push_back(fmt::format("unexpected column {} {}", name, type));
  }
  std::vector<std::string> expected_key = table.key;
  std::sort(expected_key.begin(), expected_key.end());
  if (key != expected_key) {
    auto join = [](const std::vector<std::string>& v) {
      std::string out;
      for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
      return out.empty() ? std::string("none") : "(" + out + ")";
    };
    problems.push_back(
        fmt::format("primary key is {}, expected {}", join(key), join(expected_key)));
  }
  std::string out;
  for (const std::string& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

Status PostgresSink::SetUp() {
  PGconn* c = conn_.get();
  // Look before creating: a role that may only read and write tables an admin made must be
  // able to run, so nothing is created that is there, and what is there is checked instead.
  // Errors do not name the sink: the caller puts Describe() in front of them.
  auto rollback = [&](Status s) {
    (void)PgExec(c, "ROLLBACK", "rollback");
    return s;
  };
  if (Status s = PgExec(c, "BEGIN", "begin set-up"); !s.ok()) return s;
  // Serialises set-up between spate processes starting at once against one database.
  const std::string lock = fmt::format("SELECT pg_advisory_xact_lock({})", kSetupLockKey);
  if (Status s = PgExec(c, lock.c_str(), "lock for set-up"); !s.ok()) return rollback(s);
  std::map<std::string, std::vector<std::string>> columns;
  std::string missing;
  for (const Table& table : Tables()) {
    auto found = ExistingColumns(c, table.name);
    if (!found.ok()) return rollback(found.status());
    if (found->empty()) {
      missing += (missing.empty() ? "" : ", ") + table.name;
    } else {
      columns[table.name] = std::move(found).value();
    }
  }
  if (!missing.empty()) {
    std::string ddl;
    for (const Table& table : Tables()) {
      if (columns.count(table.name) == 0) ddl += CreateTableSql(table);
    }
    if (columns.count("spate_schema") == 0) {
      ddl += fmt::format("INSERT INTO spate_schema (version) VALUES ({});", kPostgresSchemaVersion);
    }
    if (Status s = PgExec(c, ddl.c_str(), "create " + missing); !s.ok()) {
      if (s.retriable()) return rollback(s);
      return rollback(Status::Fatal(fmt::format(
          "{} (have an admin create the missing tables: `spate schema --sink postgres` prints "
          "the SQL and the privileges spate needs)",
          s.message())));
    }
    spdlog::info("{}: created {}", description_, missing);
  }
  PgResult version(PQexec(c, "SELECT version FROM spate_schema"));
  if (PQresultStatus(version.get()) != PGRES_TUPLES_OK) {
    return rollback(PgError(c, version.get(), "read the schema version"));
  }
  if (PQntuples(version.get()) != 1) {
    return rollback(Status::Fatal(fmt::format(
        "spate_schema has {} rows, expected one (the schema version): `spate schema --sink "
        "postgres` prints the SQL that fills it",
        PQntuples(version.get()))));
  }
  if (const std::string found = PQgetvalue(version.get(), 0, 0);
      found != std::to_string(kPostgresSchemaVersion)) {
    if (found == "1") {
      return rollback(Status::Fatal(fmt::format(
          "the database has spate schema version 1, this spate needs version {}: have the "
          "tables' owner upgrade it with the SQL `spate schema --sink postgres --upgrade-from 1` "
          "prints (raw_users becomes an archive keyed by content; nothing is lost)",
          kPostgresSchemaVersion)));
    }
    return rollback(Status::Fatal(
        fmt::format("the database has spate schema version {}, this spate understands {}: use "
                    "a spate that knows it, or another database",
                    found, kPostgresSchemaVersion)));
  }
  // Tables that were there before (made by an admin, or by something else) must be what
  // spate would make.
  for (const Table& table : Tables()) {
    std::vector<std::string> found = columns[table.name];
    if (found.empty()) continue;  // Created above.
    auto key = PrimaryKey(c, table.name);
    if (!key.ok()) return rollback(key.status());
    if (const std::string diff = Difference(table, found, std::move(key).value()); !diff.empty()) {
      return rollback(Status::Fatal(fmt::format(
          "table {} is not what spate expects: {} (`spate schema --sink postgres` prints the "
          "expected DDL; rename or drop that table, or use another database)",
          table.name, diff)));
    }
  }
  if (Status s = SetUpAggregations(c); !s.ok()) return rollback(s);
  if (Status s = PgExec(c, "COMMIT", "commit set-up"); !s.ok()) return s;
  // Per-connection staging tables for the upsert paths; emptied by every commit. TEMP on the
  // database is all they need (PUBLIC has it by default).
  const std::string stages = fmt::format(
      "CREATE TEMP TABLE spate_stage_users (LIKE created_users) ON COMMIT DELETE ROWS;"
      "CREATE TEMP TABLE spate_stage_raw (origin text, position bigint, item integer, "
      "user_id uuid, raw jsonb, landed_at timestamp with time zone) ON COMMIT DELETE ROWS");
  if (Status s = PgExec(c, stages.c_str(), "create staging tables"); !s.ok()) {
    if (s.retriable()) return s;
    return Status::Fatal(
        fmt::format("{} (spate needs TEMP on the database: GRANT TEMP ON DATABASE <db> TO <role>)",
                    s.message()));
  }
  return Status::Ok();
}

namespace {

// Runs `sql` with text parameters and returns its rows' first column (NULL as nullopt).
Result<std::vector<std::optional<std::string>>> QueryColumn(PGconn* c, const char* sql,
                                                            const std::vector<std::string>& params,
                                                            std::string_view what) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  PgResult result(PQexecParams(c, sql, static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) return PgError(c, result.get(), what);
  std::vector<std::optional<std::string>> out;
  for (int i = 0; i < PQntuples(result.get()); ++i) {
    if (PQgetisnull(result.get(), i, 0)) {
      out.emplace_back();
    } else {
      out.emplace_back(PQgetvalue(result.get(), i, 0));
    }
  }
  return out;
}

// A PostgreSQL text[] literal of names made only of [a-z0-9_] (checked aggregation names).
std::string NameArray(const std::vector<std::string>& names) {
  std::string out = "{";
  for (const std::string& n : names) out += (out.size() > 1 ? "," : "") + n;
  return out + "}";
}

// What a failed DDL statement means for a role that may not create: the fix.
Status NeedsAdmin(const Status& s) {
  if (s.retriable()) return s;
  return Status::Fatal(fmt::format(
      "{} (have an admin run the SQL `spate schema --sink postgres` prints with the same "
      "aggregations, or let spate's role own created_users and the aggregations' tables)",
      s.message()));
}

}  // namespace

Status PostgresSink::SetUpAggregations(PGconn* c) {
  if (options_.raw) return Status::Ok();  // The raw landing never touches created_users.
  std::vector<PgAggregateSql> made;
  std::vector<std::string> names;
  for (const AggregationSpec& spec : options_.aggregations) {
    auto sql = MakePgAggregateSql(spec);
    if (!sql.ok()) return sql.status();
    made.push_back(std::move(sql).value());
    names.push_back(spec.name);
  }
  const Table registry{"spate_aggregations", {{"name", "text"}, {"definition", "text"}}, {"name"}};
  auto found = ExistingColumns(c, registry.name);
  if (!found.ok()) return found.status();
  if (found->empty()) {
    if (made.empty()) return Status::Ok();  // None configured, none made before.
    if (Status s = PgExec(c, kPgAggregationsTableSql, "create spate_aggregations"); !s.ok()) {
      return NeedsAdmin(s);
    }
  } else {
    auto key = PrimaryKey(c, registry.name);
    if (!key.ok()) return key.status();
    if (const std::string diff = Difference(registry, *found, std::move(key).value());
        !diff.empty()) {
      return Status::Fatal(fmt::format(
          "table spate_aggregations is not what spate expects: {} (rename or drop it)", diff));
    }
  }
  const bool min_max =
      std::any_of(made.begin(), made.end(), [](const PgAggregateSql& a) { return a.uses_min_max; });
  if (min_max) {
    auto index = QueryColumn(c, "SELECT to_regclass($1)::text", {kPgIngestedAtIndex},
                             "look for the ingested_at index");
    if (!index.ok()) return index.status();
    if (!index->at(0)) {
      if (Status s = PgExec(c, kPgIngestedAtIndexSql, "create the ingested_at index"); !s.ok()) {
        return NeedsAdmin(s);
      }
    }
  }
  for (size_t i = 0; i < made.size(); ++i) {
    const AggregationSpec& spec = options_.aggregations[i];
    const PgAggregateSql& a = made[i];
    const std::string definition = spec.Definition();
    auto stored = QueryColumn(c, "SELECT definition FROM spate_aggregations WHERE name = $1",
                              {spec.name}, "read the definition of " + spec.name);
    if (!stored.ok()) return stored.status();
    auto columns = ExistingColumns(c, a.table);
    if (!columns.ok()) return columns.status();
    if (!columns->empty() && stored->empty()) {
      return Status::Fatal(fmt::format(
          "aggregation {}: a table of that name exists and spate did not make it (no row in "
          "spate_aggregations): rename the aggregation or the table",
          spec.name));
    }
    std::string why;  // Why the table is (re)built; empty: it is as configured.
    if (columns->empty()) {
      why = "it was missing";
    } else if (stored->front().value_or("") != definition) {
      why = "its definition changed";
    } else {
      Table expected{a.table, {}, a.key};
      for (const auto& [name, type] : a.columns) expected.columns.push_back({name, type});
      auto key = PrimaryKey(c, a.table);
      if (!key.ok()) return key.status();
      if (!Difference(expected, *columns, std::move(key).value()).empty()) {
        why = "its columns were not spate's";
      } else {
        auto triggers = QueryColumn(
            c,
            "SELECT count(*)::text FROM pg_trigger WHERE tgrelid = to_regclass('created_users') "
            "AND tgname = ANY ($1::text[]) AND tgenabled <> 'D'",
            {NameArray(a.trigger_names)}, "look for the triggers of " + spec.name);
        if (!triggers.ok()) return triggers.status();
        // Without its triggers the table was not kept meanwhile (not configured for a while).
        if (triggers->at(0).value_or("") != std::to_string(a.trigger_names.size())) {
          why = "its triggers on created_users were missing or disabled";
        }
      }
    }
    if (why.empty()) {
      // The table is right; the function may be an older spate's.
      auto source = QueryColumn(c, "SELECT prosrc FROM pg_proc WHERE oid = to_regprocedure($1)",
                                {a.function_name + "()"}, "read the function of " + spec.name);
      if (!source.ok()) return source.status();
      if (source->empty() || source->front().value_or("") != a.function_body) {
        if (Status s = PgExec(c, a.create_function.c_str(), "replace the function of " + spec.name);
            !s.ok()) {
          return NeedsAdmin(s);
        }
      }
      continue;
    }
    // Writers wait (SHARE ROW EXCLUSIVE conflicts with their ROW EXCLUSIVE) from here to the
    // commit, so the GROUP BY and the triggers see the same rows: none is counted twice or
    // missed.
    const std::string rebuild = fmt::format(
        "LOCK TABLE created_users IN SHARE ROW EXCLUSIVE MODE; DROP TABLE IF EXISTS "
        "\"{}\"; {}",
        a.table, a.create_table);
    if (Status s = PgExec(c, rebuild.c_str(), "create the table of " + spec.name); !s.ok()) {
      return NeedsAdmin(s).WithContext(
          fmt::format("aggregation {} must be rebuilt because {}", spec.name, why));
    }
    PgResult built(PQexec(c, a.build.c_str()));
    if (PQresultStatus(built.get()) != PGRES_COMMAND_OK) {
      return PgError(c, built.get(), "build " + spec.name + " from created_users");
    }
    const std::string groups = PQcmdTuples(built.get());
    const char* params[] = {spec.name.c_str(), definition.c_str()};
    PgResult upsert(
        PQexecParams(c,
                     "INSERT INTO spate_aggregations (name, definition) VALUES ($1, $2) "
                     "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
                     2, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(upsert.get()) != PGRES_COMMAND_OK) {
      return PgError(c, upsert.get(), "record the definition of " + spec.name);
    }
    const std::string keep = a.create_function + a.drop_triggers + a.create_triggers;
    if (Status s = PgExec(c, keep.c_str(), "create the triggers of " + spec.name); !s.ok()) {
      return NeedsAdmin(s);
    }
    spdlog::info("{}: built aggregation {} from created_users ({} rows) because {}", description_,
                 spec.name, groups, why);
  }
  // Aggregations made before and not configured now stop being maintained (issue 19: their
  // tables stay for `spate query`); a later run that configures one again rebuilds it, as its
  // triggers are gone.
  auto stale = QueryColumn(
      c,
      "SELECT a.name FROM spate_aggregations a WHERE a.name <> ALL ($1::text[]) AND EXISTS "
      "(SELECT FROM pg_trigger t WHERE t.tgrelid = to_regclass('created_users') AND t.tgname = "
      "'spate_agg_' || a.name || '_ins') ORDER BY a.name",
      {NameArray(names)}, "look for aggregations no longer configured");
  if (!stale.ok()) return stale.status();
  for (const std::optional<std::string>& name : *stale) {
    AggregationSpec old;
    old.name = name.value_or("");
    old.size_ms = old.slide_ms = 1;
    if (!CheckPgAggregation(old).ok()) continue;  // Not a name spate would have made.
    std::string drop = "SAVEPOINT unkeep;";
    for (const std::string& trigger : PgAggregateTriggerNames(old.name)) {
      drop += fmt::format(" DROP TRIGGER IF EXISTS \"{}\" ON created_users;", trigger);
    }
    if (Status s = PgExec(c, drop.c_str(), "drop the triggers of " + old.name); !s.ok()) {
      if (s.retriable()) return s;
      (void)PgExec(c, "ROLLBACK TO SAVEPOINT unkeep", "rollback to savepoint");
      spdlog::warn("{}: aggregation {} is not configured but stays maintained: {}", description_,
                   old.name, s.message());
      continue;
    }
    spdlog::info("{}: aggregation {} is not configured: its table is no longer maintained",
                 description_, old.name);
  }
  return Status::Ok();
}

Status PostgresSink::Fail(const Status& status) {
  std::string message = RedactSecrets(status.message());
  if (status.retriable()) {
    // The transaction is lost either way; a fresh connection is the surest way back.
    conn_.reset();
    return Status::Retriable(std::move(message));
  }
  if (conn_) (void)PgExec(conn_.get(), "ROLLBACK", "rollback");
  return Status::Fatal(std::move(message));
}

Status PostgresSink::CopyIn(const std::string& table, std::string_view data,
                            std::string_view what) {
  if (Status s = CopyStart(table, what); !s.ok()) return s;
  return CopyEnd(data, what);
}

Status PostgresSink::CopyStart(const std::string& table, std::string_view what) {
  PGconn* c = conn_.get();
  // The raw stage lacks raw_users' key, which the upsert computes.
  const std::string columns =
      table == "spate_stage_raw" ? kRawStageColumns : ColumnList(FindTable(copy_.table));
  const std::string sql = fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", table, columns);
  PgResult start(PQexec(c, sql.c_str()));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN) return PgError(c, start.get(), what);
  return Status::Ok();
}

Status PostgresSink::CopySend(std::string_view data, std::string_view what) {
  if (data.empty()) return Status::Ok();
  if (PQputCopyData(conn_.get(), data.data(), static_cast<int>(data.size())) != 1) {
    return PgError(conn_.get(), nullptr, what);
  }
  return Status::Ok();
}

Status PostgresSink::CopyEnd(std::string_view rest, std::string_view what) {
  PGconn* c = conn_.get();
  if (Status s = CopySend(rest, what); !s.ok()) return s;
  if (PQputCopyEnd(c, nullptr) != 1) return PgError(c, nullptr, what);
  Status status;
  last_sqlstate_.clear();
  while (PgResult result{PQgetResult(c)}) {
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK && status.ok()) {
      status = PgError(c, result.get(), what);
      last_sqlstate_ = SqlState(result.get());
    }
  }
  return status;
}

Status PostgresSink::StreamSome(std::string_view what) {
  // Sending while the rest is still being formatted lets the server parse and insert the
  // first rows meanwhile; the whole text stays in buffer_ in case it must go to the stage.
  constexpr size_t kChunk = 64 * 1024;
  if (!copy_.direct || buffer_.size() - copy_.sent < kChunk) return Status::Ok();
  if (!copy_.started) {
    if (Status s = CopyStart(copy_.table, what); !s.ok()) return s;
    copy_.started = true;
  }
  if (Status s = CopySend(std::string_view(buffer_).substr(copy_.sent), what); !s.ok()) return s;
  copy_.sent = buffer_.size();
  return Status::Ok();
}

Status PostgresSink::CopyFinish(std::string_view what) {
  if (copy_.rows == 0) return Status::Ok();
  buffer_.append(kBinaryTrailer);
  PGconn* c = conn_.get();
  if (copy_.direct) {
    if (!copy_.started) {
      if (Status s = CopyStart(copy_.table, what); !s.ok()) return s;
    }
    Status s = CopyEnd(std::string_view(buffer_).substr(copy_.sent), what);
    if (s.ok()) {
      fast_path_ = true;
      return s;
    }
    if (last_sqlstate_ != "23505") return s;  // Not a key collision: a real failure.
    if (Status r = PgExec(c, "ROLLBACK TO SAVEPOINT direct", "rollback to savepoint"); !r.ok()) {
      return r;
    }
    fast_path_ = false;
    batches_since_fallback_ = 0;
  }
  if (Status s = CopyIn(copy_.stage, buffer_, what); !s.ok()) return s;
  if (copy_.table == "raw_users") return RawFromStage(what);
  const std::string upsert =
      UpsertFromStageSql(FindTable(copy_.table), copy_.stage, copy_.conflict);
  return PgExec(c, upsert.c_str(), what);
}

Status PostgresSink::RawFromStage(std::string_view what) {
  PGconn* c = conn_.get();
  // The raw archive keeps the first landing of a document: replays, and copies of it
  // elsewhere in the input (this batch included: DO NOTHING skips a row that an earlier one
  // of the same statement inserted), change nothing. With no conflict target (the key is the
  // table's one unique index) this needs INSERT alone, not SELECT or UPDATE.
  const std::string insert =
      fmt::format("INSERT INTO raw_users (id, {}) SELECT {}, {} FROM {}", kRawStageColumns,
                  kRawKeySql, kRawStageColumns, copy_.stage);
  // ON CONFLICT costs about a quarter of the landing (measured: 4.4 s against 3.4 s for
  // 200,000 documents): while no key collides, a plain INSERT under a savepoint does it; a
  // collision (23505: a replay, a copy in the batch, another spate landing the same
  // document) takes it back and the batch goes the ON CONFLICT way, which then stays the
  // way for a while (replays come in runs). Either way the same rows result.
  if (fast_path_ || ++batches_since_fallback_ >= 16) {
    if (Status s = PgExec(c, "SAVEPOINT plain", "savepoint"); !s.ok()) return s;
    PgResult result(PQexec(c, insert.c_str()));
    if (PQresultStatus(result.get()) == PGRES_COMMAND_OK) {
      fast_path_ = true;
      return Status::Ok();
    }
    if (std::string_view(SqlState(result.get())) != "23505") {
      return PgError(c, result.get(), what);
    }
    if (Status s = PgExec(c, "ROLLBACK TO SAVEPOINT plain", "rollback to savepoint"); !s.ok()) {
      return s;
    }
    fast_path_ = false;
    batches_since_fallback_ = 0;
  }
  return PgExec(c, (insert + " ON CONFLICT DO NOTHING").c_str(), what);
}

Status PostgresSink::Write(const Batch& batch) {
  if (!conn_) {
    if (Status s = Connect(/*reconnecting=*/true); !s.ok()) return Fail(s);
  }
  // Straight into the table while no key collides; after a collision, stage for a while
  // (replays come in runs), then try the direct way again.
  copy_ = options_.raw ? CopyState{"raw_users", "spate_stage_raw", "id"}
                       : CopyState{"created_users", "spate_stage_users", "id"};
  // The raw archive's key is computed by the server from the stored document: always staged.
  copy_.direct = !options_.raw && (fast_path_ || ++batches_since_fallback_ >= 16);
  const char* begin = copy_.direct ? "BEGIN; SAVEPOINT direct" : "BEGIN";
  if (Status s = PgExec(conn_.get(), begin, "begin"); !s.ok()) return Fail(s);
  std::vector<DeadLetter> extra;
  Status s = options_.raw ? WriteRaw(batch, extra) : WriteRows(batch, extra);
  if (s.ok()) s = WriteDead(options_.raw ? std::span<const DeadLetter>() : batch.dead, extra);
  if (s.ok()) s = PgExec(conn_.get(), "COMMIT", "commit");
  if (s.ok() && !options_.raw) refused_ += extra.size();
  return s.ok() ? s : Fail(s);
}

Status PostgresSink::WriteRows(const Batch& batch, std::vector<DeadLetter>& extra) {
  // One COPY may not name an id twice (the direct COPY would collide with itself, the upsert
  // would touch a row twice): the batch's last version of a row wins, as it would in order.
  std::unordered_map<std::string_view, size_t> last;
  last.reserve(batch.rows.size());
  for (size_t i = 0; i < batch.rows.size(); ++i) last[batch.rows[i].id] = i;
  buffer_.assign(kBinaryHeader);
  for (size_t i = 0; i < batch.rows.size(); ++i) {
    const Row& row = batch.rows[i];
    if (last[row.id] != i) continue;
    if (RowHasNul(row)) {
      extra.push_back(RefusedRow(row, batch.origin));
      continue;
    }
    AppendCopyRow(row, buffer_);
    ++copy_.rows;
    if (Status s = StreamSome("copy into created_users"); !s.ok()) return s;
  }
  return CopyFinish("copy into created_users");
}

Status PostgresSink::WriteRaw(const Batch& batch, std::vector<DeadLetter>& extra) {
  buffer_.assign(kBinaryHeader);
  const int64_t landed_at = NowUnixMillis();
  for (const RawRecord& r : batch.records) {
    const std::string origin =
        r.partition < 0 ? batch.origin : fmt::format("{}/{}", batch.origin, r.partition);
    // jsonb refuses NUL, both raw and escaped. The dead letter is the one the row sink
    // makes of the same record (same position, item and bytes: one row, see RefusedRow).
    if (HasNul(r.json) || r.json.find("\\u0000") != std::string::npos) {
      extra.push_back({kNulReason, origin, r.position, r.json, r.item});
      continue;
    }
    PutFieldCount(6, buffer_);
    PutText(origin, buffer_);
    PutInt64(static_cast<int64_t>(r.position), buffer_);
    PutInt32(static_cast<int32_t>(r.item), buffer_);
    if (IsValidUuid(r.key)) {
      PutUuid(r.key, buffer_);
    } else {
      PutNull(buffer_);
    }
    PutJsonb(r.json, buffer_);
    PutTimestamp(landed_at, buffer_);
    ++copy_.rows;
  }
  return CopyFinish("copy into raw_users");
}

DeadLetter PostgresSink::RefusedRow(const Row& row, const std::string& origin) const {
  DeadLetter dead{kNulReason, origin, row.position, {}, row.item};
  if (row.partition >= 0) dead.origin = fmt::format("{}/{}", origin, row.partition);
  if (row.record_size == 0) {
    // Where the row came from is not known (a row not made by the pipeline): its id.
    dead.raw = fmt::format("{{\"id\":\"{}\"}}", WithoutNul(row.id));
  } else if (row.partition < 0) {
    dead.raw = row.record();  // Ingest removed the secrets.
  } else if (options_.scrub_raw) {
    dead.raw = options_.scrub_raw(row.record());
  }
  return dead;
}

Status PostgresSink::WriteDead(std::span<const DeadLetter> dead,
                               const std::vector<DeadLetter>& extra) {
  if (dead.empty() && extra.empty()) return Status::Ok();
  PGconn* c = conn_.get();
  for (std::span<const DeadLetter> letters : {dead, std::span<const DeadLetter>(extra)}) {
    for (const DeadLetter& d : letters) {
      const std::string id = DeadLetterId(d);
      const std::string reason = WithoutNul(d.reason);
      const std::string origin = WithoutNul(d.origin);
      const std::string position = std::to_string(d.position);
      const std::string item = std::to_string(d.item);
      const char* values[] = {id.c_str(),       reason.c_str(), origin.c_str(),
                              position.c_str(), item.c_str(),   d.raw.data()};
      const int lengths[] = {0, 0, 0, 0, 0, static_cast<int>(d.raw.size())};
      const int formats[] = {0, 0, 0, 0, 0, 1};  // raw as binary: bytea holds any bytes.
      PgResult result(PQexecParams(
          c,
          "INSERT INTO rejected_users (id, reason, origin, position, item, raw, rejected_at) "
          "VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT (id) DO UPDATE SET "
          "reason = excluded.reason, rejected_at = excluded.rejected_at",
          6, nullptr, values, lengths, formats, 0));
      if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
        return PgError(c, result.get(), "insert into rejected_users");
      }
    }
  }
  return Status::Ok();
}

Status PostgresSink::Close() {
  conn_.reset();
  return Status::Ok();
}

}  // namespace spate
