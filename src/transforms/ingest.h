// Ingest: turn what a source read into per-user records with the login secrets removed.
//
// Input is an API response {"results":[user,...],"info":{...}} (one line or pretty-printed),
// a bare array of users, or JSON Lines (a user or a whole response per line), in any mix.
// RecordSplitter finds each user's bytes in a stream without parsing the whole document, so
// one bad user (too deep, `1e99999`, an invalid UTF-8 byte, not an object) costs only
// itself, a truncated document keeps every complete user, and memory stays bounded by the
// record limit whatever the input. Ingestor turns each found unit into a RawRecord (the user
// object, compact, with every login secret removed; everything else byte for byte so a
// replay can rebuild any row) or a DeadLetter with the reason; the stream goes on.
//
// Secrets: the rule for what a dead letter may keep (issue 17, item 1). The promise is
// absolute: for ANY bytes, no value of password, salt, md5, sha1 or sha256 can be read back.
//   - Bytes that parse as JSON (an object or an array): the value is rewritten without every
//     member whose key is a login secret's name (SecretKeyName below), at any depth. The
//     parser decides what is a key, so spacing, escapes and nesting cannot hide one.
//   - Anything else (broken, truncated, too deep, too large, a bare scalar, not UTF-8): no
//     parser can say where a key ends and its value starts, and a missing quote earlier in
//     the line flips what is inside a string. So nothing is interpreted: the bytes are kept
//     only up to the first place where one of the five names begins, anywhere, in any
//     spelling a reader could take for it: after decoding JSON escapes (\u0070, any
//     `\` + letter as that letter, `\` + line break as nothing), UTF-8 including overlong
//     forms, fullwidth forms and the long s (U+017F) folded to ASCII, ASCII case folded, and
//     invisible format characters (zero-width, soft hyphen, BOM) ignored. A marker saying how
//     many bytes were dropped replaces the rest. Every value of a secret follows its key, and
//     no key can name a secret before the cut, so no secret survives; what is before the cut
//     (usually the user's name, location, email and login.uuid) is what a human needs to see
//     which record failed and why. Bytes are never interpreted as anything but text, so the
//     rule holds for keys without quotes, arrays or objects as values, and broken nesting.
// Two more rules close the gaps between units: a broken unit's bytes are one unbroken
// stretch of the input (the byte at fault included), so no letter of a name can fall between
// two units; and a unit that starts after broken structure right behind a secret's name
// ("password":<line break>{...}, ["salt": ...]) keeps no bytes and never becomes a record.
// A name inside a string value ("Salt Lake City") is data, not a key: bytes that parse keep
// it. Reasons go through the same cut (SecretSafeText), and an API error object's message
// and bytes too.
//
// Thread-safety: an Ingestor or RecordSplitter is used by one thread at a time. The free
// functions are safe from any thread (each thread gets its own parser).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "core/record.h"
#include "core/status.h"
#include "transforms/padded.h"

