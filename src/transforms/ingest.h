// Ingest: turn what a source fetched into per-user records with the login secrets removed.
//
// randomuser responses are {"results":[user,...],"info":{...}} (or {"error":"..."});
// every user object becomes one RawRecord whose JSON is the user object, compact, with
// login.password/salt/md5/sha1/sha256 removed. Everything else is kept byte for byte so a
// replay can rebuild any row. Anything that cannot be split becomes a DeadLetter with the
// reason; the stream goes on.
//
// Thread-safety: an Ingestor owns a parser; use one per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "core/record.h"
#include "core/status.h"
#include "transforms/padded.h"

namespace spate {

// The login fields that must never leave the ingest stage.
inline constexpr std::string_view kLoginSecrets[] = {"password", "salt", "md5", "sha1", "sha256"};

// For bytes that could not be parsed (and so could not be stripped properly): blanks the value
// after every key named like a login secret, at any depth, even in broken JSON, so a dead
// letter never stores a password or hash. A string value becomes "[removed]"; anything else
// up to the next , } or ] becomes null. Other bytes are kept as they are.
std::string ScrubSecrets(std::string_view raw);

class Ingestor {
 public:
  // Appends every user in an API response document to `out.records` (positions
  // first_position, first_position+1, ...), and unusable elements to `out.dead`.
  // Returns the number of elements seen (records + dead letters), or:
  //   InvalidInput  the document is not JSON, not an object or has no results array; the
  //                 caller decides whether to dead-letter it (file) or retry (HTTP);
  //   Fatal         the document is an API error object {"error": "..."} (message inside).
  Result<uint64_t> SplitResponse(std::string_view document, uint64_t first_position, Batch& out);

  // One user object (a JSON Lines line): appends the stripped record to out.records, or a
  // DeadLetter (with `out.origin` and `position`) if it is not a JSON object.
  void AddUser(std::string_view user_json, uint64_t position, Batch& out);

  // Writes `user_json` without login secrets into `out` (cleared first).
  Status StripSecrets(std::string_view user_json, std::string& out);

 private:
  simdjson::ondemand::parser parser_;
  PaddedBuffer buffer_;  // Reused: ondemand needs padded input.
};

}  // namespace spate
