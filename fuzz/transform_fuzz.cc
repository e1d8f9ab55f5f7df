// Fuzz target for the user transform (src/transforms/user_transform.h): the input is one
// record, as ingest hands it to process.
//
// Invariants, checked on every input (a violation aborts):
//   - The two readers agree: Apply with the canonical reader first and Apply with simdjson
//     alone give the same result, the same row (every column, doubles bit for bit) or the
//     same rejection reason. The canonical reader only ever takes records; a record it
//     refuses goes to simdjson, so a wrong acceptance is the bug this finds.
//   - ApplyOwned gives what Apply gives, both when it takes the record's buffer and when it
//     copies; on a rejection the record's bytes are left as they were (for the dead letter).
//   - KeyReader (produce's Kafka key) reads any bytes, and the row's id from a canonical
//     record.
//   - An accepted row is sound: every text column lies in row.storage, the id is a lower-case
//     UUID, the coordinates are in range, a copy of the row is equal and points into its own
//     storage, and the row's JSON (AppendRowJson) parses back to the same columns.
// Plus no crash, no out-of-bounds read and no undefined behaviour (ASan, UBSan).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "core/record.h"
#include "core/uuid.h"
#include "fuzz_check.h"
#include "transforms/user_transform.h"

namespace spate {
namespace {

bool SameRow(const Row& a, const Row& b) {
  for (std::string_view Row::*column : kRowTextColumns) {
    if (a.*column != b.*column) return false;
  }
  return a.age == b.age &&
         std::bit_cast<uint64_t>(a.latitude) == std::bit_cast<uint64_t>(b.latitude) &&
         std::bit_cast<uint64_t>(a.longitude) == std::bit_cast<uint64_t>(b.longitude) &&
         a.ingested_at_ms == b.ingested_at_ms;
}

// Every text column of `row` lies in its storage (nothing points at a parser's buffer or at
// another row's bytes).
bool OwnsItsText(const Row& row) {
  for (std::string_view Row::*column : kRowTextColumns) {
    const std::string_view text = row.*column;
    if (!text.empty() && !PointsInto(text, row.storage.data(), row.storage.size())) return false;
  }
  return true;
}

bool IsLowerCaseUuid(std::string_view id) {
  if (!IsValidUuid(id)) return false;
  for (const char c : id) {
    if (c >= 'A' && c <= 'F') return false;
  }
  return true;
}

// The row's JSON parses, and its text columns read back as they are.
bool JsonRoundTrips(const Row& row, simdjson::dom::parser& parser) {
  std::string json;
  AppendRowJson(row, json);
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc)) return false;
  for (size_t i = 0; i < kRowColumnCount; ++i) {
    simdjson::dom::element value;
    if (doc[kRowColumns[i]].get(value)) return false;
  }
  const std::pair<const char*, std::string_view Row::*> text[] = {
      {"id", &Row::id},       {"first_name", &Row::first_name}, {"address", &Row::address},
      {"email", &Row::email}, {"post_code", &Row::post_code},   {"city", &Row::city},
      {"cell", &Row::cell},   {"timezone", &Row::timezone}};
  for (const auto& [name, column] : text) {
    std::string_view value;
    if (doc[name].get_string().get(value) || value != row.*column) return false;
  }
  int64_t age = 0;
  double latitude = 0;
  if (doc["age"].get_int64().get(age) || age != row.age) return false;
  // Compared as numbers: -0 may read back as 0, which is the same place.
  if (doc["latitude"].get_double().get(latitude) || latitude != row.latitude) return false;
  return true;
}

}  // namespace
}  // namespace spate

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spate;
  // Reused across inputs, as process reuses them across records: state left by one record
  // must not change the next one's result.
  static UserTransform canonical_first;
  static UserTransform general_only(kDefaultMaxRecordBytes, UserTransform::Readers::kGeneralOnly);
  static Row fast_row, general_row, owned_row;
  static simdjson::dom::parser json_parser;
  static KeyReader key_reader;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const uint64_t canonical_before = canonical_first.canonical_reads();
  const Status fast = canonical_first.Apply(input, 42, fast_row);
  const Status general = general_only.Apply(input, 42, general_row);
  const bool took = canonical_first.canonical_reads() != canonical_before;
  FUZZ_CHECK(general_only.canonical_reads() == 0, "kGeneralOnly used the canonical reader");
  FUZZ_CHECK(fast.ok() == general.ok(), "the readers disagree on accepting the record");
  FUZZ_CHECK(fast.message() == general.message(), "the readers give different reasons");
  FUZZ_CHECK(!took || fast.ok(), "the canonical reader took a record it then rejected");
  if (fast.ok()) {
    FUZZ_CHECK(SameRow(fast_row, general_row), "the readers give different rows");
    FUZZ_CHECK(OwnsItsText(fast_row) && OwnsItsText(general_row),
               "a column points outside the row's storage");
    FUZZ_CHECK(IsLowerCaseUuid(fast_row.id), "the id is not a lower-case UUID");
    FUZZ_CHECK(fast_row.latitude >= -90 && fast_row.latitude <= 90 && fast_row.longitude >= -180 &&
                   fast_row.longitude <= 180,
               "coordinates out of range");
    const Row copy = fast_row;
    FUZZ_CHECK(SameRow(copy, fast_row) && OwnsItsText(copy), "a copied row differs");
    FUZZ_CHECK(JsonRoundTrips(fast_row, json_parser), "the row's JSON does not read back");
    // produce keys Kafka messages by login.uuid without transforming them: for a record in
    // the canonical layout (one login object, no escapes) the key is the row's id.
    if (took) {
      const std::string_view key = key_reader.LoginUuid(input);
      FUZZ_CHECK(key.size() == fast_row.id.size() &&
                     std::equal(key.begin(), key.end(), fast_row.id.begin(),
                                [](char a, char b) { return (a | 0x20) == b; }),
                 "the Kafka key is not the row's id");
    }
  } else {
    (void)key_reader.LoginUuid(input);  // Any bytes: no crash, no read past the end.
    FUZZ_CHECK(fast.kind() == ErrorKind::kInvalidInput, "a rejection is not InvalidInput");
  }

  // ApplyOwned, once with room to spare (the row takes the buffer) and once without (it
  // copies): each must give what Apply gave.
  for (const bool room : {true, false}) {
    std::string record;
    record.reserve(room ? size + kRecordRoom : size);
    record.assign(input);
    const Status owned = canonical_first.ApplyOwned(record, 42, owned_row);
    FUZZ_CHECK(owned.ok() == fast.ok() && owned.message() == fast.message(),
               "ApplyOwned and Apply give different results");
    if (owned.ok()) {
      FUZZ_CHECK(SameRow(owned_row, fast_row), "ApplyOwned and Apply give different rows");
      FUZZ_CHECK(OwnsItsText(owned_row), "an owned row's column points outside its storage");
    } else {
      FUZZ_CHECK(record == input, "a rejected ApplyOwned did not leave the record as it was");
    }
  }
  return 0;
}
