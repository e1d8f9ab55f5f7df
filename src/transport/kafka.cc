#include "transport/kafka.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace spate {
namespace {

// librdkafka's syslog-style levels to spdlog's. Its "notice" lines (e.g. a broker connection
// going down and coming back) are interesting but not warnings.
spdlog::level::level_enum LevelFor(int syslog_level) {
  if (syslog_level <= 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

void LogCallback(const rd_kafka_t* /*rk*/, int level, const char* facility, const char* buf) {
  // librdkafka logs at notice for routine reconnects; keep those out of info so a normal run
  // is quiet. Connection failures (FAIL) also reach ErrorCallback, which logs them once as
  // warnings: a broker restarting is something the clients ride out, not an error.
  const bool routine = level == 5 || std::string_view(facility) == "FAIL";
  spdlog::log(routine ? spdlog::level::debug : LevelFor(level), "kafka {}: {}", facility, buf);
}

void ErrorCallback(rd_kafka_t* /*rk*/, int err, const char* reason, void* /*opaque*/) {
  LogKafkaError(err, reason);
}

struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* t) const { rd_kafka_NewTopic_destroy(t); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// librdkafka's errstr names the property and, for an invalid value, quotes the value; an
// unknown property may be a mistyped secret key (sasl.pasword=...). So the value is shown only
// for a known, non-secret property, and librdkafka's text only where it cannot hold a secret.
Status SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  std::array<char, 512> errstr{};
  const rd_kafka_conf_res_t res =
      rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr.data(), errstr.size());
  if (res == RD_KAFKA_CONF_OK) return Status::Ok();
  if (res == RD_KAFKA_CONF_UNKNOWN) {
    return Status::Fatal(fmt::format(
        "kafka option {}: no such librdkafka property (see librdkafka's CONFIGURATION.md)", key));
  }
  if (IsSecretKafkaKey(key)) {
    return Status::Fatal(fmt::format("kafka option {}: invalid value (not shown: secret)", key));
  }
  return Status::Fatal(fmt::format("kafka option {}='{}': {}", key, value, errstr.data()));
}

// Metadata for one topic (or all when topic is empty); nullptr topic metadata when absent.
Result<Metadata> FetchMetadata(rd_kafka_t* rk, const std::string& topic,
                               std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (topic.empty()) {
    err = rd_kafka_metadata(rk, 1, nullptr, &md, static_cast<int>(timeout.count()));
  } else {
    // A topic handle just names the topic for the request; it does not create anything.
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    err = rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(timeout.count()));
    rd_kafka_topic_destroy(rkt);
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return IsRetriableKafkaError(err) ? Status::Retriable(rd_kafka_err2str(err))
                                      : Status::Fatal(rd_kafka_err2str(err));
  }
  return Metadata(md);
}

// `topic` in metadata answered for it, or nullptr when the cluster did not list it.
const rd_kafka_metadata_topic_t* FindTopic(const rd_kafka_metadata_t& md,
                                           const std::string& topic) {
  for (int i = 0; i < md.topic_cnt; ++i) {
    if (topic == md.topics[i].topic) return &md.topics[i];
  }
  return nullptr;
}

}  // namespace

void LogKafkaError(int err, const char* reason) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  // "all brokers down" and transport errors repeat while a broker restarts; they are warnings
  // (the clients retry by themselves), not failures.
  spdlog::warn("kafka: {} ({})", reason, rd_kafka_err2name(code));
}

bool IsSecretKafkaKey(std::string_view key) {
  // The properties librdkafka itself marks sensitive (it redacts them in its own config
  // dumps), plus the ones that carry tokens or key material. By name, never by a substring
  // of a message: a value is hidden because of the property it belongs to.
  static constexpr std::string_view kSecret[] = {
      "sasl.password",
      "sasl.oauthbearer.client.secret",
      "sasl.oauthbearer.config",
      "sasl.oauthbearer.extensions",
      "ssl.key.password",
      "ssl.key.pem",
      "ssl_key",
      "ssl.keystore.password",
  };
  for (std::string_view secret : kSecret) {
    if (key == secret) return true;
  }
  // Properties librdkafka may add later: any name that says it holds a credential.
  for (std::string_view word : {"password", "secret", "token", "credential"}) {
    if (key.find(word) != std::string_view::npos) return true;
  }
  return false;
}

Result<KafkaOptions> ParseKafkaOptions(const std::vector<std::string>& items) {
  KafkaOptions out;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      // Never echo the item: without its '=' it may be a credential typed without its key.
      return Status::Fatal(fmt::format(
          "kafka option number {} is not key=value (e.g. --kafka-opt security.protocol=SASL_SSL)",
          i + 1));
    }
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

Status CheckKafkaOptions(const KafkaOptions& options) {
  KafkaConf conf(rd_kafka_conf_new());
  for (const auto& [key, value] : options) {
    if (Status s = SetConf(conf.get(), key, value); !s.ok()) return s;
  }
  return Status::Ok();
}

Result<KafkaConf> MakeKafkaConf(const KafkaSettings& settings, const KafkaOptions& defaults) {
  KafkaConf conf(rd_kafka_conf_new());
  for (const auto& [key, value] : defaults) {
    if (Status s = SetConf(conf.get(), key, value); !s.ok()) return s;
  }
  if (Status s = SetConf(conf.get(), "bootstrap.servers", settings.brokers); !s.ok()) return s;
  for (const auto& [key, value] : settings.options) {
    if (Status s = SetConf(conf.get(), key, value); !s.ok()) return s;
  }
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  return conf;
}

