#include "sinks/postgres_sink.h"

#include <bit>
#include <map>
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
  const std::string sql = fmt::format("COPY {} ({}) FROM STDIN (FORMAT binary)", table,
                                      ColumnList(FindTable(copy_.table)));
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
      extra.push_back({"a text field contains a NUL byte, which PostgreSQL text cannot store",
                       batch.origin, 0, fmt::format("{{\"id\":\"{}\"}}", WithoutNul(row.id))});
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
  // A source position (partition, position) appears once per COPY: the batch's last copy of
  // it wins. The origin text follows from the partition, so it is only made for what is sent.
  std::map<std::pair<int32_t, uint64_t>, size_t> last;
  for (size_t i = 0; i < batch.records.size(); ++i) {
    last[{batch.records[i].partition, batch.records[i].position}] = i;
  }
  for (size_t i = 0; i < batch.records.size(); ++i) {
    const RawRecord& r = batch.records[i];
    if (last[{r.partition, r.position}] != i) continue;
    const std::string origin =
        r.partition < 0 ? batch.origin : fmt::format("{}/{}", batch.origin, r.partition);
    // jsonb refuses NUL, both raw and escaped.
    if (HasNul(r.json) || r.json.find("\\u0000") != std::string::npos) {
      extra.push_back({"the document contains a NUL character, which jsonb cannot store", origin,
                       r.position, r.json});
      continue;
    }
    PutFieldCount(5, buffer_);
    PutText(origin, buffer_);
    PutInt64(static_cast<int64_t>(r.position), buffer_);
    if (IsValidUuid(r.key)) {
      PutUuid(r.key, buffer_);
    } else {
      PutNull(buffer_);
    }
    PutJsonb(r.json, buffer_);
    PutTimestamp(landed_at, buffer_);
    ++copy_.rows;
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
