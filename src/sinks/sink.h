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

#include <string>

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
};

}  // namespace spate
