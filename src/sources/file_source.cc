#include "sources/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace spate {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// A line that is a complete JSON object by itself: `{` ... `}` with balanced braces outside
// strings. Cheap, and enough to tell JSON Lines from the first line of a pretty document.
bool IsCompleteObject(std::string_view line) {
  if (line.empty() || line.front() != '{') return false;
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1 == line.size();
    }
  }
  return false;
}

// Drops records, then dead letters, added after the first `keep` of this call's additions.
void TrimAdded(Batch& batch, size_t records_before, size_t dead_before, uint64_t keep) {
  const size_t records_added = batch.records.size() - records_before;
  const size_t keep_records = std::min<uint64_t>(records_added, keep);
  batch.records.resize(records_before + keep_records);
  batch.dead.resize(dead_before +
                    std::min<uint64_t>(batch.dead.size() - dead_before, keep - keep_records));
}

}  // namespace

FileSource::FileSource(std::string path, uint64_t count)
    : path_(std::move(path)), origin_(path_ == "-" ? "stdin" : "file:" + path_), count_(count) {}

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

void FileSource::AddLine(std::string_view line, uint64_t line_number, Batch& batch) {
  if (line.find("\"results\"") != std::string_view::npos) {
    const size_t records_before = batch.records.size();
    const size_t dead_before = batch.dead.size();
    auto split = ingestor_.SplitResponse(line, 0, batch);
    if (split.ok()) {
      // Every user of a one-line response shares the line as its position.
      for (size_t i = records_before; i < batch.records.size(); ++i) {
        batch.records[i].position = line_number;
      }
      for (size_t i = dead_before; i < batch.dead.size(); ++i) {
        batch.dead[i].position = line_number;
      }
      return;
    }
    if (split.status().kind() == ErrorKind::kFatal) {  // An {"error": ...} response.
      batch.dead.push_back(
          DeadLetter{split.status().message(), batch.origin, line_number, ScrubSecrets(line)});
      return;
    }
  }
  ingestor_.AddUser(line, line_number, batch);
}

Status FileSource::LoadDocument(std::string first_line, std::stop_token stop) {
  std::string text = std::move(first_line);
  text.push_back('\n');
  auto got = reader_->ReadRest(text, stop);
  if (!got.ok()) return got.status().WithContext(origin_);
  if (got.value() == LineReader::Got::kStopped) return Status::Cancelled("stopped");
  pending_.origin = origin_;
  const std::string_view trimmed = Trim(text);
  Result<uint64_t> split = Status::InvalidInput("empty");
  if (!trimmed.empty() && trimmed.front() == '[') {
    // A bare array of users: the same as a response's results.
    split = ingestor_.SplitResponse("{\"results\":" + std::string(trimmed) + "}", 0, pending_);
  } else {
    split = ingestor_.SplitResponse(text, 0, pending_);
  }
  if (split.ok()) {
    layout_ = Layout::kDocument;
    return Status::Ok();
  }
  if (split.status().kind() == ErrorKind::kFatal) {  // {"error": ...}: keep it, with reason.
    layout_ = Layout::kDocument;
    pending_.dead.push_back(DeadLetter{split.status().message(), origin_, 0, ScrubSecrets(text)});
    return Status::Ok();
  }
  // Neither a document nor an array: read it again as JSON Lines, so a broken first line
  // (or a truncated tail) costs only its own line.
  layout_ = Layout::kLines;
  line_number_ = 0;
  reader_->Replay(std::move(text));
  return Status::Ok();
}

void FileSource::TakePending(Batch& batch, size_t max) {
  // Dead letters of a document go out first: there are few of them.
  while (!pending_.dead.empty() && Room() > 0) {
    batch.dead.push_back(std::move(pending_.dead.back()));
    pending_.dead.pop_back();
    ++batch.source_records;
    ++emitted_;
  }
  while (pending_offset_ < pending_.records.size() && batch.records.size() < max && Room() > 0) {
    batch.records.push_back(std::move(pending_.records[pending_offset_++]));
    ++batch.source_records;
    ++emitted_;
  }
}

Result<SourceState> FileSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  batch.origin = origin_;
  if (reader_ == nullptr) return Status::Fatal("file source used before Open()");
  if (layout_ == Layout::kDocument) {
    TakePending(batch, max_records);
    const bool done = pending_offset_ >= pending_.records.size() || Room() == 0;
    return done ? SourceState::kFinished : SourceState::kHaveMore;
  }
  std::string line;
  while (batch.records.size() + batch.dead.size() < max_records) {
    if (Room() == 0) return SourceState::kFinished;
    auto got = reader_->Next(line, stop, kIdleFlushMs);
    if (!got.ok()) return got.status().WithContext(origin_);
    switch (got.value()) {
      case LineReader::Got::kEnd:
      case LineReader::Got::kStopped:
        return SourceState::kFinished;
      case LineReader::Got::kIdle:
        if (!batch.records.empty() || !batch.dead.empty()) return SourceState::kHaveMore;
        continue;
      case LineReader::Got::kLine:
        break;
    }
    ++line_number_;
    std::string_view trimmed = Trim(line);
    if (line_number_ == 1 && trimmed.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
      trimmed.remove_prefix(kUtf8Bom.size());
    }
    if (trimmed.empty()) continue;
    if (layout_ == Layout::kUnknown) {
      if (!IsCompleteObject(trimmed)) {
        if (Status s = LoadDocument(std::string(trimmed), stop); !s.ok()) {
          if (s.kind() == ErrorKind::kCancelled) return SourceState::kFinished;
          return s;
        }
        return Next(batch, max_records, stop);
      }
      layout_ = Layout::kLines;
    }
    const size_t records_before = batch.records.size();
    const size_t dead_before = batch.dead.size();
    AddLine(trimmed, line_number_, batch);
    uint64_t added = batch.records.size() + batch.dead.size() - records_before - dead_before;
    if (added > Room()) {  // A one-line response with more users than --count allows.
      TrimAdded(batch, records_before, dead_before, Room());
      added = Room();
    }
    batch.source_records += added;
    emitted_ += added;
  }
  return SourceState::kHaveMore;
}

}  // namespace spate
