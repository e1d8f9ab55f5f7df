// Generator throughput. items_per_second is users per second on one core.
//
// On the 2-vCPU development VM, g++ 12 -O2, a loaded machine: AppendUser about 2.2 M users/s
// with login secrets and 2.5 M without (CPU time); GeneratorSource::Next about 2.1 M/s.
#include <benchmark/benchmark.h>

#include <stop_token>
#include <string>

#include "sources/generator.h"

namespace spate {
namespace {

UserGenerator MakeGenerator(bool secrets) {
  GeneratorOptions options;
  options.include_login_secrets = secrets;
  return std::move(UserGenerator::Create(options)).value();
}

// One reused buffer, as a sink-bound hot loop would use it.
void BM_AppendUser(benchmark::State& state) {
  const UserGenerator generator = MakeGenerator(state.range(0) != 0);
  std::string out;
  uint64_t index = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    generator.AppendUser(index++, out);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(index));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_AppendUser)->Arg(1)->Arg(0)->ArgName("secrets");

// Through the Source interface with a recycled batch of 1000.
void BM_GeneratorSourceNext(benchmark::State& state) {
  GeneratorSource source(MakeGenerator(true), 0);
  std::stop_source stop;
  Batch batch;
  int64_t users = 0;
  for (auto _ : state) {
    // Recycled as the pipeline does: last batch's records come back as spares.
    batch.spare_records = std::move(batch.records);
    batch.records.clear();
    Result<SourceState> result = source.Next(batch, 1000, stop.get_token());
    benchmark::DoNotOptimize(result.ok());
    users += static_cast<int64_t>(batch.source_records);
  }
  state.SetItemsProcessed(users);
}
BENCHMARK(BM_GeneratorSourceNext);

}  // namespace
}  // namespace spate
