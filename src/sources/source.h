// Source: where records enter spate (the ingest stage).
//
// A source fetches data, splits it into one JSON document per user, removes the login
// secrets (see transforms/ingest.h) and hands out Batches. The pipeline calls Next() from a
// single thread until it reports kFinished or an error; Stop is signalled through the
// stop_token so long waits (HTTP backoff) end promptly on Ctrl-C.
//
// Acknowledge(sequence) is called (from the sink thread) once every sink has stored the batch
// with that sequence number; sources with positions to commit use it, others ignore it.
#pragma once

#include <cstddef>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/record.h"
#include "core/status.h"

namespace spate {

class MetricsRegistry;

enum class SourceState {
  kHaveMore,  // The batch holds data (possibly only dead letters); call again.
  kFinished,  // No more data; the batch may still hold a final part.
};

class Source {
 public:
  virtual ~Source() = default;

  // Fills `batch` (records and/or dead letters, and source_records) with at most
  // `max_records` records. A non-ok Result ends the run with that error after the
  // pipeline has drained what was already handed out.
  virtual Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) = 0;

  virtual void Acknowledge(uint64_t /*sequence*/) {}

  // Human-readable name for logs and summaries: "generator", "randomuser https://...".
  virtual std::string Describe() const = 0;

  // The kind of source, as the `source` label of its metrics: generator, randomuser, file,
  // kafka. A bounded set of names, never anything from the input.
  virtual std::string_view kind() const { return "unknown"; }

  // Called once by the pipeline that runs the source, before the first Next: where to report
  // what only the source sees (a request retried), under that pipeline's label.
  virtual void ReportTo(MetricsRegistry& /*metrics*/, std::string_view /*pipeline*/) {}
};

}  // namespace spate
