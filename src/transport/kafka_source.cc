#include "transport/kafka_source.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/prefetch.h"
#include "observe/feeds.h"

namespace spate {
namespace {

constexpr std::string_view kLagHelp =
    "Messages in the partition after the consumer's position (high watermark - position)";
constexpr std::string_view kCommittedHelp = "The consumer group's last committed offset";
constexpr std::string_view kBytesHelp =
    "Record (message value) bytes produced to or consumed from Kafka";

}  // namespace

Result<std::unique_ptr<KafkaSource>> KafkaSource::Create(KafkaSourceOptions options) {
  std::unique_ptr<KafkaSource> source(new KafkaSource(std::move(options)));
  const KafkaSourceOptions& o = source->options_;
  const bool grouped = !o.group.empty();
  source->metrics_ = o.metrics != nullptr ? o.metrics : &Metrics();
  source->bytes_consumed_ = &source->metrics_->GetCounter(
      "spate_kafka_bytes_total", kBytesHelp, {{"topic", o.topic}, {"direction", "consumed"}});
  source->PublishHealth();
  KafkaOptions defaults = {
      {"auto.offset.reset", o.from},
      // Offsets are stored by Acknowledge (after the sinks), never by librdkafka itself;
      // the automatic commit then only ever commits what is stored. Without a group nothing
      // is committed at all.
      {"enable.auto.offset.store", "false"},
      {"enable.auto.commit", grouped ? "true" : "false"},
      {"auto.commit.interval.ms", "1000"},
      // Partition-end events tell StopAt that an idle partition has nothing more to read.
      {"enable.partition.eof", "true"},
      // Read ahead enough to keep the pipeline busy, not more (memory stays flat). A full
      // queue stops the fetchers; WakeStalledFetchers restarts them.
      {"queued.max.messages.kbytes", "20480"},
      // A fetch that failed (a broker restarting, a leader moving) is retried after 10 ms
      // rather than librdkafka's 500.
      {"fetch.error.backoff.ms", "10"},
      // How long a broker may hold a fetch that finds nothing new: `linger`, at least 5 ms.
      // A Kafka broker answers as soon as data arrives, so on a real cluster this only sets
      // how often an idle consumer asks (at 5 ms, 200 times a second per broker instead of
      // librdkafka's 2). librdkafka's mock cluster (tests, benchmarks) holds an empty fetch
      // for the whole wait even when records arrive, so there it is what a record waits:
      // with 500 ms a 100 records/s trickle arrived 270 ms late (median); `run --transport
      // kafka --rate 10000 --sink discard` had an ingest->stored p99 of 49 ms at 20 ms and
      // 29 ms at 5 ms.
      {"fetch.wait.max.ms", std::to_string(std::clamp<int64_t>(o.linger.count(), 5, 500))},
      // One fetch response per broker may land on top of a full queue, and its buffers live
      // in that broker thread's heap: smaller fetches keep the peak RSS down (with the trim
      // threshold main() sets for process; figures there) at no measurable cost in rate.
      {"fetch.max.bytes", "4194304"},
  };
  // librdkafka takes an assignment only with a group.id set; without a group that is a name
  // of this reader alone: it is never joined (no subscribe) and nothing is committed under
  // it, so no broker keeps offsets for it.
  defaults.insert(
      defaults.begin(),
      {"group.id",
       grouped
           ? o.group
           : fmt::format("spate-reader-{:x}",
                         reinterpret_cast<uintptr_t>(source.get()) ^
                             static_cast<uintptr_t>(
                                 std::chrono::steady_clock::now().time_since_epoch().count()))});
  auto conf = MakeKafkaConf(o.settings, defaults);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_rebalance_cb(conf.value().get(), OnRebalance);
  rd_kafka_conf_set_offset_commit_cb(conf.value().get(), OnCommit);
  rd_kafka_conf_set_error_cb(conf.value().get(), OnError);
  rd_kafka_conf_set_opaque(conf.value().get(), source.get());
  source->prefetch_bytes_ =
      std::atoll(ConfValue(conf.value().get(), "queued.max.messages.kbytes").c_str()) * 1024;
  source->prefetch_messages_ =
      std::atoll(ConfValue(conf.value().get(), "queued.min.messages").c_str());
  const std::string reset = ConfValue(conf.value().get(), "auto.offset.reset");
  if (reset == "smallest" || reset == "earliest" || reset == "beginning") {
    source->reset_offset_ = RD_KAFKA_OFFSET_BEGINNING;
  } else if (reset == "largest" || reset == "latest" || reset == "end") {
    source->reset_offset_ = RD_KAFKA_OFFSET_END;
  }
  auto rk = MakeKafkaClient(RD_KAFKA_CONSUMER, std::move(conf).value());
  if (!rk.ok()) return rk.status();
  source->rk_ = std::move(rk).value();
  // Route the main queue (rebalances, errors) through consumer_poll.
  rd_kafka_poll_set_consumer(source->rk_.get());
  source->queue_.reset(rd_kafka_queue_get_consumer(source->rk_.get()));

  if (Status s = CheckBrokers(source->rk_.get(), o.settings); !s.ok()) return s;
  if (Status s = EnsureTopic(source->rk_.get(), o.topic, o.settings); !s.ok()) return s;
  if (!grouped) {
    if (Status s = source->AssignAll(); !s.ok()) return s;
    return source;
  }
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(source->rk_.get(), topics.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Fatal(fmt::format("subscribe to {}: {}", o.topic, rd_kafka_err2str(err)));
  }
  spdlog::info("kafka: joining group {} on topic {} at {}", o.group, o.topic, o.settings.brokers);
  return source;
}

Status KafkaSource::AssignAll() {
  const KafkaSourceOptions& o = options_;
  auto leaders = PartitionLeaders(rk_.get(), o.topic, o.settings.connect_timeout);
  if (!leaders.ok()) return leaders.status().WithContext("partitions of " + o.topic);
  std::map<int32_t, int64_t> start;
  if (o.start_at_current_end) {
    // Numbers, not the logical end: that would be resolved only when fetching starts, after
    // records of this run may already be on the topic.
    auto ends = HighWatermarks(rk_.get(), o.topic, o.settings.connect_timeout);
    if (!ends.ok()) return ends.status().WithContext("end offsets of " + o.topic);
    start = std::move(ends).value();
  }
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(leaders.value().size())));
  for (const auto& [partition, leader] : leaders.value()) {
    auto it = start.find(partition);
    rd_kafka_topic_partition_t* added =
        rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), partition);
    added->offset = it != start.end()                          ? it->second
                    : reset_offset_ != RD_KAFKA_OFFSET_INVALID ? reset_offset_
                                                               : RD_KAFKA_OFFSET_BEGINNING;
    ProgressOf(partition) = Progress{.assigned = true, .start = added->offset};
  }
  leaders_ = std::move(leaders).value();
  if (const rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), list.get());
      err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Fatal(fmt::format("assign {}: {}", o.topic, rd_kafka_err2str(err)));
  }
  spdlog::info("kafka: reading {} without a consumer group (nothing committed) at {}",
               DescribePartitions(list.get()), o.settings.brokers);
  assigned_once_ = true;
  PublishHealth();
  return Status::Ok();
}

