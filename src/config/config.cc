#include "config/config.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/json_writer.h"
#include "core/text.h"

namespace spate {
namespace {

// The table. Adding an option means adding a row here; flags, YAML keys, validation and
// --help all follow from it.
const std::vector<PropertyDef>& Table() {
  static const std::vector<PropertyDef> table = {
      // Sources.
      {"source",
       PropType::kString,
       "generator",
       "Where records come from: generator (built-in, deterministic), randomuser (HTTP API), "
       "file (API response or JSON Lines from --input)",
       {"generator", "randomuser", "file"}},
      {"count",
       PropType::kInt,
       "100000",
       "Records to ingest, then stop; 0 = no limit (until the input ends or Ctrl-C). "
       "--source file reads the whole input unless --count is given",
       {},
       0},
      {"seed", PropType::kString, "spate",
       "Seed for the generator and the API's seed+page paging: same seed, same users"},
      {"nat",
       PropType::kList,
       "",
       "Nationalities to draw from (comma list of AU BR CA CH DE DK ES FI FR GB IE IN IR MX NL "
       "NO NZ RS TR UA US)",
       {},
       0,
       INT64_MAX,
       false,
       {},
       true,
       {},
       /*default_text=*/"all"},
      {"url", PropType::kString, "https://randomuser.me/api/",
       "Base URL of a randomuser-compatible API (source randomuser)"},
      {"page_size",
       PropType::kInt,
       "5000",
       "Users per API request (the API's results parameter, 1..5000)",
       {},
       1,
       5000},
      {"timeout",
       PropType::kDuration,
       "30s",
       "Timeout of one HTTP request, with a unit (e.g. 500ms, 30s, 2m)",
       {},
       1},
      {"connect_timeout", PropType::kDuration, "10s", "Timeout to connect to the API", {}, 1},
      {"retries",
       PropType::kInt,
       "5",
       "Retries of a failed request (HTTP 429, 5xx, network errors) before giving up",
       {},
       0,
       100},
      {"retry_backoff", PropType::kDuration, "500ms",
       "First wait before a retry; doubles each attempt (with jitter)"},
      {"retry_backoff_max", PropType::kDuration, "30s", "Longest wait between retries"},
      {"input", PropType::kString, "-",
       "File for source file: an API response document or JSON Lines; - reads stdin"},
      // Pipeline.
      {"batch_size",
       PropType::kInt,
       "1000",
       "Records per batch between stages and per sink transaction",
       {},
       1,
       100000},
      {"queue_capacity",
       PropType::kInt,
       "8",
       "Batches each bounded queue holds; a full queue slows the stage before it",
       {},
       1,
       4096},
      {"max_record_bytes",
       PropType::kInt,
       "1048576",
       "Larger records are dead-lettered (a 4 KiB prefix) and reading goes on; on every path "
       "(file, HTTP, produce, process). Also caps an HTTP page's decoded body at page size x "
       "this + 1 MiB",
       {},
       1024,
       1LL << 30},
      // Analytics (issue 19): where rows are made (run, process), before the sinks.
      {"where",
       PropType::kString,
       "",
       "Store only the rows that satisfy this predicate, a SQL WHERE clause over the row's "
       "columns (= != < <= > >=, in (...), between, like, matches 'regex', is empty, and, or, "
       "not, parentheses; text in single quotes), e.g. --where \"gender = 'female' and age >= "
       "30\" or --where \"country in ('Germany', 'France')\". Other rows are counted as "
       "filtered, not rejected. YAML: where: or filter:",
       {},
       0,
       INT64_MAX,
       false,
       "filter",
       true,
       {},
       /*default_text=*/"every row"},
      [] {
        PropertyDef def{"rule", PropType::kList, "",
                        "A data-quality rule NAME:ACTION:CHECK (repeatable): a good row satisfies "
                        "CHECK (a --where predicate); ACTION reject sends a row that breaks it to "
                        "the dead letters with the reason 'rule NAME: CHECK', count stores it and "
                        "counts it. E.g. --rule valid_email:reject:\"email matches "
                        "'^[^@ ]+@[^@ ]+$'\". YAML: rules: a list of mappings with name, check "
                        "and action"};
        def.yaml_alias = "rules";
        def.split_commas = false;  // Checks hold commas: in ('a', 'b').
        def.mapping_items = true;
        def.default_text = "none";
        return def;
      }(),
      [] {
        PropertyDef def{
            "aggregate", PropType::kList, "",
            "A windowed aggregation kept exact in its own table next to created_users (sqlite, "
            "postgres), NAME:WINDOW[:COLUMN,...] (repeatable): rows counted per window of event "
            "time (ingested_at) and group, e.g. --aggregate "
            "users_per_minute_by_country:1m:country; "
            "or a JSON object with name, window, slide, lateness, group_by and agg (avg(age), "
            "max(age)...). YAML: aggregations: a list of mappings with the same keys"};
        def.yaml_alias = "aggregations";
        def.split_commas = false;  // NAME:1m:country,gender is one aggregation.
        def.mapping_items = true;
        def.default_text = "none";
        return def;
      }(),
      // Real time.
      {"rate",
       PropType::kInt,
       "0",
       "Records per second the source hands out, as a steady stream (a batch moves on when "
       "full or after --linger, and a stalled sink is caught up by at most one batch); 0 = as "
       "fast as possible",
       {},
       0,
       100'000'000},
      {"duration",
       PropType::kDuration,
       "0",
       "Stop the source after this long, with a unit (e.g. 60s, 10m): a normal end, like "
       "reaching --count; what was ingested is still stored. Given without --count, there is "
       "no count limit; 0 = no time limit",
       {},
       0},
      {"linger",
       PropType::kDuration,
       "5ms",
       "The longest a partial batch waits for more records before it moves on (with --rate, "
       "on a quiet pipe or stdin, in Kafka consume and produce), so a slow stream is not held "
       "back; 0 = never wait",
       {},
       0},
      // Sinks.
      {"sink",
       PropType::kList,
       "sqlite",
       "Where rows go (repeatable): sqlite (under --data-dir), postgres (--pg-dsn), cassandra "
       "(--cassandra-hosts), discard (stores nothing; for measuring)",
       {"sqlite", "postgres", "cassandra", "discard"}},
      {"raw_sink",
       PropType::kList,
       "",
       "Where the ingest stage lands each raw record (login secrets removed) before sending it "
       "on: postgres (raw_users, as jsonb with its source position)",
       {"postgres"}},
      {"pg_dsn",
       PropType::kString,
       "",
       "PostgreSQL connection string (host=... dbname=... user=... or postgresql://...); "
       "unset parts come from libpq's PG* variables (PGHOST, PGUSER, PGPASSWORD...). Never "
       "logged",
       {},
       0,
       INT64_MAX,
       /*secret=*/true,
       {},
       true,
       "SPATE_PG_DSN"},
      {"pg_timeout",
       PropType::kDuration,
       "10s",
       "How long to wait for PostgreSQL to accept a connection",
       {},
       1},
      {"cassandra_hosts", PropType::kString, "127.0.0.1:9042",
       "Cassandra nodes, HOST[:PORT][,HOST[:PORT]...] (port 9042 if not given). spate connects "
       "to each and sends every write to the node that owns its token: list them all"},
      {"keyspace", PropType::kString, "spark_streams",
       "Cassandra keyspace of created_users and rejected_users (created if missing)"},
      {"cassandra_user",
       PropType::kString,
       "",
       "Cassandra user (PasswordAuthenticator); empty = no login",
       {},
       0,
       INT64_MAX,
       false,
       {},
       true,
       "SPATE_CASSANDRA_USER"},
      {"cassandra_password",
       PropType::kString,
       "",
       "Password of cassandra_user. Never logged",
       {},
       0,
       INT64_MAX,
       /*secret=*/true,
       {},
       true,
       "SPATE_CASSANDRA_PASSWORD"},
      {"cassandra_consistency",
       PropType::kString,
       "LOCAL_QUORUM",
       "Consistency level of each write: a row counts as stored when this many replicas have "
       "it (LOCAL_QUORUM: a majority in the local datacenter)",
       {"ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"}},
      {"cassandra_replication_factor",
       PropType::kInt,
       "1",
       "Replication factor of a keyspace spate creates (SimpleStrategy)",
       {},
       1,
       100},
      {"cassandra_datacenters", PropType::kList, "",
       "DC:RF items (e.g. dc1:3,dc2:2): create the keyspace with NetworkTopologyStrategy "
       "instead"},
      {"cassandra_in_flight",
       PropType::kInt,
       "512",
       "Writes in flight at once across the Cassandra nodes",
       {},
       1,
       32768},
      {"cassandra_compression",
       PropType::kString,
       "lz4",
       "Compression of CQL frames (when the node offers it): lz4 or none",
       {"lz4", "none"}},
      {"cassandra_timeout",
       PropType::kDuration,
       "12s",
       "How long to wait for a Cassandra node to accept a connection or answer a request",
       {},
       1},
      {"data_dir", PropType::kString, "./spate-data",
       "Directory for the SQLite database (spate.db) and other local state"},
      // Kafka (produce, process, run --transport kafka).
      {"transport",
       PropType::kString,
       "memory",
       "Between ingest and processing in `spate run`: memory (a bounded in-process queue) or "
       "kafka (produce to --topic and consume it back, as produce + process would)",
       {"memory", "kafka"}},
      {"brokers", PropType::kString, "127.0.0.1:9092",
       "Kafka bootstrap servers, HOST:PORT[,HOST:PORT...]"},
      {"topic", PropType::kString, "users_created",
       "Kafka topic of raw user records (key: login.uuid)"},
      {"dlq_topic", PropType::kString, "",
       "Kafka topic for dead letters, reason in a header (default: <topic>.dlq)"},
      {"group", PropType::kString, "spate",
       "Consumer group of `spate process`; copies with the same group share the partitions"},
      {"from",
       PropType::kString,
       "earliest",
       "Where a group without committed offsets starts reading: earliest or latest",
       {"earliest", "latest"}},
      {"exit_at_end", PropType::kBool, "false",
       "Exit once every partition is read up to where it ended at start (a backfill), instead "
       "of waiting for new records"},
      {"partitions",
       PropType::kInt,
       "6",
       "Partitions of a topic spate creates because it is missing",
       {},
       1,
       100000},
      {"replication_factor",
       PropType::kInt,
       "1",
       "Replication factor of a topic spate creates because it is missing",
       {},
       1,
       100},
      {"compression",
       PropType::kString,
       "lz4",
       "Compression of produced batches",
       {"lz4", "zstd", "snappy", "gzip", "none"}},
      {"kafka_timeout",
       PropType::kDuration,
       "10s",
       "How long to wait for the Kafka cluster to answer at start before failing",
       {},
       1},
      {"delivery_timeout",
       PropType::kDuration,
       "2m",
       "How long the producer retries a record (broker down) before its batch is resubmitted",
       {},
       1},
      {"kafka_opt",
       PropType::kList,
       "",
       "librdkafka property key=value, passed through (repeatable; YAML: a kafka: map), e.g. "
       "security.protocol=SASL_SSL. Values of secret keys are never logged",
       {},
       0,
       INT64_MAX,
       false,
       "kafka",
       false},
      // spate schedule (issue 20): the jobs file.
      [] {
        PropertyDef def{"jobs", PropType::kList, "",
                        "The jobs of `spate schedule` (YAML only): a list of mappings with name, "
                        "schedule, run, options, retries... (docs/scheduling.md)"};
        def.split_commas = false;  // Each item is one JSON object.
        def.mapping_items = true;
        def.nested_key = "options";
        def.default_text = "none";
        return def;
      }(),
      {"history_store",
       PropType::kString,
       "sqlite",
       "Where `spate schedule` keeps the run history: sqlite (DATA_DIR/schedule.db) or postgres "
       "(--pg-dsn, table spate_runs)",
       {"sqlite", "postgres"}},
      {"timezone", PropType::kString, "UTC",
       "The time zone of the jobs' schedules and dates unless a job gives its own: an IANA name "
       "(UTC, Europe/Berlin, America/New_York)"},
      // Interface.
      {"progress",
       PropType::kString,
       "auto",
       "Progress line on stderr: auto (when stderr is a terminal), always, never",
       {"auto", "always", "never"}},
      {"log_level",
       PropType::kString,
       "info",
       "Log level",
       {"trace", "debug", "info", "warn", "error", "off"}},
      {"http",
       PropType::kString,
       "",
       "Serve a live dashboard (/), Prometheus metrics (/metrics), /healthz, /readyz and JSON "
       "(/api/...) while the command runs, at ADDR: HOST:PORT, :PORT or PORT (e.g. 9464; port 0 "
       "picks a free one and the URL is logged). The host is 127.0.0.1 unless given; "
       "0.0.0.0:PORT exposes it to the network, without authentication",
       {},
       0,
       INT64_MAX,
       false,
       {},
       true,
       {},
       /*default_text=*/"off"},
      // mock-api.
      {"host", PropType::kString, "127.0.0.1",
       "Address the mock API listens on (loopback unless you mean otherwise)"},
      {"port",
       PropType::kInt,
       "8080",
       "Port the mock API listens on; 0 picks a free one",
       {},
       0,
       65535},
      // query.
      {"samples", PropType::kInt, "5", "Sample rows `spate query` prints", {}, 0, 1000},
  };
  return table;
}

std::string Normalize(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string Suggestion(std::string_view key) {
  std::vector<std::string_view> names;
  for (const PropertyDef& def : Table()) names.push_back(def.name);
  return DidYouMean(key, names);
}

// How a value appears in a message: secrets (a DSN, a password) never do.
std::string Shown(const PropertyDef& def, std::string_view value) {
  return def.secret ? std::string("(the value is secret, not shown)") : fmt::format("'{}'", value);
}

// Properties whose empty value would be misread rather than rejected further on: an empty
// data_dir puts spate.db at the root of the file system, an empty topic or broker list
// fails deep inside librdkafka with a message about something else.
bool MustNotBeEmpty(std::string_view name) {
  for (std::string_view n : {"data_dir", "input", "url", "brokers", "topic", "group",
                             "cassandra_hosts", "keyspace", "host"}) {
    if (n == name) return true;
  }
  return false;
}

Status Validate(const PropertyDef& def, std::string_view value) {
  // C libraries (SQLite, libpq, librdkafka) would read such a value only up to the NUL.
  if (value.find('\0') != std::string_view::npos) {
    return Status::Fatal(fmt::format("{}: the value contains a NUL character", def.name));
  }
  if (value.empty() && MustNotBeEmpty(def.name)) {
    return Status::Fatal(fmt::format("{}: needs a non-empty value", def.name));
  }
  if (def.name == "http" && !value.empty()) {
    if (auto address = ParseListenAddress(value); !address.ok()) {
      return address.status().WithContext("http");
    }
  }
  if (def.name == "data_dir" && value.starts_with("file:")) {
    // SQLite would take "file:x?mode=memory" as a URI and store nothing on disk.
    return Status::Fatal(fmt::format(
        "data_dir: '{}' looks like a SQLite URI, but a data dir is a directory path; for a "
        "directory of that name write ./{}",
        value, value));
  }
  switch (def.type) {
    case PropType::kInt: {
      int64_t v = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec == std::errc::result_out_of_range) {
        return Status::Fatal(fmt::format("{}: {} is out of range [{}, {}]", def.name,
                                         Shown(def, value), def.min, def.max));
      }
      if (ec != std::errc() || end != value.data() + value.size()) {
        return Status::Fatal(fmt::format("{}: {} is not an integer (write digits only, e.g. {})",
                                         def.name, Shown(def, value), def.default_value));
      }
      if (v < def.min || v > def.max) {
        return Status::Fatal(
            fmt::format("{}: {} is out of range [{}, {}]", def.name, v, def.min, def.max));
      }
      return Status::Ok();
    }
    case PropType::kBool:
      if (value == "true" || value == "false") return Status::Ok();
      return Status::Fatal(fmt::format("{}: {} is not true or false", def.name, Shown(def, value)));
    case PropType::kDuration: {
      auto parsed = ParseDurationMillis(value);
      if (!parsed.ok()) return parsed.status().WithContext(def.name);
      const int64_t max = std::min(def.max, kMaxDurationMillis);
      if (parsed.value() < def.min || parsed.value() > max) {
        return Status::Fatal(
            fmt::format("{}: '{}' is out of range [{}ms, {}ms]", def.name, value, def.min, max));
      }
      return Status::Ok();
    }
    case PropType::kString:
    case PropType::kList:
      if (def.choices.empty() ||
          std::find(def.choices.begin(), def.choices.end(), value) != def.choices.end()) {
        return Status::Ok();
      }
      return Status::Fatal(fmt::format("{}: {} is not one of: {}", def.name, Shown(def, value),
                                       fmt::join(def.choices, ", ")));
  }
  return Status::Ok();
}

// When a property is read at all: `property` is read only if `on` (a property the command
// takes) has one of `values` (for a list: contains one). Several rows for one property: any.
struct Applicability {
  std::string_view property;
  std::string_view on;
  std::string_view value;
};

const std::vector<Applicability>& ApplicabilityTable() {
  static const std::vector<Applicability> table = [] {
    std::vector<Applicability> t;
    t.push_back({"input", "source", "file"});
    for (std::string_view p : {"url", "page_size", "timeout", "connect_timeout", "retries",
                               "retry_backoff", "retry_backoff_max"}) {
      t.push_back({p, "source", "randomuser"});
    }
    for (std::string_view p : {"seed", "nat"}) {
      t.push_back({p, "source", "generator"});
      t.push_back({p, "source", "randomuser"});
    }
    for (std::string_view p : {"pg_dsn", "pg_timeout"}) {
      t.push_back({p, "sink", "postgres"});
      t.push_back({p, "raw_sink", "postgres"});
      // spate schedule, runs, trigger, backfill: the run history.
      t.push_back({p, "history_store", "postgres"});
    }
    for (std::string_view p :
         {"cassandra_hosts", "keyspace", "cassandra_user", "cassandra_password",
          "cassandra_consistency", "cassandra_replication_factor", "cassandra_datacenters",
          "cassandra_in_flight", "cassandra_compression", "cassandra_timeout"}) {
      t.push_back({p, "sink", "cassandra"});
    }
    // run reads these only with --transport kafka (produce and process always do).
    for (std::string_view p :
         {"brokers", "topic", "dlq_topic", "group", "from", "kafka_opt", "partitions",
          "kafka_timeout", "replication_factor", "compression", "delivery_timeout"}) {
      t.push_back({p, "transport", "kafka"});
    }
    return t;
  }();
  return table;
}

// One YAML mapping of a mapping_items list (an aggregation, a rule, a job) as a compact JSON
// object: scalars as strings, a list of scalars as an array of strings, and under
// `nested_key` (a job's options) a mapping of the same. The module that reads the property
// parses that object; anything nested deeper has no meaning there, so it is an error here,
// where the line is still known.
Result<std::string> MappingItemJson(const YAML::Node& item, std::string_view origin,
                                    std::string_view key, std::string_view nested_key) {
  std::string json;
  JsonWriter out(json);
  constexpr std::string_view kTooDeep =
      "{}: line {}: {}: '{}' is nested too deep: give a value or a list of plain values ([a, b])";
  // Writes one mapping's entries; `prefix` names them in messages ("options.count").
  auto write_mapping = [&](const YAML::Node& mapping, const std::string& prefix, bool allow_nested,
                           auto& self) -> Status {
    out.BeginObject();
    std::map<std::string, bool> names;
    for (const auto& entry : mapping) {
      const int line = entry.first.Mark().line + 1;
      if (!entry.first.IsScalar()) {
        return Status::Fatal(
            fmt::format("{}: line {}: {}: a key must be a plain name, not a list or mapping",
                        origin, line, key));
      }
      const std::string name = prefix + entry.first.Scalar();
      if (name.find('\0') != std::string::npos) {
        return Status::Fatal(
            fmt::format("{}: line {}: {}: a key contains a NUL character", origin, line, key));
      }
      if (!names.emplace(entry.first.Scalar(), true).second) {
        return Status::Fatal(
            fmt::format("{}: line {}: {}: '{}' is given twice: keep one", origin, line, key, name));
      }
      const YAML::Node& value = entry.second;
      auto plain = [&](const YAML::Node& node) -> Status {
        if (node.Scalar().find('\0') != std::string::npos) {
          return Status::Fatal(fmt::format("{}: line {}: {}: '{}' contains a NUL character", origin,
                                           line, key, name));
        }
        return Status::Ok();
      };
      out.Key(entry.first.Scalar());
      if (value.IsScalar()) {
        if (Status s = plain(value); !s.ok()) return s;
        out.String(value.Scalar());
      } else if (value.IsSequence()) {
        out.BeginArray();
        for (const auto& element : value) {
          if (!element.IsScalar()) {
            return Status::Fatal(
                fmt::format(fmt::runtime(kTooDeep), origin, element.Mark().line + 1, key, name));
          }
          if (Status s = plain(element); !s.ok()) return s;
          out.String(element.Scalar());
        }
        out.EndArray();
      } else if (value.IsNull()) {
        return Status::Fatal(
            fmt::format("{}: line {}: {}: '{}' has no value", origin, line, key, name));
      } else if (value.IsMap() && allow_nested && entry.first.Scalar() == nested_key) {
        if (Status s = self(value, name + ".", false, self); !s.ok()) return s;
      } else {
        return Status::Fatal(fmt::format(fmt::runtime(kTooDeep), origin, line, key, name));
      }
    }
    out.EndObject();
    return Status::Ok();
  };
  if (Status s = write_mapping(item, std::string(), !nested_key.empty(), write_mapping); !s.ok()) {
    return s;
  }
  return json;
}

const PropertyDef& MustFind(std::string_view name) {
  const PropertyDef* def = FindProperty(name);
  assert(def != nullptr && "unknown property name in code");
  return *def;
}

}  // namespace

std::span<const PropertyDef> AllProperties() { return Table(); }

const PropertyDef* FindProperty(std::string_view name) {
  const std::string key = Normalize(name);
  for (const PropertyDef& def : Table()) {
    if (def.name == key) return &def;
  }
  return nullptr;
}

const PropertyDef* FindYamlKey(std::string_view key) {
  if (const PropertyDef* def = FindProperty(key)) return def;
  const std::string normalized = Normalize(key);
  for (const PropertyDef& def : Table()) {
    if (!def.yaml_alias.empty() && def.yaml_alias == normalized) return &def;
  }
  return nullptr;
}

std::string DidYouMean(std::string_view key, std::span<const std::string_view> names) {
  std::string_view best;
  size_t best_distance = 3;  // Further than this is not a typo.
  for (std::string_view name : names) {
    const size_t d = EditDistance(key, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", best);
}

std::string PropertySuggestion(std::string_view key) { return Suggestion(Normalize(key)); }

Result<int64_t> ParseDurationMillis(std::string_view text) {
  int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec == std::errc::result_out_of_range) {
    return Status::Fatal(fmt::format("'{}' is too long", text));
  }
  if (ec != std::errc() || number < 0) {
    return Status::Fatal(fmt::format("'{}' is not a duration (e.g. 500ms, 10s, 2m)", text));
  }
  const std::string_view unit(end, text.data() + text.size() - end);
  int64_t scale = 0;
  if (unit.empty()) {
    // "5" has been read as 5 ms by someone who meant 5 s: say which, unless it is 0 either way.
    if (number == 0) return 0;
    return Status::Fatal(
        fmt::format("'{}' has no unit: write {}s for seconds or {}ms for milliseconds (also m, h)",
                    text, number, number));
  }
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  } else {
    return Status::Fatal(fmt::format("'{}' has an unknown unit (use ms, s, m or h)", text));
  }
  if (number > INT64_MAX / scale) return Status::Fatal(fmt::format("'{}' is too long", text));
  return number * scale;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  constexpr std::string_view kForms = "HOST:PORT, :PORT or PORT, e.g. 127.0.0.1:9464";
  ListenAddress address;
  std::string_view port_text = text;
  std::string_view host;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::Fatal(
          fmt::format("'{}' is not an address: write an IPv6 host in brackets with a port, e.g. "
                      "[::1]:9464",
                      text));
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    in6_addr v6{};
    if (host.empty() || inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return Status::Fatal(fmt::format("'{}': '{}' is not an IPv6 address", text, host));
    }
    address.ipv6 = true;
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Status::Fatal(fmt::format(
          "'{}' is not an address: write an IPv6 host in brackets, e.g. [::1]:9464", text));
    }
  }
  if (port_text.empty()) {
    return Status::Fatal(fmt::format("'{}' has no port: write {}", text, kForms));
  }
  int port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return Status::Fatal(
        fmt::format("'{}': '{}' is not a port (0 to 65535; 0 picks a free one); write {}", text,
                    port_text, kForms));
  }
  address.port = port;
  if (address.ipv6) {
    address.host = std::string(host);
    return address;
  }
  // A literal address or localhost: a name would be looked up in DNS at every start and
  // could bind somewhere the user did not mean.
  if (host.empty()) host = "127.0.0.1";
  in_addr v4{};
  if (host != "localhost" && inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
    return Status::Fatal(fmt::format("'{}': '{}' is not an IPv4 address (or localhost); write {}",
                                     text, host, kForms));
  }
  address.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  return address;
}

