// FileSource: records from a file or stdin.
//
// Layouts, told apart by the first non-empty line (a UTF-8 byte-order mark is skipped):
//   JSON Lines  the line is a complete JSON object: one value per line, a user object or a
//               whole API response on one line. Read line by line, so memory stays flat for
//               any size. Position = line number.
//   Document    anything else: the input is read whole and parsed as an API response
//               {"results":[...]} or a JSON array of users. Position = index in the array.
//               If it parses as neither, it is read again as JSON Lines, so one broken first
//               line costs that line, not the file.
// A line or element that cannot be used becomes a dead letter (secrets scrubbed) with the
// reason; the stream goes on. `count` counts records and dead letters alike and is never
// exceeded, also when one line holds a whole response.
//
// Reading never blocks past a stop request (see LineReader), and on a quiet input (a pipe
// trickling lines) what has arrived is handed on after a short wait rather than held back
// until a batch is full.
//
// Thread-safety: one thread (the pipeline's source thread).
#pragma once

#include <memory>
#include <string>

#include "sources/line_reader.h"
#include "sources/source.h"
#include "transforms/ingest.h"

namespace spate {

class FileSource final : public Source {
 public:
  // `path` "-" reads stdin. `count` 0 = everything.
  FileSource(std::string path, uint64_t count);

  // Opens the file; an error names the path and the cause.
  Status Open();
  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override;
  std::string Describe() const override { return origin_; }

 private:
  enum class Layout { kUnknown, kLines, kDocument };
  // A partial batch is handed on after this long without a new line.
  static constexpr int kIdleFlushMs = 200;

  void AddLine(std::string_view line, uint64_t line_number, Batch& batch);
  // Reads the rest of the input after `first_line` and decides: document or JSON Lines.
  Status LoadDocument(std::string first_line, std::stop_token stop);
  // Moves pending_ records/dead letters into `batch`, at most `max`, within count_.
  void TakePending(Batch& batch, size_t max);
  uint64_t Room() const { return count_ == 0 ? UINT64_MAX : count_ - emitted_; }

  const std::string path_;
  const std::string origin_;
  const uint64_t count_;
  std::unique_ptr<LineReader> reader_;
  Layout layout_ = Layout::kUnknown;
  uint64_t line_number_ = 0;
  uint64_t emitted_ = 0;  // Records + dead letters handed out.
  Batch pending_;         // Document layout: split records waiting to be handed out.
  size_t pending_offset_ = 0;
  Ingestor ingestor_;
};

}  // namespace spate
