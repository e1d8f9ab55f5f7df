// ContiguousCheckpoint: the highest sequence number below which everything is acknowledged.
//
// Sinks acknowledge batches in whatever order they finish; a source may only treat a
// position as done (commit a Kafka offset, forget a file line) when every earlier one is
// done too. This tracks acknowledged sequence numbers and advances the contiguous mark.
//
// Thread-safety: all methods take an internal mutex.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

namespace spate {

class ContiguousCheckpoint {
 public:
  // Sequences start at `first`; nothing is done until `first` is acknowledged.
  explicit ContiguousCheckpoint(uint64_t first = 0) : next_(first) {}

  // Marks `sequence` done. Returns the new contiguous mark: every sequence < mark is done.
  uint64_t Ack(uint64_t sequence);

  // Every sequence below the returned value is acknowledged.
  uint64_t mark() const;
  // Acknowledged but not yet contiguous (waiting for an earlier one).
  size_t pending() const;

 private:
  mutable std::mutex mu_;
  uint64_t next_;             // Protected by mu_.
  std::set<uint64_t> ahead_;  // Protected by mu_.
};

}  // namespace spate
