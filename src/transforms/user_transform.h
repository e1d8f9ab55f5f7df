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
//   ingested_at     when the row was made (passed in by the caller)
// Every one of these fields is required; a record missing one, with a wrong type, an invalid
// UUID, or in the legacy 0.x shape is rejected with a reason that names the field.
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
  explicit UserTransform(size_t max_record_bytes = kDefaultMaxRecordBytes)
      : max_record_bytes_(max_record_bytes) {}

  // Ok: `row` holds the record; its columns point into row.storage, where the record is
  // copied and parsed (see Row). InvalidInput: the message is the dead-letter reason, and
  // `row` holds nothing to use. `user_json` is not kept.
  Status Apply(std::string_view user_json, int64_t ingested_at_ms, Row& row);

 private:
  const size_t max_record_bytes_;
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
