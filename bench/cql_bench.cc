// The CQL codec's cost per row (issue 5's target: under 1 microsecond per 20-column row).
// items_per_second is rows per second on one core.
//
//   BM_EncodeExecute: one EXECUTE frame binding a canonical row (20 values: uuid, 15 text,
//                     bigint, 2 doubles, timestamp), as the sink sends one per record.
//   BM_EncodeBatch:   an unlogged BATCH of 100 such rows, per row.
//   BM_DecodeRows:    a Rows result of 100 rows x 20 columns decoded, and every value
//                     decoded to its type, per row.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "cql/protocol.h"
#include "cql/value.h"
#include "cql/wire.h"

namespace spate::cql {
namespace {

std::vector<Value> RowValues(int i) {
  std::vector<Value> v;
  v.push_back(Value::Of(*Uuid::Parse("4bbbf423-b3dd-409f-b35b-53957fc1b362")));
  const char* texts[] = {"Damas",
                         "Oliveira",
                         "male",
                         "6972 Rua Vinte E Quatro de Outubro, Cotia, Bahia, Brazil",
                         "32158",
                         "damas.oliveira@example.com",
                         "goldenpeacock430",
                         "2014-08-30T05:19:44.274Z",
                         "(49) 7072-4143",
                         "https://randomuser.me/api/portraits/med/men/37.jpg",
                         "1958-06-23T03:40:17.665Z",
                         "BR",
                         "Cotia",
                         "Bahia",
                         "Brazil"};
  for (const char* t : texts) v.push_back(Value::Text(t));
  v.push_back(Value::Bigint(64 + i % 3));
  v.push_back(Value::Double(-78.1478));
  v.push_back(Value::Double(-175.9694));
  v.push_back(Value::Of(Timestamp{1764400000000 + i}));
  return v;
}

const std::vector<Type>& RowTypes() {
  static const std::vector<Type> types = [] {
    std::vector<Type> t{Type(TypeId::kUuid)};
    for (int i = 0; i < 15; ++i) t.emplace_back(TypeId::kVarchar);
    t.emplace_back(TypeId::kBigint);
    t.emplace_back(TypeId::kDouble);
    t.emplace_back(TypeId::kDouble);
    t.emplace_back(TypeId::kTimestamp);
    return t;
  }();
  return types;
}

void BM_EncodeExecute(benchmark::State& state) {
  QueryParams params;
  params.values = RowValues(0);
  const std::string id(16, '\x5a');
  int64_t rows = 0;
  for (auto _ : state) {
    std::string frame = EncodeExecute(static_cast<int16_t>(rows & 0x7fff), id, params);
    benchmark::DoNotOptimize(frame.data());
    ++rows;
  }
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_EncodeExecute);

void BM_EncodeBatch(benchmark::State& state) {
  std::vector<std::vector<Value>> rows;
  for (int i = 0; i < 100; ++i) rows.push_back(RowValues(i));
  const std::string id(16, '\x5a');
  int64_t done = 0;
  for (auto _ : state) {
    std::string frame = EncodeBatch(1, id, rows, Consistency::kLocalQuorum);
    benchmark::DoNotOptimize(frame.data());
    done += 100;
  }
  state.SetItemsProcessed(done);
}
BENCHMARK(BM_EncodeBatch);

// A Rows body as a server would send it: global table spec, 20 column specs, 100 rows.
std::string RowsBody() {
  std::string body;
  Writer w(body);
  w.Int(0x0002);  // Rows.
  w.Int(0x0001);  // Global_tables_spec.
  w.Int(20);
  w.String("spark_streams");
  w.String("created_users");
  for (size_t c = 0; c < RowTypes().size(); ++c) {
    w.String("c" + std::to_string(c));
    w.Short(static_cast<uint16_t>(RowTypes()[c].id));
  }
  w.Int(100);
  for (int i = 0; i < 100; ++i) {
    for (const Value& v : RowValues(i)) AppendValue(v, body);
  }
  return body;
}

void BM_DecodeRows(benchmark::State& state) {
  const std::string body = RowsBody();
  int64_t rows = 0;
  for (auto _ : state) {
    auto result = DecodeResult(body);
    if (!result.ok()) {
      state.SkipWithError(result.status().message().c_str());
      break;
    }
    const RowsResult& r = result->rows;
    for (const auto& row : r.rows) {
      for (size_t c = 0; c < row.size(); ++c) {
        auto value = DecodeValue(r.columns[c].type, *row[c]);
        benchmark::DoNotOptimize(value);
      }
    }
    rows += static_cast<int64_t>(r.rows.size());
  }
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_DecodeRows);

}  // namespace
}  // namespace spate::cql
