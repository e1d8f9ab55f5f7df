// The data that flows through spate.
//
//   RawRecord: one user object as JSON text, login secrets already removed by ingest.
//   Row:       the canonical row that sinks store (created_users).
//   DeadLetter: anything that could not become a row, with the reason and original bytes.
//   Batch:     the unit moved between stages; acknowledged as a whole once every sink has it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/prefetch.h"

namespace spate {

struct RawRecord {
  std::string json;
  // Where the record came from: a file line, an HTTP page index, a generator index, a Kafka
  // offset. Together with Batch::origin (and the partition) this is its source position.
  uint64_t position = 0;
  int32_t partition = -1;  // Kafka partition; -1 for sources without partitions.
  std::string key;         // The Kafka message key (login.uuid); set by produce and process.
};

struct DeadLetter {
  std::string reason;
  std::string origin;  // "file:users.json", "generator", "https://randomuser.me/api/"
  uint64_t position = 0;
  std::string raw;  // The original bytes (secrets removed when they could be).
};

// The canonical row. The first eleven columns are the tutorial's created_users table with
// its exact formulas; the rest are the fields the tutorial dropped.
struct Row {
  std::string id;  // login.uuid, lower-case canonical form.
  std::string first_name;
  std::string last_name;
  std::string gender;
  std::string address;    // "{street.number} {street.name}, {city}, {state}, {country}"
  std::string post_code;  // Text whether the API sent a number or a string.
  std::string email;
  std::string username;
  std::string registered_date;
  std::string phone;
  std::string picture;  // picture.medium
  std::string dob;
  int64_t age = 0;
  std::string nat;
  std::string city;
  std::string state;
  std::string country;
  double latitude = 0;
  double longitude = 0;
  std::string timezone;  // timezone.offset, e.g. "+5:45"
  std::string cell;
  int64_t ingested_at_ms = 0;  // Unix epoch milliseconds when process made the row.
};

// Column names in Row order; sinks and `spate query` use this so the schema lives in one place.
inline constexpr const char* kRowColumns[] = {
    "id",         "first_name",      "last_name", "gender",   "address",   "post_code", "email",
    "username",   "registered_date", "phone",     "picture",  "dob",       "age",       "nat",
    "city",       "state",           "country",   "latitude", "longitude", "timezone",  "cell",
    "ingested_at"};
inline constexpr size_t kRowColumnCount = sizeof(kRowColumns) / sizeof(kRowColumns[0]);

struct Batch {
  std::string origin;              // Shared by every record in the batch.
  std::vector<RawRecord> records;  // Ingested, not yet transformed.
  // Records of an earlier batch, handed back for AddRecord to reuse (may be empty).
  std::vector<RawRecord> spare_records;
  std::vector<Row> rows;         // Filled by process.
  std::vector<DeadLetter> dead;  // Filled by ingest (bad documents) and process.
  uint64_t sequence = 0;         // Monotonic per source; acknowledgements use it.
  uint64_t source_records = 0;   // How many source records this batch accounts for.

  // Appends an empty record. A spare one keeps its strings' buffers, so a source that fills
  // it with assign() allocates nothing once the pipeline is warm.
  RawRecord& AddRecord() {
    if (spare_records.empty()) return records.emplace_back();
    RawRecord& record = records.emplace_back(std::move(spare_records.back()));
    spare_records.pop_back();
    // The next spare's buffer was last touched on another core (process read it).
    if (!spare_records.empty()) {
      const std::string& next = spare_records.back().json;
      PrefetchForWrite(next.data(), next.capacity());
    }
    record.json.clear();
    record.key.clear();
    record.position = 0;
    record.partition = -1;
    return record;
  }
};

}  // namespace spate
