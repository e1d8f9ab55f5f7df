#include "sinks/postgres_sink.h"

#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/uuid.h"

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
  std::string type;  // As information_schema.columns.data_type spells it.
};

struct Table {
  std::string name;
  std::vector<Column> columns;
  std::string constraint;  // Appended to the column list in CREATE TABLE.
};

const std::vector<Table>& Tables() {
  static const std::vector<Table> tables = [] {
    std::vector<Table> t;
    Table users{"created_users", {}, "PRIMARY KEY (id)"};
    for (const char* column : kRowColumns) users.columns.push_back({column, ColumnType(column)});
    t.push_back(std::move(users));
    t.push_back({"raw_users",
                 {{"origin", "text"},
                  {"position", "bigint"},
                  {"user_id", "uuid"},
                  {"raw", "jsonb"},
                  {"landed_at", "timestamp with time zone"}},
                 "PRIMARY KEY (origin, position)"});
    t.push_back({"rejected_users",
                 {{"id", "text"},
                  {"reason", "text"},
                  {"origin", "text"},
                  {"position", "bigint"},
                  {"raw", "bytea"},
                  {"rejected_at", "timestamp with time zone"}},
                 "PRIMARY KEY (id)"});
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

// COPY's text format: backslash, tab, newline and carriage return are escaped; everything
// else (quotes included) is data. NUL cannot be represented (callers reject it first).
void AppendCopyText(std::string_view text, std::string& out) {
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char* escape = c == '\\'   ? "\\\\"
                         : c == '\t' ? "\\t"
                         : c == '\n' ? "\\n"
                         : c == '\r' ? "\\r"
                                     : nullptr;
    if (escape == nullptr) continue;
    out.append(text.data() + start, i - start);
    out.append(escape);
    start = i + 1;
  }
  out.append(text.data() + start, text.size() - start);
}

bool HasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

bool RowHasNul(const Row& r) {
  for (const std::string* s :
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

const char* SqlState(const PGresult* result) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  return state ? state : "";
}

}  // namespace

PostgresSink::PostgresSink(PostgresSinkOptions options)
    : options_(std::move(options)),
      description_(fmt::format("postgres {}{}", DescribeDsn(options_.dsn),
                               options_.raw ? " (raw landing)" : "")),
      password_(DsnPassword(options_.dsn)) {}

std::string PostgresSink::SchemaSql() {
  std::string sql = "CREATE TABLE IF NOT EXISTS spate_schema (version integer NOT NULL);\n";
  for (const Table& table : Tables()) {
    std::string columns;
    for (const Column& c : table.columns) {
      columns += fmt::format("{}{} {}", columns.empty() ? "" : ", ", c.name, c.type);
    }
    sql += fmt::format("CREATE TABLE IF NOT EXISTS {} ({}, {});\n", table.name, columns,
                       table.constraint);
  }
  return sql;
}

void PostgresSink::AppendCopyRow(const Row& r, std::string_view ingested_at, std::string& out) {
  auto text = [&](const std::string& s) {
    AppendCopyText(s, out);
    out += '\t';
  };
  text(r.id);
  text(r.first_name);
  text(r.last_name);
  text(r.gender);
  text(r.address);
  text(r.post_code);
  text(r.email);
  text(r.username);
  text(r.registered_date);
  text(r.phone);
  text(r.picture);
  text(r.dob);
  fmt::format_to(std::back_inserter(out), "{}\t", r.age);
  text(r.nat);
  text(r.city);
  text(r.state);
  text(r.country);
  fmt::format_to(std::back_inserter(out), "{}\t{}\t", r.latitude, r.longitude);
  text(r.timezone);
  text(r.cell);
  out += ingested_at;
  out += '\n';
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

Status PostgresSink::SetUp() {
  PGconn* c = conn_.get();
  if (Status s = PgExec(c, "BEGIN", "begin set-up"); !s.ok()) return s;
  const std::string lock = fmt::format("SELECT pg_advisory_xact_lock({})", kSetupLockKey);
  if (Status s = PgExec(c, lock.c_str(), "lock for set-up"); !s.ok()) return s;
  if (Status s = PgExec(c, SchemaSql().c_str(), "create tables"); !s.ok()) {
    (void)PgExec(c, "ROLLBACK", "rollback");
    return s.WithContext("set-up (does the user have CREATE on the database's schema?)");
  }
  PgResult version(PQexec(c, "SELECT version FROM spate_schema"));
  if (PQresultStatus(version.get()) != PGRES_TUPLES_OK) return PgError(c, version.get(), "schema");
  if (PQntuples(version.get()) == 0) {
    const std::string insert =
        fmt::format("INSERT INTO spate_schema (version) VALUES ({})", kPostgresSchemaVersion);
    if (Status s = PgExec(c, insert.c_str(), "record the schema version"); !s.ok()) return s;
  } else if (const std::string found = PQgetvalue(version.get(), 0, 0);
             found != std::to_string(kPostgresSchemaVersion) || PQntuples(version.get()) > 1) {
    (void)PgExec(c, "ROLLBACK", "rollback");
    return Status::Fatal(fmt::format(
        "{}: the database has spate schema version {}, this spate understands {}: use another "
        "database",
        description_, found, kPostgresSchemaVersion));
  }
  // Tables that were there before (made by something else) must be what spate would make.
  for (const Table& table : Tables()) {
    const char* params[] = {table.name.c_str()};
    PgResult columns(PQexecParams(
        c,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        1, nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(columns.get()) != PGRES_TUPLES_OK) {
      return PgError(c, columns.get(), "read the columns of " + table.name);
    }
    std::string found, expected;
    for (int i = 0; i < PQntuples(columns.get()); ++i) {
      found += fmt::format("{}{} {}", i ? ", " : "", PQgetvalue(columns.get(), i, 0),
                           PQgetvalue(columns.get(), i, 1));
    }
    for (const Column& col : table.columns) {
      expected += fmt::format("{}{} {}", expected.empty() ? "" : ", ", col.name, col.type);
    }
    if (found != expected) {
      (void)PgExec(c, "ROLLBACK", "rollback");
      return Status::Fatal(fmt::format(
          "{}: table {} exists with columns ({}), which spate does not understand (it expects "
          "({})): rename or drop that table, or use another database",
          description_, table.name, found, expected));
    }
  }
  if (Status s = PgExec(c, "COMMIT", "commit set-up"); !s.ok()) return s;
  // Per-connection staging tables for the upsert path; emptied by every commit.
  const char* stages =
      "CREATE TEMP TABLE spate_stage_users (LIKE created_users) ON COMMIT DELETE ROWS;"
      "CREATE TEMP TABLE spate_stage_raw (LIKE raw_users) ON COMMIT DELETE ROWS";
  return PgExec(c, stages, "create staging tables");
}

Status PostgresSink::Fail(const Status& status) {
  std::string message = Scrub(status.message(), password_);
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
  const std::string sql =
      fmt::format("COPY {} ({}) FROM STDIN", table, ColumnList(FindTable(copy_.table)));
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
  if (buffer_.empty()) return Status::Ok();
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
  const std::string upsert =
      UpsertFromStageSql(FindTable(copy_.table), copy_.stage, copy_.conflict);
  return PgExec(c, upsert.c_str(), what);
}

Status PostgresSink::Write(const Batch& batch) {
  if (!conn_) {
    if (Status s = Connect(/*reconnecting=*/true); !s.ok()) return Fail(s);
  }
  // Straight into the table while no key collides; after a collision, stage for a while
  // (replays come in runs), then try the direct way again.
  copy_ = options_.raw ? CopyState{"raw_users", "spate_stage_raw", "origin, position"}
                       : CopyState{"created_users", "spate_stage_users", "id"};
  copy_.direct = fast_path_ || ++batches_since_fallback_ >= 16;
  const char* begin = copy_.direct ? "BEGIN; SAVEPOINT direct" : "BEGIN";
  if (Status s = PgExec(conn_.get(), begin, "begin"); !s.ok()) return Fail(s);
  std::vector<DeadLetter> extra;
  Status s = options_.raw ? WriteRaw(batch, extra) : WriteRows(batch, extra);
  if (s.ok()) s = WriteDead(options_.raw ? std::span<const DeadLetter>() : batch.dead, extra);
  if (s.ok()) s = PgExec(conn_.get(), "COMMIT", "commit");
  return s.ok() ? s : Fail(s);
}

Status PostgresSink::WriteRows(const Batch& batch, std::vector<DeadLetter>& extra) {
  // One COPY may not name an id twice (the direct COPY would collide with itself, the upsert
  // would touch a row twice): the batch's last version of a row wins, as it would in order.
  std::unordered_map<std::string_view, size_t> last;
  last.reserve(batch.rows.size());
  for (size_t i = 0; i < batch.rows.size(); ++i) last[batch.rows[i].id] = i;
  buffer_.clear();
  int64_t formatted_ms = -1;
  std::string ingested_at;
  for (size_t i = 0; i < batch.rows.size(); ++i) {
    const Row& row = batch.rows[i];
    if (last[row.id] != i) continue;
    if (RowHasNul(row)) {
      extra.push_back({"a text field contains a NUL byte, which PostgreSQL text cannot store",
                       batch.origin, 0, fmt::format("{{\"id\":\"{}\"}}", WithoutNul(row.id))});
      continue;
    }
    if (row.ingested_at_ms != formatted_ms) {  // Rows of a batch share one.
      formatted_ms = row.ingested_at_ms;
      ingested_at = FormatIso8601Millis(formatted_ms);
    }
    AppendCopyRow(row, ingested_at, buffer_);
    if (Status s = StreamSome("copy into created_users"); !s.ok()) return s;
  }
  return CopyFinish("copy into created_users");
}

Status PostgresSink::WriteRaw(const Batch& batch, std::vector<DeadLetter>& extra) {
  buffer_.clear();
  const std::string landed_at = FormatIso8601Millis(NowUnixMillis());
  std::unordered_map<std::string, size_t> last;  // (origin, position) appears once per COPY.
  std::vector<std::string> origins(batch.records.size());
  for (size_t i = 0; i < batch.records.size(); ++i) {
    const RawRecord& r = batch.records[i];
    origins[i] = r.partition < 0 ? batch.origin : fmt::format("{}/{}", batch.origin, r.partition);
    last[fmt::format("{}\t{}", origins[i], r.position)] = i;
  }
  for (size_t i = 0; i < batch.records.size(); ++i) {
    const RawRecord& r = batch.records[i];
    if (last[fmt::format("{}\t{}", origins[i], r.position)] != i) continue;
    // jsonb refuses NUL, both raw and escaped.
    if (HasNul(r.json) || r.json.find("\\u0000") != std::string::npos) {
      extra.push_back({"the document contains a NUL character, which jsonb cannot store",
                       origins[i], r.position, r.json});
      continue;
    }
    AppendCopyText(origins[i], buffer_);
    fmt::format_to(std::back_inserter(buffer_), "\t{}\t", r.position);
    if (IsValidUuid(r.key)) {
      AppendCopyText(r.key, buffer_);
    } else {
      buffer_ += "\\N";
    }
    buffer_ += '\t';
    AppendCopyText(r.json, buffer_);
    buffer_ += '\t';
    buffer_ += landed_at;
    buffer_ += '\n';
    if (Status s = StreamSome("copy into raw_users"); !s.ok()) return s;
  }
  return CopyFinish("copy into raw_users");
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
      const char* values[] = {id.c_str(), reason.c_str(), origin.c_str(), position.c_str(),
                              d.raw.data()};
      const int lengths[] = {0, 0, 0, 0, static_cast<int>(d.raw.size())};
      const int formats[] = {0, 0, 0, 0, 1};  // raw as binary: bytea holds any bytes.
      PgResult result(PQexecParams(
          c,
          "INSERT INTO rejected_users (id, reason, origin, position, raw, rejected_at) "
          "VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (id) DO UPDATE SET "
          "reason = excluded.reason, rejected_at = excluded.rejected_at",
          5, nullptr, values, lengths, formats, 0));
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