bool KafkaSource::FromThisRun(const rd_kafka_message_t& message) const {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(headers, "spate-run", &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return false;
  }
  return size == options_.run_id.size() && std::memcmp(value, options_.run_id.data(), size) == 0;
}

KafkaSource::~KafkaSource() { Close(); }

void KafkaSource::Close() {
  if (!rk_ || closed_) return;
  closed_ = true;
  spdlog::debug("kafka: woke stalled fetchers {} times", fetch_wakes_);
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
    for (int i = 0; i < partitions->cnt; ++i) {
      Progress& progress = ProgressOf(partitions->elems[i].partition);
      progress = Progress{.assigned = true, .batch_next = progress.batch_next};
    }
    // Only steers WakeStalledFetchers; without it every wake goes to the least read partitions.
    auto leaders = PartitionLeaders(rk_.get(), options_.topic, std::chrono::seconds(2));
    if (leaders.ok()) leaders_ = std::move(leaders).value();
    FillStartOffsets(partitions);
    for (int i = 0; i < partitions->cnt; ++i) {
      ProgressOf(partitions->elems[i].partition).start = partitions->elems[i].offset;
    }
    assigned_once_ = true;
    PublishHealth();
    metrics_due_ = {};  // The new partitions' lag at the end of the next Next.
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
    Progress& progress = ProgressOf(partitions->elems[i].partition);
    progress = Progress{.batch_next = progress.batch_next};  // A batch being read keeps its own.
    // Zero rather than removed: the registry keeps series; the new owner reports the lag.
    LagGauge(partitions->elems[i].partition).Set(0);
  }
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk_.get(), partitions)) {
      rd_kafka_error_destroy(e);
    }
  } else {
    rd_kafka_assign(rk_.get(), nullptr);
  }
}

