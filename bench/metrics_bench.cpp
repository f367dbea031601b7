// Micro-benchmarks of what the metrics cost a job: telling them of a chunk (what each
// chunk's end pays, on the pipeline's thread) and a scrape (collecting every series and
// writing the text format, what --metrics-listen pays per GET and --metrics-file every 2 s).
// Run: build/bench/backfill_bench --benchmark_filter=BM_Metrics
#include <benchmark/benchmark.h>

#include "cli/metrics.hpp"

namespace backfill::cli {
namespace {

void BM_MetricsChunkFinished(benchmark::State& state) {
  auto m = JobMetrics::start({"/tmp/backfill_bench_metrics.prom", ""}, "copy");
  JobObserver* o = m.value()->observer("copy:public.users:public.users", "public.users");
  ChunkEvent e;
  e.rows = 50000;
  e.bytes = 7000000;
  e.seconds = 0.42;
  for (auto _ : state) o->chunk_finished(e);
  m.value()->finish("ok", nullptr);
}
BENCHMARK(BM_MetricsChunkFinished);

// A scrape of a set of `range(0)` tables, each with its chunks counted.
void BM_MetricsScrape(benchmark::State& state) {
  auto m = JobMetrics::start({"/tmp/backfill_bench_metrics.prom", ""}, "copy");
  ChunkEvent e;
  e.rows = 50000;
  e.bytes = 7000000;
  e.seconds = 0.42;
  for (int t = 0; t < state.range(0); ++t) {
    JobObserver* o = m.value()->observer("copy:shop.*", "shop.t" + std::to_string(t));
    for (int i = 0; i < 10; ++i) o->chunk_finished(e);
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = m.value()->text();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  m.value()->finish("ok", nullptr);
}
BENCHMARK(BM_MetricsScrape)->Arg(1)->Arg(17)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace backfill::cli
