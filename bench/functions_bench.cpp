// Micro-benchmarks of the --map built-ins that a library now computes: regexp_replace
// (PCRE2), lower/upper (ICU or glibc by ctype), json_get (simdjson), md5 (OpenSSL). Each
// evaluates one expression over 10,000 different values, as the transform stage does.
// Run: build/bench/backfill_bench --benchmark_filter=BM_Function
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/transform/case_mapping.hpp"
#include "engine/transform/expr.hpp"

namespace backfill {
namespace {

constexpr int kValues = 10000;

// Text like a users table's: ASCII names and emails, and some beyond ASCII.
std::vector<Value> texts(bool beyond_ascii) {
  std::vector<Value> v;
  for (int i = 0; i < kValues; ++i) {
    v.push_back(Value::text(beyond_ascii ? "Jürgen Ørsted-Łukasz " + std::to_string(i) + " ÉCOLE"
                                         : "Jane.Doe" + std::to_string(i) + "@Example.COM"));
  }
  return v;
}

std::vector<Value> documents() {
  std::vector<Value> v;
  for (int i = 0; i < kValues; ++i) {
    v.push_back(Value::json("{\"plan\": \"pro\", \"address\": {\"city\": \"City" +
                            std::to_string(i % 97) + "\", \"zip\": " + std::to_string(i) +
                            "}, \"tags\": [\"a\", \"b\"]}"));
  }
  return v;
}

void run(benchmark::State& state, const char* expression, ValueType type,
         const std::vector<Value>& values, const CallContext& ctx = {}) {
  FunctionRegistry functions = builtin_functions();
  ExprInputs inputs;
  ColumnTypeOf of = [type](const std::string&) -> std::optional<ValueType> { return type; };
  auto e = Expr::compile(expression, 0, functions, of, &inputs);
  if (!e.ok()) {
    state.SkipWithError(e.status().message().c_str());
    return;
  }
  EvalScratch scratch;
  Value out;
  for (auto _ : state) {
    for (const Value& v : values) {
      benchmark::DoNotOptimize((*e)->eval(std::span<const Value>(&v, 1), ctx, &scratch, &out));
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(values.size()));
}

void BM_FunctionRegexpReplace(benchmark::State& state) {
  run(state, "regexp_replace(x, '(\\w+)\\.(\\w+)@', '\\2.\\1@', 'g')", ValueType::kText,
      texts(false));
}
BENCHMARK(BM_FunctionRegexpReplace);

void BM_FunctionLowerAscii(benchmark::State& state) {
  run(state, "lower(x)", ValueType::kText, texts(false));
}
BENCHMARK(BM_FunctionLowerAscii);

void BM_FunctionUpperBeyondAscii(benchmark::State& state) {
  run(state, "upper(x)", ValueType::kText, texts(true));
}
BENCHMARK(BM_FunctionUpperBeyondAscii);

// The same through glibc's C.UTF-8 tables, as a copy into a C.UTF-8 database maps case.
void BM_FunctionUpperBeyondAsciiLibc(benchmark::State& state) {
  CallContext ctx;
  ctx.case_mapping = CaseMapping::for_ctype({CtypeSpec::Provider::kLibc, "C.UTF-8"});
  run(state, "upper(x)", ValueType::kText, texts(true), ctx);
}
BENCHMARK(BM_FunctionUpperBeyondAsciiLibc);

void BM_FunctionJsonGet(benchmark::State& state) {
  run(state, "json_get(x, 'address.city')", ValueType::kJson, documents());
}
BENCHMARK(BM_FunctionJsonGet);

void BM_FunctionMd5(benchmark::State& state) {
  run(state, "md5(x)", ValueType::kText, texts(false));
}
BENCHMARK(BM_FunctionMd5);

}  // namespace
}  // namespace backfill
