// Pipeline: source -> bounded queue -> process (transform) -> bounded queue -> sinks.
//
// Three threads (std::jthread, joined by Wait), joined by two BoundedQueues of Batches: a
// full queue blocks the stage before it, so a slow sink slows the source and memory stays
// flat. This is the memory transport of `spate run`.
//
// Limits: a record longer than max_record_bytes becomes a dead letter in every mode (the
// transform's check; when forwarding, the pipeline's own), never a reason to stop.
//
// Delivery: a batch is acknowledged to its source only after every sink's Write returned ok
// (committed), or, for a single pipelined sink (Kafka's producer), after the sink reported it
// complete; up to queue_capacity batches are then in flight at once, and sources are still
// acknowledged in sequence order. Retriable sink errors are retried with backoff until they succeed
// or the pipeline is aborted; a fatal sink error stops the pipeline and nothing of that batch or
// any later one is acknowledged.
//
// Shutdown: RequestStop() stops the source only; what was already ingested drains through
// process and sinks (nothing acknowledged is lost, nothing ingested is dropped). Abort() also
// gives up on retries and closes the queues: used on a second Ctrl-C.
//
// Real time: with a rate (--rate) the source loop paces the stream with a token bucket
// (pacer.h): it asks the source for only the records that are due, a batch closes when it is
// full or `linger` after its first record was due, and after a stall it catches up by at
// most one batch. With a duration (--duration) the source ends after that long, as if its
// input ended. Each record is stamped with its ingest time after the source returned it (one
// clock read per batch) unless the source set one (Kafka: the message's timestamp). That
// time is the row's ingested_at, its event time (issue 19): a replay of the same Kafka
// records gives the same rows and falls in the same aggregation windows.
//
// Analytics (issue 19): the process stage asks a RowGate (analytics/rules.h) about each row
// it made, when PipelineOptions has a filter, rules or aggregations with a lateness: rows
// the filter drops are counted (PipelineStats::filtered) and go nowhere; rows that break a
// reject rule or are late become dead letters, like records the transform refused.
//
// Metrics (src/observe/README.md, the catalogue), under the label pipeline=`name`: records
// and bytes in, batch sizes, queue fill, what process made of the records, each sink's rows,
// rejects, errors, retries, commit time and ingest->stored latency, dead letters by reason
// (also to the DeadLetters() feed), rows filtered and rule violations (issue 19), and rows
// landed (Landed()) once every sink has a batch.
// Series are looked up once, here, and updated once per batch.
//
// Thread-safety: Start/RequestStop/Abort/Wait from one controlling thread; stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "analytics/aggregate.h"
#include "analytics/expr.h"
#include "analytics/rules.h"
#include "core/bounded_queue.h"
#include "core/checkpoint.h"
#include "core/record.h"
#include "core/status.h"
#include "observe/metrics.h"
#include "sinks/sink.h"
#include "sources/source.h"

namespace spate {

class KeyReader;
class Pacer;
struct PipelineMeters;

struct PipelineOptions {
  // Called once, by the pipeline thread that finishes last (Done() is then true): lets a
  // thread that waits for the end wake at once instead of at its next poll.
  std::function<void()> on_finished;
  // true: process turns records into rows (run, process). false: process forwards the raw
  // records with their key (login.uuid) set, for a sink that ships them on (produce).
  bool transform = true;
  size_t batch_size = 1000;
  size_t queue_capacity = 8;
  size_t max_record_bytes = 1 << 20;
  std::chrono::milliseconds sink_backoff_initial{100};
  std::chrono::milliseconds sink_backoff_max{5000};
  // Records per second the source may hand out (--rate); 0 = as fast as it can.
  // Not applied to a Kafka consumer (kind() "kafka"): there they belong to the producer.
  double rate = 0;
  // The source ends after this long (--duration), a normal end; 0 = no limit. Not applied
  // to a Kafka consumer either.
  std::chrono::milliseconds duration{0};
  // The longest a partial batch waits for more records when paced (--linger).
  std::chrono::milliseconds linger{5};
  // The `pipeline` label of the metrics: run, produce or process. Empty: produce when
  // forwarding, process when the source's kind() is kafka, else run.
  std::string name;
  // Where the metrics go; nullptr reports none (for measuring what they cost).
  MetricsRegistry* metrics = &Metrics();
  // What the process stage decides about each row it made (issue 19; a RowGate, see
  // analytics/rules.h): rows that fail `filter` are dropped and counted, rows that break a
  // reject rule or come later than an aggregation's lateness become dead letters. Only
  // `aggregations`' lateness is read here; the sinks keep the tables. Not applied when
  // forwarding (produce makes no rows).
  std::optional<Predicate> filter;
  std::vector<QualityRule> rules;
  std::vector<AggregationSpec> aggregations;
};

// What one sink made of the batches it committed.
struct SinkCounts {
  std::atomic<uint64_t> stored{0};    // Rows (or forwarded records) the sink holds.
  std::atomic<uint64_t> rejected{0};  // Dead letters, plus rows the sink itself refused.
};

struct PipelineStats {
  std::atomic<uint64_t> ingested{0};  // Source records handed to the pipeline.
  // What process made of them (rows or forwarded records; dead letters), once every sink
  // committed the batch. A sink may have refused some rows (a value its store cannot hold)
  // and put them in its own dead-letter table instead: `sinks` says what each one holds.
  std::atomic<uint64_t> stored{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> sink_retries{0};
  // What the process stage's RowGate decided, added once per batch as the process stage
  // hands it on: rows the filter dropped (neither stored nor rejected), rows later than an
  // aggregation's lateness (dead letters, also in `rejected` once stored), and per rule (in
  // PipelineOptions::rules order) the rows that broke it, rejected or counted.
  std::atomic<uint64_t> filtered{0};
  std::atomic<uint64_t> late{0};
  std::vector<std::atomic<uint64_t>> rule_violations;
  // Per sink, in the order given to the Pipeline. With several sinks a row one of them
  // refuses is stored by the others: each count is exact for its own store, and
  // stored + rejected is the same for every sink.
  std::vector<SinkCounts> sinks;
};

class Pipeline {
 public:
  // `source` and the sinks must outlive the pipeline. `raw_sinks` (--raw-sink) land each
  // ingested batch's raw records before it goes on to process: a batch reaches the sinks
  // only once every raw sink has it (retried like a sink; a fatal error stops the run).
  Pipeline(Source& source, std::vector<Sink*> sinks, PipelineOptions options,
           std::vector<Sink*> raw_sinks = {});
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  void Start();
  void RequestStop();
  void Abort();
  // True once every stage has finished (Wait will not block).
  bool Done() const { return finished_threads_.load() == 3; }
  // Joins the threads. Returns the first error (source or sink), or ok.
  Status Wait();

