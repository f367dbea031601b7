// The functions a `--map` expression can call, and the public interface for adding your
// own: this is the one header a transform plugin includes.
//
// A function takes Values and returns a Value. Values are what an expression computes
// with: SQL's NULL, a boolean, a 64-bit integer, a double, a numeric (its decimal text,
// exact), text (UTF-8), a timestamp (microseconds since 2000-01-01 00:00 UTC, PostgreSQL's
// own epoch) or a JSON document (its text). A value read from a column keeps the form of
// its PostgreSQL type where one Value type stands for several (ValueForm), so that it
// prints, compares and stores as PostgreSQL would: a date, a timestamp without time zone,
// a real, a character(n).
//
// Every function is declared with the types it takes and returns, so that a `--map` is
// checked against the target column's type before anything is read. Functions run in the
// transform stage on several chunks at once: an implementation must be thread-safe and is
// best free of state. A value it cannot work with (to_int('abc')) is an expected failure:
// it returns a Status, and the job stops with that message.
//
// A plugin is a shared library exporting, with C linkage,
//   int backfill_plugin_abi(void)                 -> kPluginAbi
//   int backfill_plugin_register(FunctionRegistry*) -> 0 on success
// and is loaded with `--plugin PATH.so`. examples/plugin/ holds one.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill {
class CaseMapping;
}

namespace backfill {

// Bumped whenever Value, FunctionDef or FunctionRegistry change shape.
inline constexpr int kPluginAbi = 3;

enum class ValueType : std::uint8_t {
  kNull,  // the type of a NULL literal: fits anywhere
  kBool,
  kInt,
  kFloat,
  kNumeric,
  kText,
  kTimestamp,
  kJson,
  kAny,  // in a signature only: any type
};

// "integer", "text", ...: how messages name a type.
const char* value_type_name(ValueType t);

// Which PostgreSQL type a value of a shared Value type came from. A function that builds a
// new value gives kDefault (the evaluator resets it before each call); one that returns an
// argument as it is (coalesce) keeps the argument's form.
enum class ValueForm : std::uint8_t {
  kDefault,          // timestamptz, double precision, text
  kDate,             // kTimestamp holding a date: `i` is days since 2000-01-01 (a date's
                     // range, 4713 BC to 5874897 AD, is wider than a timestamp's). A
                     // function declaring a timestamp parameter gets microseconds instead;
                     // one taking kAny sees the days and must check the form
  kTimestampNoZone,  // kTimestamp from a timestamp without time zone: prints without "+00"
  kReal,             // kFloat from a real: prints and converts to numeric with a float's digits
  kPaddedChar,       // kText from a character(n): `s` keeps its padding, as concat() prints
                     // it; as text (a cast, a text parameter) the trailing spaces go
  kJsonText,         // kJson from a json column: `s` is the document's own text (spacing,
                     // duplicate keys, escapes), which jsonb would rewrite
};

struct Value {
  ValueType type = ValueType::kNull;
  bool b = false;
  std::int64_t i = 0;  // kInt; kTimestamp: microseconds since 2000-01-01 UTC
  double f = 0;        // kFloat
  std::string s;       // kText, kNumeric (decimal text), kJson (JSON text)
  ValueForm form = ValueForm::kDefault;

  static Value null() { return {}; }
  static Value boolean(bool v) { return {ValueType::kBool, v, 0, 0, {}}; }
  static Value integer(std::int64_t v) { return {ValueType::kInt, false, v, 0, {}}; }
  static Value floating(double v) { return {ValueType::kFloat, false, 0, v, {}}; }
  static Value numeric(std::string decimal) {
    return {ValueType::kNumeric, false, 0, 0, std::move(decimal)};
  }
  static Value text(std::string v) { return {ValueType::kText, false, 0, 0, std::move(v)}; }
  static Value timestamp(std::int64_t micros) {
    return {ValueType::kTimestamp, false, micros, 0, {}};
  }
  static Value json(std::string v) { return {ValueType::kJson, false, 0, 0, std::move(v)}; }
  static Value date(std::int64_t days) {
    return {ValueType::kTimestamp, false, days, 0, {}, ValueForm::kDate};
  }

