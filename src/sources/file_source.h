// FileSource: records from a file or stdin.
//
// Any mix of what RecordSplitter (transforms/ingest.h) finds: JSON Lines (a user or a whole
// API response per line), a pretty-printed response {"results":[...]}, a bare array of
// users. A UTF-8 byte-order mark at the start is skipped. The input is read in chunks and
// split as it streams, user by user: memory holds one chunk and at most --max-record-bytes
// of one record, however long a line or document is, and time is linear in the input.
// A record's position is the line where it starts, its item its index among the records
// that start on that line (20 users of a one-line response: line 1, items 0..19).
//
// A unit that cannot be used (broken, too large, not a JSON object, an API error object)
// becomes one dead letter (secret-safe bytes, see ingest.h) with the reason; the stream goes
// on. `count` counts records and dead letters alike and is never exceeded, also when one line
// holds a whole response.
//
// Reading never blocks past a stop request (see LineReader), and on a quiet input (a pipe
// trickling lines) what has arrived is handed on after `linger` (--linger) rather than held
// back until a batch is full.
//
// Thread-safety: one thread (the pipeline's source thread).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "sources/line_reader.h"
#include "sources/source.h"
#include "transforms/ingest.h"

namespace spate {

class FileSource final : public Source {
 public:
  // `path` "-" reads stdin. `count` 0 = everything.
  FileSource(std::string path, uint64_t count, size_t max_record_bytes = kIngestMaxRecordBytes);

  // Opens the file; an error names the path and the cause.
  Status Open();
  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override;
  // The longest a partial batch waits for more input, from when its first record was read
  // (default kDefaultLinger). Only waiting counts: a file that is all there fills batches.
  void set_linger(std::chrono::milliseconds linger) { linger_ = linger; }
  std::string Describe() const override { return origin_; }
  std::string_view kind() const override { return "file"; }

 private:
  static constexpr std::chrono::milliseconds kDefaultLinger{5};
  // How long one wait for input lasts while the batch is empty (then it waits again).
  static constexpr int kEmptyWaitMs = 200;

  uint64_t Room() const { return count_ == 0 ? UINT64_MAX : count_ - emitted_; }

  const std::string path_;
  const std::string origin_;
  const uint64_t count_;
  std::unique_ptr<LineReader> reader_;
  RecordSplitter splitter_;
  Ingestor ingestor_;
  std::string chunk_;
  std::vector<SplitUnit> found_;  // Scratch for the splitter's output.
  std::deque<SplitUnit> units_;   // Found, not yet handed out: at most one chunk's worth.
  std::chrono::milliseconds linger_ = kDefaultLinger;
  bool input_done_ = false;
  uint64_t emitted_ = 0;  // Records + dead letters handed out.
};

}  // namespace spate
