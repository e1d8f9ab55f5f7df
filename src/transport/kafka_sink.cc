#include "transport/kafka_sink.h"

#include <algorithm>
#include <array>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "observe/feeds.h"

namespace spate {
namespace {

constexpr std::string_view kBytesHelp =
    "Record (message value) bytes produced to or consumed from Kafka";
constexpr std::string_view kQueueHelp =
    "Messages waiting in the Kafka producers (not yet delivered or failed)";

Counter* ProducedBytes(MetricsRegistry& metrics, const std::string& topic) {
  if (topic.empty()) return nullptr;
  return &metrics.GetCounter("spate_kafka_bytes_total", kBytesHelp,
                             {{"topic", topic}, {"direction", "produced"}});
}

}  // namespace

KafkaProducerSink::KafkaProducerSink(KafkaProducerOptions options) : options_(std::move(options)) {
  MetricsRegistry& metrics = options_.metrics != nullptr ? *options_.metrics : Metrics();
  bytes_produced_ = ProducedBytes(metrics, options_.topic);
  bytes_dead_ = ProducedBytes(metrics, options_.dlq_topic);
  queue_gauge_ = &metrics.GetGauge("spate_kafka_producer_queue_messages", kQueueHelp);
}

KafkaProducerSink::~KafkaProducerSink() {
  if (rk_) (void)Close();
}

KafkaOptions KafkaProducerSink::ProducerDefaults() const {
  return {
      // No duplicates or reordering from the producer's own retries; implies acks=all.
      {"enable.idempotence", "true"},
      // A metadata probe must not make the broker auto-create a topic with its own defaults;
      // EnsureTopic creates missing topics with --partitions and --replication-factor.
      {"allow.auto.create.topics", "false"},
      {"compression.type", options_.compression},
      // Throughput: fill large batches, but a slow stream waits at most `linger` for one.
      {"linger.ms", std::to_string(options_.linger.count())},
      {"batch.num.messages", "10000"},
      {"batch.size", "1048576"},
      // Bounds what librdkafka buffers (memory stays flat when the cluster is slow).
      {"queue.buffering.max.kbytes", "65536"},
      {"message.timeout.ms", std::to_string(options_.delivery_timeout.count())},
  };
}

std::string KafkaProducerSink::HealthName() const {
  return "sink kafka " + (options_.topic.empty() ? options_.dlq_topic : options_.topic);
}

Status KafkaProducerSink::Open() {
  Health().Set(HealthName(), false, fmt::format("connecting to {}", options_.settings.brokers));
  Status status = Connect();
  connected_ = status.ok();
  if (status.ok()) {
    PublishHealth();
  } else {
    Health().Set(HealthName(), false, status.message());
  }
  return status;
}

void KafkaProducerSink::OnError(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  LogKafkaError(err, reason);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    auto* self = static_cast<KafkaProducerSink*>(opaque);
    self->brokers_down_ = true;
    self->PublishHealth();
  }
}

void KafkaProducerSink::PublishHealth() {
  if (!connected_) return;  // Open says why.
  if (brokers_down_) {
    Health().Set(HealthName(), false,
                 fmt::format("every Kafka broker is down ({})", options_.settings.brokers));
  } else {
    Health().Set(HealthName(), true);
  }
}

void KafkaProducerSink::PublishMetrics(bool now) {
  if (delivered_bytes_ > 0 && bytes_produced_ != nullptr) {
    bytes_produced_->Add(std::exchange(delivered_bytes_, 0));
  }
  if (delivered_dead_bytes_ > 0 && bytes_dead_ != nullptr) {
    bytes_dead_->Add(std::exchange(delivered_dead_bytes_, 0));
  }
  const auto time = std::chrono::steady_clock::now();
  if (!now && time < metrics_due_) return;
  metrics_due_ = time + kKafkaMetricsInterval;
  if (brokers_down_ && time >= probe_due_) {
    // librdkafka says when every broker is down, not when one is back: ask one. Nothing is
    // delivered while they are all down, so a short wait here holds nothing up.
    probe_due_ = time + std::chrono::seconds(1);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk_.get(), 0, nullptr, &md, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
      brokers_down_ = false;
    }
  }
  PublishHealth();
  double queued = rd_kafka_outq_len(rk_.get());
  if (alone_rk_) queued += rd_kafka_outq_len(alone_rk_.get());
  queue_gauge_->Add(queued - std::exchange(queue_reported_, queued));
}

