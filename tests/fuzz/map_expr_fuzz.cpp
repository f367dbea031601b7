// The --map language on any text: the parser and binder (Expr::compile, against a table of
// one column of each type) must refuse what is not an expression with a message, and an
// expression that compiles must evaluate over a row to a value or an error, never a crash.
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/transform/expr.hpp"
#include "engine/transform/functions.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace backfill;

namespace {
const FunctionRegistry& functions() {
  static const FunctionRegistry r = builtin_functions();
  return r;
}

const std::map<std::string, Value>& row() {
  static const std::map<std::string, Value> r{
      {"i", Value::integer(-42)},
      {"f", Value::floating(0.1)},
      {"n", Value::numeric("12345.678900")},
      {"t", Value::text("Straße ȘTEFAN ☃ x")},
      {"e", Value::text("")},
      {"ts", Value::timestamp(789000000123)},
      {"b", Value::boolean(true)},
      {"j", Value::json("{\"a\": [1, 2, {\"b\": null}], \"a\": \"dup\"}")},
      {"z", Value::null()},
  };
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ExprInputs inputs;
  inputs.table = "t";
  auto type_of = [](const std::string& column) -> std::optional<ValueType> {
    auto it = row().find(column);
    if (it == row().end()) return std::nullopt;
    return column == "z" ? ValueType::kText : it->second.type;
  };
  auto expr = Expr::compile(text, 0, functions(), type_of, &inputs);
  if (!expr.ok()) {
    if (expr.status().message().empty()) std::abort();  // every refusal says why
    return 0;
  }
  std::vector<Value> values;
  for (const auto& c : inputs.columns) values.push_back(row().at(c));
  CallContext ctx;
  ctx.now = 789000000000;
  Value out;
  EvalScratch scratch;
  // Twice, as rows follow each other: the second reuses the scratch and the result.
  for (int i = 0; i < 2; ++i) {
    if (!expr.value()->eval(values, ctx, &scratch, &out).is_ok()) break;
    if (!out.is_null()) (void)to_text(out);
  }
  return 0;
}