void KafkaSource::FillStartOffsets(rd_kafka_topic_partition_list_t* partitions) {
  if (rd_kafka_committed(rk_.get(), partitions, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  for (int i = 0; i < partitions->cnt; ++i) {
    rd_kafka_topic_partition_t& partition = partitions->elems[i];
    if (partition.err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        partition.offset == RD_KAFKA_OFFSET_INVALID) {
      partition.offset = reset_offset_;  // INVALID again for auto.offset.reset=error.
    }
  }
}

void KafkaSource::OnCommit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || offsets == nullptr) return;  // _NO_OFFSET: nothing new.
  for (int i = 0; i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& p = offsets->elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR || p.offset < 0 || self->options_.topic != p.topic) {
      continue;
    }
    self->CommittedGauge(p.partition).Set(static_cast<double>(p.offset));
  }
}

void KafkaSource::OnError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  LogKafkaError(err, reason);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    auto* self = static_cast<KafkaSource*>(opaque);
    self->brokers_down_ = true;
    self->PublishHealth();
  }
}

Gauge& KafkaSource::LagGauge(int32_t partition) {
  std::lock_guard lock(gauges_mu_);
  Gauge*& gauge = lag_gauges_[partition];
  if (gauge == nullptr) {
    gauge =
        &metrics_->GetGauge("spate_kafka_consumer_lag_messages", kLagHelp,
                            {{"topic", options_.topic}, {"partition", std::to_string(partition)}});
  }
  return *gauge;
}

Gauge& KafkaSource::CommittedGauge(int32_t partition) {
  std::lock_guard lock(gauges_mu_);
  Gauge*& gauge = committed_gauges_[partition];
  if (gauge == nullptr) {
    gauge =
        &metrics_->GetGauge("spate_kafka_committed_offset", kCommittedHelp,
                            {{"topic", options_.topic}, {"partition", std::to_string(partition)}});
  }
  return *gauge;
}

void KafkaSource::PublishHealth() {
  if (brokers_down_) {
    Health().Set(HealthName(), false,
                 fmt::format("every Kafka broker is down ({})", options_.settings.brokers));
  } else if (!assigned_once_) {
    Health().Set(HealthName(), false,
                 options_.group.empty()
                     ? fmt::format("connecting to {}", options_.settings.brokers)
                     : fmt::format("waiting for partitions from group {}", options_.group));
  } else {
    Health().Set(HealthName(), true);
  }
}

