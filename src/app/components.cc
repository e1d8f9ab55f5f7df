#include "app/components.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <random>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "app/signals.h"
#include "observe/feeds.h"
#include "sinks/sqlite_sink.h"
#include "sources/file_source.h"
#include "sources/generator.h"
#include "sources/randomuser_source.h"
#include "transforms/ingest.h"

namespace spate {

Result<std::unique_ptr<Source>> MakeSource(const Config& config) {
  const std::string kind = config.GetString("source");
  uint64_t count = static_cast<uint64_t>(config.GetInt("count"));
  // The default count bounds the endless sources; a file is read to its end unless the user
  // asked for a number. --duration bounds the stream by time instead.
  if ((kind == "file" || config.GetMillis("duration") > 0) && !config.IsSet("count")) count = 0;
  if (kind == "generator") {
    GeneratorOptions options;
    options.seed = config.GetString("seed");
    options.nationalities = config.GetList("nat");
    // The generator plays the API and ingest in one step: it never makes the secrets that
    // ingest would strip (the mock API does make them, and the HTTP source strips them).
    options.include_login_secrets = false;
    auto generator = UserGenerator::Create(options);
    if (!generator.ok()) return generator.status();
    // Nothing to connect to: ready as soon as it exists (/readyz).
    Health().Set("source generator", true);
    return std::unique_ptr<Source>(
        std::make_unique<GeneratorSource>(std::move(generator).value(), count));
  }
  if (kind == "randomuser") {
    RandomUserOptions options;
    options.base_url = config.GetString("url");
    options.seed = config.GetString("seed");
    options.nationalities = config.GetList("nat");
    options.count = count;
    options.page_size = static_cast<uint32_t>(config.GetInt("page_size"));
    options.timeout = std::chrono::milliseconds(config.GetMillis("timeout"));
    options.connect_timeout = std::chrono::milliseconds(config.GetMillis("connect_timeout"));
    options.max_retries = static_cast<uint32_t>(config.GetInt("retries"));
    options.backoff_initial = std::chrono::milliseconds(config.GetMillis("retry_backoff"));
    options.backoff_max = std::chrono::milliseconds(config.GetMillis("retry_backoff_max"));
    // Bounds a page's body too: page size x this + 1 MiB (issue 17, item 8).
    options.max_record_bytes = static_cast<uint64_t>(config.GetInt("max_record_bytes"));
    auto source = RandomUserSource::Create(std::move(options));
    if (!source.ok()) return source.status();
    return std::unique_ptr<Source>(std::move(source).value());
  }
  auto source = std::make_unique<FileSource>(
      config.GetString("input"), count, static_cast<size_t>(config.GetInt("max_record_bytes")));
  source->set_linger(std::chrono::milliseconds(config.GetMillis("linger")));
  if (Status s = source->Open(); !s.ok()) {
    Health().Set("source file", false, s.message());
    return s;
  }
  Health().Set("source file", true);
  return std::unique_ptr<Source>(std::move(source));
}

PostgresSinkOptions PostgresOptions(const Config& config, bool raw,
                                    const std::vector<AggregationSpec>& aggregations) {
  PostgresSinkOptions options;
  options.dsn = config.GetString("pg_dsn");
  options.connect_timeout = std::chrono::milliseconds(config.GetMillis("pg_timeout"));
  options.raw = raw;
  options.scrub_raw = DeadLetterBytes;  // For rows from Kafka the sink must dead-letter.
  if (!raw) options.aggregations = aggregations;
  return options;
}

CassandraSinkOptions CassandraOptions(const Config& config) {
  CassandraSinkOptions options;
  options.hosts = config.GetString("cassandra_hosts");
  options.keyspace = config.GetString("keyspace");
  options.user = config.GetString("cassandra_user");
  options.password = config.GetString("cassandra_password");
  options.consistency = config.GetString("cassandra_consistency");
  options.replication_factor = static_cast<int>(config.GetInt("cassandra_replication_factor"));
  options.datacenters = config.GetList("cassandra_datacenters");
  options.max_in_flight = static_cast<size_t>(config.GetInt("cassandra_in_flight"));
  options.compression = config.GetString("cassandra_compression") == "lz4";
  options.timeout = std::chrono::milliseconds(config.GetMillis("cassandra_timeout"));
  return options;
}

Result<Analytics> ParseAnalytics(const Config& config) {
  Analytics analytics;
  // Errors say where the text came from: "--where: at 12 ('contry'): unknown column...",
  // "filter in config file 'x.yaml': at 12...".
  if (const std::string where = config.GetString("where"); !where.empty()) {
    auto filter = Predicate::Parse(where, config.Origin("where"));
    if (!filter.ok()) return filter.status();
    analytics.filter = std::move(filter).value();
  }
  for (const std::string& item : config.GetList("rule")) {
    auto rule = ParseRule(item);
    if (!rule.ok()) return rule.status().WithContext(config.Origin("rule"));
    for (const QualityRule& earlier : analytics.rules) {
      // The name is the metric label and the dead letters' reason: two would be one.
      if (earlier.name == rule->name) {
        return Status::Fatal(fmt::format("{}: rule {} is given twice: give each rule its own name",
                                         config.Origin("rule"), earlier.name));
      }
    }
    analytics.rules.push_back(std::move(rule).value());
  }
  auto aggregations = ParseAggregations(config.GetList("aggregate"));
  if (!aggregations.ok()) return aggregations.status().WithContext(config.Origin("aggregate"));
  analytics.aggregations = std::move(aggregations).value();
  if (!analytics.aggregations.empty()) {
    const std::vector<std::string> sinks = SinkNames(config);
    auto has = [&](std::string_view name) {
      return std::find(sinks.begin(), sinks.end(), name) != sinks.end();
    };
    const bool sql = has("sqlite") || has("postgres");
    if (has("cassandra") && !sql) {
      return Status::Fatal(fmt::format(
          "{}: the cassandra sink keeps no aggregations: Cassandra has no multi-row "
          "transactions, and its counter updates are not idempotent, so a replayed batch "
          "would count twice. Add --sink sqlite or --sink postgres to keep them there, or drop "
          "{}",
          config.Origin("aggregate"), FlagName("aggregate")));
    }
    if (has("cassandra")) {
      spdlog::warn(
          "aggregations are kept by the SQL sinks only, not in Cassandra (no multi-row "
          "transactions, and counter updates are not idempotent, so a replay would count "
          "twice)");
    }
  }
  return analytics;
}

Result<std::vector<std::unique_ptr<Sink>>> MakeSinks(
    const Config& config, const std::vector<AggregationSpec>& aggregations) {
  std::vector<std::unique_ptr<Sink>> sinks;
  std::set<std::string> seen;
  for (const std::string& name : config.GetList("sink")) {
    if (!seen.insert(name).second) continue;  // --sink sqlite --sink sqlite: one is enough.
    if (name == "sqlite") {
      // issue 19: enable once SqliteSink takes its aggregations (helper `sqlite`), and drop
      // the line after it.
      // sinks.push_back(std::make_unique<SqliteSink>(config.GetString("data_dir"), aggregations));
      sinks.push_back(std::make_unique<SqliteSink>(config.GetString("data_dir")));
    } else if (name == "postgres") {
      sinks.push_back(
          std::make_unique<PostgresSink>(PostgresOptions(config, /*raw=*/false, aggregations)));
    } else if (name == "cassandra") {
      sinks.push_back(std::make_unique<CassandraSink>(CassandraOptions(config)));
    } else {
      sinks.push_back(std::make_unique<DiscardSink>());
    }
  }
  if (sinks.empty()) return Status::Fatal("no sink: give at least one --sink");
  return sinks;
}

std::vector<std::string> SinkNames(const Config& config) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const std::string& name : config.GetList("sink")) {
    if (seen.insert(name).second) names.push_back(name);
  }
  return names;
}

