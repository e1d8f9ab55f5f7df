// The data that flows through spate.
//
//   RawRecord: one user object as JSON text, login secrets already removed by ingest.
//   Row:       the canonical row that sinks store (created_users).
//   DeadLetter: anything that could not become a row, with the reason and original bytes.
//   Batch:     the unit moved between stages; acknowledged as a whole once every sink has it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
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
  // The record's number within its position, from 0: the user's index when one position (a
  // file line) holds a response of several users; 0 where a position holds one record.
  // (position, item) identifies one record of an input.
  uint32_t item = 0;
  // When the record entered spate, in microseconds since the Unix epoch (0: not known). Set
  // by the ingest stage; on Kafka it travels as the record's timestamp (milliseconds), so a
  // consumer reads back when the producer took the record in. End-to-end latency is measured
  // from it when a sink commits the row.
  int64_t ingest_us = 0;
};

// Bytes a record's buffer keeps free after the record, so that the transform can take the
// buffer for its row and parse the record in place (UserTransform::ApplyOwned): 64 bytes of
// zeroed padding for the parser (simdjson's SIMDJSON_PADDING) and 128 for the address it
// builds after the record.
inline constexpr size_t kRecordRoom = 64 + 128;

// True if a buffer of `capacity` bytes suits a record of `size`: it has kRecordRoom to spare,
// and is not what a much larger record left (that is given back instead of kept going round).
inline bool RecordBufferFits(size_t capacity, size_t size) {
  const size_t needed = size + kRecordRoom;
  return capacity >= needed && capacity <= std::max<size_t>(4 * needed, 64 << 10);
}

// Makes `buffer` (its content is lost) hold `size` bytes and kRecordRoom more without
// growing. Record and row buffers go round from record to record, so a buffer too small is
// replaced by one with another 128 bytes to spare, which fits the records of about the same
// size that follow too (the generator's vary by about 120 bytes; reserve() on a used string
// would double it instead); one a huge record left is given back.
void ReserveRecordBuffer(std::string& buffer, size_t size);

struct DeadLetter {
  std::string reason;
  std::string origin;  // "file:users.json", "generator", "https://randomuser.me/api/"
  uint64_t position = 0;
  std::string raw;    // The original bytes (secrets removed when they could be).
  uint32_t item = 0;  // As RawRecord::item: which record of the position this was.
};

// What a Row's text column holds before it is set: empty, but not a null pointer, which
// memcpy and sqlite3_bind_text (NULL, not '') do not take as the empty string.
inline constexpr std::string_view kNoText = "";

// The canonical row. The first eleven columns are the tutorial's created_users table with
// its exact formulas; the rest are the fields the tutorial dropped.
//
// The text columns are views, not strings: UserTransform copies the record once into
// `storage`, parses it there and points each column at its value's bytes, so making a row
// copies no field (a string per column cost a sixth of the transform's time: section 1 of
// docs/benchmarks.md). Columns it has to
// build (the address, escaped strings) are appended to `storage` too. A view may also point
// at memory that outlives the row (a literal, in tests). Copying or moving a row re-points
// the views that point into `storage` at the new row's copy, so rows behave like values.
struct Row {
  Row() = default;
  Row(const Row& other);
  Row(Row&& other) noexcept;
  Row& operator=(const Row& other);
  Row& operator=(Row&& other) noexcept;
  ~Row() = default;

  std::string_view id = kNoText;  // login.uuid, lower-case canonical form.
  std::string_view first_name = kNoText;
  std::string_view last_name = kNoText;
  std::string_view gender = kNoText;
  // "{street.number} {street.name}, {city}, {state}, {country}"
  std::string_view address = kNoText;
  std::string_view post_code = kNoText;  // Text whether the API sent a number or a string.
  std::string_view email = kNoText;
  std::string_view username = kNoText;
  std::string_view registered_date = kNoText;
  std::string_view phone = kNoText;
  std::string_view picture = kNoText;  // picture.medium
  std::string_view dob = kNoText;
  int64_t age = 0;
  std::string_view nat = kNoText;
  std::string_view city = kNoText;
  std::string_view state = kNoText;
  std::string_view country = kNoText;
  double latitude = 0;
  double longitude = 0;
  std::string_view timezone = kNoText;  // timezone.offset, e.g. "+5:45"
  std::string_view cell = kNoText;
  // Unix epoch milliseconds when the record entered spate (RawRecord::ingest_us / 1000; on
  // Kafka the message timestamp, so a replay gives the same value): the row's event time,
  // which aggregation windows are over. The pipeline falls back to when it made the row.
  int64_t ingested_at_ms = 0;
  // RawRecord::ingest_us of the record the row was made from (not stored; for latency).
  int64_t ingest_us = 0;

  // Where the row came from, for a sink that cannot store it and dead-letters it instead:
  // the record's position, item and partition (as RawRecord's), and how many of storage's
  // first bytes are the record (0: not known). Set by the pipeline after the transform.
  uint64_t position = 0;
  uint32_t item = 0;
  int32_t partition = -1;
  uint32_t record_size = 0;
  // The record the row was made from (storage's first record_size bytes: the id may be in
  // lower case, as the transform canonicalises it in place).
  std::string_view record() const { return std::string_view(storage).substr(0, record_size); }

  // The bytes the text columns point into (see above). Only UserTransform writes it.
  std::string storage;

  // Points every text column that points into [old_begin, old_begin + size) at the same
  // offset of `storage`: for after `storage` moved or grew.
  void Rebase(const char* old_begin, size_t size);
};

// Every text column of Row. The other four columns (age, latitude, longitude, ingested_at)
// are numbers.
inline constexpr std::string_view Row::*kRowTextColumns[] = {
    &Row::id,      &Row::first_name, &Row::last_name,
    &Row::gender,  &Row::address,    &Row::post_code,
    &Row::email,   &Row::username,   &Row::registered_date,
    &Row::phone,   &Row::picture,    &Row::dob,
    &Row::nat,     &Row::city,       &Row::state,
    &Row::country, &Row::timezone,   &Row::cell};

// True when all of `text` lies in [begin, begin + size). Compared as integers: `text` may
// point into any other buffer.
inline bool PointsInto(std::string_view text, const char* begin, size_t size) {
  const auto b = reinterpret_cast<uintptr_t>(begin);
  const auto at = reinterpret_cast<uintptr_t>(text.data());
  return at >= b && at - b + text.size() <= size;
}

// `text` at the same offset from `new_begin` if it lay in [old_begin, old_begin + size);
// else `text` itself. For views into a buffer that moved.
inline std::string_view Rebased(std::string_view text, const char* old_begin, size_t size,
                                const char* new_begin) {
  if (!PointsInto(text, old_begin, size)) return text;
  const auto offset =
      reinterpret_cast<uintptr_t>(text.data()) - reinterpret_cast<uintptr_t>(old_begin);
  return std::string_view(new_begin + offset, text.size());
}

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
  // The ingest times (RawRecord::ingest_us) of what the sinks store, the rows (or the
  // forwarded records), run-length encoded in order: {ingest_us, how many in a row}. Filled
  // by the pipeline's process stage, which has each record in hand anyway, so that measuring
  // end-to-end latency at commit does not read every row again on another core.
  std::vector<std::pair<int64_t, uint32_t>> ingest_runs;

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
    record.item = 0;
    record.ingest_us = 0;
    return record;
  }
};

}  // namespace spate
