#include "core/checkpoint.h"

namespace spate {

uint64_t ContiguousCheckpoint::Ack(uint64_t sequence) {
  std::lock_guard lock(mu_);
  if (sequence < next_) return next_;  // Duplicate ack: already counted.
  ahead_.insert(sequence);
  while (!ahead_.empty() && *ahead_.begin() == next_) {
    ahead_.erase(ahead_.begin());
    ++next_;
  }
  return next_;
}

uint64_t ContiguousCheckpoint::mark() const {
  std::lock_guard lock(mu_);
  return next_;
}

size_t ContiguousCheckpoint::pending() const {
  std::lock_guard lock(mu_);
  return ahead_.size();
}

}  // namespace spate