bool OnlyDiscardSinks(const Config& config) {
  const std::vector<std::string> names = SinkNames(config);
  return !names.empty() &&
         std::all_of(names.begin(), names.end(), [](const auto& n) { return n == "discard"; });
}

Result<std::vector<std::unique_ptr<Sink>>> OpenRawSinks(const Config& config) {
  std::vector<std::unique_ptr<Sink>> sinks;
  std::set<std::string> seen;
  for (const std::string& name : config.GetList("raw_sink")) {
    if (!seen.insert(name).second) continue;
    sinks.push_back(std::make_unique<PostgresSink>(PostgresOptions(config, /*raw=*/true)));
  }
  if (Status s = OpenSinks(sinks, "raw sink"); !s.ok()) return s;
  return sinks;
}

Result<KafkaSettings> MakeKafkaSettings(const Config& config) {
  KafkaSettings settings;
  settings.brokers = config.GetString("brokers");
  auto options = ParseKafkaOptions(config.GetList("kafka_opt"));
  if (!options.ok()) return options.status();
  // Checked here, before anything connects, so a bad property is a configuration error
  // (exit 2) rather than a failure of the first client to open (exit 1).
  if (Status s = CheckKafkaOptions(options.value()); !s.ok()) return s;
  settings.options = std::move(options).value();
  settings.connect_timeout = std::chrono::milliseconds(config.GetMillis("kafka_timeout"));
  settings.partitions = static_cast<int>(config.GetInt("partitions"));
  settings.replication_factor = static_cast<int>(config.GetInt("replication_factor"));
  return settings;
}