namespace spate {

// The login fields that must never leave the ingest stage.
inline constexpr std::string_view kLoginSecrets[] = {"password", "salt", "md5", "sha1", "sha256"};

// The default per-record limit (--max-record-bytes).
inline constexpr size_t kIngestMaxRecordBytes = size_t{1} << 20;

// True if a JSON key (already unescaped) names a login secret: one of the five names after
// the folding described above (case, fullwidth, long s, invisible characters).
bool SecretKeyName(std::string_view key);

// THE function for the raw bytes of every dead letter (see "Secrets" above): the bytes
// stripped of secrets by parsing when they parse, else cut before the first secret name.
std::string DeadLetterBytes(std::string_view raw);

// The older name of DeadLetterBytes, for callers that take it as a function (the PostgreSQL
// sink's scrub_raw): the same rule.
std::string ScrubSecrets(std::string_view raw);

// Text that is not JSON (a reason, an API error message): cut before the first secret name.
std::string SecretSafeText(std::string_view text);

// What the dead letter of a record over the record limit keeps of it (before the secret
// cut): enough to see what it was, never the whole of a huge record.
inline constexpr size_t kTooLargeKeepBytes = 4096;

// A dead letter whose raw bytes and reason went through the functions above.
DeadLetter MakeDeadLetter(std::string_view reason, std::string origin, uint64_t position,
                          uint32_t item, std::string_view raw);

// One record's bytes as found in a stream.
struct SplitUnit {
  enum class Kind {
    kValue,     // A complete JSON value by its structure (still to be parsed and checked).
    kBroken,    // Structurally broken or cut short; `problem` says how.
    kTooLarge,  // Over the record limit: `bytes` holds only a prefix, `size` the full size.
  };
  Kind kind = Kind::kValue;
  std::string bytes;
  uint64_t size = 0;       // Bytes the unit spans in the input.
  uint64_t line = 0;       // 1-based line where it starts.
  uint32_t item = 0;       // Its index among the units that start on that line.
  bool top_level = false;  // A value on its own, not an element of a response or array.
  std::string problem;
};

// Finds user records in a byte stream: top-level values (JSON Lines, or a pretty-printed
// user), the elements of a response's "results" array, or of a top-level array. A light
// grammar check (brackets, strings, commas, colons; scalars are left to the parser) finds
// where each unit ends, in one pass, holding at most one unit (up to the record limit, then
// only a prefix) and a 1 KiB bracket stack: linear time, bounded memory, for any input.
//
// Broken structure: the unit is closed at the fault and the splitter looks for the next line
// where a record can start: in JSON Lines (the first value ended on its own line) the next
// line; in a document the next line that opens a user (`{`, `[`, or `]` ending the array),
// so a broken user in a pretty-printed response costs only itself. Everything skipped joins
// the broken unit: one dead letter per fault.
class RecordSplitter {
 public:
  explicit RecordSplitter(size_t max_record_bytes = kIngestMaxRecordBytes);

  // Appends the units completed by `bytes` to `out`.
  void Feed(std::string_view bytes, std::vector<SplitUnit>& out);
  // The input ended: appends what is left (a truncated unit becomes kBroken).
  void Finish(std::vector<SplitUnit>& out);

  // After Finish: the input was exactly one well-formed response document (an object with a
  // "results" array, or an array) and nothing else but whitespace.
  bool complete() const;

 private:
  enum class Expect : uint8_t {
    kValue,
    kValueOrClose,
    kKeyOrClose,
    kKey,
    kColon,
    kCommaOrClose,
    kTopAfter
  };
  enum class Envelope : uint8_t { kNone, kObject, kArray };
  enum class Mode : uint8_t { kUnknown, kLines, kDocument };

  void Step(char c, std::vector<SplitUnit>& out);
  void StepStructure(char c, std::vector<SplitUnit>& out);
  void NewLine() {
    ++line_;
    line_blank_ = true;
  }
  void StartValue(char c);
  void Close(char c, std::vector<SplitUnit>& out);
  void ValueEnded(std::vector<SplitUnit>& out);
  // `c`: the byte at fault (kept in the broken unit), or -1.
  void Fault(const char* why, bool at_line_end, int c);
  bool CanResyncAt(char c) const;
  void Resync(char c);
  void BeginUnit();
  // Adds a byte to the open unit (if any), within its limit. Inline: it runs for most bytes.
  void Append(char c) {
    if (!unit_open_) return;
    if (unit_.bytes.size() < append_limit_) {
      ++unit_.size;
      unit_.bytes.push_back(c);
      return;
    }
    AppendSlow();
  }
  void AppendSlow();
  void SetAppendLimit();
  void AppendRun(std::string_view stretch);
  // Takes the line at bytes[i] whole if it is one valid object; returns the bytes taken.
  size_t FastLine(std::string_view bytes, size_t i, std::vector<SplitUnit>& out);
  // Up to kRecentBytes of the input before the byte being looked at.
  std::string RecentBytes() const;
  void Emit(std::vector<SplitUnit>& out);
  void SetMode(uint64_t start_line);
  bool AtUnitLevel() const;
  bool Loose() const { return depth_ > kMaxTrackedDepth; }

  static constexpr size_t kMaxTrackedDepth = 1024;

