#include "transport/kafka_source.h"

#include <array>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace spate {

Result<std::unique_ptr<KafkaSource>> KafkaSource::Create(KafkaSourceOptions options) {
  std::unique_ptr<KafkaSource> source(new KafkaSource(std::move(options)));
  const KafkaSourceOptions& o = source->options_;
  const KafkaOptions defaults = {
      {"group.id", o.group},
      {"auto.offset.reset", o.from},
      // Offsets are stored by Acknowledge (after the sinks), never by librdkafka itself;
      // the automatic commit then only ever commits what is stored.
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", "true"},
      {"auto.commit.interval.ms", "1000"},
      // Partition-end events tell StopAt that an idle partition has nothing more to read.
      {"enable.partition.eof", "true"},
      // Read ahead enough to keep the pipeline busy, not more (memory stays flat).
      {"queued.max.messages.kbytes", "20480"},
      // A partition whose prefetch queue is full backs off this long before fetching again
      // (librdkafka treats it like a fetch error, 500 ms by default): with a small queue the
      // consumer would then sit idle. The queue bound is what keeps memory flat.
      {"fetch.error.backoff.ms", "10"},
      {"fetch.max.bytes", "8388608"},
  };
  auto conf = MakeKafkaConf(o.settings, defaults);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_rebalance_cb(conf.value().get(), OnRebalance);
  rd_kafka_conf_set_opaque(conf.value().get(), source.get());
  auto rk = MakeKafkaClient(RD_KAFKA_CONSUMER, std::move(conf).value());
  if (!rk.ok()) return rk.status();
  source->rk_ = std::move(rk).value();
  // Route the main queue (rebalances, errors) through consumer_poll.
  rd_kafka_poll_set_consumer(source->rk_.get());

  if (Status s = CheckBrokers(source->rk_.get(), o.settings); !s.ok()) return s;
  if (Status s = EnsureTopic(source->rk_.get(), o.topic, o.settings); !s.ok()) return s;
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(source->rk_.get(), topics.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Fatal(fmt::format("subscribe to {}: {}", o.topic, rd_kafka_err2str(err)));
  }
  spdlog::info("kafka: joining group {} on topic {} at {}", o.group, o.topic, o.settings.brokers);
  return source;
}

KafkaSource::~KafkaSource() { Close(); }

void KafkaSource::Close() {
  if (!rk_ || closed_) return;
  closed_ = true;
  // Commits the stored offsets (auto-commit's final commit) and leaves the group, so the
  // remaining members take over this member's partitions at once.
  if (const rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka: closing the consumer: {}", rd_kafka_err2str(err));
  }
}

void KafkaSource::OnRebalance(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<KafkaSource*>(opaque)->Rebalance(err, partitions);
}

void KafkaSource::Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_.get()), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    spdlog::info("kafka: assigned {}", DescribePartitions(partitions));
    for (int i = 0; i < partitions->cnt; ++i) assigned_.insert(partitions->elems[i].partition);
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk_.get(), partitions)) {
        spdlog::error("kafka: assign: {}", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk_.get(), partitions);
    }
    return;
  }
  // Revoked (or lost): commit what the sinks have stored for these partitions, then let go.
  spdlog::info("kafka: revoked {}", DescribePartitions(partitions));
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk_.get())) {
    const rd_kafka_resp_err_t commit = rd_kafka_commit(rk_.get(), nullptr, /*async=*/0);
    if (commit != RD_KAFKA_RESP_ERR_NO_ERROR && commit != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      spdlog::warn("kafka: commit on revoke: {}", rd_kafka_err2str(commit));
    }
  }
  for (int i = 0; i < partitions->cnt; ++i) {
    read_up_to_.erase(partitions->elems[i].partition);
    assigned_.erase(partitions->elems[i].partition);
  }
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), partitions)) {
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(rk_.get(), nullptr);
  }
}

Result<SourceState> KafkaSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  batch.origin = origin_;
  std::map<int32_t, int64_t> next_offsets;
  const auto idle_limit = std::chrono::milliseconds(200);
  const auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point first_message{};
  while (batch.records.size() < max_records && !stop.stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (batch.records.empty()) {
      // Come back empty now and then so the pipeline can notice a stop request.
      if (now - started >= idle_limit) break;
    } else if (now - first_message >= options_.max_batch_wait) {
      break;
    }
    KafkaMessage message(rd_kafka_consumer_poll(rk_.get(), 20));
    if (!message) {
      if (ReachedEnd()) break;
      continue;
    }
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      read_up_to_[message->partition] = message->offset;
      if (ReachedEnd()) break;
      continue;
    }
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::array<char, 512> errstr{};
      if (rd_kafka_fatal_error(rk_.get(), errstr.data(), errstr.size()) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::Fatal(fmt::format("kafka consumer failed: {}", errstr.data()));
      }
      // Transient (broker restarting, leader moving): librdkafka retries by itself.
      spdlog::warn("kafka: {}", rd_kafka_message_errstr(message.get()));
      continue;
    }
    if (batch.records.empty()) first_message = std::chrono::steady_clock::now();
    RawRecord& record = batch.records.emplace_back();
    record.json.assign(static_cast<const char*>(message->payload), message->len);
    record.position = static_cast<uint64_t>(message->offset);
    record.partition = message->partition;
    if (message->key != nullptr) {
      record.key.assign(static_cast<const char*>(message->key), message->key_len);
    }
    next_offsets[message->partition] = message->offset + 1;
    read_up_to_[message->partition] = message->offset + 1;
    ++batch.source_records;
  }
  if (!batch.records.empty()) {
    std::lock_guard lock(mu_);
    pending_[batch.sequence] = std::move(next_offsets);
  }
  if (ReachedEnd()) return SourceState::kFinished;
  if (stop.stop_requested()) return Status::Cancelled("stopped");
  return SourceState::kHaveMore;
}

void KafkaSource::Acknowledge(uint64_t sequence) {
  std::map<int32_t, int64_t> offsets;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(sequence);
    if (it == pending_.end()) return;  // A batch without messages (nothing to commit).
    offsets = std::move(it->second);
    pending_.erase(it);
  }
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [partition, next] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), partition)->offset = next;
  }
  // Fails (harmlessly) for partitions revoked since the batch was read: their new owner
  // re-reads from the last commit.
  const rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk_.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::debug("kafka: offsets not stored ({}): partitions no longer assigned",
                  rd_kafka_err2str(err));
  }
}

void KafkaSource::StopAt(std::map<int32_t, int64_t> end) {
  std::lock_guard lock(stop_mu_);
  stop_at_ = std::move(end);
}

Status KafkaSource::StopAtCurrentEnd() {
  auto end = HighWatermarks(rk_.get(), options_.topic, options_.settings.connect_timeout);
  if (!end.ok()) return end.status().WithContext("end offsets of " + options_.topic);
  StopAt(std::move(end).value());
  return Status::Ok();
}

bool KafkaSource::ReachedEnd() const {
  std::lock_guard lock(stop_mu_);
  if (!stop_at_ || assigned_.empty()) return false;
  for (const int32_t partition : assigned_) {
    auto end = stop_at_->find(partition);
    if (end == stop_at_->end() || end->second == 0) continue;
    auto it = read_up_to_.find(partition);
    if (it == read_up_to_.end() || it->second < end->second) return false;
  }
  return true;
}

std::string KafkaSource::Describe() const {
  return fmt::format("kafka {} (group {}) at {}", options_.topic, options_.group,
                     options_.settings.brokers);
}

}  // namespace spate