std::string ConfValue(const rd_kafka_conf_t* conf, const char* key) {
  std::array<char, 256> value{};
  size_t size = value.size();
  if (rd_kafka_conf_get(conf, key, value.data(), &size) != RD_KAFKA_CONF_OK) return {};
  return value.data();
}

Result<KafkaHandle> MakeKafkaClient(rd_kafka_type_t type, KafkaConf conf) {
  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr.data(), errstr.size());
  if (rk == nullptr) return Status::Fatal(fmt::format("kafka client: {}", errstr.data()));
  (void)conf.release();  // rd_kafka_new took ownership.
  return KafkaHandle(rk);
}

Status CheckBrokers(rd_kafka_t* rk, const KafkaSettings& settings) {
  auto md = FetchMetadata(rk, "", settings.connect_timeout);
  if (md.ok()) return Status::Ok();
  return Status::Fatal(fmt::format(
      "no Kafka broker at {} answered within {} ms ({}); check --brokers, that the brokers "
      "are running, and security settings (--kafka-opt security.protocol=...)",
      settings.brokers, settings.connect_timeout.count(), md.status().message()));
}

Status EnsureTopic(rd_kafka_t* rk, const std::string& topic, const KafkaSettings& settings) {
  auto md = FetchMetadata(rk, topic, settings.connect_timeout);
  if (!md.ok()) return md.status().WithContext(fmt::format("metadata of topic {}", topic));
  if (const rd_kafka_metadata_topic_t* t = FindTopic(*md.value(), topic);
      t != nullptr && t->err == RD_KAFKA_RESP_ERR_NO_ERROR && t->partition_cnt > 0) {
    return Status::Ok();
  }
  if (!settings.create_topics) {
    return Status::Fatal(fmt::format("topic {} does not exist (and topic creation is off)", topic));
  }

  std::array<char, 512> errstr{};
  std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter> new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), settings.partitions, settings.replication_factor,
                            errstr.data(), errstr.size()));
  if (!new_topic) return Status::Fatal(fmt::format("topic {}: {}", topic, errstr.data()));
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  const int timeout_ms = static_cast<int>(settings.connect_timeout.count());
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), timeout_ms, errstr.data(),
                                              errstr.size());
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr.data(),
                                            errstr.size());
  KafkaQueue queue(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(rk, topics, 1, options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, EventDeleter> event(
      rd_kafka_queue_poll(queue.get(), timeout_ms + 5000));
  if (!event) return Status::Retriable(fmt::format("creating topic {} timed out", topic));
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Fatal(
        fmt::format("creating topic {}: {}", topic, rd_kafka_event_error_string(event.get())));
  }
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return Status::Ok();  // A peer won.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* detail = rd_kafka_topic_result_error_string(results[i]);
      return Status::Fatal(fmt::format(
          "topic {} is missing and could not be created ({}); create it yourself or check the "
          "ACLs and --replication-factor",
          topic, detail ? detail : rd_kafka_err2str(err)));
    }
  }
  spdlog::info("kafka: created topic {} ({} partitions, replication factor {})", topic,
               settings.partitions, settings.replication_factor);
  return Status::Ok();
}

Result<std::map<int32_t, int64_t>> HighWatermarks(rd_kafka_t* rk, const std::string& topic,
                                                  std::chrono::milliseconds timeout) {
  auto md = FetchMetadata(rk, topic, timeout);
  if (!md.ok()) return md.status();
  std::map<int32_t, int64_t> out;
  const rd_kafka_metadata_topic_t* t = FindTopic(*md.value(), topic);
  for (int p = 0; t != nullptr && p < t->partition_cnt; ++p) {
    const int32_t id = t->partitions[p].id;
    int64_t low = 0, high = 0;
    const rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        rk, topic.c_str(), id, &low, &high, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Retriable(
          fmt::format("watermarks of {}[{}]: {}", topic, id, rd_kafka_err2str(err)));
    }
    out[id] = high;
  }
  return out;
}

Result<std::map<int32_t, int32_t>> PartitionLeaders(rd_kafka_t* rk, const std::string& topic,
                                                    std::chrono::milliseconds timeout) {
  auto md = FetchMetadata(rk, topic, timeout);
  if (!md.ok()) return md.status();
  std::map<int32_t, int32_t> out;
  const rd_kafka_metadata_topic_t* t = FindTopic(*md.value(), topic);
  for (int p = 0; t != nullptr && p < t->partition_cnt; ++p) {
    out[t->partitions[p].id] = t->partitions[p].leader;
  }
  return out;
}

std::string DescribePartitions(const rd_kafka_topic_partition_list_t* list) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (int i = 0; i < list->cnt; ++i) {
    by_topic[list->elems[i].topic].push_back(list->elems[i].partition);
  }
  std::string out;
  for (auto& [topic, partitions] : by_topic) {
    std::sort(partitions.begin(), partitions.end());
    out += fmt::format("{}{}[{}]", out.empty() ? "" : " ", topic, fmt::join(partitions, ","));
  }
  return out.empty() ? std::string("none") : out;
}

bool IsRetriableKafkaError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__PARTIAL:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return true;
    default:
      return false;
  }
}

}  // namespace spate
