#include "sources/file_source.h"

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>

#include <fmt/format.h>

namespace spate {
namespace {

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

}  // namespace

FileSource::FileSource(std::string path, uint64_t count)
    : path_(std::move(path)), origin_(path_ == "-" ? "stdin" : "file:" + path_), count_(count) {}

Status FileSource::Open() {
  if (path_ == "-") {
    in_ = &std::cin;
    return Status::Ok();
  }
  file_.open(path_, std::ios::binary);
  if (!file_) {
    return Status::Fatal(
        fmt::format("cannot open input file '{}': {} (set --input)", path_, std::strerror(errno)));
  }
  in_ = &file_;
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
    if (split.status().kind() == ErrorKind::kFatal) {  // {"error": ...} response.
      batch.dead.push_back(
          DeadLetter{split.status().message(), batch.origin, line_number, std::string(line)});
      return;
    }
  }
  ingestor_.AddUser(line, line_number, batch);
}

void FileSource::LoadDocument(std::string first_line, Batch& batch) {
  std::string document = std::move(first_line);
  document.push_back('\n');
  document.append(std::istreambuf_iterator<char>(*in_), std::istreambuf_iterator<char>());
  pending_.origin = batch.origin;
  auto split = ingestor_.SplitResponse(document, 0, pending_);
  if (!split.ok()) {
    // Nothing usable: keep the whole document so nothing is lost, with the reason.
    pending_.dead.push_back(
        DeadLetter{split.status().message(), batch.origin, 0, std::move(document)});
  }
}

void FileSource::TakePending(Batch& batch, size_t max) {
  // Dead letters of a document go out first, all at once: there are few of them.
  for (DeadLetter& dead : pending_.dead) batch.dead.push_back(std::move(dead));
  batch.source_records += pending_.dead.size();
  pending_.dead.clear();
  while (pending_offset_ < pending_.records.size() && batch.records.size() < max) {
    if (count_ != 0 && emitted_ >= count_) break;
    batch.records.push_back(std::move(pending_.records[pending_offset_++]));
    ++batch.source_records;
    ++emitted_;
  }
}

Result<SourceState> FileSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  batch.origin = origin_;
  if (in_ == nullptr) return Status::Fatal("file source used before Open()");
  if (layout_ == Layout::kDocument) {
    TakePending(batch, max_records);
    const bool done =
        pending_offset_ >= pending_.records.size() || (count_ != 0 && emitted_ >= count_);
    return done ? SourceState::kFinished : SourceState::kHaveMore;
  }
  std::string line;
  while (batch.records.size() + batch.dead.size() < max_records) {
    if (stop.stop_requested()) return SourceState::kFinished;
    if (count_ != 0 && emitted_ >= count_) return SourceState::kFinished;
    if (!std::getline(*in_, line)) {
      if (in_->bad()) {
        return Status::Fatal(fmt::format("reading {}: {}", origin_, std::strerror(errno)));
      }
      return SourceState::kFinished;
    }
    ++line_number_;
    const std::string_view trimmed = Trim(line);
    if (trimmed.empty()) continue;
    if (layout_ == Layout::kUnknown) {
      if (!IsCompleteObject(trimmed)) {
        layout_ = Layout::kDocument;
        LoadDocument(std::move(line), batch);
        return Next(batch, max_records, stop);
      }
      layout_ = Layout::kLines;
    }
    const size_t before = batch.records.size() + batch.dead.size();
    AddLine(trimmed, line_number_, batch);
    const size_t added = batch.records.size() + batch.dead.size() - before;
    batch.source_records += added;
    emitted_ += added;
  }
  return SourceState::kHaveMore;
}

}  // namespace spate
