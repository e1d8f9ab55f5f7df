// Sink: where rows are stored.
//
// The pipeline's sink thread calls Write() with each processed batch (rows and dead letters)
// and acknowledges the batch to its source only after every sink's Write returned ok, so a
// sink must have made the batch durable (committed) before returning. Writes are upserts on
// id: replaying a batch rewrites the same rows, which is what makes at-least-once delivery
// give exactly-once rows.
//
// A retriable error makes the pipeline retry the same batch with backoff; a fatal one stops
// the run (nothing of that batch is acknowledged).
//
// Thread-safety: each sink is used from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/hash.h"
#include "core/record.h"
#include "core/status.h"

namespace spate {

class Sink {
 public:
  virtual ~Sink() = default;

  // Health check and schema setup, run once before any data flows. Errors name the fix.
  virtual Status Open() = 0;
  // Stores batch.rows (upsert on id) and batch.dead (the dead-letter table) durably.
  virtual Status Write(const Batch& batch) = 0;
  // Flushes anything buffered and releases the connection. Called once at the end.
  virtual Status Close() = 0;
  virtual std::string Describe() const = 0;
  // The kind of store, as the `sink` label of its metrics: sqlite, postgres, cassandra,
  // discard, kafka.
  virtual std::string_view kind() const { return "unknown"; }
  // False for a sink that keeps only a batch's dead letters (the dead-letter producer of
  // `spate process`): its rows count neither as stored nor for end-to-end latency.
  virtual bool stores_rows() const { return true; }
  // Pipelined sinks (Kafka's producer) confirm writes later, so the pipeline keeps several
  // batches in flight instead of waiting for each: Submit hands a batch over (blocking only
  // for backpressure), Poll waits up to `timeout` and returns the outcome of every batch
  // completed since the last call. The pipeline uses this only when such a sink is its one
  // sink, and keeps each submitted batch, unchanged, until its completion arrives, even when
  // Submit failed or the run is aborted: the sink may read the batch until then (Kafka's
  // producer sends the records' bytes without copying them), and it may be resubmitted after
  // a retriable error. A completion with sequence kAnyBatch is a failure of the sink as a
  // whole.
  struct Completion {
    uint64_t sequence;
    Status status;
  };
  static constexpr uint64_t kAnyBatch = UINT64_MAX;
  virtual bool pipelined() const { return false; }
  virtual Status Submit(const Batch& /*batch*/) { return Status::Fatal("not a pipelined sink"); }
  virtual std::vector<Completion> Poll(std::chrono::milliseconds /*timeout*/) { return {}; }

  // Whether batches that queued up behind this sink may be handed to one Write (one
  // transaction): worth it where a commit is expensive (a network round trip and an fsync on
  // a server), not for an embedded store, where it only holds more rows in memory at once.
  virtual bool group_commit() const { return false; }

  // Rows of the Writes since the last call that this sink could not store and put in its
  // own dead-letter table instead (a value the store refuses): the run's counts then show
  // them as rejected rather than stored.
  virtual uint64_t TakeRefused() { return 0; }

  // Makes a Write that is waiting on something outside (a broker's confirmation) give up
  // soon with a Cancelled error. Called from another thread on abort (a second Ctrl-C).
  virtual void Interrupt() {}
};

// The primary key of a dead letter in every store: the same bad record at the same place of
// an input is one row however often it is replayed, as created_users is. The origin is left
// out on purpose: it names how the input was reached (a path as typed, stdin), and the same
// bytes fed as `f/x`, `./f/x` or on stdin must give the same dead letters.
inline std::string DeadLetterId(const DeadLetter& dead) {
  uint64_t h = Fnv1a64(std::string_view(reinterpret_cast<const char*>(&dead.position), 8));
  h = Fnv1a64(std::string_view(reinterpret_cast<const char*>(&dead.item), 4), h);
  h = Fnv1a64(dead.raw, h);
  return fmt::format("{:016x}", h);
}

}  // namespace spate