  bool is_null() const { return type == ValueType::kNull; }
};

// The value as PostgreSQL's output function prints it (with the session settings backfill
// pins: ISO dates, UTC, shortest exact floats), which is what concat() joins: a date as
// "2024-01-01", a character(n) with its padding. NULL has no text; callers check first.
std::string to_text(const Value& v);
// The value as `value::text` gives it: to_text() but a character(n) without its trailing
// spaces (the cast from bpchar to text drops them).
std::string cast_to_text(const Value& v);
// A timestamp's microseconds; a date's first instant, or an error past the timestamp range
// (as PostgreSQL's date::timestamp).
Result<std::int64_t> timestamp_micros(const Value& v);

// What the evaluator hands a function besides its arguments.
struct CallContext {
  std::int64_t now = 0;  // the job's start, as a timestamp: now() is the same for every row
  // lower() and upper() by the target database's ctype (engine/transform/case_mapping.hpp);
  // null: Unicode's simple mappings.
  std::shared_ptr<const CaseMapping> case_mapping;
};

// Arguments may be moved from or swapped with *out: an implementation can reuse an
// argument's string. *out is not empty on entry (it holds an earlier row's result, kept so
// its buffer is reused): set all of it, e.g. `*out = Value::text(...)`, or set its type and
// clear its string before appending.
using FunctionImpl =
    std::function<Status(std::span<Value> args, const CallContext& ctx, Value* out)>;

struct FunctionDef {
  std::string name;  // lower case; how --map calls it
  // The parameter types; with `variadic`, the last one repeats. kAny takes any type; an
  // integer argument is accepted where numeric or float is declared.
  std::vector<ValueType> params;
  int min_args = 0;  // optional parameters are the ones past min_args
  bool variadic = false;
  // The result type. kAny: the common type of the arguments (coalesce, nullif).
  ValueType result = ValueType::kText;
  // SQL's "strict": any NULL argument makes the result NULL without calling impl.
  bool strict = true;
  // Parameters that must be literals (a regular expression, a format), by index.
  std::vector<int> literal_params;
  std::string summary;  // what it does, in one line, for whoever reads the registry
  FunctionImpl impl;
  // Optional: called once per call site before the job, with the literal arguments (the
  // others NULL); returns the implementation for that site, with the regular expression
  // or format already compiled, or kInvalid for a bad one.
  std::function<Result<FunctionImpl>(std::span<const Value> literals)> bind;
};

// Name -> function. Filled once before a job starts and read-only afterwards, so lookups
// from several threads need no lock.
class FunctionRegistry {
 public:
  // Fails when the name is taken: a plugin cannot silently replace a built-in. Inline, so
  // that a plugin calling it needs no symbol from the backfill binary.
  Status add(FunctionDef def) {
    if (def.name.empty() || !def.impl) {
      return Status::invalid("a function needs a name and an implementation");
    }
    if (functions_.count(def.name)) {
      return Status::invalid("function " + def.name + "() is already defined");
    }
    std::string name = def.name;
    functions_.emplace(std::move(name), std::move(def));
    return Status::ok();
  }
  const FunctionDef* find(std::string_view name) const {
    auto it = functions_.find(name);
    return it == functions_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, FunctionDef, std::less<>>& all() const { return functions_; }

 private:
  std::map<std::string, FunctionDef, std::less<>> functions_;
};

// The built-in functions: lower, upper, trim, concat, concat_ws, coalesce, nullif, substr,
// replace, regexp_replace, split_part, left, right, length, to_text, to_int, to_numeric,
// to_timestamp, json_get, md5, xxh64, mask_email, now.
FunctionRegistry builtin_functions();

// Loads a plugin library and lets it register its functions into `registry`. kInvalid
// when the file cannot be loaded, lacks the entry points, was built against another ABI,
// or registers a name already taken.
Status load_plugin(const std::string& path, FunctionRegistry* registry);

}  // namespace backfill
