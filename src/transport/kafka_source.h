// KafkaSource: a Source that reads a topic as a member of a consumer group (`spate process`).
//
// Each message becomes a RawRecord (the value; partition and offset as its position). Run
// several processes with the same group and they share the partitions; when one leaves, the
// others take over its partitions.
//
// Offsets: librdkafka's automatic offset *store* is off. When the pipeline acknowledges a
// batch (every sink has stored it, rows and dead letters alike), the offset after the batch's
// last message of each partition is stored, and the periodic auto-commit (and the final
// commit on close) commits only stored offsets. Batches are acknowledged in order, so a
// committed offset never passes a record that is not stored. On revocation the stored
// offsets are committed at once; acknowledgements that arrive later for partitions this member
// no longer owns are dropped (librdkafka refuses to store them), and the new owner re-reads
// those records, which the sinks' upserts make harmless.
//
// Prefetch wake-up: librdkafka (before 2.2.0, and Debian 12 has 2.0.2) stops fetching a
// partition while the consumer queue holds queued.max.messages.kbytes, and its broker thread
// looks again only when something wakes it, or after a second. Reading faster than the
// brokers send then means a second idle after every queue-full: a million records took 12 s
// instead of 4. So when the queue, having been nearly full, has drained to a quarter, the
// source wakes each leader's thread by seeking one of its partitions to the next offset it
// would read anyway (the least recently read one, most likely with nothing queued). A seek
// drops whatever of that partition was queued and fetches it again: no record is lost or
// delivered twice, at worst one partition's fetch is repeated.
//
// Time: a record's ingest_us is its message timestamp (ms * 1000) when that is a CreateTime
// (the producer's; spate's producer sends the record's ingest time), else 0 (the pipeline
// stamps it when Next returns). Batches are bounded in time: once a batch has its first
// record it waits at most `linger` for more, then takes only what is queued already.
//
// Metrics (src/observe/README.md): per assigned partition, spate_kafka_consumer_lag_messages
// (librdkafka's cached high watermark, no request, minus the next offset this source hands
// on) at most every kKafkaMetricsInterval from Next; on revocation a partition's lag is set to 0
// (it is the new owner's to report). spate_kafka_committed_offset from librdkafka's commit
// reports (auto-commit, on revocation, on close). spate_kafka_bytes_total{direction=
// "consumed"} (message values) once per batch. Health: "source kafka <topic>" is ready once
// the source has its partitions (with a group: the group's first assignment), not ready while
// librdkafka reports every broker down, and ready again once a broker answers.
//
// Without a group (KafkaSourceOptions::group empty), there is no rebalancing and nothing is
// committed: for reading a topic without taking records from, or moving the offsets of, any
// group (`run --transport kafka`, `process` with only discard sinks).
//
// Thread-safety: Next and the rebalance callback run on the source thread; Acknowledge on
// the sink thread; StopAt from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "observe/metrics.h"
#include "sources/source.h"
#include "transport/kafka.h"

namespace spate {

struct KafkaSourceOptions {
  KafkaSettings settings;
  std::string topic = "users_created";
  // Empty: no group. The source assigns itself every partition of the topic, starts where
  // `from` says (or, with start_at_current_end, at each partition's end as Create found it),
  // and commits nothing: no group's offsets move, and no other member takes records from it.
  std::string group = "spate";
  std::string from = "earliest";      // Where a group without committed offsets starts.
  bool start_at_current_end = false;  // Without a group only.
  // Non-empty: only records whose "spate-run" header equals it are taken; the others are
  // read past (not counted). With start_at_current_end and StopAtCurrentEnd after its own
  // producer is done, `run --transport kafka` reads back exactly the records it produced.
  std::string run_id;
  // The longest a partly filled batch waits for more messages (the `linger` setting): a slow
  // stream is handed on record by record rather than held for a full batch.
  std::chrono::milliseconds linger{5};
  // Where metrics go; nullptr: the process's Metrics().
  MetricsRegistry* metrics = nullptr;
};

class KafkaSource : public Source {
 public:
  // Connects (bounded by settings.connect_timeout), creates the topic if missing, subscribes.
  static Result<std::unique_ptr<KafkaSource>> Create(KafkaSourceOptions options);
  ~KafkaSource() override;

  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override;
  void Acknowledge(uint64_t sequence) override;
  std::string Describe() const override;
  std::string_view kind() const override { return "kafka"; }

  // Finish once every partition this member is assigned has been read up to `end`
  // (exclusive): how `process --exit-at-end` and `run --transport kafka` stop. Partitions
  // other members own are theirs to finish.
  void StopAt(std::map<int32_t, int64_t> end);
  // StopAt the topic's current end offsets (asks the cluster).
  Status StopAtCurrentEnd();

