// Text built-ins: case, trimming, slicing, replacing, joining, masking. Characters are
// counted as code points, as PostgreSQL counts them in a UTF-8 database.
#include <algorithm>

#include "engine/transform/builtins/common.hpp"
#include "engine/transform/case_mapping.hpp"
#include "engine/transform/utf8.hpp"

namespace backfill::builtins {
namespace {

// concat()'s rendering: a type's output function, where a boolean is "t" or "f" (the
// cast to text, to_text(), says "true").
void append_output_text(const Value& v, std::string* out) {
  switch (v.type) {
    case T::kNull:
      return;
    case T::kBool:
      *out += v.b ? "t" : "f";
      return;
    case T::kText:
    case T::kNumeric:
    case T::kJson:
      *out += v.s;
      return;
    default:
      *out += to_text(v);
  }
}

const CaseMapping& case_mapping(const CallContext& ctx) {
  return ctx.case_mapping ? *ctx.case_mapping : CaseMapping::unicode();
}

Status btrim(Args a, const CallContext&, Value* out) {
  std::string_view s = a[0].s;
  std::string_view set = a.size() > 1 ? std::string_view(a[1].s) : std::string_view(" ");
  // Characters of the set, by code point: a multibyte character is trimmed whole.
  auto char_at = [](std::string_view str, std::size_t i) {
    std::size_t n = 1;
    while (i + n < str.size() && (static_cast<unsigned char>(str[i + n]) & 0xC0) == 0x80) ++n;
    return str.substr(i, n);
  };
  auto in_set = [&](std::string_view ch) {
    for (std::size_t i = 0; i < set.size();) {
      auto c = char_at(set, i);
      if (c == ch) return true;
      i += c.size();
    }
    return false;
  };
  std::size_t lo = 0;
  while (lo < s.size()) {
    auto c = char_at(s, lo);
    if (!in_set(c)) break;
    lo += c.size();
  }
  std::size_t hi = s.size();
  while (hi > lo) {
    std::size_t start = hi - 1;
    while (start > lo && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!in_set(s.substr(start, hi - start))) break;
    hi = start;
  }
  *out = Value::text(std::string(s.substr(lo, hi - lo)));
  return ok();
}

Status substr(Args a, const CallContext&, Value* out) {
  const std::string& s = a[0].s;
  std::int64_t from = int_arg(a[1]);
  std::int64_t end = INT64_MAX;  // one past the last character, 1-based
  if (a.size() > 2) {
    std::int64_t count = int_arg(a[2]);
    if (count < 0) return Status::failed("substr(): negative substring length not allowed");
    end = (from > 0 && count > INT64_MAX - from) ? INT64_MAX : from + count;
  }
  const std::int64_t first = std::max<std::int64_t>(from, 1);
  if (end <= first) {
    *out = Value::text("");
    return ok();
  }
  std::size_t b = utf8_offset(s, first - 1);
  std::size_t e = end == INT64_MAX ? s.size() : utf8_offset(s, end - 1);
  *out = Value::text(s.substr(b, std::max(e, b) - b));
  return ok();
}

Status left(Args a, const CallContext&, Value* out) {
  const std::string& s = a[0].s;
  std::int64_t n = int_arg(a[1]);
  std::int64_t len = utf8_length(s);
  std::int64_t keep = n >= 0 ? std::min(n, len) : std::max<std::int64_t>(len + n, 0);
  *out = Value::text(s.substr(0, utf8_offset(s, keep)));
  return ok();
}

Status right(Args a, const CallContext&, Value* out) {
  const std::string& s = a[0].s;
  std::int64_t n = int_arg(a[1]);
  std::int64_t len = utf8_length(s);
  std::int64_t keep = n >= 0 ? std::min(n, len) : std::max<std::int64_t>(len + n, 0);
  *out = Value::text(s.substr(utf8_offset(s, len - keep)));
  return ok();
}

Status replace(Args a, const CallContext&, Value* out) {
  std::string& s = a[0].s;
  const std::string& from = a[1].s;
  const std::string& to = a[2].s;
  if (from.empty()) {
    *out = Value::text(std::move(s));
    return ok();
  }
  std::string r;
  r.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    r.append(s, pos, hit - pos);
    r += to;
  }
  r.append(s, pos, std::string::npos);
  *out = Value::text(std::move(r));
  return ok();
}

Status split_part(Args a, const CallContext&, Value* out) {
  const std::string& s = a[0].s;
  const std::string& delim = a[1].s;
  std::int64_t n = int_arg(a[2]);
  if (n == 0) return Status::failed("split_part(): field position must not be zero");
  std::vector<std::string_view> parts;
  if (delim.empty()) {
    parts.push_back(s);
  } else {
    std::size_t pos = 0;
    for (std::size_t hit; (hit = s.find(delim, pos)) != std::string::npos;
         pos = hit + delim.size()) {
      parts.emplace_back(s.data() + pos, hit - pos);
    }
    parts.emplace_back(s.data() + pos, s.size() - pos);
  }
  if (s.empty()) parts.clear();  // an empty string has no fields
  const auto count = static_cast<std::int64_t>(parts.size());
  std::int64_t idx = n > 0 ? n - 1 : count + n;
  *out =
      Value::text(idx >= 0 && idx < count ? std::string(parts[static_cast<std::size_t>(idx)]) : "");
  return ok();
}

}  // namespace

