#include "sinks/cassandra_sink.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_writer.h"

namespace spate {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const char* ColumnType(std::string_view column) {
  if (column == "id") return "uuid";
  if (column == "age") return "bigint";
  if (column == "latitude" || column == "longitude") return "double";
  if (column == "ingested_at") return "timestamp";
  return "text";
}

// Cassandra's unquoted identifiers: a letter, then letters, digits and _, at most 48.
bool ValidKeyspace(std::string_view name) {
  if (name.empty() || name.size() > 48) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Errors about the statement rather than the row: every row would meet them, so they stop
// the run instead of filling rejected_users.
bool AboutTheStatement(cql::ErrorCode code, std::string_view message) {
  switch (code) {
    case cql::ErrorCode::kSyntaxError:
    case cql::ErrorCode::kUnauthorized:
    case cql::ErrorCode::kConfigError:
    case cql::ErrorCode::kProtocolError:
    case cql::ErrorCode::kBadCredentials:
    case cql::ErrorCode::kAlreadyExists:
    case cql::ErrorCode::kUnprepared:
      return true;
    case cql::ErrorCode::kInvalid:
      return message.find("unconfigured table") != std::string_view::npos ||
             message.find("does not exist") != std::string_view::npos;
    default:
      return false;
  }
}

// The columns spate writes into `table`, with their types as system_schema.columns names
// them; `id` is the partition key of both tables.
std::vector<std::pair<std::string, std::string>> ExpectedColumns(std::string_view table) {
  std::vector<std::pair<std::string, std::string>> out;
  if (table == "created_users") {
    for (const char* column : kRowColumns) out.emplace_back(column, ColumnType(column));
  } else {
    out = {{"id", "text"},  {"reason", "text"}, {"origin", "text"},          {"position", "bigint"},
           {"item", "int"}, {"raw", "blob"},    {"rejected_at", "timestamp"}};
  }
  return out;
}

// A type as Cassandra reports it, for comparing: varchar is stored as text.
std::string NormalType(std::string_view type) {
  std::string out;
  for (char c : type) {
    if (c != ' ') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out == "varchar" ? "text" : out;
}

// A Rows column as text, for CqlForEachRow.
std::string ColumnText(const cql::Type& type, std::string_view bytes) {
  switch (type.id) {
    case cql::TypeId::kVarchar:
    case cql::TypeId::kAscii:
    case cql::TypeId::kBlob:
      return std::string(bytes);
    default:
      break;
  }
  auto value = cql::DecodeValue(type, bytes);
  if (!value.ok()) return "";
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, cql::Uuid>) {
          return v.ToString();
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> ||
                             std::is_same_v<T, double>) {
          return fmt::format("{}", v);
        } else if constexpr (std::is_same_v<T, cql::Timestamp>) {
          return fmt::format("{}", v.millis);
        } else if constexpr (std::is_same_v<T, cql::Date>) {
          return fmt::format("{}", v.days_since_epoch);
        } else {
          return cql::TypeName(type);  // Collections: spate reads none of them as text.
        }
      },
      value->v);
}

std::string RowJson(const Row& row) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject();
  w.Key("id");
  w.String(row.id);
  w.Key("first_name");
  w.String(row.first_name);
  w.Key("last_name");
  w.String(row.last_name);
  w.Key("email");
  w.String(row.email);
  w.EndObject();
  return out;
}

}  // namespace

CassandraSink::CassandraSink(CassandraSinkOptions options) : options_(std::move(options)) {}
CassandraSink::~CassandraSink() = default;

std::string CassandraSink::Describe() const {
  return fmt::format("cassandra {} keyspace {}", options_.hosts, options_.keyspace);
}

