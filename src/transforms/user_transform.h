// UserTransform: one user record (JSON) -> the canonical Row, or the reason it cannot be one.
//
// Mapping (the tutorial's created_users formulas, plus the fields it dropped):
//   id              login.uuid (validated, lower-cased), so replays give the same rows
//   first_name      name.first            last_name  name.last          gender  gender
//   address         "{location.street.number} {location.street.name}, {city}, {state}, {country}"
//   post_code       location.postcode as text (the API sends a number or a string)
//   email           email                 username   login.username
//   registered_date registered.date       phone      phone               picture picture.medium
//   dob dob.date    age dob.age           nat nat    city/state/country  location.*
//   latitude/longitude  location.coordinates.* (strings in the API) as numbers
//   timezone        location.timezone.offset           cell cell
//   ingested_at     when the record entered spate (passed in by the caller)
// Every one of these fields is required; a record missing one, with a wrong type, an invalid
// UUID, or in the legacy 0.x shape is rejected with a reason that names the field.
//
// Two readers: a strict one-pass reader for the layout the API and spate itself write
// (nearly every record, several times faster), and simdjson for everything else, including
// every record that is rejected. Both give the same row.
//
// Thread-safety: owns a parser; use one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "core/record.h"
#include "core/status.h"
#include "core/uuid.h"
#include "transforms/padded.h"

namespace spate {

// Records larger than this are rejected before parsing: no user object comes close (about
// 1.5 KB), and a bound keeps one hostile record from costing unbounded memory downstream.
inline constexpr size_t kDefaultMaxRecordBytes = 1 << 20;

class UserTransform {
 public:
  // Which readers Apply uses. Rows and reasons are the same either way; kGeneralOnly is for
  // the test that compares the two, and for benchmarks.
  enum class Readers { kCanonicalFirst, kGeneralOnly };

  explicit UserTransform(size_t max_record_bytes = kDefaultMaxRecordBytes,
                         Readers readers = Readers::kCanonicalFirst)
      : max_record_bytes_(max_record_bytes), readers_(readers) {}

  // Ok: `row` holds the record; its columns point into row.storage, where the record is
  // copied and parsed (see Row). InvalidInput: the message is the dead-letter reason, and
  // `row` holds nothing to use. `user_json` is not kept.
  Status Apply(std::string_view user_json, int64_t ingested_at_ms, Row& row);
  // Apply, but the row may take `user_json`'s buffer instead of a copy of the record: when
  // the buffer has kRecordRoom bytes to spare (see ReserveRecordBuffer). `user_json` then
  // holds the row's old buffer, its content unspecified. On failure it holds the record.
  Status ApplyOwned(std::string& user_json, int64_t ingested_at_ms, Row& row);

  // How many records the canonical reader took; the others went to simdjson.
  uint64_t canonical_reads() const { return canonical_reads_; }

 private:
  // Maps the record in row.storage, which holds exactly its `size` bytes and has room for
  // kRecordRoom more.
  Status Map(size_t size, int64_t ingested_at_ms, Row& row);
  // Maps the record in row.storage[0, size) (padded) with simdjson, for records the
  // canonical reader does not take; sets the row's columns but the address, and the
  // street's parts.
  Status MapGeneral(size_t size, Row& row, std::string_view& street_number,
                    std::string_view& street_name);

  const size_t max_record_bytes_;
  const Readers readers_;
  uint64_t canonical_reads_ = 0;
  simdjson::ondemand::parser parser_;
};

// Reads login.uuid, the Kafka message key of a user record, without validating the rest
// (process does that). Used by produce, which forwards records untransformed.
//
// Thread-safety: owns a parser; use one per thread.
class KeyReader {
 public:
  // The uuid, or an empty string when the record has none (it is still forwarded; process
  // dead-letters it).
  std::string_view LoginUuid(std::string_view user_json);

 private:
  simdjson::ondemand::parser parser_;
  PaddedBuffer buffer_;
};

// Appends `row` as one compact JSON object (column names as keys).
void AppendRowJson(const Row& row, std::string& out);

}  // namespace spate
