#include "pipeline/pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/prefetch.h"
#include "observe/feeds.h"
#include "pipeline/pacer.h"
#include "transforms/ingest.h"
#include "transforms/user_transform.h"

namespace spate {

namespace {

// Counts dead letters by ReasonClass into spate_dead_letters_total{pipeline,stage,reason}
// and adds them to the DeadLetters() feed. A class's counter is looked up the first time it
// is seen; ReasonClass bounds how many there can be. One per stage: one thread each.
class DeadLetterMeter {
 public:
  DeadLetterMeter(MetricsRegistry& metrics, std::string pipeline, std::string stage)
      : metrics_(metrics), pipeline_(std::move(pipeline)), stage_(std::move(stage)) {}

  void Count(std::span<const DeadLetter> dead) {
    if (dead.empty()) return;
    for (const DeadLetter& letter : dead) For(ReasonClass(letter.reason)).Add();
    DeadLetters().Add(dead, stage_);
  }
  // Letters a sink made itself (rows its store refused): only their number is known.
  void CountRefused(uint64_t n) {
    if (n > 0) For("refused_by_sink").Add(n);
  }

 private:
  Counter& For(const std::string& reason) {
    auto it = counters_.find(reason);
    if (it != counters_.end()) return *it->second;
    Counter& counter = metrics_.GetCounter(
        "spate_dead_letters_total", "Dead letters, by the stage that made them and reason",
        {{"pipeline", pipeline_}, {"stage", stage_}, {"reason", reason}});
    counters_.emplace(reason, &counter);
    return counter;
  }

