#include "engine/format/jsonb_text.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "engine/format/decimal.hpp"

namespace backfill {
namespace {

namespace od = simdjson::ondemand;

Status bad(simdjson::error_code e) {
  return Status::failed(std::string("invalid JSON for jsonb: ") + simdjson::error_message(e));
}

// PostgreSQL's escape_json: the two-character escapes, \u00XX below 0x20, the rest as it is.
Status append_string(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c == '\0')
          return Status::failed("unsupported Unicode escape sequence: \\u0000 in jsonb");
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
  return Status::ok();
}

// A number token as numeric_in then numeric_out give it: "1.50e2" is 150, "-0" is 0, "0.10"
// keeps its zero.
Result<std::string> number_text(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\t' ||
                            token.back() == '\r')) {
    token.remove_suffix(1);
  }
  auto d = canonical_decimal(token);
  if (!d) return Status::failed("invalid JSON number for jsonb: " + std::string(token));
  return *d;
}

// One value, appended as jsonb prints it.
Status append_value(od::value v, std::string* out) {
  od::json_type t;
  if (auto e = v.type().get(t)) return bad(e);
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if (auto e = v.get_object().get(o)) return bad(e);
      // Each key with its value's text; then ordered, and of duplicates the last kept.
      std::vector<std::pair<std::string, std::string>> fields;
      for (auto field : o) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return bad(e);
        od::value fv;
        if (auto e = field.value().get(fv)) return bad(e);
        std::string text;
        BACKFILL_RETURN_IF_ERROR(append_value(fv, &text));
        fields.emplace_back(std::string(key), std::move(text));
      }
      std::stable_sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) {
        if (a.first.size() != b.first.size()) return a.first.size() < b.first.size();
        return a.first < b.first;
      });
      out->push_back('{');
      bool first = true;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i + 1 < fields.size() && fields[i + 1].first == fields[i].first) continue;
        if (!first) *out += ", ";
        first = false;
        BACKFILL_RETURN_IF_ERROR(append_string(fields[i].first, out));
        *out += ": ";
        *out += fields[i].second;
      }
      out->push_back('}');
      return Status::ok();
    }
    case od::json_type::array: {
      od::array a;
      if (auto e = v.get_array().get(a)) return bad(e);
      out->push_back('[');
      bool first = true;
      for (auto element : a) {
        od::value ev;
        if (auto e = element.get(ev)) return bad(e);
        if (!first) *out += ", ";
        first = false;
        BACKFILL_RETURN_IF_ERROR(append_value(ev, out));
      }
      out->push_back(']');
      return Status::ok();
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return bad(e);
      return append_string(s, out);
    }
    case od::json_type::number: {
      BACKFILL_ASSIGN_OR_RETURN(std::string d, number_text(v.raw_json_token()));
      *out += d;
      return Status::ok();
    }
    case od::json_type::boolean: {
      bool b = false;
      if (auto e = v.get_bool().get(b)) return bad(e);
      *out += b ? "true" : "false";
      return Status::ok();
    }
    case od::json_type::null:
      *out += "null";
      return Status::ok();
    default:
      return Status::failed("invalid JSON for jsonb");
  }
}

}  // namespace

Result<std::string> jsonb_text(std::string_view json) {
  thread_local od::parser parser;
  const simdjson::padded_string padded(json);
  od::document doc;
  if (auto e = parser.iterate(padded).get(doc)) return bad(e);
  std::string out;
  // A scalar document is a value too, read through the document's own accessors.
  od::json_type t;
  if (auto e = doc.type().get(t)) return bad(e);
  bool scalar = false;
  if (auto e = doc.is_scalar().get(scalar)) return bad(e);
  if (!scalar) {
    od::value root;
    if (auto e = doc.get_value().get(root)) return bad(e);
    BACKFILL_RETURN_IF_ERROR(append_value(root, &out));
    return out;
  }
  switch (t) {
    case od::json_type::string: {
      std::string_view s;
      if (auto e = doc.get_string().get(s)) return bad(e);
      BACKFILL_RETURN_IF_ERROR(append_string(s, &out));
      return out;
    }
    case od::json_type::number: {
      std::string_view token;
      if (auto e = doc.raw_json_token().get(token)) return bad(e);
      return number_text(token);
    }
    case od::json_type::boolean: {
      bool b = false;
      if (auto e = doc.get_bool().get(b)) return bad(e);
      return std::string(b ? "true" : "false");
    }
    default:
      return std::string("null");
  }
}

}  // namespace backfill