std::string DlqTopic(const Config& config) {
  const std::string dlq = config.GetString("dlq_topic");
  return dlq.empty() ? config.GetString("topic") + ".dlq" : dlq;
}

std::unique_ptr<KafkaProducerSink> MakeKafkaProducer(const Config& config,
                                                     const KafkaSettings& settings, bool records,
                                                     const std::string& run_id) {
  KafkaProducerOptions options;
  options.run_id = run_id;
  options.settings = settings;
  if (records) options.topic = config.GetString("topic");
  options.dlq_topic = DlqTopic(config);
  options.compression = config.GetString("compression");
  options.delivery_timeout = std::chrono::milliseconds(config.GetMillis("delivery_timeout"));
  options.linger = std::chrono::milliseconds(config.GetMillis("linger"));
  return std::make_unique<KafkaProducerSink>(std::move(options));
}

Result<std::unique_ptr<KafkaSource>> MakeKafkaConsumer(const Config& config,
                                                       const KafkaSettings& settings,
                                                       const std::string& run_id) {
  KafkaSourceOptions options;
  options.settings = settings;
  options.topic = config.GetString("topic");
  options.from = config.GetString("from");
  options.linger = std::chrono::milliseconds(config.GetMillis("linger"));
  if (!run_id.empty()) {
    // run --transport kafka: its own records, whoever else reads or writes the topic.
    options.group.clear();
    options.start_at_current_end = true;
    options.run_id = run_id;
  } else if (OnlyDiscardSinks(config)) {
    options.group.clear();
  } else {
    options.group = config.GetString("group");
  }
  return KafkaSource::Create(std::move(options));
}

