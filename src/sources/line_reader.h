// LineReader: bytes from a file descriptor, without ever blocking past a stop request.
//
// std::getline on stdin blocks in read() until data or EOF, and spate blocks SIGINT in every
// thread (the main thread waits for it), so nothing would interrupt it: `cat | spate run`
// could not be stopped. This reader polls the descriptor in short slices, checks the stop
// token between them, and reports when nothing arrived for a while (kIdle) so a trickling
// input is flushed in small batches instead of waiting for a full one.
//
// It hands out what read() returned, at most kReadChunk bytes at a time, and keeps nothing:
// finding records in the bytes is RecordSplitter's job, so memory does not depend on how
// long a line is (a file without newlines is read in chunks like any other).
//
// Thread-safety: one thread.
#pragma once

#include <cstddef>
#include <stop_token>
#include <string>

#include "core/status.h"

namespace spate {

class LineReader {
 public:
  enum class Got { kData, kEnd, kIdle, kStopped };
  static constexpr size_t kReadChunk = 1 << 16;

  // Takes ownership of `fd` unless it is 0 (stdin).
  explicit LineReader(int fd) : fd_(fd) {}
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next bytes of the input in `chunk` (replaced): kData. kEnd at end of input, kIdle when
  // nothing arrived within idle_ms, kStopped when the stop token fired.
  Result<Got> Read(std::string& chunk, std::stop_token stop, int idle_ms);

 private:
  int fd_;
  bool eof_ = false;
};

}  // namespace spate
