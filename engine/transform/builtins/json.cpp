// json_get(json, 'a.b.0'): PostgreSQL's #>> operator on simdjson's On-Demand parser.
//
// What PostgreSQL answers, kept: the text of an object or array exactly as the document has
// it (json keeps its spacing), a string unescaped, a number as written, NULL for JSON null,
// a missing key, an index out of range or a step into a scalar; of duplicate keys the last
// wins; a negative index counts from the end.
#include <simdjson.h>

#include <charconv>

#include "engine/transform/builtins/common.hpp"

namespace backfill::builtins {
namespace {

namespace od = simdjson::ondemand;

// A parser and a padded copy of the text per thread: simdjson reads past the end of its
// input, and both buffers are reused from row to row.
struct JsonScratch {
  od::parser parser;
  std::string padded;
  std::string step_text;  // the value one step down, while the next step is parsed
};

JsonScratch& scratch() {
  thread_local JsonScratch s;
  return s;
}

std::string_view trim_ws(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

Status bad_json(simdjson::error_code e) {
  return Status::failed(std::string("json_get(): invalid JSON: ") + simdjson::error_message(e));
}

// The text of `v` in the document, consuming it.
simdjson::error_code raw_text(od::value v, std::string_view* out) {
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  if (t == od::json_type::object) {
    od::object o;
    if (auto e = v.get_object().get(o)) return e;
    return o.raw_json().get(*out);
  }
  if (t == od::json_type::array) {
    od::array a;
    if (auto e = v.get_array().get(a)) return e;
    return a.raw_json().get(*out);
  }
  *out = trim_ws(v.raw_json_token());
  return simdjson::SUCCESS;
}

// Parses `text` into the thread's document. `text` may point into s.step_text.
simdjson::error_code parse(JsonScratch& s, std::string_view text, od::document* doc) {
  s.padded.assign(text);
  const std::size_t n = s.padded.size();
  s.padded.resize(n + simdjson::SIMDJSON_PADDING);
  return s.parser.iterate(s.padded.data(), n, s.padded.size()).get(*doc);
}

// One step of the path from the document's root: *found is false when the step leads
// nowhere, otherwise *next is the value's text.
simdjson::error_code step_into(od::document& doc, std::string_view step, bool* found,
                               std::string_view* next) {
  *found = false;
  od::json_type t;
  if (auto e = doc.type().get(t)) return e;
  if (t == od::json_type::object) {
    od::object o;
    if (auto e = doc.get_object().get(o)) return e;
    for (auto field : o) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return e;
      if (key != step) continue;  // simdjson skips the value
      od::value v;
      if (auto e = field.value().get(v)) return e;
      if (auto e = raw_text(v, next)) return e;
      *found = true;  // and go on: of duplicate keys the last one counts
    }
    return simdjson::SUCCESS;
  }
  if (t != od::json_type::array) return simdjson::SUCCESS;  // a scalar has no members
  std::int64_t idx = 0;
  auto r = std::from_chars(step.data(), step.data() + step.size(), idx);
  if (r.ec != std::errc() || r.ptr != step.data() + step.size()) return simdjson::SUCCESS;
  od::array a;
  if (auto e = doc.get_array().get(a)) return e;
  if (idx < 0) {
    std::size_t count = 0;
    if (auto e = a.count_elements().get(count)) return e;
    idx += static_cast<std::int64_t>(count);
    if (idx < 0) return simdjson::SUCCESS;
  }
  std::int64_t i = 0;
  for (auto element : a) {
    od::value v;
    if (auto e = element.get(v)) return e;
    if (i++ == idx) {
      *found = true;
      return raw_text(v, next);
    }
  }
  return simdjson::SUCCESS;
}

Status json_get(Args a, const CallContext&, Value* out) {
  JsonScratch& s = scratch();
  std::string_view path = a[1].s;
  std::string_view current = a[0].s;
  od::document doc;
  for (std::size_t pos = 0; !path.empty() && pos <= path.size();) {
    std::size_t dot = path.find('.', pos);
    if (dot == std::string_view::npos) dot = path.size();
    if (auto e = parse(s, current, &doc)) return bad_json(e);
    bool found = false;
    std::string_view next;
    if (auto e = step_into(doc, path.substr(pos, dot - pos), &found, &next)) return bad_json(e);
    if (!found) {
      *out = Value::null();
      return ok();
    }
    s.step_text.assign(next);  // `next` points into the padded buffer the next parse reuses
    current = s.step_text;
    pos = dot + 1;
  }
  if (auto e = parse(s, current, &doc)) return bad_json(e);
  od::json_type t;
  if (auto e = doc.type().get(t)) return bad_json(e);
  if (t == od::json_type::null) {
    *out = Value::null();
  } else if (t == od::json_type::string) {
    std::string_view text;
    if (auto e = doc.get_string().get(text)) return bad_json(e);
    *out = Value::text(std::string(text));
  } else {
    std::string_view text;
    if (t == od::json_type::object || t == od::json_type::array) {
      if (auto e = doc.raw_json().get(text)) return bad_json(e);
    } else {
      text = doc.raw_json_token();
    }
    *out = Value::text(std::string(trim_ws(text)));
  }
  return ok();
}

}  // namespace

void add_json_functions(FunctionRegistry* r) {
  add_or_die(r, def("json_get", {T::kJson, T::kText}, 2, T::kText,
                    "json_get(json, 'a.b.0'): the value at the path, as text (like #>>); NULL "
                    "when absent",
                    json_get));
}

}  // namespace backfill::builtins