std::string NewRunId() {
  std::random_device random;
  const uint64_t high = random();
  const uint64_t low = random();
  return fmt::format(
      "{:016x}",
      (high << 32) ^ low ^
          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
}

Status OpenSinks(const std::vector<std::unique_ptr<Sink>>& sinks, std::string_view role) {
  for (const auto& sink : sinks) {
    // Not ready while it connects (a slow server keeps /readyz at 503), then what its health
    // check (Open) said. The detail is Open's message, which never holds a credential.
    const std::string description = sink->Describe();
    const std::string_view kind = sink->kind();
    // Kafka's producer reports its own check ("sink kafka <topic>"), also when every broker
    // goes down later; a second one here would only repeat it.
    if (kind == "kafka") {
      if (Status s = sink->Open(); !s.ok()) return s.WithContext(description);
      continue;
    }
    const std::string check = fmt::format("{} {}", role, kind);
    Health().Set(check, false, "opening");
    if (Status s = sink->Open(); !s.ok()) {
      Health().Set(check, false, s.message());
      return s.WithContext(description);
    }
    Health().Set(check, true);
  }
  return Status::Ok();
}

Status CloseSinks(const std::vector<std::unique_ptr<Sink>>& sinks) {
  Status first;
  for (const auto& sink : sinks) {
    if (Status s = sink->Close(); !s.ok() && first.ok()) first = s.WithContext(sink->Describe());
  }
  return first;
}

std::vector<Sink*> SinkPointers(const std::vector<std::unique_ptr<Sink>>& sinks) {
  std::vector<Sink*> out;
  for (const auto& sink : sinks) out.push_back(sink.get());
  return out;
}

PipelineOptions MakePipelineOptions(const Config& config, bool transform,
                                    const Analytics* analytics) {
  PipelineOptions options;
  if (analytics != nullptr && transform) {
    options.filter = analytics->filter;
    options.rules = analytics->rules;
    options.aggregations = analytics->aggregations;  // For their lateness.
  }
  options.transform = transform;
  options.batch_size = static_cast<size_t>(config.GetInt("batch_size"));
  options.queue_capacity = static_cast<size_t>(config.GetInt("queue_capacity"));
  options.max_record_bytes = static_cast<size_t>(config.GetInt("max_record_bytes"));
  options.linger = std::chrono::milliseconds(config.GetMillis("linger"));
  // The pipeline applies these only to a source other than Kafka's consumer (pipeline.h):
  // in `run --transport kafka` they pace the producing half.
  options.rate = static_cast<double>(config.GetInt("rate"));
  options.duration = std::chrono::milliseconds(config.GetMillis("duration"));
  // Drive polls every 50 ms; without this the end of every run waited out part of that.
  options.on_finished = WakeMainThread;
  return options;
}

std::string Thousands(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

DriveResult Drive(const std::vector<Pipeline*>& pipelines, const Config& config,
                  const DriveHooks& hooks) {
  const std::string mode = config.GetString("progress");
  const bool progress =
      mode == "always" || (mode == "auto" && isatty(STDERR_FILENO) == 1 && hooks.line);
  DriveResult result;
  const auto started = std::chrono::steady_clock::now();
  auto last_report = started;
  uint64_t last_done = 0;
  auto last_step = started;
  uint64_t step_done = 0;
  uint64_t step_ingested = 0;
  std::chrono::steady_clock::duration busy{};
  // A step was busy if work was in hand at its start, or anything came in or finished
  // during it.
  auto account_step = [&] {
    const auto now = std::chrono::steady_clock::now();
    const uint64_t done = hooks.done ? hooks.done() : 0;
    const uint64_t ingested = hooks.ingested ? hooks.ingested() : done;
    if (done != step_done || ingested != step_ingested || step_ingested > step_done ||
        !hooks.ingested) {
      busy += now - last_step;
    }
    last_step = now;
    step_done = done;
    step_ingested = ingested;
  };
  auto all_done = [&] {
    for (Pipeline* p : pipelines) {
      if (!p->Done()) return false;
    }
    return true;
  };
  while (!all_done()) {
    if (const int sig = WaitForSignal(50); sig != 0) {
      if (++result.interrupts == 1) {
        spdlog::info(
            "{}: stopping the source, draining and storing what was ingested "
            "(again to abort)",
            sig == SIGINT ? "interrupt" : "terminate");
        pipelines.front()->RequestStop();
      } else {
        spdlog::warn("aborting: batches not yet stored are not acknowledged");
        for (Pipeline* p : pipelines) p->Abort();
      }
    }
    if (hooks.tick) hooks.tick();
    account_step();
    const auto now = std::chrono::steady_clock::now();
    if (progress && now - last_report >= std::chrono::milliseconds(500)) {
      const double secs = std::chrono::duration<double>(now - last_report).count();
      const uint64_t done = hooks.done ? hooks.done() : 0;
      fmt::print(stderr, "\r\033[K  {}  {}/s", hooks.line(),
                 Thousands(static_cast<uint64_t>((done - last_done) / secs)));
      last_report = now;
      last_done = done;
    }
  }
  if (hooks.tick) hooks.tick();
  account_step();
  if (progress) fmt::print(stderr, "\r\033[K");
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.busy_seconds = std::chrono::duration<double>(busy).count();
  // A signal that arrived after the loop's last check is still pending: it is this loop's,
  // not the shutdown guard's. Taken by the guard it ended the process with 130 and "records
  // dropped" although everything was stored (issue 17, item 11). Zero timeout: only what is
  // pending now; the window left (from here to the guard's first wait) is microseconds.
  if (const int sig = WaitForSignal(0); sig != 0) {
    if (++result.interrupts == 1) {
      spdlog::info("{}: the pipelines had already finished; closing the sinks (again to abort)",
                   sig == SIGINT ? "interrupt" : "terminate");
    } else {
      spdlog::warn("aborting: batches not yet stored are not acknowledged");
      for (Pipeline* p : pipelines) p->Abort();
    }
  }
  // Closing the sinks can wait long; a signal then still ends the process (signals.h).
  StartShutdownGuard();
  return result;
}

}  // namespace spate