Result<std::vector<std::string>> CassandraSink::SchemaCql(const CassandraSinkOptions& options) {
  if (!ValidKeyspace(options.keyspace)) {
    return Status::Fatal(fmt::format(
        "--keyspace '{}' is not a valid Cassandra keyspace name: use a letter, then letters, "
        "digits or _, at most 48 in all",
        options.keyspace));
  }
  std::string replication;
  if (options.datacenters.empty()) {
    replication = fmt::format("{{'class': 'SimpleStrategy', 'replication_factor': {}}}",
                              options.replication_factor);
  } else {
    replication = "{'class': 'NetworkTopologyStrategy'";
    for (const std::string& dc : options.datacenters) {
      const size_t colon = dc.rfind(':');
      int rf = 0;
      const char* end = dc.data() + dc.size();
      if (colon == std::string::npos || colon == 0 ||
          std::from_chars(dc.data() + colon + 1, end, rf).ptr != end || rf < 1) {
        return Status::Fatal(fmt::format(
            "cassandra_datacenters: '{}' is not DATACENTER:REPLICATION_FACTOR (e.g. dc1:3)", dc));
      }
      const std::string name = dc.substr(0, colon);
      if (name.find('\'') != std::string::npos) {
        return Status::Fatal(fmt::format("cassandra_datacenters: '{}' has a quote", name));
      }
      replication += fmt::format(", '{}': {}", name, rf);
    }
    replication += "}";
  }
  std::string columns;
  for (const char* column : kRowColumns) {
    columns += fmt::format("{} {}{}, ", column, ColumnType(column),
                           std::string_view(column) == "id" ? " PRIMARY KEY" : "");
  }
  columns.resize(columns.size() - 2);
  const std::string& ks = options.keyspace;
  return std::vector<std::string>{
      fmt::format("CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}", ks, replication),
      fmt::format("CREATE TABLE IF NOT EXISTS {}.created_users ({})", ks, columns),
      fmt::format("CREATE TABLE IF NOT EXISTS {}.rejected_users (id text PRIMARY KEY, reason "
                  "text, origin text, position bigint, item int, raw blob, rejected_at timestamp)",
                  ks),
  };
}

Result<std::vector<std::string>> CassandraSink::UpgradeCql(const CassandraSinkOptions& options) {
  if (auto schema = SchemaCql(options); !schema.ok()) return schema.status();
  // rejected_users as spate made it before decisions point 3 (issue 17): no item.
  std::vector<Column> before;
  for (const auto& [name, type] : ExpectedColumns("rejected_users")) {
    if (name != "item") before.push_back({name, name == "id" ? "partition_key" : "regular", type});
  }
  return AlterCql(options.keyspace, "rejected_users", before);
}

Result<std::vector<cql::Value>> CassandraSink::RowValues(const Row& row) {
  auto id = cql::Uuid::Parse(row.id);
  if (!id) return Status::InvalidInput(fmt::format("id '{}' is not a uuid", row.id));
  std::vector<cql::Value> v;
  v.reserve(kRowColumnCount);
  v.push_back(cql::Value::Of(*id));
  for (const std::string_view* text :
       {&row.first_name, &row.last_name, &row.gender, &row.address, &row.post_code, &row.email,
        &row.username, &row.registered_date, &row.phone, &row.picture, &row.dob}) {
    v.push_back(cql::Value::Text(std::string(*text)));
  }
  v.push_back(cql::Value::Bigint(row.age));
  for (const std::string_view* text : {&row.nat, &row.city, &row.state, &row.country}) {
    v.push_back(cql::Value::Text(std::string(*text)));
  }
  v.push_back(cql::Value::Double(row.latitude));
  v.push_back(cql::Value::Double(row.longitude));
  v.push_back(cql::Value::Text(std::string(row.timezone)));
  v.push_back(cql::Value::Text(std::string(row.cell)));
  v.push_back(cql::Value::Of(cql::Timestamp{row.ingested_at_ms}));
  return v;
}

