// Transform throughput: parse + map + serialise one v1.4 user, on one core.
//
// Input: the 111 users of tests/fixtures/v1.4-111-users-all-nats.json (all 21 nationalities),
// split by Ingestor::SplitResponse exactly as the pipeline does (login secrets removed). Each
// iteration maps one record with UserTransform::Apply into a reused Row and appends that Row
// as JSON (AppendRowJson) to a reused string, cycling through the 111 records.
//
// Target (issue): items_per_second >= 1,000,000 for BM_TransformAndSerialise. The two other
// benchmarks split the cost between mapping and serialising. Figures: docs/benchmarks.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/record.h"
#include "transforms/ingest.h"
#include "transforms/user_transform.h"

namespace spate {
namespace {

constexpr char kFixture[] = SPATE_FIXTURES_DIR "/v1.4-111-users-all-nats.json";
constexpr int64_t kIngestedAtMs = 1767225600000;  // 2026-01-01T00:00:00Z; any fixed value.

// The stripped user records, loaded once. Exits with a message if the fixture is unusable:
// a benchmark over the wrong input would report a meaningless figure.
const std::vector<RawRecord>& Records() {
  static const std::vector<RawRecord> records = [] {
    std::ifstream in(kFixture, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", kFixture);
      std::exit(1);
    }
    const std::string document = text.str();
    Ingestor ingestor;
    Batch batch;
    batch.origin = "bench";
    auto split = ingestor.SplitResponse(document, 0, batch);
    if (!split.ok() || batch.records.empty() || !batch.dead.empty()) {
      std::fprintf(stderr, "cannot split %s: %s\n", kFixture,
                   split.ok() ? "dead letters" : split.status().message().c_str());
      std::exit(1);
    }
    return std::move(batch.records);
  }();
  return records;
}

// Maps every record once so a broken transform fails loudly instead of timing error paths.
bool AllRecordsMap(benchmark::State& state) {
  UserTransform transform;
  Row row;
  for (const RawRecord& record : Records()) {
    if (Status s = transform.Apply(record.json, kIngestedAtMs, row); !s.ok()) {
      state.SkipWithError(("record does not map: " + s.message()).c_str());
      return false;
    }
  }
  // The figures are for the canonical reader, which takes every record of the fixture.
  if (transform.canonical_reads() != Records().size()) {
    state.SkipWithError("the canonical reader did not take every record");
    return false;
  }
  return true;
}

int64_t TotalBytes() {
  int64_t bytes = 0;
  for (const RawRecord& record : Records()) bytes += static_cast<int64_t>(record.json.size());
  return bytes;
}

// The target: parse + map + serialise.
void BM_TransformAndSerialise(benchmark::State& state) {
  const std::vector<RawRecord>& records = Records();
  if (!AllRecordsMap(state)) return;
  UserTransform transform;
  Row row;
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    Status s = transform.Apply(records[i].json, kIngestedAtMs, row);
    benchmark::DoNotOptimize(s.ok());
    out.clear();
    AppendRowJson(row, out);
    benchmark::DoNotOptimize(out.data());
    if (++i == records.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * TotalBytes() / static_cast<int64_t>(records.size()));
}
BENCHMARK(BM_TransformAndSerialise);

// Parse + map only: with the canonical reader first, as spate runs (Arg 0), and with
// simdjson alone, the reader of every other record (Arg 1).
void BM_Transform(benchmark::State& state) {
  const std::vector<RawRecord>& records = Records();
  if (!AllRecordsMap(state)) return;
  const bool general = state.range(0) == 1;
  state.SetLabel(general ? "simdjson only" : "canonical reader");
  UserTransform transform(kDefaultMaxRecordBytes, general
                                                      ? UserTransform::Readers::kGeneralOnly
                                                      : UserTransform::Readers::kCanonicalFirst);
  Row row;
  size_t i = 0;
  for (auto _ : state) {
    Status s = transform.Apply(records[i].json, kIngestedAtMs, row);
    benchmark::DoNotOptimize(s.ok());
    if (++i == records.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Transform)->Arg(0)->Arg(1);

// Serialise only, over the rows made from the same records.
void BM_AppendRowJson(benchmark::State& state) {
  const std::vector<RawRecord>& records = Records();
  if (!AllRecordsMap(state)) return;
  UserTransform transform;
  std::vector<Row> rows(records.size());
  for (size_t r = 0; r < records.size(); ++r) {
    (void)transform.Apply(records[r].json, kIngestedAtMs, rows[r]);
  }
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    out.clear();
    AppendRowJson(rows[i], out);
    benchmark::DoNotOptimize(out.data());
    if (++i == rows.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendRowJson);

}  // namespace
}  // namespace spate
