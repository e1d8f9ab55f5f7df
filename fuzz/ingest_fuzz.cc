// Fuzz target: ingest and secret removal (issue 17, item 1).
//
// Every ingest entry point gets the input: AddUser (a JSON Lines line), SplitPage (an HTTP
// page) and a file-like stream (RecordSplitter fed in chunks, then AddUnit), and the
// dead-letter functions directly. Invariants, on every input:
//   - no record has a key that names a login secret, at any depth, and every record is a
//     JSON object;
//   - every dead letter's bytes either parse without such a key, or name no secret at all
//     (so no value can follow a name); reasons and API error texts name no secret;
//   - counts add up: every unit the splitter finds becomes exactly one record or dead
//     letter; SplitPage's `users` is what it added; AddUser adds exactly one.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "fuzz_check.h"
#include "transforms/ingest.h"

namespace {

using spate::Batch;

// No key at any depth names a secret.
bool NoSecretKeys(simdjson::dom::element e) {
  if (e.is_object()) {
    for (auto field : e.get_object()) {
      if (spate::SecretKeyName(field.key) || !NoSecretKeys(field.value)) return false;
    }
  } else if (e.is_array()) {
    for (auto item : e.get_array()) {
      if (!NoSecretKeys(item)) return false;
    }
  }
  return true;
}

void CheckBatch(const Batch& batch, size_t records_before, size_t dead_before) {
  simdjson::dom::parser parser;
  for (size_t i = records_before; i < batch.records.size(); ++i) {
    simdjson::dom::element root;
    FUZZ_CHECK(!parser.parse(batch.records[i].json).get(root), "a record is not JSON");
    FUZZ_CHECK(root.is_object(), "a record is not an object");
    FUZZ_CHECK(NoSecretKeys(root), "a record keeps a login secret");
  }
  for (size_t i = dead_before; i < batch.dead.size(); ++i) {
    const std::string& raw = batch.dead[i].raw;
    simdjson::dom::element root;
    const bool parsed = !parser.parse(raw).get(root) && (root.is_object() || root.is_array());
    FUZZ_CHECK(parsed ? NoSecretKeys(root) : spate::SecretSafeText(raw) == raw,
               "a dead letter keeps a login secret's name with what follows it");
    FUZZ_CHECK(spate::SecretSafeText(batch.dead[i].reason) == batch.dead[i].reason,
               "a reason names a login secret");
    FUZZ_CHECK(spate::DeadLetterBytes(raw) == raw, "DeadLetterBytes is not idempotent");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  spate::Ingestor ingestor(4096);

  Batch line;
  ingestor.AddUser(input, 1, line);
  FUZZ_CHECK(line.records.size() + line.dead.size() == 1, "AddUser adds exactly one");
  CheckBatch(line, 0, 0);

  Batch page;
  auto split = ingestor.SplitPage(input, 0, page);
  FUZZ_CHECK(split.users == page.records.size() + page.dead.size(), "SplitPage miscounts");
  FUZZ_CHECK(spate::SecretSafeText(split.api_error) == split.api_error,
             "an API error names a login secret");
  CheckBatch(page, 0, 0);

  // A stream read in chunks whose sizes come from the input itself.
  spate::RecordSplitter splitter(4096);
  std::vector<spate::SplitUnit> units;
  const size_t chunk = size == 0 ? 1 : 1 + data[0] % 97;
  for (size_t at = 0; at < size; at += chunk) splitter.Feed(input.substr(at, chunk), units);
  splitter.Finish(units);
  Batch file;
  for (spate::SplitUnit& unit : units) {
    const size_t before = file.records.size() + file.dead.size();
    FUZZ_CHECK(ingestor.AddUnit(unit, unit.line, unit.item, file, nullptr, true),
               "a unit was dropped");
    FUZZ_CHECK(file.records.size() + file.dead.size() == before + 1, "a unit is not one entry");
  }
  CheckBatch(file, 0, 0);
  return 0;
}