void KafkaSource::PublishMetrics() {
  const auto now = std::chrono::steady_clock::now();
  if (brokers_down_ && now >= probe_due_) {
    // librdkafka says when every broker is down, not when one is back: ask one. Nothing flows
    // while they are all down, so a short wait here holds nothing up.
    probe_due_ = now + std::chrono::seconds(1);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk_.get(), 0, nullptr, &md, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
      brokers_down_ = false;
    }
  }
  PublishHealth();
  for (size_t index = 0; index < progress_.size(); ++index) {
    const Progress& progress = progress_[index];
    if (!progress.assigned) continue;
    const auto partition = static_cast<int32_t>(index);
    int64_t low = 0;
    int64_t high = 0;
    // librdkafka's cached watermarks, as of the partition's last fetch: no request.
    if (rd_kafka_get_watermark_offsets(rk_.get(), options_.topic.c_str(), partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    int64_t position = progress.next;
    if (position < 0) {  // Nothing read yet: where reading starts.
      position = progress.start >= 0                           ? progress.start
                 : progress.start == RD_KAFKA_OFFSET_BEGINNING ? std::max<int64_t>(low, 0)
                 : progress.start == RD_KAFKA_OFFSET_END       ? high
                                                               : -1;
    }
    if (position < 0) continue;  // Unknown until the first record.
    LagGauge(partition).Set(static_cast<double>(std::max<int64_t>(high - position, 0)));
  }
}

Result<SourceState> KafkaSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  using std::chrono::milliseconds;
  batch.origin = origin_;
  batch_bytes_ = 0;
  // A call that ended with an error left its batch's ends set; they belong to no batch now.
  for (const int32_t partition : batch_partitions_) {
    progress_[static_cast<size_t>(partition)].batch_next = -1;
  }
  batch_partitions_.clear();
  const auto idle_limit = milliseconds(200);
  const auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point first_message{};
  // Messages are taken from the queue in chunks: one lock and one clock read per chunk
  // instead of per message.
  std::array<rd_kafka_message_t*, 256> chunk{};
  // Linger is over: take what is queued already without waiting (so linger 0 still fills
  // batches from a busy topic), and stop at the first read that finds less than it asked.
  bool lingered = false;
  while (batch.records.size() < max_records && !stop.stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    auto wait = milliseconds(20);
    // librdkafka's batch read waits until it has `want` messages or its timeout passed.
    size_t want = std::min(chunk.size(), max_records - batch.records.size());
    if (batch.records.empty()) {
      // Come back empty now and then so the pipeline can notice a stop request.
      if (now - started >= idle_limit) break;
      // The first message of a batch starts its linger at once, not when the wait is over.
      want = 1;
    } else {
      const auto left = options_.linger - (now - first_message);
      lingered = left <= milliseconds(0);
      wait = lingered ? milliseconds(0) : std::min(wait, std::chrono::ceil<milliseconds>(left));
    }
    WakeStalledFetchers();
    const ssize_t got = rd_kafka_consume_batch_queue(queue_.get(), static_cast<int>(wait.count()),
                                                     chunk.data(), want);
    if (got <= 0) {
      if (lingered || ReachedEnd()) break;
      continue;
    }
    if (batch.records.empty()) first_message = std::chrono::steady_clock::now();
    Status failed = Status::Ok();
    for (ssize_t i = 0; i < got; ++i) {
      // A broker thread decompressed the next payload on another core: start fetching it.
      if (i + 1 < got) {
        const rd_kafka_message_t* next = chunk[static_cast<size_t>(i + 1)];
        if (next->payload != nullptr) PrefetchForRead(next->payload, next->len);
      }
      KafkaMessage message(chunk[static_cast<size_t>(i)]);
      if (failed.ok()) failed = Take(*message, batch);
    }
    if (!failed.ok()) return failed;
    if (ReachedEnd() || (lingered && static_cast<size_t>(got) < want)) break;
  }
  std::map<int32_t, int64_t> next_offsets;
  for (const int32_t partition : batch_partitions_) {
    Progress& progress = progress_[static_cast<size_t>(partition)];
    if (progress.batch_next >= 0) next_offsets[partition] = progress.batch_next;
    progress.batch_next = -1;
  }
  if (!next_offsets.empty() && !options_.group.empty()) {
    std::lock_guard lock(mu_);
    pending_[batch.sequence] = std::move(next_offsets);
  }
  if (batch_bytes_ > 0) bytes_consumed_->Add(std::exchange(batch_bytes_, 0));
  if (const auto now = std::chrono::steady_clock::now(); now >= metrics_due_) {
    metrics_due_ = now + kKafkaMetricsInterval;
    PublishMetrics();
  }
  if (ReachedEnd()) return SourceState::kFinished;
  if (stop.stop_requested()) return Status::Cancelled("stopped");
  return SourceState::kHaveMore;
}

KafkaSource::Progress& KafkaSource::ProgressOf(int32_t partition) {
  const auto index = static_cast<size_t>(std::max(partition, 0));
  if (index >= progress_.size()) progress_.resize(index + 1);
  return progress_[index];
}