std::string ListenAddress::UrlHost() const { return ipv6 ? "[" + host + "]" : host; }

std::string FlagName(std::string_view property) {
  std::string flag = "--" + std::string(property);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

std::string HelpText(const PropertyDef& def) {
  std::string text(def.help);
  if (!def.choices.empty() && def.help.find(def.choices.front()) == std::string_view::npos) {
    text += fmt::format(" [{}]", fmt::join(def.choices, "|"));
  }
  if (!def.env.empty()) text += fmt::format(" (env {})", def.env);
  if (!def.secret && def.help.find("(default") == std::string_view::npos) {
    const std::string_view shown = !def.default_text.empty()   ? def.default_text
                                   : def.default_value.empty() ? std::string_view("none")
                                                               : def.default_value;
    text += fmt::format(" (default: {})", shown);
  }
  return text;
}

Status Config::LoadEnvironment() {
  for (const PropertyDef& def : AllProperties()) {
    if (def.env.empty()) continue;
    const char* value = std::getenv(std::string(def.env).c_str());
    if (value == nullptr) continue;
    // Validation messages never show a secret property's value, and these hold credentials.
    if (Status s = Set(def.name, value); !s.ok()) {
      return Status::Fatal(fmt::format("environment variable {}: {}", def.env, s.message()));
    }
    SetOrigin(def.name, std::string(def.env));
  }
  return Status::Ok();
}

Status Config::Set(std::string_view name, std::string_view value) {
  const PropertyDef* def = FindProperty(name);
  if (def == nullptr) return Status::Fatal(fmt::format("unknown option '{}'", name));
  if (def->type == PropType::kList) {
    return SetList(
        name, def->split_commas ? SplitComma(value) : std::vector<std::string>{std::string(value)});
  }
  if (Status s = Validate(*def, value); !s.ok()) return s;
  values_[std::string(def->name)] = {std::string(value)};
  return Status::Ok();
}

Status Config::SetList(std::string_view name, const std::vector<std::string>& values) {
  const PropertyDef* def = FindProperty(name);
  if (def == nullptr) return Status::Fatal(fmt::format("unknown option '{}'", name));
  std::vector<std::string> flat;
  for (const std::string& v : values) {
    if (!def->split_commas) {
      flat.push_back(v);
      continue;
    }
    for (std::string& part : SplitComma(v)) flat.push_back(std::move(part));
  }
  if (def->type != PropType::kList && flat.size() != 1) {
    return Status::Fatal(fmt::format("{}: takes one value, got {}", def->name, flat.size()));
  }
  for (const std::string& v : flat) {
    if (Status s = Validate(*def, v); !s.ok()) return s;
  }
  values_[std::string(def->name)] = std::move(flat);
  return Status::Ok();
}

Status Config::LoadYamlFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, and nothing can
  // interrupt that wait but a signal handler; fstat then says what the path is before any
  // read. For a regular file O_NONBLOCK changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    return Status::Fatal(fmt::format("cannot read config file '{}': {}", path, std::strerror(err)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return Status::Fatal(fmt::format("cannot read config file '{}': {}", path, std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    return Status::Fatal(fmt::format(
        "config file '{}' is {}: --config takes a YAML file of option: value lines", path, what));
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigFileBytes) {
    return Status::Fatal(fmt::format("config file '{}' is {} bytes, more than a config file's {}",
                                     path, st.st_size, kMaxConfigFileBytes));
  }
  std::string text;
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return Status::Fatal(
          fmt::format("cannot read config file '{}': {}", path, std::strerror(err)));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {  // It grew while we read it.
      return Status::Fatal(
          fmt::format("config file '{}' is more than {} bytes", path, kMaxConfigFileBytes));
    }
  }
  return LoadYamlString(text, fmt::format("config file '{}'", path));
}

