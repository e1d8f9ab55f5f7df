// KafkaProducerSink: a Sink that produces to Kafka.
//
// batch.records (raw user objects, login secrets removed) go to `topic` keyed by login.uuid:
// this is `spate produce`. batch.dead go to `dlq_topic` with the reason, origin, position and
// item as headers: the dead-letter topic of both produce and process.
//
// Delivery: a batch completes (Poll reports it, or Write returns ok) only when every one of
// its messages has a successful delivery report, so the pipeline acknowledges nothing Kafka
// has not confirmed. `spate produce` keeps several batches in flight (Submit/Poll); the
// dead-letter producer of `spate process` writes synchronously (Write). The producer is
// idempotent (no duplicates or reordering from its own retries), and a resubmitted batch
// resends only the messages whose delivery failed.
//
// Time: a record's ingest time (RawRecord::ingest_us, when set) is its message timestamp
// (CreateTime, milliseconds), so a consumer reads back when the record was taken in and the
// end-to-end latency spans the topic. A record without one gets librdkafka's "now".
//
// Too large for Kafka: a message refused with "Message size too large" is not a failure of
// the batch. A broker checks its limit per record batch, so a record refused with its batch
// is first sent again alone (through a second producer that puts one message in each batch,
// made when first needed); a record refused alone, or by librdkafka at produce time (over
// message.max.bytes), and a dead letter refused, is replaced by a dead letter on `dlq_topic`
// with the reason, its origin/position/item headers and the first kRefusedPrefixBytes of its
// bytes (header "truncated" = its full size). The batch goes on and completes once every
// message is delivered in one of these forms. Records replaced by dead letters are counted by
// TakeRefused (the run counts them as rejected, not stored). Without a dlq_topic, or when
// even the shortened dead letter is refused, the batch fails as before.
//
// Metrics (src/observe/README.md): spate_kafka_bytes_total{direction="produced"} (delivered
// message values, per topic) once per Poll; spate_kafka_producer_queue_messages (librdkafka's
// outq_len, summed over the process's producers) at most every kKafkaMetricsInterval. Health:
// "sink kafka <topic>" is ready once Open has reached the brokers, not ready while librdkafka
// reports every broker down, and ready again once a broker answers or a message is delivered.
//
// Submit hands librdkafka the batch's own bytes (without the copy produce ran 2-11% faster,
// docs/benchmarks.md); the pipeline keeps a submitted batch until Poll reports it complete
// (sinks/sink.h). Write copies, as it may return before every report has arrived (on an
// interrupt or a failure of the producer).
//
// Thread-safety: Write/Open/Close from the pipeline's sink thread; Interrupt from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "observe/metrics.h"
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
  // Non-empty: every record carries it in a "spate-run" header, so that the consumer of the
  // same `run --transport kafka` takes its own records only (KafkaSourceOptions::run_id).
  std::string run_id;
  // librdkafka's linger.ms: the longest a partly filled batch waits in the producer for more
  // messages (the `linger` setting). An explicit linger.ms among the user's options wins.
  std::chrono::milliseconds linger{5};
  // Where metrics go; nullptr: the process's Metrics().
  MetricsRegistry* metrics = nullptr;
};