Status KafkaProducerSink::Connect() {
  auto conf = MakeKafkaConf(options_.settings, ProducerDefaults());
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_error_cb(conf.value().get(), OnError);
  rd_kafka_conf_set_dr_msg_cb(conf.value().get(), OnDelivery);
  rd_kafka_conf_set_opaque(conf.value().get(), this);
  auto rk = MakeKafkaClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  if (!rk.ok()) return rk.status();
  rk_ = std::move(rk).value();
  if (Status s = CheckBrokers(rk_.get(), options_.settings); !s.ok()) return s;
  for (const std::string* topic : {&options_.topic, &options_.dlq_topic}) {
    if (topic->empty()) continue;
    if (Status s = EnsureTopic(rk_.get(), *topic, options_.settings); !s.ok()) return s;
  }
  if (!options_.topic.empty()) {
    topic_.reset(rd_kafka_topic_new(rk_.get(), options_.topic.c_str(), nullptr));
  }
  if (!options_.dlq_topic.empty()) {
    dlq_topic_.reset(rd_kafka_topic_new(rk_.get(), options_.dlq_topic.c_str(), nullptr));
  }
  return Status::Ok();
}

namespace {

// The message opaque: the batch's ticket (32 bits), the form the message was sent in (2 bits),
// its index.
constexpr int kFormShift = 30;
constexpr uintptr_t kIndexMask = (uintptr_t{1} << kFormShift) - 1;

// reason, origin, position and item headers of a dead-letter message (a new list: librdkafka
// takes it over when the message is produced).
rd_kafka_headers_t* DeadLetterHeaders(std::string_view reason, std::string_view origin,
                                      uint64_t position, uint32_t item) {
  rd_kafka_headers_t* headers = rd_kafka_headers_new(5);
  const std::string position_text = std::to_string(position);
  const std::string item_text = std::to_string(item);
  for (const auto& [name, value] : {std::pair<const char*, std::string_view>{"reason", reason},
                                    {"origin", origin},
                                    {"position", position_text},
                                    {"item", item_text}}) {
    rd_kafka_header_add(headers, name, -1, value.data(), static_cast<ssize_t>(value.size()));
  }
  return headers;
}

}  // namespace

void KafkaProducerSink::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* message,
                                   void* opaque) {
  auto* self = static_cast<KafkaProducerSink*>(opaque);
  const auto packed = reinterpret_cast<uintptr_t>(message->_private);
  const auto ticket = static_cast<uint32_t>(packed >> 32);
  const auto form = static_cast<Form>((packed >> kFormShift) & 3);
  const size_t index = packed & kIndexMask;
  auto it = self->in_flight_.find(ticket);
  if (it == self->in_flight_.end() || index >= it->second.delivered.size()) return;
  InFlight& f = it->second;
  if (message->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && !self->interrupted_) {
    // Still outstanding: Poll sends it again (producing from inside a delivery report would
    // re-enter librdkafka's poll when its queue is full). A record refused with its batch is
    // tried alone first: the broker checks its limit per batch, and its neighbours may have
    // been what made the batch too large.
    const bool record = index < f.records;
    if (form == Form::kAsIs && record) {
      self->refusals_.push_back(
          Refusal{ticket, index, Form::kAlone, rd_kafka_err2str(message->err)});
      return;
    }
    if (form != Form::kDeadLetter && self->dlq_topic_ != nullptr) {
      self->refusals_.push_back(
          Refusal{ticket, index, Form::kDeadLetter, rd_kafka_err2str(message->err)});
      return;
    }
  }
  --f.outstanding;
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    f.delivered[index] = 1;
    (form == Form::kDeadLetter || index >= f.records ? self->delivered_dead_bytes_
                                                     : self->delivered_bytes_) += message->len;
    // A delivery proves a broker is up (cheaper than the probe; relaxed load per message).
    if (self->brokers_down_.load(std::memory_order_relaxed)) self->brokers_down_ = false;
    if (form == Form::kDeadLetter && index < f.records) ++f.refused;
  } else {
    ++f.failed;
    if (!IsRetriableKafkaError(message->err)) f.any_fatal = true;
    if (f.first_error.empty()) {
      f.first_error = form == Form::kDeadLetter
                          ? fmt::format(
                                "the dead letter of a message Kafka refused was refused "
                                "too: {}",
                                rd_kafka_err2str(message->err))
                          : rd_kafka_err2str(message->err);
    }
  }
  self->MaybeComplete(ticket);
}