Status Config::LoadYamlString(std::string_view yaml, std::string_view origin) {
  if (yaml.find('\0') != std::string_view::npos) {
    return Status::Fatal(
        fmt::format("{}: contains NUL bytes, so it is not a YAML text file", origin));
  }
  // yaml-cpp reports errors by throwing, and not only YAML::Exception (a conversion of a
  // node of the wrong shape, std::bad_alloc): nothing may escape this function.
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    return LoadYamlNode(root, origin);
  } catch (const YAML::Exception& e) {
    return Status::Fatal(fmt::format("{}: not valid YAML: {}", origin, e.what()));
  } catch (const std::exception& e) {
    return Status::Fatal(fmt::format("{}: cannot be read: {}", origin, e.what()));
  }
}

Status Config::LoadYamlNode(const YAML::Node& root, std::string_view origin) {
  if (root.IsNull()) return Status::Ok();  // An empty file sets nothing.
  if (!root.IsMap()) {
    return Status::Fatal(fmt::format("{}: expected a mapping of option: value lines", origin));
  }
  // Keys already seen, by property: "data_dir" and "data-dir" are one property, and YAML
  // parsers differ on which of two equal keys wins, so a second one is always an error.
  std::map<std::string, std::string> seen;
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) {
      return Status::Fatal(
          fmt::format("{}: line {}: a key must be a plain option name, not a list or mapping",
                      origin, entry.first.Mark().line + 1));
    }
    const std::string key = entry.first.Scalar();
    const PropertyDef* def = FindYamlKey(key);
    if (def == nullptr) {
      return Status::Fatal(
          fmt::format("{}: unknown key '{}'{}", origin, key, Suggestion(Normalize(key))));
    }
    if (auto [it, fresh] = seen.emplace(def->name, key); !fresh) {
      return Status::Fatal(it->second == key
                               ? fmt::format("{}: key '{}' is given twice: keep one", origin, key)
                               : fmt::format("{}: '{}' and '{}' both set {}: keep one", origin,
                                             it->second, key, def->name));
    }
    const YAML::Node& value = entry.second;
    Status s;
    if (value.IsSequence()) {
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (item.IsMap() && def->mapping_items) {
          auto json = MappingItemJson(item, origin, key, def->nested_key);
          if (!json.ok()) return json.status();
          items.push_back(std::move(json).value());
          continue;
        }
        if (!item.IsScalar()) {
          return Status::Fatal(fmt::format("{}: {}: list items must be plain values", origin, key));
        }
        items.push_back(item.Scalar());
      }
      s = def->type == PropType::kList
              ? SetList(def->name, items)
              : Status::Fatal(fmt::format("{}: takes one value, not a list", def->name));
    } else if (value.IsScalar()) {
      s = Set(def->name, value.Scalar());
    } else if (value.IsMap() && def->mapping_items) {
      // One mapping where a list of them is expected: taking it as one item would guess.
      return Status::Fatal(fmt::format(
          "{}: line {}: {}: expected a list of mappings: start each one with '- ' (- name: ...)",
          origin, value.Mark().line + 1, key));
    } else if (value.IsMap() && def->type == PropType::kList) {
      std::vector<std::string> items;
      std::map<std::string, bool> names;
      for (const auto& item : value) {
        if (!item.first.IsScalar() || !item.second.IsScalar()) {
          return Status::Fatal(fmt::format("{}: {}: keys and values must be plain", origin, key));
        }
        if (!names.emplace(item.first.Scalar(), true).second) {
          return Status::Fatal(fmt::format("{}: {}: '{}' is given twice: keep one", origin, key,
                                           item.first.Scalar()));
        }
        if (item.first.Scalar().empty() ||
            item.first.Scalar().find_first_of(std::string_view("=\0", 2)) != std::string::npos ||
            item.second.Scalar().find('\0') != std::string::npos) {
          return Status::Fatal(
              fmt::format("{}: {}: each key must be a property name (no '=' or NUL)", origin, key));
        }
        items.push_back(item.first.Scalar() + "=" + item.second.Scalar());
      }
      // Not SetList: values may contain commas (broker lists, SASL settings).
      values_[std::string(def->name)] = std::move(items);
    } else if (value.IsNull()) {
      s = def->type == PropType::kList ? SetList(def->name, {})
                                       : Status::Fatal(fmt::format("{}: needs a value", def->name));
    } else {
      s = Status::Fatal(fmt::format("{}: expected a value, got a mapping", def->name));
    }
    if (!s.ok()) return s.WithContext(origin);
    SetOrigin(def->name, fmt::format("{} in {}", key, origin));
  }
  return Status::Ok();
}

