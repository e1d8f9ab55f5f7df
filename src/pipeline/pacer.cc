#include "pipeline/pacer.h"

#include <algorithm>
#include <cmath>

namespace spate {

Pacer::Pacer(double rate, size_t batch_size, Clock::duration linger, Clock::time_point start)
    : rate_(rate),
      batch_(std::max<size_t>(batch_size, 1)),
      linger_(std::max(linger, Clock::duration::zero())),
      start_(start) {}

Pacer::Clock::time_point Pacer::DueAt(uint64_t k) const {
  // Rounded up, so that a record is never reported due before its time.
  const auto offset = std::chrono::duration<double>(static_cast<double>(k) / rate_);
  return start_ + std::chrono::ceil<Clock::duration>(offset);
}

size_t Pacer::Ready(Clock::time_point now, Clock::time_point* wake) {
  const uint64_t credit = Due(now);
  if (credit >= batch_) return batch_;
  const Clock::time_point first_due = DueAt(taken_ + 1);
  const Clock::time_point close_at = first_due + linger_;
  if (credit > 0 && now >= close_at) return static_cast<size_t>(credit);
  // Whichever comes first: a full batch, or the linger of the first record running out.
  *wake = std::min(DueAt(taken_ + batch_), close_at);
  if (*wake <= now) *wake = now + std::chrono::microseconds(1);  // Rounding: never spin.
  return 0;
}

size_t Pacer::Due(Clock::time_point now) {
  // Records due by now, counted in double: elapsed nanoseconds times the rate would
  // overflow 64 bits after a day at a high rate.
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  uint64_t due = elapsed <= 0 ? 0 : static_cast<uint64_t>(std::floor(elapsed * rate_));
  if (due > taken_ + batch_) {
    // More than a batch of credit: forget the rest, as if the stream had started later.
    due = taken_ + batch_;
    start_ = now - std::chrono::ceil<Clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(due) / rate_));
  }
  return static_cast<size_t>(due > taken_ ? due - taken_ : 0);
}

}  // namespace spate
