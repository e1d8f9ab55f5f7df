// Building blocks the commands share: sources, sinks and Kafka settings made from the
// configuration, and the control loop that runs pipelines with progress and signal handling.
//
// Thread-safety: main thread only.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/aggregate.h"
#include "analytics/expr.h"
#include "analytics/rules.h"
#include "config/config.h"
#include "core/status.h"
#include "pipeline/pipeline.h"
#include "sinks/cassandra_sink.h"
#include "sinks/postgres_sink.h"
#include "sinks/sink.h"
#include "sources/source.h"
#include "transport/kafka.h"
#include "transport/kafka_sink.h"
#include "transport/kafka_source.h"

namespace spate {

// --source and its options (generator, randomuser, file).
Result<std::unique_ptr<Source>> MakeSource(const Config& config);
// What `run` and `process` apply to the rows they make (issue 19): --where (YAML where: or
// filter:), --rule (rules:) and --aggregate (aggregations:), parsed once at start.
struct Analytics {
  std::optional<Predicate> filter;
  std::vector<QualityRule> rules;
  std::vector<AggregationSpec> aggregations;
};
// Errors name the option or config key and say what to write (exit 2). Aggregations with
// a cassandra sink and no SQL one are an error too: Cassandra keeps no aggregates (no
// multi-row transactions, and its counters are not idempotent, so a replay would count
// twice); with an SQL sink as well it is a warning, and the SQL sinks keep them.
Result<Analytics> ParseAnalytics(const Config& config);

// --sink (sqlite, postgres, discard), each once; the SQL sinks keep `aggregations`.
Result<std::vector<std::unique_ptr<Sink>>> MakeSinks(
    const Config& config, const std::vector<AggregationSpec>& aggregations = {});
// The --sink names in the order of MakeSinks' sinks (each once).
std::vector<std::string> SinkNames(const Config& config);
// True when every --sink is discard: nothing is stored, so `process` neither joins a group
// (no offsets to commit for records it threw away) nor writes the dead-letter topic.
bool OnlyDiscardSinks(const Config& config);
// --raw-sink (postgres): made and opened, for the ingest stage's Pipeline.
Result<std::vector<std::unique_ptr<Sink>>> OpenRawSinks(const Config& config);

// --brokers, --kafka-opt / kafka:, --kafka-timeout, --partitions, --replication-factor.
Result<KafkaSettings> MakeKafkaSettings(const Config& config);
// The producer of `spate produce` (records to --topic, dead letters to the DLQ topic) or,
// with records=false, the dead-letter producer of `spate process`. A run_id tags every
// record for the consumer of the same `run --transport kafka`.
std::unique_ptr<KafkaProducerSink> MakeKafkaProducer(const Config& config,
                                                     const KafkaSettings& settings, bool records,
                                                     const std::string& run_id = "");
std::string DlqTopic(const Config& config);
// The consumer of `spate process`: --topic, --group, --from; with only discard sinks, no
// group (OnlyDiscardSinks). With a run_id, the consumer of `run --transport kafka`: no group,
// starting at the topic's current end, taking only the records tagged with run_id.
Result<std::unique_ptr<KafkaSource>> MakeKafkaConsumer(const Config& config,
                                                       const KafkaSettings& settings,
                                                       const std::string& run_id = "");
// A new identifier for one `run --transport kafka` (random, 16 hex digits).
std::string NewRunId();

// --pg-dsn (or SPATE_PG_DSN), --pg-timeout; a --sink (not raw) keeps `aggregations`.
PostgresSinkOptions PostgresOptions(const Config& config, bool raw,
                                    const std::vector<AggregationSpec>& aggregations = {});
// The Cassandra sink's options from --cassandra-* (and the user and password from the
// config file or SPATE_CASSANDRA_*).
CassandraSinkOptions CassandraOptions(const Config& config);

// Opens every sink; the first error names the sink. Each sink's outcome is a health check
// named "<role> <kind>" ("sink sqlite", "raw sink postgres") behind /readyz.
Status OpenSinks(const std::vector<std::unique_ptr<Sink>>& sinks, std::string_view role = "sink");
// Closes every sink; returns the first error.
Status CloseSinks(const std::vector<std::unique_ptr<Sink>>& sinks);
std::vector<Sink*> SinkPointers(const std::vector<std::unique_ptr<Sink>>& sinks);

// With `analytics`, the process stage applies its filter, rules and aggregations' lateness
// (nullptr: none; produce forwards records and applies none).
PipelineOptions MakePipelineOptions(const Config& config, bool transform,
                                    const Analytics* analytics = nullptr);

// 1,234,567
std::string Thousands(uint64_t n);

// The control loop of a command. Starts nothing: the pipelines must be started. Until every
// pipeline is done it waits for signals (first SIGINT/SIGTERM: stop the first pipeline's
// source and let everything drain; second: abort all), redraws a progress line on stderr
// when `progress` is on (`line` formats it; `done` counts finished records for the rate),
// and calls `tick` (chaining pipelines, for example).
struct DriveResult {
  int interrupts = 0;
  double seconds = 0;
  // The part of `seconds` with work in hand (records ingested and not yet finished, or
  // finished during it), measured in the loop's 50 ms steps: what a rate of a command that
  // waits for input (`process`) is taken over.
  double busy_seconds = 0;
};
struct DriveHooks {
  std::function<std::string()> line;
  std::function<uint64_t()> done;
  std::function<void()> tick;
  std::function<uint64_t()> ingested;  // Optional: records taken in, for busy_seconds.
};
DriveResult Drive(const std::vector<Pipeline*>& pipelines, const Config& config,
                  const DriveHooks& hooks);

}  // namespace spate