void add_text_functions(FunctionRegistry* r) {
  add_or_die(r, def("lower", {T::kText}, 1, T::kText,
                    "lower(text): lower case, by the target database's ctype",
                    [](Args a, const CallContext& ctx, Value* out) {
                      case_mapping(ctx).lower(&a[0].s);
                      std::swap(*out, a[0]);  // both keep a buffer for the next row
                      return ok();
                    }));
  add_or_die(r, def("upper", {T::kText}, 1, T::kText,
                    "upper(text): upper case, by the target database's ctype",
                    [](Args a, const CallContext& ctx, Value* out) {
                      case_mapping(ctx).upper(&a[0].s);
                      std::swap(*out, a[0]);
                      return ok();
                    }));
  add_or_die(r, def("trim", {T::kText, T::kText}, 1, T::kText,
                    "trim(text [, characters]): removes the characters (default: spaces) from "
                    "both ends",
                    btrim));
  {
    FunctionDef d = def("concat", {T::kAny}, 1, T::kText,
                        "concat(value, ...): the values' text joined; NULLs are skipped",
                        [](Args a, const CallContext&, Value* out) {
                          out->type = T::kText;
                          out->s.clear();  // built in place: its buffer serves every row
                          for (const Value& v : a) append_output_text(v, &out->s);
                          return ok();
                        });
    d.variadic = true;
    d.strict = false;
    add_or_die(r, std::move(d));
  }
  {
    FunctionDef d =
        def("concat_ws", {T::kText, T::kAny}, 1, T::kText,
            "concat_ws(separator, value, ...): joined with the separator; NULLs are skipped",
            [](Args a, const CallContext&, Value* out) {
              if (a[0].is_null()) {
                *out = Value::null();
                return ok();
              }
              out->type = T::kText;
              out->s.clear();
              bool first = true;
              for (std::size_t i = 1; i < a.size(); ++i) {
                if (a[i].is_null()) continue;
                if (!first) out->s += a[0].s;
                append_output_text(a[i], &out->s);
                first = false;
              }
              return ok();
            });
    d.variadic = true;
    d.strict = false;
    add_or_die(r, std::move(d));
  }
  add_or_die(
      r, def("substr", {T::kText, T::kInt, T::kInt}, 2, T::kText,
             "substr(text, from [, count]): characters from position `from` (1-based)", substr));
  add_or_die(r, def("replace", {T::kText, T::kText, T::kText}, 3, T::kText,
                    "replace(text, from, to): every occurrence of `from` replaced", replace));
  add_or_die(r, def("split_part", {T::kText, T::kText, T::kInt}, 3, T::kText,
                    "split_part(text, delimiter, n): the n-th field (negative: from the end)",
                    split_part));
  add_or_die(r, def("left", {T::kText, T::kInt}, 2, T::kText,
                    "left(text, n): the first n characters (negative: all but the last -n)", left));
  add_or_die(r,
             def("right", {T::kText, T::kInt}, 2, T::kText,
                 "right(text, n): the last n characters (negative: all but the first -n)", right));
  add_or_die(r, def("length", {T::kText}, 1, T::kInt, "length(text): number of characters",
                    [](Args a, const CallContext&, Value* out) {
                      *out = Value::integer(utf8_length(a[0].s));
                      return ok();
                    }));
  add_or_die(r, def("mask_email", {T::kText}, 1, T::kText,
                    "mask_email(text): 'jane.doe@example.com' -> 'j***@example.com'",
                    [](Args a, const CallContext&, Value* out) {
                      const std::string& s = a[0].s;
                      auto at = s.rfind('@');
                      if (at == std::string::npos) {
                        *out = Value::text("***");
                      } else {
                        std::string first = at > 0 ? s.substr(0, utf8_offset(s, 1)) : "";
                        *out = Value::text(first + "***" + s.substr(at));
                      }
                      return ok();
                    }));
}

}  // namespace backfill::builtins