void KafkaProducerSink::MaybeComplete(uint32_t ticket) {
  auto it = in_flight_.find(ticket);
  if (it == in_flight_.end() || it->second.outstanding > 0) return;
  InFlight& f = it->second;
  Status status;
  if (f.failed > 0) {
    const std::string message = fmt::format("{} of {} messages not delivered: {}", f.failed,
                                            f.delivered.size(), f.first_error);
    status = f.any_fatal ? Status::Fatal(message) : Status::Retriable(message);
    retry_state_[f.sequence] = RetryState{std::move(f.delivered), f.refused};
  } else {
    refused_ += f.refused;
  }
  completed_.push_back(Completion{f.sequence, std::move(status)});
  in_flight_.erase(it);
}

Status KafkaProducerSink::Produce(rd_kafka_t* rk, rd_kafka_topic_t* topic, uint32_t ticket,
                                  size_t index, Form form, std::string_view key,
                                  std::string_view value, int64_t timestamp_ms,
                                  rd_kafka_headers_t* headers, bool copy,
                                  rd_kafka_resp_err_t* code) {
  void* opaque =
      reinterpret_cast<void*>((static_cast<uintptr_t>(ticket) << 32) |
                              (static_cast<uintptr_t>(form) << kFormShift) | (index & kIndexMask));
  const void* key_data = key.empty() ? nullptr : key.data();  // Always copied by librdkafka.
  void* value_data = const_cast<char*>(value.data());         // Never written by librdkafka.
  const int flags = copy ? RD_KAFKA_MSG_F_COPY : 0;
  while (true) {
    const rd_kafka_resp_err_t err =
        headers == nullptr
            ? rd_kafka_producev(
                  rk, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_MSGFLAGS(flags),
                  RD_KAFKA_V_KEY(key_data, key.size()), RD_KAFKA_V_VALUE(value_data, value.size()),
                  RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END)
            : rd_kafka_producev(rk, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_MSGFLAGS(flags),
                                RD_KAFKA_V_KEY(key_data, key.size()),
                                RD_KAFKA_V_VALUE(value_data, value.size()),
                                RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_HEADERS(headers),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    *code = err;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || interrupted_) {
      if (headers != nullptr) rd_kafka_headers_destroy(headers);  // Not taken on failure.
      if (interrupted_) return Status::Cancelled("interrupted");
      return Status::Fatal(
          fmt::format("produce to {}: {}", rd_kafka_topic_name(topic), rd_kafka_err2str(err)));
    }
    // librdkafka's buffer is full (the cluster is slower than we are): serve delivery reports
    // until there is room. This is the backpressure that keeps memory flat.
    rd_kafka_poll(rk, 10);
  }
}

