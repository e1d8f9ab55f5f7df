// KafkaProducerSink: a Sink that produces to Kafka.
//
// batch.records (raw user objects, login secrets removed) go to `topic` keyed by login.uuid:
// this is `spate produce`. batch.dead go to `dlq_topic` with the reason, origin and position
// as headers: the dead-letter topic of both produce and process.
//
// Delivery: a batch completes (Poll reports it, or Write returns ok) only when every one of
// its messages has a successful delivery report, so the pipeline acknowledges nothing Kafka
// has not confirmed. `spate produce` keeps several batches in flight (Submit/Poll); the
// dead-letter producer of `spate process` writes synchronously (Write). The producer is
// idempotent (no duplicates or reordering from its own retries), and a resubmitted batch
// resends only the messages whose delivery failed. Submit hands librdkafka the batch's own
// bytes (without the copy produce ran 2-11% faster, docs/benchmarks.md); the pipeline keeps
// a submitted batch until Poll reports it complete (sinks/sink.h). Write copies, as it may
// return before every report has arrived (on an interrupt or a failure of the producer).
//
// Thread-safety: Write/Open/Close from the pipeline's sink thread; Interrupt from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "sinks/sink.h"
#include "transport/kafka.h"

namespace spate {

struct KafkaProducerOptions {
  KafkaSettings settings;
  std::string topic;      // Destination of batch.records; empty: records are not produced.
  std::string dlq_topic;  // Destination of batch.dead; empty: dead letters are not produced.
  std::string compression = "lz4";
  // How long librdkafka keeps retrying one message (message.timeout.ms) before the batch
  // fails with a retriable error.
  std::chrono::milliseconds delivery_timeout{120000};
};

class KafkaProducerSink : public Sink {
 public:
  explicit KafkaProducerSink(KafkaProducerOptions options);
  ~KafkaProducerSink() override;
  KafkaProducerSink(const KafkaProducerSink&) = delete;
  KafkaProducerSink& operator=(const KafkaProducerSink&) = delete;

  Status Open() override;
  Status Write(const Batch& batch) override;
  Status Close() override;
  void Interrupt() override { interrupted_ = true; }
  std::string Describe() const override;

  bool pipelined() const override { return true; }
  Status Submit(const Batch& batch) override;
  std::vector<Completion> Poll(std::chrono::milliseconds timeout) override;

 private:
  // One submitted batch; delivery reports find it through the ticket in the message opaque.
  struct InFlight {
    uint64_t sequence = 0;
    std::vector<uint8_t> delivered;  // Per message: records first, then dead letters.
    size_t outstanding = 0;
    size_t failed = 0;
    bool any_fatal = false;
    std::string first_error;
  };
  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
  };
  using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  // copy: librdkafka copies the value; else it reads `value` until the delivery report.
  Status Produce(rd_kafka_topic_t* topic, uint32_t ticket, size_t index, std::string_view key,
                 std::string_view value, rd_kafka_headers_t* headers, bool copy);
  Status SubmitBatch(const Batch& batch, bool copy);
  // Reports `ticket` complete once nothing of it is outstanding.
  void MaybeComplete(uint32_t ticket);

  const KafkaProducerOptions options_;
  KafkaHandle rk_;
  TopicHandle topic_;
  TopicHandle dlq_topic_;
  // All touched only on the sink thread (delivery reports are served by Poll/Write there).
  uint32_t next_ticket_ = 0;
  std::unordered_map<uint32_t, InFlight> in_flight_;
  // Delivered flags of batches whose last attempt failed, for their resubmission.
  std::unordered_map<uint64_t, std::vector<uint8_t>> retry_state_;
  std::vector<Completion> completed_;
  bool purged_ = false;
  std::atomic<bool> interrupted_{false};
};

}  // namespace spate
