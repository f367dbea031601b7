// What the built-in functions' files share: the helper that declares a function and the
// readers of arguments. Internal to engine/transform/builtins/; plugins do not see it.
#pragma once

#include <string>
#include <vector>

#include "engine/transform/functions.hpp"

namespace backfill::builtins {

using T = ValueType;
using Args = std::span<Value>;

inline Status ok() { return Status::ok(); }

// Arguments of a strict function are never NULL when the implementation runs; integers
// arrive where numeric or float is declared, so this reads either.
inline std::int64_t int_arg(const Value& v) {
  return v.type == T::kFloat ? static_cast<std::int64_t>(v.f) : v.i;
}

inline FunctionDef def(std::string name, std::vector<ValueType> params, int min_args,
                       ValueType result, std::string summary, FunctionImpl impl) {
  FunctionDef d;
  d.name = std::move(name);
  d.params = std::move(params);
  d.min_args = min_args;
  d.result = result;
  d.summary = std::move(summary);
  d.impl = std::move(impl);
  return d;
}

// A function whose implementation is made per call site by `bind`, from its literals.
inline FunctionDef bound_def(std::string name, std::vector<ValueType> params, int min_args,
                             ValueType result, std::string summary, std::vector<int> literals,
                             decltype(FunctionDef::bind) bind) {
  FunctionDef d = def(std::move(name), std::move(params), min_args, result, std::move(summary),
                      [](Args, const CallContext&, Value*) { return Status::failed("unbound"); });
  d.literal_params = std::move(literals);
  d.bind = std::move(bind);
  return d;
}

// Each file adds its group of built-ins.
void add_text_functions(FunctionRegistry* r);     // text.cpp
void add_convert_functions(FunctionRegistry* r);  // convert.cpp
void add_regex_functions(FunctionRegistry* r);    // regex.cpp
void add_json_functions(FunctionRegistry* r);     // json.cpp
void add_digest_functions(FunctionRegistry* r);   // digest.cpp

// Adds a built-in; a clash between built-ins is a bug.
void add_or_die(FunctionRegistry* r, FunctionDef d);

}  // namespace backfill::builtins
