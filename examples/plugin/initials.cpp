// An example transform plugin: `initials(first, last, ...)` -> "A.L.", skipping NULLs.
//
// Build it with the project (CMake target backfill_example_plugin), or on its own:
//   g++ -std=c++20 -shared -fPIC -I/path/to/backfill initials.cpp -o libinitials.so
// and use it:
//   backfill copy ... --plugin ./libinitials.so --map "short_name = initials(first_name,
//   last_name)"
#include "engine/transform/functions.hpp"

namespace {

// The first character of `s`, whole even when it takes several UTF-8 bytes.
std::string first_character(const std::string& s) {
  std::size_t n = s.empty() ? 0 : 1;
  while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) ++n;
  return s.substr(0, n);
}

backfill::Status initials(std::span<backfill::Value> args, const backfill::CallContext&,
                          backfill::Value* out) {
  std::string result;
  for (const backfill::Value& v : args) {
    if (v.is_null() || v.s.empty()) continue;
    result += first_character(v.s) + ".";
  }
  *out = backfill::Value::text(std::move(result));
  return backfill::Status::ok();
}

}  // namespace

extern "C" int backfill_plugin_abi() { return backfill::kPluginAbi; }

extern "C" int backfill_plugin_register(backfill::FunctionRegistry* registry) {
  backfill::FunctionDef f;
  f.name = "initials";
  f.params = {backfill::ValueType::kText};
  f.min_args = 1;
  f.variadic = true;
  f.strict = false;  // NULL arguments are skipped, not the whole result
  f.result = backfill::ValueType::kText;
  f.summary = "initials(text, ...): the first letter of each, with a dot";
  f.impl = initials;
  return registry->add(std::move(f)).is_ok() ? 0 : 1;
}
