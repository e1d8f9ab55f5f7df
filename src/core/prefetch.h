// Prefetch: start loading bytes into this core's cache before they are needed.
//
// Records cross threads, and so cores: the source writes a record's text, process reads it a
// moment later on the other core, and the spare buffers travel back the same way. Each such
// read or write first waits for the cache lines to come over. Naming the next record's
// bytes while the current one is being worked on overlaps that wait with useful work.
// On the 2-vCPU development VM it saved a few percent of spate process's CPU (commit
// message and docs/benchmarks.md, "Prefetching the next record").
#pragma once

#include <algorithm>
#include <cstddef>

namespace spate {

// At most this many bytes are prefetched per call: a user record is about 1 KB, and a rare
// huge one is not worth flooding the cache for.
inline constexpr size_t kPrefetchLimit = 4096;

// Hints that [data, data + size) is about to be read. A hint only: no effect on results.
inline void PrefetchForRead(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  const size_t n = std::min(size, kPrefetchLimit);
  for (size_t offset = 0; offset < n; offset += 64) __builtin_prefetch(p + offset, 0);
}

// Hints that [data, data + size) is about to be written.
inline void PrefetchForWrite(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  const size_t n = std::min(size, kPrefetchLimit);
  for (size_t offset = 0; offset < n; offset += 64) __builtin_prefetch(p + offset, 1);
}

}  // namespace spate