std::string Config::Origin(std::string_view name) const {
  const PropertyDef& def = MustFind(name);
  auto it = origins_.find(std::string(def.name));
  if (it != origins_.end()) return it->second;
  return IsSet(def.name) ? std::string(def.name) : std::string("the default");
}

void Config::SetOrigin(std::string_view name, std::string origin) {
  const PropertyDef& def = MustFind(name);
  origins_[std::string(def.name)] = std::move(origin);
}

Status Config::ImplySource() {
  if (IsSet("source")) return Status::Ok();
  const bool input = IsSet("input");
  const bool url = IsSet("url");
  if (input && url) {
    return Status::Fatal(fmt::format(
        "{} and {} name two different sources: add --source file or --source randomuser",
        Origin("input"), Origin("url")));
  }
  if (input || url) {
    const std::string implied_by = Origin(input ? "input" : "url");
    if (Status s = Set("source", input ? "file" : "randomuser"); !s.ok()) return s;
    SetOrigin("source", "implied by " + implied_by);
  }
  return Status::Ok();
}

Status Config::CheckLimits() const {
  const int64_t batch = GetInt("batch_size");
  const int64_t capacity = GetInt("queue_capacity");
  if (batch * capacity > kMaxQueuedRecords) {
    return Status::Fatal(fmt::format(
        "batch_size {} x queue_capacity {} lets {} records wait in each queue, more than the "
        "{} spate allows (about a gigabyte of users): lower one of them (from {} and {})",
        batch, capacity, batch * capacity, kMaxQueuedRecords, Origin("batch_size"),
        Origin("queue_capacity")));
  }
  return Status::Ok();
}