// What a dead letter of a message Kafka refused as too large keeps of its bytes: a prefix, as
// the whole would be refused again (the dead-letter topic is on the same brokers).
inline constexpr size_t kRefusedPrefixBytes = 1024;

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
  std::string_view kind() const override { return "kafka"; }
  // The dead-letter producer of `spate process` (no records topic) keeps none of the rows.
  bool stores_rows() const override { return !options_.topic.empty(); }
  uint64_t TakeRefused() override { return std::exchange(refused_, 0); }

  bool pipelined() const override { return true; }
  Status Submit(const Batch& batch) override;
  std::vector<Completion> Poll(std::chrono::milliseconds timeout) override;

  // "sink kafka <topic>" (the dead-letter topic when no records are produced): the name of
  // this sink's health check.
  std::string HealthName() const;

 private:
  // One submitted batch; delivery reports find it through the ticket in the message opaque.
  struct InFlight {
    uint64_t sequence = 0;
    const Batch* batch = nullptr;    // For replacing refused messages (see above).
    std::vector<uint8_t> delivered;  // Per message: records first, then dead letters.
    size_t records = 0;              // Messages below this index are batch->records.
    size_t refused = 0;              // Records delivered as dead letters in their place.
    size_t outstanding = 0;
    size_t failed = 0;
    bool any_fatal = false;
    std::string first_error;
  };
  // What a batch whose last attempt failed had achieved, for its resubmission.
  struct RetryState {
    std::vector<uint8_t> delivered;
    size_t refused = 0;
  };
  // A message is sent as itself or, after Kafka refused it as too large, as a dead letter.
  // A message is sent as itself; after the broker refused its batch as too large, alone
  // (kAlone: the rest of the batch may have been small enough); after it was refused alone
  // (or by librdkafka, or is a dead letter), as a shortened dead letter.
  enum class Form : uint32_t { kAsIs = 0, kAlone = 1, kDeadLetter = 2 };
  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
  };
  using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  // Open without the health check.
  Status Connect();
  // Adds the delivered bytes to the counters; every kKafkaMetricsInterval also the queue
  // gauge and the health check. Sink thread.
  void PublishMetrics(bool now);
  void PublishHealth();
  // copy: librdkafka copies the value; else it reads `value` until the delivery report.
  // *code gets librdkafka's error (NO_ERROR on success).
  // timestamp_ms: the message timestamp, 0 for librdkafka's "now".
  Status Produce(rd_kafka_t* rk, rd_kafka_topic_t* topic, uint32_t ticket, size_t index, Form form,
                 std::string_view key, std::string_view value, int64_t timestamp_ms,
                 rd_kafka_headers_t* headers, bool copy, rd_kafka_resp_err_t* code);
  // Sends message `index` of `f` as a shortened dead letter (see "Too large" above).
  Status ProduceReplacement(uint32_t ticket, InFlight& f, size_t index, const std::string& why);
  // Sends record `index` of `f` again through the one-message-per-batch producer.
  Status ProduceAlone(uint32_t ticket, InFlight& f, size_t index);
  // Sends again, alone or as dead letters, the messages the broker refused as too large
  // (queued by OnDelivery, which must not produce from inside a delivery report).
  void ReplaceRefused();
  // librdkafka settings of both producers.
  KafkaOptions ProducerDefaults() const;
  // *ticket_out (if given) gets the batch's ticket.
  Status SubmitBatch(const Batch& batch, bool copy, uint32_t* ticket_out);
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
  std::unordered_map<uint64_t, RetryState> retry_state_;
  std::vector<Completion> completed_;
  struct Refusal {
    uint32_t ticket;
    size_t index;
    Form next;  // kAlone or kDeadLetter.
    std::string why;
  };
  // Sends records refused in a batch again, each in a batch of its own (batch.num.messages=1),
  // made when first needed. Declared after rk_: destroyed first.
  KafkaHandle alone_rk_;
  TopicHandle alone_topic_;
  std::vector<Refusal> refusals_;  // Refused by the broker, to be replaced.
  uint64_t refused_ = 0;           // Of completed batches, for TakeRefused.
  bool purged_ = false;
  std::atomic<bool> interrupted_{false};

  // Metrics. The pointers are constant after construction.
  Counter* bytes_produced_ = nullptr;  // Records' topic.
  Counter* bytes_dead_ = nullptr;      // Dead-letter topic.
  Gauge* queue_gauge_ = nullptr;       // Shared by the process's producers: this one adds to it.
  // Sink thread only (delivery reports are served there).
  uint64_t delivered_bytes_ = 0;
  uint64_t delivered_dead_bytes_ = 0;
  double queue_reported_ = 0;  // What this producer has added to queue_gauge_.
  std::chrono::steady_clock::time_point metrics_due_{};
  std::chrono::steady_clock::time_point probe_due_{};
  // Set by librdkafka's error callback (all brokers down), cleared by a delivery or a probe.
  std::atomic<bool> brokers_down_{false};
  std::atomic<bool> connected_{false};  // Open reached the brokers.
};

}  // namespace spate
