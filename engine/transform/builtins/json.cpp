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

// A parser and a padded copy of the text per thread, both reused from row to row. Each step
// of a path parses a span of that copy in place: simdjson reads past the end of the span,
// into the rest of the document and the padding.
struct JsonScratch {
  od::parser parser;
  std::string padded;
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

// Parses `text`, a span of s.padded, into the thread's document.
simdjson::error_code parse(JsonScratch& s, std::string_view text, od::document* doc) {
  const std::size_t room =
      static_cast<std::size_t>(s.padded.data() + s.padded.size() - text.data());
  return s.parser.iterate(text.data(), text.size(), room).get(*doc);
}

// What a step found. On the path's way, the value's text for the next step to parse; at the
// path's end, the answer itself, taken from this parse (a string unescaped, JSON null as
// NULL, anything else as its text), so that the last step needs no parse of its own.
struct Found {
  bool found = false;
  bool is_null = false;
  std::string_view raw;  // a span of the padded document
  std::string answer;    // at the end: the value's text
};

simdjson::error_code take(od::value v, bool last, Found* f) {
  f->found = true;
  f->is_null = false;
  if (!last) return raw_text(v, &f->raw);
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  if (t == od::json_type::null) {
    f->is_null = true;
    return simdjson::SUCCESS;
  }
  if (t == od::json_type::string) {
    std::string_view text;
    if (auto e = v.get_string().get(text)) return e;
    f->answer.assign(text);
    return simdjson::SUCCESS;
  }
  std::string_view text;
  if (auto e = raw_text(v, &text)) return e;
  f->answer.assign(text);
  return simdjson::SUCCESS;
}

// One step of the path from the document's root; f->found is false when it leads nowhere.
simdjson::error_code step_into(od::document& doc, std::string_view step, bool last, Found* f) {
  f->found = false;
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
      if (auto e = take(v, last, f)) return e;  // and go on: of duplicate keys the last counts
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
    if (i++ == idx) return take(v, last, f);
  }
  return simdjson::SUCCESS;
}

Status json_get(Args a, const CallContext&, Value* out) {
  JsonScratch& s = scratch();
  std::string_view path = a[1].s;
  s.padded.assign(a[0].s);
  const std::size_t length = s.padded.size();
  s.padded.resize(length + simdjson::SIMDJSON_PADDING);
  od::document doc;
  if (path.empty()) {  // #>> '{}': the whole document, as a last step would give it
    if (auto e = parse(s, std::string_view(s.padded.data(), length), &doc)) return bad_json(e);
    od::json_type t;
    if (auto e = doc.type().get(t)) return bad_json(e);
    std::string_view text;
    if (t == od::json_type::null) {
      *out = Value::null();
      return ok();
    }
    if (t == od::json_type::string) {
      if (auto e = doc.get_string().get(text)) return bad_json(e);
    } else if (t == od::json_type::object || t == od::json_type::array) {
      if (auto e = doc.raw_json().get(text)) return bad_json(e);
    } else {
      text = trim_ws(doc.raw_json_token());
    }
    *out = Value::text(std::string(text));
    return ok();
  }
  std::string_view current(s.padded.data(), length);
  Found f;
  for (std::size_t pos = 0; pos <= path.size();) {
    std::size_t dot = path.find('.', pos);
    if (dot == std::string_view::npos) dot = path.size();
    const bool last = dot == path.size();
    if (auto e = parse(s, current, &doc)) return bad_json(e);
    if (auto e = step_into(doc, path.substr(pos, dot - pos), last, &f)) return bad_json(e);
    if (!f.found) {
      *out = Value::null();
      return ok();
    }
    if (last) break;
    current = f.raw;  // a span of s.padded
    pos = dot + 1;
  }
  if (f.is_null) {
    *out = Value::null();
  } else {
    out->type = T::kText;
    out->s.assign(f.answer);  // into the earlier row's buffer
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