Result<std::unique_ptr<cql::Session>> CassandraSink::Connect(const CassandraSinkOptions& options) {
  auto consistency = cql::ParseConsistency(options.consistency);
  if (!consistency) {
    return Status::Fatal(fmt::format(
        "cassandra_consistency '{}' is not a consistency level (ONE, QUORUM, LOCAL_QUORUM, "
        "LOCAL_ONE, ALL, ...)",
        options.consistency));
  }
  auto hosts = cql::ParseEndpoints(options.hosts);
  if (!hosts.ok()) return hosts.status();
  cql::SessionOptions session;
  session.hosts = std::move(hosts).value();
  session.connection.user = options.user;
  session.connection.password = options.password;
  session.connection.compression = options.compression;
  session.connection.connect_timeout = options.timeout;
  session.consistency = *consistency;
  session.request_timeout = options.timeout;
  auto connected = cql::Session::Connect(std::move(session));
  if (!connected.ok()) return Status::Fatal(connected.status().message());
  return connected;
}

Result<std::vector<std::string>> CassandraSink::AlterCql(std::string_view keyspace,
                                                         std::string_view table,
                                                         const std::vector<Column>& existing) {
  std::vector<std::string> differences;
  std::vector<std::string> partition_key;
  std::vector<std::string> clustering;
  for (const Column& c : existing) {
    if (c.kind == "partition_key") partition_key.push_back(c.name);
    if (c.kind == "clustering") clustering.push_back(c.name);
  }
  if (partition_key != std::vector<std::string>{"id"}) {
    differences.push_back(
        fmt::format("its partition key is ({}), spate's is (id)", fmt::join(partition_key, ", ")));
  }
  if (!clustering.empty()) {
    differences.push_back(fmt::format("it has clustering columns ({}), spate's table has none",
                                      fmt::join(clustering, ", ")));
  }
  std::vector<std::string> alters;
  for (const auto& [name, type] : ExpectedColumns(table)) {
    // A plain reference for the lambda: clang 14 (the fuzz build) cannot capture a
    // structured binding, which C++20 allows.
    const auto& wanted = name;
    auto found = std::find_if(existing.begin(), existing.end(),
                              [&](const Column& c) { return c.name == wanted; });
    if (found == existing.end()) {
      if (name != "id") {  // A missing id is a different key, said above.
        alters.push_back(fmt::format("ALTER TABLE {}.{} ADD {} {}", keyspace, table, name, type));
      }
    } else if (NormalType(found->type) != type) {
      differences.push_back(
          fmt::format("column {} is {}, spate writes {}", name, found->type, type));
    }
  }
  if (!differences.empty()) {
    return Status::Fatal(fmt::format(
        "{}.{} exists but is not the table spate writes: {}. Drop or fix it, or choose another "
        "--keyspace (`spate schema --sink cassandra` prints the CQL spate expects)",
        keyspace, table, fmt::join(differences, "; ")));
  }
  return alters;
}