  const size_t max_record_bytes_;
  // Grammar state.
  std::string stack_;  // '{' or '[' per open container, up to kMaxTrackedDepth.
  uint64_t depth_ = 0;
  Expect expect_ = Expect::kValue;
  bool in_string_ = false;
  bool string_is_key_ = false;
  bool escape_ = false;
  bool in_token_ = false;
  uint64_t line_ = 1;
  bool line_blank_ = true;      // Nothing but spaces on this line so far.
  bool at_line_start_ = false;  // The byte being looked at is the first of its line.
  bool redo_ = false;           // A fault at a line's start: look at that byte again.
  uint64_t colon_line_ = 0;     // Where the last colon was.
  Mode mode_ = Mode::kUnknown;
  // Top level and envelope.
  Envelope envelope_ = Envelope::kNone;
  bool in_results_ = false;  // Inside an object envelope's "results" array.
  std::string key_;          // The current top-level key (first bytes), to spot "results".
  bool key_is_results_ = false;
  uint64_t top_start_line_ = 0;
  bool after_top_ = false;  // A top-level value ended on this line; only spaces may follow.
  std::string held_space_;  // Those spaces (a few), for the unit if something else follows.
  uint64_t top_values_ = 0;
  uint64_t envelopes_closed_ = 0;
  bool faulted_ = false;  // Any fault at all: the document is not complete.
  bool finished_ = false;
  // The unit being read.
  bool unit_open_ = false;
  bool unit_broken_ = false;
  bool unit_held_ = false;    // A top-level unit waiting for its line to end.
  bool unit_secret_ = false;  // Keeps no bytes: it may be a secret's value (see BeginUnit).
  bool after_fault_ = false;  // A fault since the last clean record.
  // To see whether a unit that starts after a fault follows a secret's name: the last
  // kRecentBytes of the earlier reads, the read being split, and where in it Step is.
  static constexpr size_t kRecentBytes = 1024;
  std::string recent_;
  std::string_view chunk_;
  size_t chunk_pos_ = 0;
  simdjson::dom::parser validator_;  // For FastLine.
  uint64_t unit_depth_ = 0;          // depth_ where it started.
  SplitUnit unit_;
  size_t append_limit_ = 0;  // Bytes the open unit may hold (0: it keeps none).
  // After a fault: skipping to the end of the line, then looking for where to start again.
  bool skipping_ = false;
  bool resyncing_ = false;
  bool resync_elements_ = false;  // Start again at an element of the envelope, not top level.
  // Item numbering within a line.
  uint64_t item_line_ = 0;
  uint32_t next_item_ = 0;
  // A UTF-8 byte-order mark at the very start is skipped.
  uint8_t bom_seen_ = 0;
  bool bom_done_ = false;
};

class Ingestor {
 public:
  explicit Ingestor(size_t max_record_bytes = kIngestMaxRecordBytes)
      : max_record_bytes_(max_record_bytes) {}

  // What SplitPage found in a whole document (an HTTP page).
  struct PageSplit {
    uint64_t users = 0;  // Records + dead letters added (one per user element or unit).
    // The body was exactly one well-formed response document (see RecordSplitter); when
    // false it was cut short or is no API response: the caller may retry the page.
    bool complete = false;
    // Non-empty when the body is an API error object {"error": "..."} (secret-safe text);
    // nothing is added to the batch then.
    std::string api_error;
  };

  // Splits a whole document user by user: every user element becomes a record or a dead
  // letter (position first_position + k, item 0, in order), never all or nothing.
  PageSplit SplitPage(std::string_view document, uint64_t first_position, Batch& out);

  // The older all-or-nothing form of SplitPage, kept for tests and benchmarks: the number of
  // users; Fatal for an API error object; InvalidInput (and nothing added) when the document
  // is not complete.
  Result<uint64_t> SplitResponse(std::string_view document, uint64_t first_position, Batch& out);

  // Turns one unit into a record or a dead letter at (position, item) in `out`. For a
  // top-level API error object, sets *api_error and adds a dead letter only if `dead_api_error`.
  // Returns true if a record or dead letter was added.
  bool AddUnit(SplitUnit& unit, uint64_t position, uint32_t item, Batch& out,
               std::string* api_error, bool dead_api_error);

  // One user object: appends the stripped record to out.records, or a DeadLetter (with
  // `out.origin`, `position` and `item`) if it is not a JSON object.
  void AddUser(std::string_view user_json, uint64_t position, Batch& out, uint32_t item = 0);

  // Writes `user_json` without login secrets into `out` (cleared first).
  Status StripSecrets(std::string_view user_json, std::string& out);

  size_t max_record_bytes() const { return max_record_bytes_; }

 private:
  const size_t max_record_bytes_;
  simdjson::ondemand::parser parser_;
  PaddedBuffer buffer_;  // Reused: ondemand needs padded input.
};

}  // namespace spate
