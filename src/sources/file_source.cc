#include "sources/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace spate {

FileSource::FileSource(std::string path, uint64_t count, size_t max_record_bytes)
    : path_(std::move(path)),
      origin_(path_ == "-" ? "stdin" : "file:" + path_),
      count_(count),
      splitter_(max_record_bytes),
      ingestor_(max_record_bytes) {}

Status FileSource::Open() {
  if (path_ == "-") {
    if (isatty(STDIN_FILENO)) {
      spdlog::warn(
          "reading users from the terminal (stdin); end with Ctrl-D, or give --input FILE");
    }
    reader_ = std::make_unique<LineReader>(STDIN_FILENO);
    return Status::Ok();
  }
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::Fatal(
        fmt::format("cannot open input file '{}': {} (set --input)", path_, std::strerror(errno)));
  }
  reader_ = std::make_unique<LineReader>(fd);
  return Status::Ok();
}

Result<SourceState> FileSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  batch.origin = origin_;
  if (reader_ == nullptr) return Status::Fatal("file source used before Open()");
  // When the batch's first record was in hand: it waits at most linger_ from then.
  std::optional<std::chrono::steady_clock::time_point> first_at;
  while (batch.records.size() + batch.dead.size() < max_records) {
    if (Room() == 0) return SourceState::kFinished;
    if (!units_.empty()) {
      SplitUnit unit = std::move(units_.front());
      units_.pop_front();
      if (ingestor_.AddUnit(unit, unit.line, unit.item, batch, nullptr, true)) {
        ++batch.source_records;
        ++emitted_;
      }
      continue;
    }
    if (input_done_) return SourceState::kFinished;
    int wait_ms = kEmptyWaitMs;
    if (!batch.records.empty() || !batch.dead.empty()) {
      // Only here, before a read that may wait: a file that is all there never pays for it.
      const auto now = std::chrono::steady_clock::now();
      if (!first_at) first_at = now;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*first_at + linger_ - now);
      if (left.count() <= 0) return SourceState::kHaveMore;
      wait_ms = static_cast<int>(left.count());
    }
    auto got = reader_->Read(chunk_, stop, wait_ms);
    if (!got.ok()) return got.status().WithContext(origin_);
    found_.clear();
    switch (got.value()) {
      case LineReader::Got::kStopped:
        return SourceState::kFinished;
      case LineReader::Got::kIdle:
        if (!batch.records.empty() || !batch.dead.empty()) return SourceState::kHaveMore;
        continue;
      case LineReader::Got::kEnd:
        splitter_.Finish(found_);
        input_done_ = true;
        break;
      case LineReader::Got::kData:
        splitter_.Feed(chunk_, found_);
        break;
    }
    for (SplitUnit& unit : found_) units_.push_back(std::move(unit));
  }
  return SourceState::kHaveMore;
}

}  // namespace spate