Status KafkaProducerSink::ProduceReplacement(uint32_t ticket, InFlight& f, size_t index,
                                             const std::string& why) {
  if (dlq_topic_ == nullptr) return Status::Fatal("no dead-letter topic for a refused message");
  if (f.batch == nullptr) return Status::Cancelled("the batch is no longer held");
  const Batch& batch = *f.batch;
  std::string_view raw;
  std::string reason;
  std::string origin;
  uint64_t position = 0;
  uint32_t item = 0;
  if (index < f.records) {
    const RawRecord& record = batch.records[index];
    raw = record.json;
    origin =
        record.partition < 0 ? batch.origin : fmt::format("{}/{}", batch.origin, record.partition);
    position = record.position;
    item = record.item;
    reason = fmt::format("Kafka refused the record ({} bytes): {}", raw.size(), why);
  } else {
    const DeadLetter& dead = batch.dead[index - f.records];
    raw = dead.raw;
    origin = dead.origin;
    position = dead.position;
    item = dead.item;
    reason = dead.reason;
  }
  rd_kafka_headers_t* headers = DeadLetterHeaders(reason, origin, position, item);
  if (raw.size() > kRefusedPrefixBytes) {
    const std::string size = std::to_string(raw.size());
    rd_kafka_header_add(headers, "truncated", -1, size.data(), static_cast<ssize_t>(size.size()));
    raw = raw.substr(0, kRefusedPrefixBytes);
  }
  spdlog::warn("kafka: {} at {}@{}: sent to {} instead", reason, origin, position,
               options_.dlq_topic);
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  Status status = Produce(rk_.get(), dlq_topic_.get(), ticket, index, Form::kDeadLetter,
                          fmt::format("{}@{}", origin, position), raw, /*timestamp_ms=*/0, headers,
                          /*copy=*/true, &code);
  if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    return Status::Fatal(
        fmt::format("the dead letter of a message Kafka refused as too large was refused too ({}); "
                    "message.max.bytes is below {} bytes",
                    status.message(), kRefusedPrefixBytes));
  }
  return status;
}

Status KafkaProducerSink::ProduceAlone(uint32_t ticket, InFlight& f, size_t index) {
  if (f.batch == nullptr) return Status::Cancelled("the batch is no longer held");
  if (!alone_rk_) {
    KafkaSettings settings = options_.settings;
    // After the user's options: this producer exists to send one message per batch.
    settings.options.emplace_back("batch.num.messages", "1");
    settings.options.emplace_back("linger.ms", "0");
    auto conf = MakeKafkaConf(settings, ProducerDefaults());
    if (!conf.ok()) return conf.status();
    rd_kafka_conf_set_dr_msg_cb(conf.value().get(), OnDelivery);
    rd_kafka_conf_set_opaque(conf.value().get(), this);
    auto rk = MakeKafkaClient(RD_KAFKA_PRODUCER, std::move(conf).value());
    if (!rk.ok()) return rk.status();
    alone_rk_ = std::move(rk).value();
    alone_topic_.reset(rd_kafka_topic_new(alone_rk_.get(), options_.topic.c_str(), nullptr));
  }
  const RawRecord& record = f.batch->records[index];
  rd_kafka_headers_t* headers = nullptr;
  if (!options_.run_id.empty()) {
    headers = rd_kafka_headers_new(1);
    rd_kafka_header_add(headers, "spate-run", -1, options_.run_id.data(),
                        static_cast<ssize_t>(options_.run_id.size()));
  }
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
  Status status = Produce(alone_rk_.get(), alone_topic_.get(), ticket, index, Form::kAlone,
                          record.key, record.json, record.ingest_us / 1000, headers,
                          /*copy=*/true, &code);
  if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
    return ProduceReplacement(ticket, f, index, rd_kafka_err2str(code));
  }
  return status;
}

