#include "pipeline/pipeline.h"

#include <algorithm>
#include <map>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/prefetch.h"
#include "transforms/ingest.h"
#include "transforms/user_transform.h"

namespace spate {

Pipeline::Pipeline(Source& source, std::vector<Sink*> sinks, PipelineOptions options,
                   std::vector<Sink*> raw_sinks)
    : source_(source),
      sinks_(std::move(sinks)),
      raw_sinks_(std::move(raw_sinks)),
      options_(options),
      ingested_(options.queue_capacity),
      processed_(options.queue_capacity) {
  stats_.sinks = std::vector<SinkCounts>(sinks_.size());
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
  uint64_t sequence = 0;
  while (!stop.stop_requested()) {
    Batch batch;
    batch.sequence = sequence;
    batch.spare_records = spare_records_.Take();
    batch.records.reserve(options_.batch_size);
    auto state = source_.Next(batch, options_.batch_size, stop);
    spare_records_.Put(std::exchange(batch.spare_records, {}), options_.batch_size);
    const bool has_data = !batch.records.empty() || !batch.dead.empty();
    if (has_data) {
      stats_.ingested += batch.source_records;
      if (!ingested_.Push(batch)) break;  // Closed: a sink failed or we were aborted.
      ++sequence;
    }
    if (!state.ok()) {
      if (state.status().kind() != ErrorKind::kCancelled) Fail(state.status());
      break;
    }
    if (state.value() == SourceState::kFinished) break;
  }
  ingested_.Close();
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
  while (std::optional<Batch> batch = ingested_.Pop()) {
    if (aborted_) break;  // Abort means stop now, not drain.
    if (!LandRaw(*batch, keys)) break;
    const int64_t now = NowUnixMillis();  // One ingested_at per batch: cheap and honest.
    batch->rows = spare_rows_.Take();
    batch->rows.resize(batch->records.size());
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
      Status status = transform.ApplyOwned(record.json, now, batch->rows[stored]);
      if (status.ok()) {
        // Where the row came from, for a sink that must dead-letter it (a NUL PostgreSQL
        // cannot hold): the same position, item and bytes as the record's own dead letter.
        Row& row = batch->rows[stored];
        row.position = record.position;
        row.item = record.item;
        row.partition = record.partition;
        row.record_size = static_cast<uint32_t>(record_size);
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
    // The raw text is no longer needed: its buffers (or the rows' old ones that took their
    // place) go back to the source.
    spare_records_.Put(std::exchange(batch->records, {}), options_.batch_size);
    if (!processed_.Push(*batch)) break;
  }
  // Records not in the layout the fast reader takes cost several times more to transform.
  spdlog::debug("transform: {} records taken by the canonical reader", transform.canonical_reads());
  processed_.Close();
}

void Pipeline::ForwardLoop() {
  KeyReader keys;
  while (std::optional<Batch> batch = ingested_.Pop()) {
    if (aborted_) break;
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
    for (RawRecord& record : batch->records) {
      if (record.key.empty()) record.key = keys.LoginUuid(record.json);  // The generator sets it.
    }
    if (!LandRaw(*batch, keys)) break;
    if (!processed_.Push(*batch)) break;
  }
  processed_.Close();
}

Status Pipeline::WriteWithRetry(Sink& sink, const Batch& batch) {
  std::chrono::milliseconds backoff = options_.sink_backoff_initial;
  for (int attempt = 1;; ++attempt) {
    Status status = sink.Write(batch);
    if (status.ok() || !status.retriable()) return status;
    if (aborted_) return Status::Cancelled("aborted while retrying: " + status.message());
    ++stats_.sink_retries;
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
}

void Pipeline::PipelinedSinkLoop(Sink& sink) {
  std::map<uint64_t, Batch> in_flight;
  const size_t window = std::max<size_t>(options_.queue_capacity, 2);
  bool input_closed = false;
  auto fail = [&](const Status& status) {
    Fail(status.WithContext(sink.Describe()));
    Abort();
  };
  while (!aborted_ && (!input_closed || !in_flight.empty())) {
    if (!input_closed && in_flight.size() < window) {
      // Wait for input only when there is nothing to confirm meanwhile.
      const auto wait = std::chrono::milliseconds(in_flight.empty() ? 100 : 0);
      if (std::optional<Batch> batch = processed_.PopFor(wait, &input_closed)) {
        // Kept from before Submit: a failed Submit may still have handed some records over.
        const uint64_t sequence = batch->sequence;
        Batch& kept = in_flight.emplace(sequence, std::move(*batch)).first->second;
        if (Status s = sink.Submit(kept); !s.ok()) {
          fail(s);
          break;
        }
        continue;  // Fill the window before waiting for confirmations.
      }
    }
    if (in_flight.empty()) continue;
    for (Sink::Completion& done : sink.Poll(std::chrono::milliseconds(5))) {
      auto it = in_flight.find(done.sequence);
      if (done.status.ok() && it != in_flight.end()) {
        SinkCounts& counts = stats_.sinks.front();
        counts.stored += it->second.rows.size() + it->second.records.size();
        counts.rejected += it->second.dead.size();
        Acknowledged(it->second);
        // The producer is done with the records; their buffers go back to the source.
        spare_records_.Put(std::move(it->second.records), options_.batch_size);
        in_flight.erase(it);
      } else if (done.status.retriable() && it != in_flight.end() && !aborted_) {
        // The producer already retried each message until its delivery timeout; try the
        // undelivered ones again rather than give up on a cluster that may come back.
        ++stats_.sink_retries;
        spdlog::warn("{}: {} (resubmitting)", sink.Describe(), done.status.message());
        if (Status s = sink.Submit(it->second); !s.ok()) {
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
      batch->source_records += more->source_records;
      spare_rows_.Put(std::move(more->rows), options_.batch_size);
    }
    bool ok = true;
    for (Sink* sink : sinks_) {
      Status status = WriteWithRetry(*sink, *batch);
      if (!status.ok()) {
        Fail(status.WithContext(sink->Describe()));
        ok = false;
        break;
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
    for (const Part& part : parts) Acknowledged(part.sequence, part.stored, part.rejected);
    spare_rows_.Put(std::move(batch->rows), options_.batch_size);
  }
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