  const PipelineStats& stats() const { return stats_; }
  // The `pipeline` label of its metrics (PipelineOptions::name, or the one chosen for it).
  const std::string& name() const { return name_; }
  // Every batch with a sequence below this is stored by all sinks.
  uint64_t acknowledged_batches() const { return checkpoint_.mark(); }

 private:
  void SourceLoop(std::stop_token stop);
  // Waits until the pacer lets records go: how many (0: stopped). At `end` it returns what
  // is due, the last batch, and sets *last.
  size_t Pace(Pacer& pacer, const std::stop_token& stop, std::chrono::steady_clock::time_point end,
              bool* last);
  void ProcessLoop();
  // Adds what the gate counted since `published` to the stats and metrics (once per batch).
  void PublishGateCounts(const RowGate::Counts& counts, RowGate::Counts& published);
  void ForwardLoop();
  void SinkLoop();
  void PipelinedSinkLoop(Sink& sink);
  // Called as the pipelined sink loop ends: frees the batches the sink has not reported yet
  // only once it has (they may still be read), after interrupting it.
  void ReleaseInFlight(Sink& sink, std::map<uint64_t, Batch>& in_flight);
  void Acknowledged(const Batch& batch);
  void Acknowledged(uint64_t sequence, size_t stored, size_t rejected);
  // Adds a write of `rows` rows and `dead` dead letters to sink `index`'s counts, less the
  // rows it reports refused (Sink::TakeRefused).
  void CountForSink(size_t index, uint64_t rows, uint64_t dead);
  // Stored batches hand their rows back so the next batch reuses the strings' memory: a
  // row is a dozen strings, and allocating them afresh was a sixth of process's CPU. Raw
  // records go back from process to the source the same way.
  template <typename T>
  class SparePool {
   public:
    // Keeps `items` (at most `keep` of them) unless a few vectors are already kept.
    void Put(std::vector<T>&& items, size_t keep);
    std::vector<T> Take();  // Empty when none is kept.

   private:
    std::mutex mu_;
    std::vector<std::vector<T>> spare_;  // Protected by mu_; at most a few.
  };
  // `index`: the sink's place in sinks_, for its metrics; -1 for a raw sink.
  Status WriteWithRetry(Sink& sink, const Batch& batch, int index = -1);
  // Stores the batch in every raw sink (keys set first); false when the run must stop.
  bool LandRaw(Batch& batch, KeyReader& keys);
  void Fail(Status status);

  // Constant after construction.
  Source& source_;
  const std::vector<Sink*> sinks_;
  const std::vector<Sink*> raw_sinks_;
  const PipelineOptions options_;
  const std::string name_;
  // Every series this pipeline reports to, looked up once; null when options_.metrics is.
  std::unique_ptr<PipelineMeters> meters_;

  BoundedQueue<Batch> ingested_;
  BoundedQueue<Batch> processed_;
  ContiguousCheckpoint checkpoint_;
  PipelineStats stats_;
  std::atomic<bool> aborted_{false};
  // Stops the source thread. request_stop on it is thread-safe, whereas calling the jthread
  // object's request_stop from the sink thread would race with join on the main thread.
  std::stop_source source_stop_;
  std::atomic<int> finished_threads_{0};
  void ThreadFinished();

  SparePool<Row> spare_rows_;
  SparePool<RawRecord> spare_records_;

  std::mutex error_mu_;
  Status error_;  // Protected by error_mu_. The first failure wins.

  std::jthread source_thread_;
  std::jthread process_thread_;
  std::jthread sink_thread_;
};

// The summary's latency lines for `pipeline`, from its spate_end_to_end_latency_seconds:
// "  latency: ingest->stored p50 1.20 ms, p99 4.80 ms, max 9.10 ms (100,000 rows)\n", one
// per sink that stored rows (each named when there are several); empty when none did.
std::string EndToEndLatencyText(const MetricsRegistry& metrics, std::string_view pipeline);

}  // namespace spate