Status CassandraSink::EnsureSchema(const std::vector<std::string>& schema) {
  // system_schema is local to each node (LocalStrategy): ONE reads that node's copy.
  constexpr auto kLocal = cql::Consistency::kOne;
  std::string ks;  // Unquoted names are stored lower-case.
  for (char c : options_.keyspace)
    ks += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto select = [&](std::string_view cql, std::vector<cql::Value> values,
                    std::vector<std::vector<std::string>>& rows) {
    Status s = CqlForEachRow(*session_, cql, std::move(values), kLocal, 1000,
                             [&](const std::vector<std::string>& row) {
                               rows.push_back(row);
                               return true;
                             });
    if (!s.ok()) {
      return Status::Fatal(fmt::format(
          "cannot read the schema (system_schema, Cassandra 3.0 or later): {}", s.message()));
    }
    return s;
  };
  auto read_columns = [&](const std::string& table, std::vector<Column>& columns) {
    std::vector<std::vector<std::string>> found;
    Status s = select(
        "SELECT column_name, kind, type FROM system_schema.columns WHERE keyspace_name = ? AND "
        "table_name = ?",
        {cql::Value::Text(ks), cql::Value::Text(table)}, found);
    columns.clear();
    for (auto& row : found) {
      if (row.size() == 3) columns.push_back({row[0], row[1], row[2]});
    }
    return s;
  };
  auto run = [&](const std::string& cql, std::string_view what) {
    auto done = session_->Query(cql);
    if (done.ok()) return Status::Ok();
    std::string hint;
    if (done.status().message().find("Unauthorized") != std::string::npos) {
      hint =
          "; have an admin create the keyspace and tables first (`spate schema --sink cassandra` "
          "prints the CQL; README, section Cassandra), or grant the user CREATE";
    } else if (done.status().message().find("Syntax_error") != std::string::npos) {
      hint = "; is the keyspace name a CQL keyword? choose another --keyspace";
    }
    // The message has the statement in it already.
    return Status::Fatal(fmt::format("cannot {}: {}{}", what, done.status().message(), hint));
  };

  bool changed = false;
  std::vector<std::vector<std::string>> rows;
  if (Status s = select("SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                        {cql::Value::Text(ks)}, rows);
      !s.ok()) {
    return s;
  }
  if (rows.empty()) {
    if (Status s = run(schema[0], "create the keyspace"); !s.ok()) return s;
    changed = true;
  }
  rows.clear();
  if (Status s = select("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
                        {cql::Value::Text(ks)}, rows);
      !s.ok()) {
    return s;
  }
  const char* tables[] = {"created_users", "rejected_users"};
  for (size_t i = 0; i < 2; ++i) {
    const std::string table = tables[i];
    const bool exists = std::any_of(
        rows.begin(), rows.end(), [&](const auto& row) { return !row.empty() && row[0] == table; });
    if (!exists) {
      if (Status s = run(schema[1 + i], "create " + table); !s.ok()) return s;
      changed = true;
      continue;
    }
    std::vector<Column> columns;
    if (Status s = read_columns(table, columns); !s.ok()) return s;
    auto alters = AlterCql(ks, table, columns);
    if (!alters.ok()) return alters.status();
    for (const std::string& alter : *alters) {
      auto done = session_->Query(alter);
      if (done.ok()) {
        spdlog::info("cassandra: {} (a column this version of spate writes)", alter);
        changed = true;
        continue;
      }
      const bool unauthorized = done.status().message().find("Unauthorized") != std::string::npos;
      if (!unauthorized) {
        // Another spate starting at the same moment may have added it first ("Column with
        // name ... already exists"): what counts is whether the table now matches.
        if (Status s = read_columns(table, columns); !s.ok()) return s;
        auto still = AlterCql(ks, table, columns);
        if (still.ok() && still->empty()) {
          spdlog::info("cassandra: {}.{} has the columns now ({}: {})", ks, table, alter,
                       done.status().message());
          changed = true;
          break;
        }
      }
      return Status::Fatal(fmt::format(
          "{}.{} lacks columns spate writes, and adding them failed: {}{}", ks, table,
          done.status().message(),
          unauthorized ? fmt::format("; have an admin run: {};", fmt::join(*alters, "; ")) : ""));
    }
  }
  if (changed) session_->WaitForSchemaAgreement(milliseconds(10000));
  return Status::Ok();
}

Status CassandraSink::Open() {
  auto schema = SchemaCql(options_);
  if (!schema.ok()) return schema.status();
  auto connected = Connect(options_);
  if (!connected.ok()) return connected.status();
  session_ = std::move(connected).value();
  if (Status s = EnsureSchema(*schema); !s.ok()) return Fail(s);
  const std::string& ks = options_.keyspace;
  std::string names;
  std::string marks;
  for (const char* column : kRowColumns) {
    names += (names.empty() ? "" : ", ") + std::string(column);
    marks += marks.empty() ? "?" : ", ?";
  }
  auto row = session_->Prepare(
      fmt::format("INSERT INTO {}.created_users ({}) VALUES ({})", ks, names, marks));
  if (!row.ok()) {
    return Fail(Status::Fatal(fmt::format(
        "cannot prepare the INSERT into {}.created_users: {} (if the table was made by something "
        "else, its columns must be: {})",
        ks, row.status().message(), names)));
  }
  insert_row_ = std::move(row).value();
  auto dead = session_->Prepare(fmt::format(
      "INSERT INTO {}.rejected_users (id, reason, origin, position, item, raw, rejected_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)",
      ks));
  if (!dead.ok()) {
    return Fail(Status::Fatal(fmt::format("cannot prepare the INSERT into {}.rejected_users: {}",
                                          ks, dead.status().message())));
  }
  insert_dead_ = std::move(dead).value();
  spdlog::info("{}: connected to {} of {} nodes, consistency {}", Describe(), session_->hosts_up(),
               cql::ParseEndpoints(options_.hosts).value().size(),
               cql::ConsistencyName(*cql::ParseConsistency(options_.consistency)));
  return Status::Ok();
}

Status CassandraSink::Fail(Status status) {
  session_.reset();
  return status;
}

Status CassandraSink::Write(const Batch& batch) {
  if (!session_) return Status::Fatal("cassandra: the sink is not open");
  // One item per INSERT: a row, or a dead letter (from the batch, or a row the server
  // refused).
  struct Item {
    const Row* row = nullptr;
    DeadLetter dead;
    int attempts = 0;
  };
  std::vector<Item> items;
  items.reserve(batch.rows.size() + batch.dead.size());
  for (const Row& row : batch.rows) items.push_back({&row, {}, 0});
  for (const DeadLetter& dead : batch.dead) items.push_back({nullptr, dead, 0});

  std::deque<size_t> ready;
  for (size_t i = 0; i < items.size(); ++i) ready.push_back(i);
  std::vector<std::pair<Clock::time_point, size_t>> delayed;  // Retries waiting their turn.
  size_t done = 0;
  Status failure;  // Once set, nothing more is sent; what is in flight is waited for.
  std::vector<cql::Completion> completions;
  size_t retried = 0;
  std::string first_retry;
  uint64_t refused = 0;  // Counted only if the whole Write succeeds.

  auto dead_values = [](const DeadLetter& d) {
    return std::vector<cql::Value>{
        cql::Value::Text(DeadLetterId(d)),
        cql::Value::Text(d.reason),
        cql::Value::Text(d.origin),
        cql::Value::Bigint(static_cast<int64_t>(d.position)),
        cql::Value::Int(static_cast<int32_t>(d.item)),
        cql::Value::Text(d.raw),  // Sent as blob bytes: no UTF-8 check on the way.
        cql::Value::Of(cql::Timestamp{NowUnixMillis()}),
    };
  };

  while (done < items.size() && (failure.ok() || session_->in_flight() > 0)) {
    if (interrupted_) {
      session_.reset();  // Answers still in flight must not reach a later Write.
      return Status::Cancelled("cassandra: interrupted");
    }
    const auto now = Clock::now();
    for (auto it = delayed.begin(); it != delayed.end();) {
      if (it->first <= now) {
        ready.push_back(it->second);
        it = delayed.erase(it);
      } else {
        ++it;
      }
    }
    while (failure.ok() && !ready.empty() && session_->in_flight() < options_.max_in_flight) {
      const size_t i = ready.front();
      ready.pop_front();
      Item& item = items[i];
      if (item.row != nullptr) {
        auto values = RowValues(*item.row);
        if (!values.ok()) {
          item.dead = {values.status().message(), batch.origin, 0, RowJson(*item.row)};
          item.row = nullptr;
          ++refused;
          values = dead_values(item.dead);
        }
        session_->Execute(item.row ? insert_row_ : insert_dead_, std::move(values).value(), i);
      } else {
        session_->Execute(insert_dead_, dead_values(item.dead), i);
      }
    }
    milliseconds wait(100);
    if (session_->in_flight() == 0 && !delayed.empty()) {
      const auto next = std::min_element(delayed.begin(), delayed.end())->first;
      wait = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(next - now));
    }
    completions.clear();
    session_->Poll(wait, completions);
    for (cql::Completion& c : completions) {
      Item& item = items[c.tag];
      if (c.status.ok()) {
        ++done;
        continue;
      }
      // Write_failure is not retriable by the protocol's book, but it is rarely the row's
      // fault (a replica that does not know the table yet, a disk error on one node): retry
      // it like a timeout, and if it persists stop the run rather than drop a good row.
      const bool write_failure = c.code == cql::ErrorCode::kWriteFailure;
      if (c.status.retriable() || write_failure) {
        if (++item.attempts >= options_.max_attempts) {
          if (failure.ok()) {
            std::string text =
                fmt::format("{} (after {} attempts)", c.status.message(), item.attempts);
            failure =
                write_failure ? Status::Fatal(std::move(text)) : Status::Retriable(std::move(text));
          }
          continue;
        }
        const auto backoff = std::min(
            options_.backoff_max, options_.backoff_initial * (1 << std::min(item.attempts, 16)));
        spdlog::debug("{}; retrying in {} ms", c.status.message(), backoff.count());
        if (retried++ == 0) first_retry = c.status.message();
        delayed.emplace_back(Clock::now() + backoff, c.tag);
        continue;
      }
      const bool statement = !c.code || AboutTheStatement(*c.code, c.status.message());
      if (statement || item.row == nullptr) {
        if (failure.ok()) failure = Status::Fatal(c.status.message());
        continue;
      }
      // The server refused this one row: it goes to rejected_users, with the server's reason.
      spdlog::warn("cassandra refused the row with id {}: {}", item.row->id, c.status.message());
      item.dead = {c.status.message(), batch.origin, 0, RowJson(*item.row)};
      item.row = nullptr;
      item.attempts = 0;
      ++refused;
      ready.push_back(c.tag);
    }
  }
  if (retried > 0) {
    spdlog::info("cassandra: {} writes of this batch were retried (the first: {})", retried,
                 first_retry);
  }
  if (!failure.ok()) return failure;
  refused_ += refused;
  return Status::Ok();
}