  MetricsRegistry& metrics_;
  const std::string pipeline_;
  const std::string stage_;
  std::unordered_map<std::string, Counter*> counters_;
};

// Adds `n` observations of (now - ingest) for every run of ingest times; 0 is "not known".
void ObserveLatency(LocalHistogram& histogram,
                    const std::vector<std::pair<int64_t, uint32_t>>& runs, int64_t now_us) {
  for (const auto& [ingest_us, n] : runs) {
    if (ingest_us == 0 || n == 0) continue;
    histogram.Observe(static_cast<double>(std::max<int64_t>(now_us - ingest_us, 0)) * 1e-6, n);
  }
  histogram.Flush();
}

// Appends `ingest_us` to run-length encoded ingest times.
void AddIngestTime(std::vector<std::pair<int64_t, uint32_t>>& runs, int64_t ingest_us) {
  if (!runs.empty() && runs.back().first == ingest_us) {
    ++runs.back().second;
  } else {
    runs.emplace_back(ingest_us, 1);
  }
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

struct SinkMeters {
  SinkMeters(MetricsRegistry& m, const std::string& pipeline, const Sink& sink) {
    const MetricLabels labels = {{"pipeline", pipeline}, {"sink", std::string(sink.kind())}};
    auto with = [&](const char* key, const char* value) {
      MetricLabels l = labels;
      l.emplace_back(key, value);
      return l;
    };
    rows = &m.GetCounter("spate_sink_rows_total", "Rows (or forwarded records) the sink committed",
                         labels);
    rejected = &m.GetCounter("spate_sink_rejected_total",
                             "Dead letters and refused rows the sink committed", labels);
    retriable_errors =
        &m.GetCounter("spate_sink_errors_total", "Failed sink writes", with("kind", "retriable"));
    fatal_errors =
        &m.GetCounter("spate_sink_errors_total", "Failed sink writes", with("kind", "fatal"));
    retries = &m.GetCounter("spate_sink_retries_total", "Sink writes retried", labels);
    commit = &m.GetHistogram("spate_sink_commit_seconds", "One successful sink write (a commit)",
                             labels, kLatencyBuckets);
    end_to_end = &m.GetHistogram("spate_end_to_end_latency_seconds",
                                 "From a record's ingest to its row committed by the sink", labels,
                                 kLatencyBuckets);
    stores_rows = sink.stores_rows();
  }
  Counter* rows;
  Counter* rejected;
  Counter* retriable_errors;
  Counter* fatal_errors;
  Counter* retries;
  Histogram* commit;
  Histogram* end_to_end;
  bool stores_rows;
};

struct PipelineMeters {
  PipelineMeters(MetricsRegistry& m, const std::string& pipeline, const Source& source,
                 const std::vector<Sink*>& sinks, size_t queue_capacity,
                 const PipelineOptions& options)
      : ingest_dead(m, pipeline, "ingest"),
        process_dead(m, pipeline, "process"),
        sink_dead(m, pipeline, "sink") {
    const MetricLabels source_labels = {{"pipeline", pipeline},
                                        {"source", std::string(source.kind())}};
    source_records = &m.GetCounter("spate_source_records_total",
                                   "Records the source handed to the pipeline", source_labels);
    source_bytes = &m.GetCounter("spate_source_bytes_total", "Their JSON bytes", source_labels);
    source_errors =
        &m.GetCounter("spate_source_errors_total", "Errors that ended the source", source_labels);
    source_batch =
        &m.GetHistogram("spate_batch_records", "Records per batch",
                        {{"pipeline", pipeline}, {"stage", "source"}}, kBatchSizeBuckets);
    sink_batch = &m.GetHistogram("spate_batch_records", "Records per batch",
                                 {{"pipeline", pipeline}, {"stage", "sink"}}, kBatchSizeBuckets);
    for (const char* queue : {"ingested", "processed"}) {
      const MetricLabels labels = {{"pipeline", pipeline}, {"queue", queue}};
      Gauge& fill = m.GetGauge("spate_queue_batches", "Batches waiting in a bounded queue", labels);
      fill.Set(0);
      m.GetGauge("spate_queue_capacity_batches", "The bounded queue's capacity", labels)
          .Set(static_cast<double>(queue_capacity));
      (std::string_view(queue) == "ingested" ? ingested_fill : processed_fill) = &fill;
    }
    auto outcome = [&](const char* what) {
      return &m.GetCounter("spate_process_records_total", "What process made of the records",
                           {{"pipeline", pipeline}, {"outcome", what}});
    };
    rows = outcome("row");
    dead_letters = outcome("dead_letter");
    forwarded = outcome("forwarded");
    for (const Sink* sink : sinks) this->sinks.emplace_back(m, pipeline, *sink);
    if (options.transform) {
      // Also without a filter, so that a dashboard's query finds 0 rather than nothing.
      filtered = &m.GetCounter("spate_filtered_rows_total",
                               "Rows the filter (--where) dropped: not stored, not rejected",
                               {{"pipeline", pipeline}});
      for (const QualityRule& rule : options.rules) {
        rule_violations.push_back(
            &m.GetCounter("spate_rule_violations_total", "Rows that broke a data-quality rule",
                          {{"pipeline", pipeline},
                           {"rule", rule.name},
                           {"action", rule.action == RuleAction::kReject ? "reject" : "count"}}));
      }
    }
  }

  Counter* source_records;
  Counter* source_bytes;
  Counter* source_errors;
  Histogram* source_batch;
  Histogram* sink_batch;
  Gauge* ingested_fill = nullptr;
  Gauge* processed_fill = nullptr;
  Counter* rows;
  Counter* dead_letters;
  Counter* forwarded;
  Counter* filtered = nullptr;            // When transforming.
  std::vector<Counter*> rule_violations;  // In PipelineOptions::rules order.
  std::vector<SinkMeters> sinks;          // In the order of Pipeline::sinks_.
  // One per stage, each used by that stage's thread only.
  DeadLetterMeter ingest_dead;
  DeadLetterMeter process_dead;
  DeadLetterMeter sink_dead;
};

namespace {

std::string PipelineName(const PipelineOptions& options, const Source& source) {
  if (!options.name.empty()) return options.name;
  if (!options.transform) return "produce";
  return source.kind() == "kafka" ? "process" : "run";
}

}  // namespace

Pipeline::Pipeline(Source& source, std::vector<Sink*> sinks, PipelineOptions options,
                   std::vector<Sink*> raw_sinks)
    : source_(source),
      sinks_(std::move(sinks)),
      raw_sinks_(std::move(raw_sinks)),
      options_(options),
      name_(PipelineName(options_, source)),
      ingested_(options.queue_capacity),
      processed_(options.queue_capacity) {
  stats_.sinks = std::vector<SinkCounts>(sinks_.size());
  stats_.rule_violations = std::vector<std::atomic<uint64_t>>(options_.rules.size());
  if (options_.metrics != nullptr) {
    meters_ = std::make_unique<PipelineMeters>(*options_.metrics, name_, source_, sinks_,
                                               ingested_.capacity(), options_);
    ingested_.set_on_size(
        [fill = meters_->ingested_fill](size_t n) { fill->Set(static_cast<double>(n)); });
    processed_.set_on_size(
        [fill = meters_->processed_fill](size_t n) { fill->Set(static_cast<double>(n)); });
    source_.ReportTo(*options_.metrics, name_);
  }
}

Pipeline::~Pipeline() {
  Abort();
  // jthread members join on destruction.
}

void Pipeline::Start() {
  source_thread_ = std::jthread([this, stop = source_stop_.get_token()] {
    SourceLoop(stop);
    ThreadFinished();
  });
  process_thread_ = std::jthread([this] {
    if (options_.transform) {
      ProcessLoop();
    } else {
      ForwardLoop();
    }
    ThreadFinished();
  });
  sink_thread_ = std::jthread([this] {
    SinkLoop();
    ThreadFinished();
  });
}

void Pipeline::ThreadFinished() {
  if (++finished_threads_ == 3 && options_.on_finished) options_.on_finished();
}

void Pipeline::RequestStop() { source_stop_.request_stop(); }

void Pipeline::Abort() {
  aborted_ = true;
  source_stop_.request_stop();
  for (Sink* sink : sinks_) sink->Interrupt();
  ingested_.Close();
  processed_.Close();
}

Status Pipeline::Wait() {
  if (source_thread_.joinable()) source_thread_.join();
  if (process_thread_.joinable()) process_thread_.join();
  if (sink_thread_.joinable()) sink_thread_.join();
  std::lock_guard lock(error_mu_);
  return error_;
}

void Pipeline::Fail(Status status) {
  {
    std::lock_guard lock(error_mu_);
    if (error_.ok()) error_ = std::move(status);
  }
}

void Pipeline::SourceLoop(std::stop_token stop) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point started = Clock::now();
  // A Kafka consumer reads what is there: --rate and --duration are its producer's.
  const bool paced = source_.kind() != "kafka";
  const Clock::time_point end = paced && options_.duration.count() > 0 ? started + options_.duration
                                                                       : Clock::time_point::max();
  std::optional<Pacer> pacer;
  if (paced && options_.rate > 0) {
    pacer.emplace(options_.rate, options_.batch_size, options_.linger, started);
  }
  uint64_t sequence = 0;
  bool last = false;  // The duration is over: this batch is the last.
  while (!stop.stop_requested()) {
    size_t max_records = options_.batch_size;
    if (pacer) {
      max_records = Pace(*pacer, stop, end, &last);
      if (max_records == 0) break;  // Stopped, or the duration is over.
    } else if (end != Clock::time_point::max() && Clock::now() >= end) {
      break;  // --duration: a normal end, like the input's.
    }
    Batch batch;
    batch.sequence = sequence;
    batch.spare_records = spare_records_.Take();
    batch.records.reserve(options_.batch_size);
    auto state = source_.Next(batch, max_records, stop);
    spare_records_.Put(std::exchange(batch.spare_records, {}), options_.batch_size);
    if (pacer) pacer->Took(batch.source_records);
    const bool has_data = !batch.records.empty() || !batch.dead.empty();
    if (has_data) {
      // When the records entered spate: one clock read for the batch. A source that knows
      // better (Kafka's message timestamps) has set it already.
      const int64_t now_us = NowUnixMicros();
      uint64_t bytes = 0;
      for (RawRecord& record : batch.records) {
        bytes += record.json.size();
        if (record.ingest_us == 0) record.ingest_us = now_us;
      }
      stats_.ingested += batch.source_records;
      if (meters_) {
        meters_->source_records->Add(batch.source_records);
        meters_->source_bytes->Add(bytes);
        meters_->source_batch->Observe(static_cast<double>(batch.source_records));
        meters_->ingest_dead.Count(batch.dead);
      }
      if (!ingested_.Push(batch)) break;  // Closed: a sink failed or we were aborted.
      ++sequence;
    }
    if (!state.ok()) {
      if (state.status().kind() != ErrorKind::kCancelled) {
        if (meters_) meters_->source_errors->Add();
        Fail(state.status());
      }
      break;
    }
    if (state.value() == SourceState::kFinished || last) break;
  }
  ingested_.Close();
}

size_t Pipeline::Pace(Pacer& pacer, const std::stop_token& stop,
                      std::chrono::steady_clock::time_point end, bool* last) {
  // Sleeps that a stop request (Ctrl-C, Abort) ends at once.
  std::mutex mu;
  std::condition_variable_any wake_up;
  while (!stop.stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) {
      // The end closes the open batch: rate x duration records in all, not less a linger.
      *last = true;
      return pacer.Due(end);
    }
    std::chrono::steady_clock::time_point wake;
    if (const size_t ready = pacer.Ready(now, &wake); ready > 0) return ready;
    std::unique_lock lock(mu);
    wake_up.wait_until(lock, stop, std::min(wake, end), [] { return false; });
  }
  return 0;
}

bool Pipeline::LandRaw(Batch& batch, KeyReader& keys) {
  if (raw_sinks_.empty()) return true;
  for (RawRecord& record : batch.records) {
    if (record.key.empty()) record.key = keys.LoginUuid(record.json);  // The generator sets it.
  }
  for (Sink* sink : raw_sinks_) {
    Status status = WriteWithRetry(*sink, batch);
    if (!status.ok()) {
      Fail(status.WithContext(sink->Describe()));
      Abort();
      return false;
    }
  }
  return true;
}

void Pipeline::ProcessLoop() {
  UserTransform transform(options_.max_record_bytes);
  KeyReader keys;
  // Filter, rules and lateness (issue 19); skipped entirely when there are none.
  RowGate gate(options_.filter, options_.rules, options_.aggregations);
  const bool gated = !gate.empty();
  RowGate::Counts published;  // What the stats and metrics hold of gate.counts().
  published.violations.assign(options_.rules.size(), 0);
  std::string reason;  // A rejected row's; reused.
  while (std::optional<Batch> batch = ingested_.Pop()) {
    if (aborted_) break;  // Abort means stop now, not drain.
    if (!LandRaw(*batch, keys)) break;
    // A record's ingested_at is when it entered spate (its event time); a record that does
    // not know (0) gets the time process made it: one clock read per batch.
    const int64_t now = NowUnixMillis();
    batch->rows = spare_rows_.Take();
    batch->rows.resize(batch->records.size());
    batch->ingest_runs.clear();
    const size_t ingest_dead = batch->dead.size();  // The source's; the rest are process's.
    size_t stored = 0;
    for (size_t i = 0; i < batch->records.size(); ++i) {
      RawRecord& record = batch->records[i];
      // The source wrote these bytes on another core: start fetching the next record's now.
      if (i + 1 < batch->records.size()) {
        const std::string& next = batch->records[i + 1].json;
        PrefetchForRead(next.data(), next.size());
      }
      // The row takes the record's buffer when the source left room in it (Kafka does).
      const size_t record_size = record.json.size();
      const int64_t ingested_at = record.ingest_us > 0 ? record.ingest_us / 1000 : now;
      Status status = transform.ApplyOwned(record.json, ingested_at, batch->rows[stored]);
      if (status.ok()) {
        // Where the row came from, for a sink that must dead-letter it (a NUL PostgreSQL
        // cannot hold): the same position, item and bytes as the record's own dead letter.
        Row& row = batch->rows[stored];
        row.position = record.position;
        row.item = record.item;
        row.partition = record.partition;
        row.record_size = static_cast<uint32_t>(record_size);
        row.ingest_us = record.ingest_us;
        if (gated) {
          const RowGate::Verdict verdict = gate.Check(row, &reason);
          // Filtered: the slot is reused by the next row; nothing is stored or rejected.
          if (verdict == RowGate::Verdict::kFiltered) continue;
          if (verdict == RowGate::Verdict::kReject) {
            // The record's bytes are the row's first record_size bytes (the record.json
            // buffer may be the row's now); through the same secret-safe rule as every dead
            // letter.
            batch->dead.push_back(MakeDeadLetter(
                reason,
                record.partition < 0 ? batch->origin
                                     : fmt::format("{}/{}", batch->origin, record.partition),
                record.position, record.item, row.record()));
            continue;
          }
        }
        AddIngestTime(batch->ingest_runs, record.ingest_us);
        ++stored;
      } else {
        // Records from Kafka may come from any producer: the raw bytes and the reason go
        // through ingest's one secret-safe rule (issue 17, item 1), like every dead letter.
        batch->dead.push_back(MakeDeadLetter(
            status.message(),
            record.partition < 0 ? batch->origin
                                 : fmt::format("{}/{}", batch->origin, record.partition),
            record.position, record.item, record.json));
      }
    }
    batch->rows.resize(stored);
    if (gated) PublishGateCounts(gate.counts(), published);
    if (meters_) {
      meters_->rows->Add(stored);
      meters_->dead_letters->Add(batch->dead.size() - ingest_dead);
      meters_->process_dead.Count(std::span<const DeadLetter>(batch->dead).subspan(ingest_dead));
    }
    // The raw text is no longer needed: its buffers (or the rows' old ones that took their
    // place) go back to the source.
    spare_records_.Put(std::exchange(batch->records, {}), options_.batch_size);
    if (!processed_.Push(*batch)) break;
  }
  // Records not in the layout the fast reader takes cost several times more to transform.
  spdlog::debug("transform: {} records taken by the canonical reader", transform.canonical_reads());
  processed_.Close();
}

void Pipeline::PublishGateCounts(const RowGate::Counts& counts, RowGate::Counts& published) {
  const uint64_t filtered = counts.filtered - published.filtered;
  stats_.filtered += filtered;
  stats_.late += counts.late - published.late;
  if (meters_ && filtered > 0) meters_->filtered->Add(filtered);
  for (size_t i = 0; i < counts.violations.size() && i < published.violations.size(); ++i) {
    const uint64_t broke = counts.violations[i] - published.violations[i];
    if (broke == 0) continue;
    stats_.rule_violations[i] += broke;
    if (meters_) meters_->rule_violations[i]->Add(broke);
  }
  published.filtered = counts.filtered;
  published.late = counts.late;
  published.violations = counts.violations;  // Same size: no allocation.
}

void Pipeline::ForwardLoop() {
  KeyReader keys;
  while (std::optional<Batch> batch = ingested_.Pop()) {
    if (aborted_) break;
    const size_t ingest_dead = batch->dead.size();  // The source's; the rest are ours.
    // The per-record limit holds here too (`produce`): a longer record is a dead letter, as
    // the transform makes it in `run` and `process`, and its neighbours go on.
    size_t kept = 0;
    for (size_t i = 0; i < batch->records.size(); ++i) {
      RawRecord& record = batch->records[i];
      if (record.json.size() > options_.max_record_bytes) {
        // A bounded prefix through ingest's secret-safe rule, as every dead letter's bytes.
        batch->dead.push_back(
            MakeDeadLetter(fmt::format("record too large: {} bytes (limit {})", record.json.size(),
                                       options_.max_record_bytes),
                           batch->origin, record.position, record.item,
                           std::string_view(record.json).substr(0, kTooLargeKeepBytes)));
        continue;
      }
      if (kept != i) batch->records[kept] = std::move(record);
      ++kept;
    }
    batch->records.resize(kept);
    batch->ingest_runs.clear();
    for (RawRecord& record : batch->records) {
      if (record.key.empty()) record.key = keys.LoginUuid(record.json);  // The generator sets it.
      AddIngestTime(batch->ingest_runs, record.ingest_us);
    }
    if (meters_) {
      meters_->forwarded->Add(kept);
      meters_->dead_letters->Add(batch->dead.size() - ingest_dead);
      meters_->process_dead.Count(std::span<const DeadLetter>(batch->dead).subspan(ingest_dead));
    }
    if (!LandRaw(*batch, keys)) break;
    if (!processed_.Push(*batch)) break;
  }
  processed_.Close();
}

Status Pipeline::WriteWithRetry(Sink& sink, const Batch& batch, int index) {
  SinkMeters* meters =
      meters_ && index >= 0 ? &meters_->sinks[static_cast<size_t>(index)] : nullptr;
  std::chrono::milliseconds backoff = options_.sink_backoff_initial;
  for (int attempt = 1;; ++attempt) {
    const auto began = std::chrono::steady_clock::now();
    Status status = sink.Write(batch);
    if (meters != nullptr) {
      if (status.ok()) {
        meters->commit->Observe(Seconds(std::chrono::steady_clock::now() - began));
      } else {
        (status.retriable() ? meters->retriable_errors : meters->fatal_errors)->Add();
      }
    }
    if (status.ok() || !status.retriable()) return status;
    if (aborted_) return Status::Cancelled("aborted while retrying: " + status.message());
    ++stats_.sink_retries;
    if (meters != nullptr) meters->retries->Add();
    spdlog::warn("{}: {} (attempt {}, retrying in {} ms)", sink.Describe(), status.message(),
                 attempt, backoff.count());
    // Sleep in slices so Abort (second Ctrl-C) is noticed promptly.
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (!aborted_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff = std::min(backoff * 2, options_.sink_backoff_max);
  }
}

void Pipeline::Acknowledged(const Batch& batch) {
  Acknowledged(batch.sequence, batch.rows.size() + batch.records.size(), batch.dead.size());
}

void Pipeline::Acknowledged(uint64_t sequence_done, size_t stored, size_t rejected) {
  stats_.stored += stored;
  stats_.rejected += rejected;
  // Sources learn of their batches in order, whatever order the sinks finished them in.
  const uint64_t before = checkpoint_.mark();
  const uint64_t after = checkpoint_.Ack(sequence_done);
  for (uint64_t sequence = before; sequence < after; ++sequence) source_.Acknowledge(sequence);
}

void Pipeline::CountForSink(size_t index, uint64_t rows, uint64_t dead) {
  // Rows a sink refused went to its own dead-letter table (rejected_users, the DLQ topic):
  // they count as rejected for that sink only; the other sinks stored them.
  const uint64_t refused = std::min(sinks_[index]->TakeRefused(), rows);
  SinkCounts& counts = stats_.sinks[index];
  counts.stored += rows - refused;
  counts.rejected += dead + refused;
  if (meters_) {
    SinkMeters& meters = meters_->sinks[index];
    // The dead-letter producer of `process` keeps none of the rows.
    if (meters.stores_rows) meters.rows->Add(rows - refused);
    meters.rejected->Add(dead + refused);
    meters_->sink_dead.CountRefused(refused);
  }
}

void Pipeline::PipelinedSinkLoop(Sink& sink) {
  using Clock = std::chrono::steady_clock;
  std::map<uint64_t, Batch> in_flight;
  std::map<uint64_t, Clock::time_point> submitted;  // For the commit time: Submit -> done.
  SinkMeters* meters = meters_ ? &meters_->sinks.front() : nullptr;
  std::optional<LocalHistogram> latency;
  if (meters != nullptr) latency.emplace(*meters->end_to_end);
  const bool lands = sink.kind() != "discard";
  uint64_t moved_not_counted = 0;  // Refused rows the rows counter still holds.
  const size_t window = std::max<size_t>(options_.queue_capacity, 2);
  bool input_closed = false;
  auto fail = [&](const Status& status) {
    if (meters != nullptr) meters->fatal_errors->Add();
    Fail(status.WithContext(sink.Describe()));
    Abort();
  };
  auto submit = [&](const Batch& batch) {
    submitted[batch.sequence] = Clock::now();
    return sink.Submit(batch);
  };
  while (!aborted_ && (!input_closed || !in_flight.empty())) {
    if (!input_closed && in_flight.size() < window) {
      // Wait for input only when there is nothing to confirm meanwhile.
      const auto wait = std::chrono::milliseconds(in_flight.empty() ? 100 : 0);
      if (std::optional<Batch> batch = processed_.PopFor(wait, &input_closed)) {
        // Kept from before Submit: a failed Submit may still have handed some records over.
        const uint64_t sequence = batch->sequence;
        Batch& kept = in_flight.emplace(sequence, std::move(*batch)).first->second;
        if (Status s = submit(kept); !s.ok()) {
          fail(s);
          break;
        }
        continue;  // Fill the window before waiting for confirmations.
      }
    }
    if (in_flight.empty()) continue;
    uint64_t rows_now = 0;  // Committed in this round, for the metrics.
    uint64_t dead_now = 0;
    for (Sink::Completion& done : sink.Poll(std::chrono::milliseconds(5))) {
      auto it = in_flight.find(done.sequence);
      if (done.status.ok() && it != in_flight.end()) {
        const Batch& batch = it->second;
        const uint64_t rows = batch.rows.size() + batch.records.size();
        SinkCounts& counts = stats_.sinks.front();
        counts.stored += rows;
        counts.rejected += batch.dead.size();
        if (meters != nullptr) {
          const auto now = Clock::now();
          if (auto at = submitted.find(done.sequence); at != submitted.end()) {
            meters->commit->Observe(Seconds(now - at->second));
          }
          if (meters->stores_rows) {
            ObserveLatency(*latency, batch.ingest_runs, NowUnixMicros());
            rows_now += rows;
          }
          dead_now += batch.dead.size();
          meters_->sink_batch->Observe(static_cast<double>(rows + batch.dead.size()));
          if (lands && !batch.rows.empty()) Landed().Add(batch.rows);
        }
        Acknowledged(batch);
        // The producer is done with the records; their buffers go back to the source.
        spare_records_.Put(std::move(it->second.records), options_.batch_size);
        in_flight.erase(it);
        submitted.erase(done.sequence);
      } else if (done.status.retriable() && it != in_flight.end() && !aborted_) {
        // The producer already retried each message until its delivery timeout; try the
        // undelivered ones again rather than give up on a cluster that may come back.
        ++stats_.sink_retries;
        if (meters != nullptr) {
          meters->retriable_errors->Add();
          meters->retries->Add();
        }
        spdlog::warn("{}: {} (resubmitting)", sink.Describe(), done.status.message());
        if (Status s = submit(it->second); !s.ok()) {
          fail(s);
          break;
        }
      } else if (!done.status.ok()) {
        fail(done.status);
        break;
      }
    }
    // Records the sink delivered as dead letters instead (Kafka refused them as too large),
    // of the batches just counted.
    if (const uint64_t refused = sink.TakeRefused(); refused > 0) {
      SinkCounts& counts = stats_.sinks.front();
      const uint64_t moved = std::min<uint64_t>(refused, counts.stored.load());
      counts.stored -= moved;
      counts.rejected += moved;
      moved_not_counted += moved;
      if (meters_) meters_->sink_dead.CountRefused(moved);
    }
    if (meters != nullptr && (rows_now > 0 || dead_now > 0 || moved_not_counted > 0)) {
      // A counter only goes up: refused rows are taken off rows not counted yet (they are
      // reported with or soon after their batch's completion).
      const uint64_t moved = std::min(moved_not_counted, rows_now);
      moved_not_counted -= moved;
      meters->rows->Add(rows_now - moved);
      meters->rejected->Add(dead_now + moved);
    }
  }
  ReleaseInFlight(sink, in_flight);
}

void Pipeline::ReleaseInFlight(Sink& sink, std::map<uint64_t, Batch>& in_flight) {
  if (in_flight.empty()) return;
  // The sink may still read these batches (Sink::Submit): an interrupted sink drops what it
  // has not sent and reports every batch at once, so wait for those reports.
  sink.Interrupt();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!in_flight.empty() && std::chrono::steady_clock::now() < deadline) {
    for (Sink::Completion& done : sink.Poll(std::chrono::milliseconds(50))) {
      in_flight.erase(done.sequence);
    }
  }
  if (in_flight.empty()) return;
  // Reports that never came: keeping the memory is safe, freeing it is not.
  spdlog::error("{}: {} batches still unconfirmed after 30 s; their memory is kept",
                sink.Describe(), in_flight.size());
  static std::mutex leaked_mu;
  static auto* leaked = new std::vector<std::map<uint64_t, Batch>>();
  std::lock_guard lock(leaked_mu);
  leaked->push_back(std::move(in_flight));
}

void Pipeline::SinkLoop() {
  if (sinks_.size() == 1 && sinks_.front()->pipelined()) {
    PipelinedSinkLoop(*sinks_.front());
    return;
  }
  struct Part {
    uint64_t sequence;
    size_t stored;
    size_t rejected;
  };
  std::vector<Part> parts;
  // Per sink, filled per batch without atomics.
  std::vector<std::unique_ptr<LocalHistogram>> latency;
  if (meters_) {
    for (SinkMeters& meters : meters_->sinks) {
      latency.push_back(std::make_unique<LocalHistogram>(*meters.end_to_end));
    }
  }
  // What landed, for the dashboard; a discard sink lands nothing.
  const bool lands =
      std::any_of(sinks_.begin(), sinks_.end(), [](Sink* s) { return s->kind() != "discard"; });
  const bool group_commit =
      std::any_of(sinks_.begin(), sinks_.end(), [](Sink* s) { return s->group_commit(); });
  while (std::optional<Batch> batch = processed_.Pop()) {
    if (aborted_) break;  // What is still queued stays unacknowledged.
    // Group commit (for sinks that ask for it): batches that queued up while the sinks were
    // busy go into one Write (one transaction), so a sink slower than the stages before it
    // pays its per-commit cost (an fsync, round trips) once for all of them. Each is still
    // acknowledged on its own.
    parts.assign(1,
                 {batch->sequence, batch->rows.size() + batch->records.size(), batch->dead.size()});
    // At most a queue's worth more, or a fast process stage could keep this going forever.
    bool closed = false;
    while (group_commit && parts.size() <= options_.queue_capacity) {
      std::optional<Batch> more = processed_.PopFor(std::chrono::milliseconds(0), &closed);
      if (!more) break;
      parts.push_back(
          {more->sequence, more->rows.size() + more->records.size(), more->dead.size()});
      std::move(more->rows.begin(), more->rows.end(), std::back_inserter(batch->rows));
      std::move(more->records.begin(), more->records.end(), std::back_inserter(batch->records));
      std::move(more->dead.begin(), more->dead.end(), std::back_inserter(batch->dead));
      batch->ingest_runs.insert(batch->ingest_runs.end(), more->ingest_runs.begin(),
                                more->ingest_runs.end());
      batch->source_records += more->source_records;
      spare_rows_.Put(std::move(more->rows), options_.batch_size);
    }
    bool ok = true;
    for (size_t i = 0; i < sinks_.size(); ++i) {
      Status status = WriteWithRetry(*sinks_[i], *batch, static_cast<int>(i));
      if (!status.ok()) {
        Fail(status.WithContext(sinks_[i]->Describe()));
        ok = false;
        break;
      }
      // Ingest -> stored, as this sink committed it.
      if (meters_ && meters_->sinks[i].stores_rows) {
        ObserveLatency(*latency[i], batch->ingest_runs, NowUnixMicros());
      }
    }
    if (!ok) {
      // Nothing of this batch or later ones is acknowledged; stop the stages upstream.
      Abort();
      break;
    }
    spdlog::debug("sink: {} batches in one write", parts.size());
    uint64_t rows = 0;
    uint64_t dead = 0;
    for (const Part& part : parts) {
      rows += part.stored;
      dead += part.rejected;
    }
    // Each sink's counts first, so that once a source hears of a batch the counts hold it.
    for (size_t i = 0; i < sinks_.size(); ++i) CountForSink(i, rows, dead);
    if (meters_) {
      meters_->sink_batch->Observe(static_cast<double>(rows + dead));
      if (lands && !batch->rows.empty()) Landed().Add(batch->rows);
    }
    for (const Part& part : parts) Acknowledged(part.sequence, part.stored, part.rejected);
    spare_rows_.Put(std::move(batch->rows), options_.batch_size);
  }
}

namespace {

std::string LatencyValue(double seconds) {
  if (seconds < 0.001) return fmt::format("{:.2f} ms", seconds * 1e3);
  if (seconds < 10) return fmt::format("{:.1f} ms", seconds * 1e3);
  return fmt::format("{:.2f} s", seconds);
}

std::string WithThousands(uint64_t n) {
  std::string digits = std::to_string(n);
  for (size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

}  // namespace

std::string EndToEndLatencyText(const MetricsRegistry& metrics, std::string_view pipeline) {
  std::vector<MetricSample> series;
  for (MetricSample& sample : metrics.Collect()) {
    if (sample.name == "spate_end_to_end_latency_seconds" && sample.Label("pipeline") == pipeline &&
        sample.histogram.count > 0) {
      series.push_back(std::move(sample));
    }
  }
  std::string text;
  for (const MetricSample& sample : series) {
    const HistogramSnapshot& h = sample.histogram;
    const std::string sink =
        series.size() > 1 ? fmt::format(" ({})", sample.Label("sink")) : std::string();
    // A discard sink stores nothing: its figure is ingest to the end of the pipeline.
    const bool discard = sample.Label("sink") == "discard";
    text +=
        fmt::format("  latency: ingest->{}{} p50 {}, p99 {}, max {} ({} rows)\n",
                    discard ? "discarded" : "stored", sink, LatencyValue(h.Quantile(0.5)),
                    LatencyValue(h.Quantile(0.99)), LatencyValue(h.max), WithThousands(h.count));
  }
  return text;
}

template <typename T>
void Pipeline::SparePool<T>::Put(std::vector<T>&& items, size_t keep) {
  if (items.empty()) return;
  if (items.capacity() > 2 * keep) {
    // It held a group commit, several batches large: keep one batch's worth (their strings
    // keep their buffers through the move into a right-sized vector).
    if (items.size() > keep) items.resize(keep);
    items.shrink_to_fit();
  }
  std::lock_guard lock(mu_);
  if (spare_.size() < 4) spare_.push_back(std::move(items));
}

template <typename T>
std::vector<T> Pipeline::SparePool<T>::Take() {
  std::lock_guard lock(mu_);
  if (spare_.empty()) return {};
  std::vector<T> items = std::move(spare_.back());
  spare_.pop_back();
  return items;
}

}  // namespace spate
