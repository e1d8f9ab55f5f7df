// LineReader: lines from a file descriptor, without ever blocking past a stop request.
//
// std::getline on stdin blocks in read() until data or EOF, and spate blocks SIGINT in every
// thread (the main thread waits for it), so nothing would interrupt it: `cat | spate run`
// could not be stopped. This reader polls the descriptor in short slices, checks the stop
// token between them, and reports when no complete line arrived for a while (kIdle) so a
// trickling input is flushed in small batches instead of waiting for a full one.
//
// Thread-safety: one thread.
#pragma once

#include <stop_token>
#include <string>

#include "core/status.h"

namespace spate {

class LineReader {
 public:
  enum class Got { kLine, kEnd, kIdle, kStopped };

  // Takes ownership of `fd` unless it is 0 (stdin).
  explicit LineReader(int fd) : fd_(fd) {}
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its '\n'. kIdle when no complete line arrived within idle_ms.
  Result<Got> Next(std::string& line, std::stop_token stop, int idle_ms);
  // Everything up to EOF (after what Next already returned). kStopped if stopped first.
  Result<Got> ReadRest(std::string& out, std::stop_token stop);
  // Serves `text` as the rest of the input (used after ReadRest to re-read it as lines).
  void Replay(std::string text);

 private:
  // Reads more into buf_, waiting at most wait_ms. kEnd at EOF, kIdle when nothing came.
  Result<Got> Fill(std::stop_token stop, int wait_ms);

  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

}  // namespace spate