Status KafkaSource::Take(const rd_kafka_message_t& message, Batch& batch) {
  if (message.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    ProgressOf(message.partition).next = message.offset;
    return Status::Ok();
  }
  if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::array<char, 512> errstr{};
    if (rd_kafka_fatal_error(rk_.get(), errstr.data(), errstr.size()) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Fatal(fmt::format("kafka consumer failed: {}", errstr.data()));
    }
    // Transient (broker restarting, leader moving): librdkafka retries by itself.
    spdlog::warn("kafka: {}", rd_kafka_message_errstr(&message));
    return Status::Ok();
  }
  if (!options_.run_id.empty() && !FromThisRun(message)) {
    // Another producer's record in this run's range: read past it.
    ProgressOf(message.partition).next = message.offset + 1;
    return Status::Ok();
  }
  RawRecord& record = batch.AddRecord();
  // With room to spare, so that the transform can parse the record where it is.
  ReserveRecordBuffer(record.json, message.len);
  record.json.assign(static_cast<const char*>(message.payload), message.len);
  record.position = static_cast<uint64_t>(message.offset);
  record.partition = message.partition;
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  const int64_t timestamp_ms = rd_kafka_message_timestamp(&message, &timestamp_type);
  // LogAppendTime is when the broker stored it, not when spate took it in.
  if (timestamp_type == RD_KAFKA_TIMESTAMP_CREATE_TIME && timestamp_ms > 0) {
    record.ingest_us = timestamp_ms * 1000;
  }
  if (message.key != nullptr) {
    record.key.assign(static_cast<const char*>(message.key), message.key_len);
  }
  Progress& progress = ProgressOf(message.partition);
  if (progress.batch_next < 0) batch_partitions_.push_back(message.partition);
  progress.batch_next = message.offset + 1;
  progress.next = message.offset + 1;
  progress.last_read = ++reads_;
  average_bytes_ += (static_cast<double>(message.len) - average_bytes_) / 64;
  batch_bytes_ += message.len;
  ++batch.source_records;
  return Status::Ok();
}

void KafkaSource::WakeStalledFetchers() {
  if (prefetch_bytes_ <= 0 || prefetch_messages_ <= 0) return;
  const auto queued = static_cast<double>(rd_kafka_queue_length(queue_.get()));
  // librdkafka compares the queue's payload bytes; the count times the average is close.
  const double fill = std::max(queued * average_bytes_ / static_cast<double>(prefetch_bytes_),
                               queued / static_cast<double>(prefetch_messages_));
  if (fill >= 0.75) {
    prefetch_was_full_ = true;
    return;
  }
  if (!prefetch_was_full_ || fill > 0.25) return;
  prefetch_was_full_ = false;

  // Per leader, the assigned partition read least recently; with no leaders known, the three
  // least recently read. Partitions never read have no offset to seek to yet.
  std::map<int32_t, std::pair<uint64_t, int32_t>> pick;  // leader -> (last read, partition)
  for (size_t index = 0; index < progress_.size(); ++index) {
    const Progress& progress = progress_[index];
    if (!progress.assigned || progress.last_read == 0) continue;
    const auto partition = static_cast<int32_t>(index);
    const uint64_t last = progress.last_read;
    auto leader = leaders_.find(partition);
    const int32_t key = leader != leaders_.end() ? leader->second : -1 - (partition % 3);
    auto [it, inserted] = pick.try_emplace(key, last, partition);
    if (!inserted && last < it->second.first) it->second = {last, partition};
  }
  if (pick.empty()) return;
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(pick.size())));
  for (const auto& [leader, chosen] : pick) {
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), chosen.second)->offset =
        progress_[static_cast<size_t>(chosen.second)].next;
  }
  // Asynchronous (timeout 0). librdkafka raises the partition's version barrier before this
  // returns, so a message of it queued before the seek is dropped, never delivered twice.
  if (rd_kafka_error_t* error = rd_kafka_seek_partitions(rk_.get(), list.get(), 0)) {
    spdlog::debug("kafka: seek to wake the fetchers: {}", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return;
  }
  ++fetch_wakes_;
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
  if (!stop_at_) return false;
  bool any = false;
  for (size_t index = 0; index < progress_.size(); ++index) {
    const Progress& progress = progress_[index];
    if (!progress.assigned) continue;
    any = true;
    auto end = stop_at_->find(static_cast<int32_t>(index));
    if (end == stop_at_->end() || end->second == 0) continue;
    if (progress.next < end->second) return false;
  }
  return any;
}

std::string KafkaSource::Describe() const {
  if (options_.group.empty()) {
    return fmt::format("kafka {} (no group) at {}", options_.topic, options_.settings.brokers);
  }
  return fmt::format("kafka {} (group {}) at {}", options_.topic, options_.group,
                     options_.settings.brokers);
}

}  // namespace spate