Status Config::CheckApplies(std::string_view name,
                            const std::function<bool(std::string_view)>& command_has) const {
  const PropertyDef& def = MustFind(name);
  std::vector<const Applicability*> rules;
  for (const Applicability& rule : ApplicabilityTable()) {
    if (rule.property == def.name && command_has(rule.on)) rules.push_back(&rule);
  }
  if (rules.empty()) return Status::Ok();
  std::vector<std::string> needed;
  for (const Applicability* rule : rules) {
    const std::vector<std::string> values = GetList(rule->on);
    if (std::find(values.begin(), values.end(), rule->value) != values.end()) return Status::Ok();
    needed.push_back(fmt::format("{} {}", FlagName(rule->on), rule->value));
  }
  const std::string_view on = rules.front()->on;
  const std::vector<std::string> values = GetList(on);
  const std::string now =
      values.empty() ? std::string("empty") : fmt::format("{}", fmt::join(values, ","));
  const std::string origin = Origin(on);
  const std::string why = origin == FlagName(on) ? fmt::format("you gave {} {}", FlagName(on), now)
                          : origin == "the default"
                              ? fmt::format("{} is {} by default", FlagName(on), now)
                              : fmt::format("{} is {}, from {}", FlagName(on), now, origin);
  return Status::Fatal(fmt::format("{} is read only with {} ({}): add {}, or drop {}",
                                   FlagName(def.name), fmt::join(needed, " or "), why,
                                   needed.front(), FlagName(def.name)));
}

std::string Config::GetString(std::string_view name) const {
  const PropertyDef& def = MustFind(name);
  auto it = values_.find(std::string(def.name));
  if (it == values_.end()) return std::string(def.default_value);
  return it->second.empty() ? std::string() : it->second.front();
}

int64_t Config::GetInt(std::string_view name) const {
  const std::string text = GetString(name);
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

bool Config::GetBool(std::string_view name) const { return GetString(name) == "true"; }

std::vector<std::string> Config::GetList(std::string_view name) const {
  const PropertyDef& def = MustFind(name);
  auto it = values_.find(std::string(def.name));
  if (it == values_.end()) return SplitComma(def.default_value);
  return it->second;
}

int64_t Config::GetMillis(std::string_view name) const {
  auto parsed = ParseDurationMillis(GetString(name));
  return parsed.ok() ? parsed.value() : 0;
}

}  // namespace spate
