#include <cassert>

#include "engine/format/civil_time.hpp"
#include "engine/format/float_text.hpp"
#include "engine/format/value_codec.hpp"
#include "engine/transform/builtins/common.hpp"
#include "engine/transform/functions.hpp"

namespace backfill {

namespace builtins {

void add_or_die(FunctionRegistry* r, FunctionDef d) {
  Status st = r->add(std::move(d));
  assert(st.is_ok());
  (void)st;
}

}  // namespace builtins

using T = ValueType;

const char* value_type_name(ValueType t) {
  switch (t) {
    case T::kNull:
      return "unknown (NULL)";
    case T::kBool:
      return "boolean";
    case T::kInt:
      return "integer";
    case T::kFloat:
      return "double precision";
    case T::kNumeric:
      return "numeric";
    case T::kText:
      return "text";
    case T::kTimestamp:
      return "timestamp";
    case T::kJson:
      return "json";
    case T::kAny:
      return "any";
  }
  return "?";
}

std::string to_text(const Value& v) {
  switch (v.type) {
    case T::kNull:
      return "";
    case T::kBool:
      return v.b ? "true" : "false";
    case T::kInt:
      return std::to_string(v.i);
    case T::kFloat:
      return v.form == ValueForm::kReal ? real_to_text(static_cast<float>(v.f))
                                        : float_to_text(v.f);
    case T::kTimestamp:
      if (v.form == ValueForm::kDate) return date_to_text(v.i);
      return timestamp_to_text(v.i, v.form != ValueForm::kTimestampNoZone);
    default:
      return v.s;
  }
}

std::string cast_to_text(const Value& v) {
  if (v.type != T::kText || v.form != ValueForm::kPaddedChar) return to_text(v);
  return std::string(trim_padding(v.s));
}

Result<std::int64_t> timestamp_micros(const Value& v) {
  if (v.form != ValueForm::kDate) return v.i;
  return date_micros(v.i);
}
FunctionRegistry builtin_functions() {
  FunctionRegistry r;
  builtins::add_text_functions(&r);
  builtins::add_convert_functions(&r);
  builtins::add_regex_functions(&r);
  builtins::add_json_functions(&r);
  builtins::add_digest_functions(&r);
  return r;
}

}  // namespace backfill