  // Leaves the group after committing the stored offsets. Called by the destructor.
  void Close();

  // Refreshes the lag gauges and the health check now (Next does it every
  // kKafkaMetricsInterval). Source thread.
  void PublishMetrics();
  // "source kafka <topic>": the name of this source's health check.
  std::string HealthName() const { return "source kafka " + options_.topic; }

 private:
  explicit KafkaSource(KafkaSourceOptions options) : options_(std::move(options)) {}
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void OnCommit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  // The gauges of `partition`, made on first use.
  Gauge& LagGauge(int32_t partition);
  Gauge& CommittedGauge(int32_t partition);
  // Sets the health check from assigned_once_ and brokers_down_.
  void PublishHealth();
  void Rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  bool ReachedEnd() const;
  // Handles one message from the consumer queue (a record, a partition end, or an error).
  Status Take(const rd_kafka_message_t& message, Batch& batch);
  // See "Prefetch wake-up" above. Called before each read from the consumer queue.
  void WakeStalledFetchers();
  // Sets each partition's start offset before the assignment: the group's committed offset,
  // or for a partition without one, where auto.offset.reset says. Left to itself, librdkafka
  // asks for the committed offsets after the assignment and treats "none" as an error it
  // backs off from for 100 ms before it looks up the start, so a new group (every
  // `--from earliest` first run) started reading 100 ms late. On any error the list is left
  // as it is and librdkafka asks by itself.
  void FillStartOffsets(rd_kafka_topic_partition_list_t* partitions);
  // Without a group: assigns every partition of the topic (see KafkaSourceOptions).
  Status AssignAll();
  // With a run_id: whether `message` carries it.
  bool FromThisRun(const rd_kafka_message_t& message) const;

  const KafkaSourceOptions options_;
  const std::string origin_ = "kafka:" + options_.topic;
  KafkaHandle rk_;
  KafkaQueue queue_;  // The consumer queue; declared after rk_, so released before it.
  bool closed_ = false;

  std::mutex mu_;
  // Per acknowledged-later batch sequence: the next offset to commit for each partition.
  std::map<uint64_t, std::map<int32_t, int64_t>> pending_;  // Protected by mu_.

  // Source-thread only.
  struct Progress {
    bool assigned = false;    // This member owns the partition now.
    int64_t next = -1;        // Next offset to read (after a record or at the end); -1: none.
    uint64_t last_read = 0;   // reads_ when its latest record was read.
    int64_t batch_next = -1;  // The offset after its last record in the batch being read.
    // Where reading started (a committed offset, or a logical one such as
    // RD_KAFKA_OFFSET_BEGINNING; INVALID: unknown): the position before the first record.
    int64_t start = RD_KAFKA_OFFSET_INVALID;
  };
  // Indexed by partition id (dense from 0): a message costs no tree lookups.
  std::vector<Progress> progress_;
  Progress& ProgressOf(int32_t partition);
  std::vector<int32_t> batch_partitions_;  // Partitions with a record in the current batch.
  uint64_t reads_ = 0;
  std::map<int32_t, int32_t> leaders_;  // Partition -> leader broker id, as of assignment.
  int64_t prefetch_bytes_ = 0;          // queued.max.messages.kbytes, in bytes.
  int64_t prefetch_messages_ = 0;       // queued.min.messages.
  double average_bytes_ = 1024;         // Moving average of message sizes.
  // auto.offset.reset as a logical offset; INVALID for "error".
  int64_t reset_offset_ = RD_KAFKA_OFFSET_INVALID;
  bool prefetch_was_full_ = false;
  uint64_t fetch_wakes_ = 0;
  // Metrics: constant after Create.
  MetricsRegistry* metrics_ = nullptr;
  Counter* bytes_consumed_ = nullptr;
  // Source thread only.
  uint64_t batch_bytes_ = 0;  // Message bytes of the batch being read.
  std::chrono::steady_clock::time_point metrics_due_{};
  std::chrono::steady_clock::time_point probe_due_{};
  // Set by the source thread, or whichever thread closes (librdkafka's callbacks).
  std::atomic<bool> assigned_once_{false};  // Has had partitions (health).
  std::atomic<bool> brokers_down_{false};   // librdkafka said so; cleared by a probe.
  std::mutex gauges_mu_;
  std::map<int32_t, Gauge*> lag_gauges_;        // Protected by gauges_mu_.
  std::map<int32_t, Gauge*> committed_gauges_;  // Protected by gauges_mu_.

  mutable std::mutex stop_mu_;
  std::optional<std::map<int32_t, int64_t>> stop_at_;  // Protected by stop_mu_.
};

}  // namespace spate
