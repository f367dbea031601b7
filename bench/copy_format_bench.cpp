// Micro-benchmarks of the hot path every row takes: walking a binary COPY chunk, building
// one, and the transform stage (pass-through, byte-level field selection, and --map
// expressions computed per row).
// Run: build/bench/backfill_bench   (scripts/bench.sh runs it too)
#include <benchmark/benchmark.h>

#include <string>

#include "engine/format/copy_format.hpp"
#include "engine/transform/transform.hpp"

namespace backfill {
namespace {

// A chunk shaped like the demo's users table: id, email, two names, timestamp, numeric,
// jsonb; about 130 bytes a row.
CopyBatch users_chunk(int rows) {
  CopyWriter w;
  for (int i = 0; i < rows; ++i) {
    w.begin_tuple(7);
    std::string id;
    put_be64(&id, i);
    w.add_bytes(id);
    w.add_bytes("user" + std::to_string(i) + "@example.com");
    w.add_bytes("First" + std::to_string(i));
    w.add_bytes("Last" + std::to_string(i));
    std::string ts;
    put_be64(&ts, 700000000000000LL + i);
    w.add_bytes(ts);
    w.add_bytes(std::string(12, '\x01'));
    w.add_bytes("\x01{\"plan\": \"pro\", \"n\": " + std::to_string(i) + "}");
  }
  return w.finish();
}

void set_counters(benchmark::State& state, const CopyBatch& b) {
  state.SetItemsProcessed(state.iterations() * b.rows);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(b.bytes.size()));
}

void BM_CountRows(benchmark::State& state) {
  CopyBatch b = users_chunk(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(count_copy_rows(b.bytes));
  set_counters(state, b);
}
BENCHMARK(BM_CountRows)->Arg(10000);

void BM_ReadFields(benchmark::State& state) {
  CopyBatch b = users_chunk(static_cast<int>(state.range(0)));
  std::vector<CopyField> fields;
  for (auto _ : state) {
    CopyReader r(b.bytes);
    (void)r.read_header();
    while (*r.next(&fields)) benchmark::DoNotOptimize(fields.data());
  }
  set_counters(state, b);
}
BENCHMARK(BM_ReadFields)->Arg(10000);

void BM_Encode(benchmark::State& state) {
  CopyBatch b = users_chunk(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(users_chunk(static_cast<int>(state.range(0))));
  set_counters(state, b);
}
BENCHMARK(BM_Encode)->Arg(10000);

void BM_IdentityTransform(benchmark::State& state) {
  CopyBatch b = users_chunk(static_cast<int>(state.range(0)));
  IdentityTransform t;
  for (auto _ : state) {
    auto out = t.apply(std::move(b));
    b = std::move(out).value();  // hand the same buffer round again: no copy, as in the pipeline
  }
  set_counters(state, b);
}
BENCHMARK(BM_IdentityTransform)->Arg(10000);

void BM_FieldSelectTransform(benchmark::State& state) {
  CopyBatch b = users_chunk(static_cast<int>(state.range(0)));
  FieldSelectTransform t({0, 2, 1, 3, 4, 5, 6});
  for (auto _ : state) {
    CopyBatch in = b;
    benchmark::DoNotOptimize(t.apply(std::move(in)));
  }
  set_counters(state, b);
}
BENCHMARK(BM_FieldSelectTransform)->Arg(10000);

// scripts/bench.sh --only map's three functions: email = upper(email), first_name =
// lower(first_name), last_name = concat_ws(' ', first_name, last_name); the other four
// fields pass through as bytes.
void BM_MapTransform(benchmark::State& state) {
  CopyBatch b = users_chunk(static_cast<int>(state.range(0)));
  FunctionRegistry functions = builtin_functions();
  ExprInputs inputs;
  ColumnTypeOf text = [](const std::string&) -> std::optional<ValueType> {
    return ValueType::kText;
  };
  auto compile = [&](const char* e) { return *Expr::compile(e, 0, functions, text, &inputs); };
  auto plan = std::make_shared<MapPlan>();
  plan->outputs = {
      {"id", 0, nullptr, FieldCodec::kText, -1},
      {"email", -1, compile("upper(email)"), FieldCodec::kText, -1},
      {"first_name", -1, compile("lower(first_name)"), FieldCodec::kText, -1},
      {"last_name", -1, compile("concat_ws(' ', first_name, last_name)"), FieldCodec::kText, -1},
      {"created_at", 4, nullptr, FieldCodec::kText, -1},
      {"balance", 5, nullptr, FieldCodec::kText, -1},
      {"settings", 6, nullptr, FieldCodec::kText, -1}};
  plan->input_fields = {1, 2, 3};
  plan->input_codecs = {FieldCodec::kText, FieldCodec::kText, FieldCodec::kText};
  MapTransform t(plan);
  for (auto _ : state) {
    CopyBatch in = b;
    benchmark::DoNotOptimize(t.apply(std::move(in)));
  }
  set_counters(state, b);
}
BENCHMARK(BM_MapTransform)->Arg(10000);

}  // namespace
}  // namespace backfill

BENCHMARK_MAIN();