void KafkaProducerSink::ReplaceRefused() {
  while (!refusals_.empty()) {
    std::vector<Refusal> todo;
    todo.swap(refusals_);
    const auto alone = std::count_if(todo.begin(), todo.end(),
                                     [](const Refusal& r) { return r.next == Form::kAlone; });
    if (alone > 0) {
      spdlog::warn(
          "kafka: the broker refused {} records with their batch ({}); sending each "
          "again in a batch of its own",
          alone, todo.front().why);
    }
    for (const Refusal& refusal : todo) {
      auto it = in_flight_.find(refusal.ticket);
      if (it == in_flight_.end()) continue;
      InFlight& f = it->second;
      const Status status = interrupted_ ? Status::Cancelled("interrupted")
                            : refusal.next == Form::kAlone
                                ? ProduceAlone(refusal.ticket, f, refusal.index)
                                : ProduceReplacement(refusal.ticket, f, refusal.index, refusal.why);
      if (status.ok()) continue;  // Still outstanding, now as its dead letter.
      --f.outstanding;
      ++f.failed;
      f.any_fatal = true;
      if (f.first_error.empty()) f.first_error = status.message();
      MaybeComplete(refusal.ticket);
    }
  }
}

Status KafkaProducerSink::Submit(const Batch& batch) { return SubmitBatch(batch, false, nullptr); }

Status KafkaProducerSink::SubmitBatch(const Batch& batch, bool copy, uint32_t* ticket_out) {
  const bool produce_records = topic_ != nullptr;
  const bool produce_dead = dlq_topic_ != nullptr;
  const size_t records = produce_records ? batch.records.size() : 0;
  const size_t total = records + (produce_dead ? batch.dead.size() : 0);
  const uint32_t ticket = next_ticket_++;
  if (ticket_out != nullptr) *ticket_out = ticket;
  InFlight& f = in_flight_[ticket];
  f.sequence = batch.sequence;
  f.batch = &batch;
  f.records = records;
  // A resubmitted batch sends only what was not delivered the first time.
  if (auto retry = retry_state_.find(batch.sequence);
      retry != retry_state_.end() && retry->second.delivered.size() == total) {
    f.delivered = std::move(retry->second.delivered);
    f.refused = retry->second.refused;
    retry_state_.erase(retry);
  } else {
    f.delivered.assign(total, 0);
  }

  Status status;
  size_t index = 0;
  auto send = [&](rd_kafka_topic_t* topic, std::string_view key, std::string_view value,
                  int64_t timestamp_ms, rd_kafka_headers_t* headers) {
    if (f.delivered[index] || !status.ok()) {
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
    } else {
      rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
      status = Produce(rk_.get(), topic, ticket, index, Form::kAsIs, key, value, timestamp_ms,
                       headers, copy, &code);
      if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && produce_dead) {
        // Over message.max.bytes: librdkafka refuses it here, before any broker sees it.
        status = ProduceReplacement(ticket, f, index, rd_kafka_err2str(code));
      }
      if (status.ok()) ++f.outstanding;
    }
    ++index;
  };
  if (produce_records) {
    for (const RawRecord& record : batch.records) {
      rd_kafka_headers_t* headers = nullptr;
      if (!options_.run_id.empty()) {
        headers = rd_kafka_headers_new(1);
        rd_kafka_header_add(headers, "spate-run", -1, options_.run_id.data(),
                            static_cast<ssize_t>(options_.run_id.size()));
      }
      send(topic_.get(), record.key, record.json, record.ingest_us / 1000, headers);
    }
  }
  if (produce_dead) {
    for (const DeadLetter& dead : batch.dead) {
      send(dlq_topic_.get(), fmt::format("{}@{}", dead.origin, dead.position), dead.raw,
           /*timestamp_ms=*/0,
           DeadLetterHeaders(dead.reason, dead.origin, dead.position, dead.item));
    }
  }
  if (!status.ok()) {
    // The caller stops the pipeline on this error. Messages already handed over still get
    // their reports, and the ticket completes (failed) after the last of them.
    f.failed = 1;
    f.any_fatal = true;
    f.first_error = status.message();
    MaybeComplete(ticket);  // With nothing handed over, no report would ever complete it.
    return status;
  }
  MaybeComplete(ticket);  // Nothing to send (or all sent before): complete at once.
  return Status::Ok();
}

