// Kafka plumbing shared by the producer sink and the consumer source: RAII handles around
// librdkafka's C objects, configuration with user pass-through options, broker reachability
// and topic creation.
//
// Configuration precedence: spate's tuned defaults < the user's options (`--kafka-opt k=v`,
// the YAML `kafka:` map). Values of secret-looking keys (sasl.password, ssl.key.password,
// ...) never appear in logs or error messages.
//
// Thread-safety: the functions are stateless; librdkafka handles are thread-safe.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace spate {

struct KafkaHandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct KafkaConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct KafkaMessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct KafkaQueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaHandleDeleter>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaConfDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, KafkaMessageDeleter>;
using KafkaQueue = std::unique_ptr<rd_kafka_queue_t, KafkaQueueDeleter>;

using KafkaOptions = std::vector<std::pair<std::string, std::string>>;

// How often the Kafka clients refresh their gauges (consumer lag, producer queue) and health
// checks: often enough for a dashboard, rarely enough to cost nothing.
inline constexpr std::chrono::milliseconds kKafkaMetricsInterval{500};

// Where the cluster is and how to talk to it; shared by produce and process.
struct KafkaSettings {
  std::string brokers = "127.0.0.1:9092";
  KafkaOptions options;  // librdkafka properties from the user; they win over spate's.
  // How long to wait for the cluster to answer at start before giving up with an error.
  std::chrono::milliseconds connect_timeout{10000};
  // Topic creation when the topic is missing.
  bool create_topics = true;
  int partitions = 6;
  int replication_factor = 1;
};

// True for librdkafka keys whose values are credentials (never logged).
bool IsSecretKafkaKey(std::string_view key);

// Parses "key=value" items (from --kafka-opt or the config's kafka map). An item without
// its '=' is not echoed in the error (it may be a bare credential).
Result<KafkaOptions> ParseKafkaOptions(const std::vector<std::string>& items);

// Whether librdkafka takes every option (known property, valid value), checked on a scratch
// configuration before anything connects: a bad option is a configuration error (exit 2),
// reported with the property's name. Values of secret keys and of unknown properties (a
// mistyped secret key) are never shown.
Status CheckKafkaOptions(const KafkaOptions& options);

// A configuration: `defaults`, then bootstrap.servers, then the user's options, then the
// log and error callbacks that route librdkafka's messages to spdlog. Errors name the key
// (and show the value unless it is secret).
Result<KafkaConf> MakeKafkaConf(const KafkaSettings& settings, const KafkaOptions& defaults);

// How MakeKafkaConf's error callback logs librdkafka's errors (as warnings: the clients retry
// by themselves). For a client that installs its own error callback and still logs.
void LogKafkaError(int err, const char* reason);

// The value of property `key` in `conf`: what was set, else librdkafka's default; empty when
// the key is unknown.
std::string ConfValue(const rd_kafka_conf_t* conf, const char* key);

// Creates a client; `conf` is consumed only on success (librdkafka's rule).
Result<KafkaHandle> MakeKafkaClient(rd_kafka_type_t type, KafkaConf conf);

// Asks the cluster for its metadata; an error that says what to check when no broker answers
// within settings.connect_timeout.
Status CheckBrokers(rd_kafka_t* rk, const KafkaSettings& settings);

// Creates `topic` (settings.partitions, settings.replication_factor) if it does not exist,
// and says so in the log. A topic that exists is left as it is.
Status EnsureTopic(rd_kafka_t* rk, const std::string& topic, const KafkaSettings& settings);

// The high watermark (next offset to be written) of every partition of `topic`.
Result<std::map<int32_t, int64_t>> HighWatermarks(rd_kafka_t* rk, const std::string& topic,
                                                  std::chrono::milliseconds timeout);

// The leader broker id of each partition of `topic` (one metadata request).
Result<std::map<int32_t, int32_t>> PartitionLeaders(rd_kafka_t* rk, const std::string& topic,
                                                    std::chrono::milliseconds timeout);

// "users_created[0,2,4]" for logs.
std::string DescribePartitions(const rd_kafka_topic_partition_list_t* list);

// Kafka's own view of whether an error may go away by itself (broker restart, leader move).
bool IsRetriableKafkaError(rd_kafka_resp_err_t err);

}  // namespace spate
