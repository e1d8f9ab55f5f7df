#include "sources/line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace spate {
namespace {

// How often a blocked read looks at the stop token.
constexpr int kPollSliceMs = 100;
constexpr size_t kReadChunk = 1 << 16;

}  // namespace

LineReader::~LineReader() {
  if (fd_ > 0) close(fd_);
}

Result<LineReader::Got> LineReader::Fill(std::stop_token stop, int wait_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (true) {
    if (stop.stop_requested()) return Got::kStopped;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, kPollSliceMs);
    if (ready < 0 && errno != EINTR) {
      return Status::Fatal(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (ready > 0) {
      // Keep the unread tail only; the consumed head is dropped so memory stays bounded.
      if (pos_ > 0) {
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      const size_t old_size = buf_.size();
      buf_.resize(old_size + kReadChunk);
      const ssize_t n = read(fd_, buf_.data() + old_size, kReadChunk);
      if (n < 0) {
        buf_.resize(old_size);
        if (errno == EINTR || errno == EAGAIN) continue;
        return Status::Fatal(fmt::format("read: {}", std::strerror(errno)));
      }
      buf_.resize(old_size + static_cast<size_t>(n));
      if (n == 0) {
        eof_ = true;
        return Got::kEnd;
      }
      return Got::kLine;  // Something arrived; the caller looks for a newline.
    }
    if (std::chrono::steady_clock::now() >= deadline) return Got::kIdle;
  }
}

Result<LineReader::Got> LineReader::Next(std::string& line, std::stop_token stop, int idle_ms) {
  while (true) {
    const size_t newline = buf_.find('\n', pos_);
    if (newline != std::string::npos) {
      line.assign(buf_, pos_, newline - pos_);
      pos_ = newline + 1;
      return Got::kLine;
    }
    if (eof_) {
      if (pos_ >= buf_.size()) return Got::kEnd;
      line.assign(buf_, pos_, std::string::npos);  // A last line without '\n'.
      pos_ = buf_.size();
      return Got::kLine;
    }
    auto got = Fill(stop, idle_ms);
    if (!got.ok() || got.value() == Got::kStopped || got.value() == Got::kIdle) return got;
  }
}

Result<LineReader::Got> LineReader::ReadRest(std::string& out, std::stop_token stop) {
  while (!eof_) {
    auto got = Fill(stop, kPollSliceMs);
    if (!got.ok() || got.value() == Got::kStopped) return got;
  }
  out.append(buf_, pos_, std::string::npos);
  buf_.clear();
  pos_ = 0;
  return Got::kEnd;
}

void LineReader::Replay(std::string text) {
  buf_ = std::move(text);
  pos_ = 0;
  eof_ = true;
}

}  // namespace spate
