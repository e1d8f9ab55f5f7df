#include "sources/line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace spate {
namespace {

// How often a blocked read looks at the stop token.
constexpr int kPollSliceMs = 100;

}  // namespace

LineReader::~LineReader() {
  if (fd_ > 0) close(fd_);
}

Result<LineReader::Got> LineReader::Read(std::string& chunk, std::stop_token stop, int idle_ms) {
  chunk.clear();
  if (eof_) return Got::kEnd;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(idle_ms);
  while (true) {
    if (stop.stop_requested()) return Got::kStopped;
    pollfd pfd{fd_, POLLIN, 0};
    // No longer than the idle deadline: a partial batch waits only its linger.
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int slice = static_cast<int>(std::clamp<int64_t>(left.count(), 0, kPollSliceMs));
    const int ready = poll(&pfd, 1, slice);
    if (ready < 0 && errno != EINTR) {
      return Status::Fatal(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (ready > 0) {
      chunk.resize(kReadChunk);
      const ssize_t n = read(fd_, chunk.data(), kReadChunk);
      if (n < 0) {
        chunk.clear();
        if (errno == EINTR || errno == EAGAIN) continue;
        return Status::Fatal(fmt::format("read: {}", std::strerror(errno)));
      }
      chunk.resize(static_cast<size_t>(n));
      if (n == 0) {
        eof_ = true;
        return Got::kEnd;
      }
      return Got::kData;
    }
    if (std::chrono::steady_clock::now() >= deadline) return Got::kIdle;
  }
}

}  // namespace spate
