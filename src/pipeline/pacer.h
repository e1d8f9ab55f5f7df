// Pacer: the token bucket behind --rate, kept apart from the pipeline's threads so that its
// arithmetic can be tested against made-up times.
//
// Record k (counting from 1) is due k/rate seconds after the start. A batch closes when
// batch_size records are due, or when `linger` has passed since its first record was due,
// whichever comes first; so at a low rate a record waits at most linger for company, and at a
// high rate batches are full. Credit for records not taken when due (the sink stalled, the
// queue was full) is capped at one batch: after a stall the stream catches up by at most one
// batch, never in a burst of several.
//
// Records are counted as the source hands them out (Took): a source that gives fewer than
// it was allowed leaves the rest as credit, within the same cap.
//
// Thread-safety: one thread (the pipeline's source thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace spate {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate` in records per second, > 0; batch_size >= 1.
  Pacer(double rate, size_t batch_size, Clock::duration linger, Clock::time_point start);

  // How many records the batch that closes at `now` may take (1..batch_size), or 0 when it
  // must wait: then *wake is when to ask again.
  size_t Ready(Clock::time_point now, Clock::time_point* wake);
  // The records due by `now` and not taken yet (at most batch_size), whether or not their
  // batch would close now: for the last batch, when the stream ends (--duration).
  size_t Due(Clock::time_point now);
  // The source handed out `n` records.
  void Took(uint64_t n) { taken_ += n; }

  uint64_t taken() const { return taken_; }

 private:
  // The time record number `k` (from 1) is due.
  Clock::time_point DueAt(uint64_t k) const;

  const double rate_;
  const uint64_t batch_;
  const Clock::duration linger_;
  Clock::time_point start_;  // Moves forward when credit past one batch is dropped.
  uint64_t taken_ = 0;
};

}  // namespace spate