Status CassandraSink::Close() {
  session_.reset();
  return Status::Ok();
}

Status CqlForEachRow(cql::Session& session, std::string_view cql, std::vector<cql::Value> values,
                     cql::Consistency consistency, int32_t page_size,
                     const std::function<bool(const std::vector<std::string>&)>& on_row) {
  cql::QueryParams params;
  params.consistency = consistency;
  params.values = std::move(values);
  params.page_size = page_size;
  std::vector<std::string> texts;
  for (;;) {
    auto page = session.Query(cql, params);
    if (!page.ok()) return page.status();
    if (page->message.kind != cql::ResultKind::kRows) {
      return Status::Fatal(fmt::format("cassandra: {}: the answer has no rows", cql));
    }
    const cql::RowsResult& rows = page->message.rows;
    for (const auto& row : rows.rows) {
      texts.clear();
      for (size_t c = 0; c < row.size() && c < rows.columns.size(); ++c) {
        texts.push_back(row[c] ? ColumnText(rows.columns[c].type, *row[c]) : std::string());
      }
      if (!on_row(texts)) return Status::Ok();
    }
    if (!rows.paging_state) return Status::Ok();
    if (rows.paging_state == params.paging_state) {
      // Asked for the same page again, a server would answer the same forever: a bounded read
      // of what a broken or hostile node sends, not an endless loop.
      return Status::Fatal(fmt::format(
          "cassandra: {}: the node answered with the paging state it was sent (it would never "
          "get to the end); is it a Cassandra node?",
          cql));
    }
    params.paging_state = rows.paging_state;
  }
}

}  // namespace spate