std::vector<Sink::Completion> KafkaProducerSink::Poll(std::chrono::milliseconds timeout) {
  if (interrupted_ && !purged_) {
    // Abort: stop waiting for the cluster; purged messages get their reports at once.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (alone_rk_) {
      rd_kafka_purge(alone_rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
    purged_ = true;
  }
  // Completions already waiting are returned without blocking.
  rd_kafka_poll(rk_.get(), completed_.empty() ? static_cast<int>(timeout.count()) : 0);
  if (alone_rk_) rd_kafka_poll(alone_rk_.get(), 0);
  ReplaceRefused();
  std::array<char, 512> errstr{};
  if (rd_kafka_fatal_error(rk_.get(), errstr.data(), errstr.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    completed_.push_back(Completion{
        kAnyBatch, Status::Fatal(fmt::format("kafka producer failed: {}", errstr.data()))});
  }
  PublishMetrics(/*now=*/false);
  std::vector<Completion> out;
  out.swap(completed_);
  return out;
}

Status KafkaProducerSink::Write(const Batch& batch) {
  const bool nothing =
      (topic_ == nullptr || batch.records.empty()) && (dlq_topic_ == nullptr || batch.dead.empty());
  if (nothing) {
    // The usual case for the dead-letter producer. Serve librdkafka's callbacks anyway (no
    // wait), so that its health check hears when every broker goes down.
    rd_kafka_poll(rk_.get(), 0);
    PublishMetrics(/*now=*/false);
    return Status::Ok();
  }
  uint32_t ticket = 0;
  if (Status s = SubmitBatch(batch, /*copy=*/true, &ticket); !s.ok()) return s;
  // Returning before the ticket completes leaves `batch` to its caller: a refused message of
  // it can no longer be replaced by its dead letter (it fails instead).
  auto forget_batch = [&] {
    if (auto it = in_flight_.find(ticket); it != in_flight_.end()) it->second.batch = nullptr;
  };
  const auto started = std::chrono::steady_clock::now();
  while (true) {
    for (Completion& c : Poll(std::chrono::milliseconds(50))) {
      if (c.sequence == batch.sequence || c.sequence == kAnyBatch) {
        forget_batch();
        return std::move(c.status);
      }
    }
    if (purged_ && std::chrono::steady_clock::now() - started > std::chrono::seconds(10)) {
      forget_batch();
      return Status::Cancelled("interrupted while waiting for delivery reports");
    }
  }
}

Status KafkaProducerSink::Close() {
  if (!rk_) return Status::Ok();
  // After an abort, what is still queued is dropped rather than waited for.
  for (rd_kafka_t* rk : {alone_rk_.get(), rk_.get()}) {
    if (rk != nullptr && interrupted_) {
      rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    }
  }
  // Normally nothing is outstanding (batches complete first); flush serves stragglers.
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (alone_rk_) err = rd_kafka_flush(alone_rk_.get(), 10000);
  alone_topic_.reset();
  alone_rk_.reset();
  if (const rd_kafka_resp_err_t main = rd_kafka_flush(rk_.get(), 10000);
      err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    err = main;
  }
  PublishMetrics(/*now=*/true);                           // The stragglers' bytes.
  queue_gauge_->Add(-std::exchange(queue_reported_, 0));  // This producer's share goes.
  topic_.reset();
  dlq_topic_.reset();
  rk_.reset();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Fatal(fmt::format("kafka flush: {}", rd_kafka_err2str(err)));
  }
  return Status::Ok();
}

std::string KafkaProducerSink::Describe() const {
  std::string what = options_.topic.empty() ? options_.dlq_topic
                     : options_.dlq_topic.empty()
                         ? options_.topic
                         : fmt::format("{} (dead letters: {})", options_.topic, options_.dlq_topic);
  return fmt::format("kafka {} at {}", what, options_.settings.brokers);
}

}  // namespace spate
