// FileSource: records from a file or stdin.
//
// Two layouts, detected from the first non-empty line:
//   JSON Lines  one JSON value per line: a user object, or a whole API response on one line
//               (anything containing "results" is tried as a response first). Position = line.
//   Document    a (pretty-printed) API response {"results":[...]}. Position = index in results.
// JSON Lines are read line by line, so memory stays flat for any file size; a document is
// read whole (API responses are at most 5000 users). A line or document that cannot be used
// becomes a dead letter with the reason; the stream goes on.
//
// Thread-safety: one thread (the pipeline's source thread).
#pragma once

#include <fstream>
#include <istream>
#include <memory>
#include <string>

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
  void AddLine(std::string_view line, uint64_t line_number, Batch& batch);
  void LoadDocument(std::string first_line, Batch& batch);
  // Moves up to `max` pending records/dead letters into `batch`.
  void TakePending(Batch& batch, size_t max);

  const std::string path_;
  const std::string origin_;
  const uint64_t count_;
  std::ifstream file_;
  std::istream* in_ = nullptr;
  Layout layout_ = Layout::kUnknown;
  uint64_t line_number_ = 0;
  uint64_t emitted_ = 0;
  Batch pending_;  // Document layout: split records waiting to be handed out.
  size_t pending_offset_ = 0;
  Ingestor ingestor_;
};

}  // namespace spate
