#include "engine/transform/functions.hpp"

#include <dlfcn.h>
#include <xxhash.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <regex>

#include "engine/format/text_util.hpp"
#include "engine/transform/md5.hpp"
#include "engine/util/hash.hpp"

namespace backfill {
namespace {

using T = ValueType;
using Args = std::span<Value>;

Status ok() { return Status::ok(); }

// Arguments of a strict function are never NULL when the implementation runs; integers
// arrive where numeric or float is declared, so these read either.
std::int64_t int_arg(const Value& v) {
  return v.type == T::kFloat ? static_cast<std::int64_t>(v.f) : v.i;
}

FunctionDef def(std::string name, std::vector<ValueType> params, int min_args, ValueType result,
                std::string summary, FunctionImpl impl) {
  FunctionDef d;
  d.name = std::move(name);
  d.params = std::move(params);
  d.min_args = min_args;
  d.result = result;
  d.summary = std::move(summary);
  d.impl = std::move(impl);
  return d;
}

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

Result<FunctionImpl> bind_regexp_replace(std::span<const Value> lit) {
  auto flags = std::regex::ECMAScript;
  bool global = false;
  if (lit.size() > 3 && !lit[3].is_null()) {
    for (char c : lit[3].s) {
      if (c == 'g') {
        global = true;
      } else if (c == 'i') {
        flags |= std::regex::icase;
      } else {
        return Status::invalid(std::string("regexp_replace(): flag '") + c +
                               "' is not supported (use g and i)");
      }
    }
  }
  if (lit[1].is_null()) {
    return FunctionImpl([](Args, const CallContext&, Value* out) {
      *out = Value::null();
      return Status::ok();
    });
  }
  std::shared_ptr<const std::regex> re;
  try {
    re = std::make_shared<const std::regex>(lit[1].s, flags);
  } catch (const std::regex_error& e) {
    return Status::invalid("regexp_replace(): invalid regular expression '" + lit[1].s +
                           "': " + e.what());
  }
  return FunctionImpl([re, global](Args a, const CallContext&, Value* out) {
    // PostgreSQL writes back-references as \1 and the whole match as \&; std::regex as $1
    // and $&, where a literal $ is $$.
    std::string fmt;
    const std::string& r = a[2].s;
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (r[i] == '\\' && i + 1 < r.size()) {
        char n = r[++i];
        if (n >= '1' && n <= '9') {
          fmt += '$';
          fmt += n;
        } else if (n == '&') {
          fmt += "$&";
        } else {
          fmt += n == '$' ? "$$" : std::string(1, n);
        }
      } else {
        fmt += r[i] == '$' ? "$$" : std::string(1, r[i]);
      }
    }
    auto mode =
        global ? std::regex_constants::format_default : std::regex_constants::format_first_only;
    *out = Value::text(std::regex_replace(a[0].s, *re, fmt, mode));
    return Status::ok();
  });
}

// to_timestamp(text, format): the template patterns of PostgreSQL's to_timestamp that a
// migration meets, read as UTC.
enum class Field {
  kLiteral,
  kYear,
  kMonth,
  kDay,
  kHour24,
  kHour12,
  kMinute,
  kSecond,
  kMilli,
  kMicro,
  kMeridiem
};
struct FormatItem {
  Field field;
  char literal = 0;
};

Result<std::vector<FormatItem>> parse_format(std::string_view f) {
  static const std::pair<std::string_view, Field> kPatterns[] = {
      {"YYYY", Field::kYear},   {"HH24", Field::kHour24}, {"HH12", Field::kHour12},
      {"MM", Field::kMonth},    {"DD", Field::kDay},      {"HH", Field::kHour12},
      {"MI", Field::kMinute},   {"SS", Field::kSecond},   {"MS", Field::kMilli},
      {"US", Field::kMicro},    {"AM", Field::kMeridiem}, {"PM", Field::kMeridiem},
      {"am", Field::kMeridiem}, {"pm", Field::kMeridiem}};
  std::vector<FormatItem> items;
  for (std::size_t i = 0; i < f.size();) {
    bool matched = false;
    for (const auto& [text, field] : kPatterns) {
      if (f.substr(i, text.size()) == text) {
        items.push_back({field});
        i += text.size();
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::isalpha(static_cast<unsigned char>(f[i]))) {
      return Status::invalid("to_timestamp(): format pattern at \"" + std::string(f.substr(i)) +
                             "\" is not supported (YYYY MM DD HH24 HH12 HH MI SS MS US AM PM)");
    }
    items.push_back({Field::kLiteral, f[i++]});
  }
  return items;
}

Status parse_timestamp(std::string_view in, const std::vector<FormatItem>& items,
                       std::int64_t* out) {
  CivilTime t;
  std::int64_t hour12 = -1;
  bool pm = false;
  std::size_t pos = 0;
  auto number = [&](int max_digits, std::int64_t* v, int* digits) -> bool {
    while (pos < in.size() && in[pos] == ' ') ++pos;
    std::size_t start = pos;
    *v = 0;
    while (pos < in.size() && pos - start < static_cast<std::size_t>(max_digits) &&
           in[pos] >= '0' && in[pos] <= '9') {
      *v = *v * 10 + (in[pos++] - '0');
    }
    *digits = static_cast<int>(pos - start);
    return pos > start;
  };
  const std::string bad = "to_timestamp(): \"" + std::string(in) + "\" does not match the format";
  for (const auto& item : items) {
    std::int64_t v = 0;
    int digits = 0;
    switch (item.field) {
      case Field::kLiteral:
        if (pos < in.size() && !std::isalnum(static_cast<unsigned char>(in[pos]))) ++pos;
        continue;
      case Field::kMeridiem: {
        std::string m(in.substr(pos, 2));
        for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (m != "AM" && m != "PM") return Status::failed(bad);
        pm = m == "PM";
        pos += 2;
        continue;
      }
      default:
        break;
    }
    const int width = item.field == Field::kYear    ? 4
                      : item.field == Field::kMilli ? 3
                      : item.field == Field::kMicro ? 6
                                                    : 2;
    if (!number(width, &v, &digits)) return Status::failed(bad);
    switch (item.field) {
      case Field::kYear:
        t.year = v;
        break;
      case Field::kMonth:
        t.month = static_cast<int>(v);
        break;
      case Field::kDay:
        t.day = static_cast<int>(v);
        break;
      case Field::kHour24:
        t.hour = static_cast<int>(v);
        break;
      case Field::kHour12:
        hour12 = v;
        break;
      case Field::kMinute:
        t.minute = static_cast<int>(v);
        break;
      case Field::kSecond:
        t.second = static_cast<int>(v);
        break;
      // Fractions: "5" under MS is 500 ms, as in PostgreSQL.
      case Field::kMilli:
        for (int d = digits; d < 3; ++d) v *= 10;
        t.micros += static_cast<int>(v * 1000);
        break;
      case Field::kMicro:
        for (int d = digits; d < 6; ++d) v *= 10;
        t.micros += static_cast<int>(v);
        break;
      default:
        break;
    }
  }
  if (hour12 >= 0) {
    if (hour12 < 1 || hour12 > 12)
      return Status::failed("to_timestamp(): hour \"" + std::to_string(hour12) +
                            "\" is invalid for the 12-hour clock");
    t.hour = static_cast<int>(hour12 % 12 + (pm ? 12 : 0));
  }
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (t.year % 4 == 0 && t.year % 100 != 0) || t.year % 400 == 0;
  if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > kDays[t.month - 1] ||
      (t.month == 2 && t.day == 29 && !leap) || t.hour > 23 || t.minute > 59 || t.second > 59) {
    return Status::failed("to_timestamp(): date/time field value out of range in \"" +
                          std::string(in) + "\"");
  }
  *out = micros_from_civil(t);
  return Status::ok();
}

Result<FunctionImpl> bind_to_timestamp(std::span<const Value> lit) {
  if (lit[1].is_null()) {
    return FunctionImpl([](Args, const CallContext&, Value* out) {
      *out = Value::null();
      return Status::ok();
    });
  }
  BACKFILL_ASSIGN_OR_RETURN(std::vector<FormatItem> items, parse_format(lit[1].s));
  return FunctionImpl([items = std::move(items)](Args a, const CallContext&, Value* out) {
    std::int64_t micros = 0;
    BACKFILL_RETURN_IF_ERROR(parse_timestamp(a[0].s, items, &micros));
    *out = Value::timestamp(micros);
    return Status::ok();
  });
}

// A minimal reader over JSON text that came from PostgreSQL (so it is valid), for
// json_get: finds a path and returns the value's text, as the #>> operator does.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view s) : s_(s) {}
  void ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\n' || s_[p_] == '\t' || s_[p_] == '\r'))
      ++p_;
  }
  char peek() {
    ws();
    return p_ < s_.size() ? s_[p_] : '\0';
  }
  // Skips one value; returns its text.
  std::string_view skip() {
    ws();
    std::size_t start = p_;
    if (p_ >= s_.size()) return {};
    char c = s_[p_];
    if (c == '"') {
      skip_string();
    } else if (c == '{' || c == '[') {
      int depth = 0;
      while (p_ < s_.size()) {
        char d = s_[p_];
        if (d == '"') {
          skip_string();
          continue;
        }
        ++p_;
        if (d == '{' || d == '[') ++depth;
        if ((d == '}' || d == ']') && --depth == 0) break;
      }
    } else {
      while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}' && s_[p_] != ']' && s_[p_] != ' ')
        ++p_;
    }
    return s_.substr(start, p_ - start);
  }
  void skip_string() {
    ++p_;
    while (p_ < s_.size() && s_[p_] != '"') p_ += s_[p_] == '\\' ? 2 : 1;
    ++p_;
  }
  bool consume(char c) {
    if (peek() != c) return false;
    ++p_;
    return true;
  }
  std::size_t pos() const { return p_; }

 private:
  std::string_view s_;
  std::size_t p_ = 0;
};

std::string json_unescape(std::string_view q) {  // q includes the quotes
  std::string out;
  q = q.substr(1, q.size() - 2);
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (q[i] != '\\' || i + 1 >= q.size()) {
      out.push_back(q[i]);
      continue;
    }
    char e = q[++i];
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        auto hex4 = [&](std::size_t at) {
          std::uint32_t v = 0;
          std::from_chars(q.data() + at, q.data() + std::min(at + 4, q.size()), v, 16);
          return v;
        };
        std::uint32_t cp = hex4(i + 1);
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < q.size() + 1 && q.substr(i + 1, 2) == "\\u") {
          std::uint32_t lo = hex4(i + 3);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
        append_utf8(&out, cp);
        break;
      }
      default:
        out.push_back(e);
    }
  }
  return out;
}

Status json_get(Args a, const CallContext&, Value* out) {
  JsonCursor c(a[0].s);
  std::string_view path = a[1].s;
  std::vector<std::string_view> steps;
  for (std::size_t pos = 0; !path.empty() && pos <= path.size();) {
    std::size_t dot = path.find('.', pos);
    if (dot == std::string_view::npos) dot = path.size();
    steps.push_back(path.substr(pos, dot - pos));
    pos = dot + 1;
  }
  *out = Value::null();
  for (std::string_view step : steps) {
    if (c.consume('{')) {
      bool found = false;
      while (!found && c.peek() == '"') {
        std::string key = json_unescape(c.skip());
        c.consume(':');
        if (key == step) {
          found = true;
        } else {
          c.skip();
          c.consume(',');
        }
      }
      if (!found) return ok();
    } else if (c.consume('[')) {
      std::int64_t idx = 0;
      auto r = std::from_chars(step.data(), step.data() + step.size(), idx);
      if (r.ec != std::errc() || r.ptr != step.data() + step.size()) return ok();
      if (idx < 0) {  // from the end, as PostgreSQL allows
        JsonCursor count = c;
        std::int64_t n = 0;
        while (count.peek() != ']' && count.peek() != '\0') {
          count.skip();
          ++n;
          count.consume(',');
        }
        idx += n;
        if (idx < 0) return ok();
      }
      for (std::int64_t i = 0; i < idx; ++i) {
        if (c.peek() == ']' || c.peek() == '\0') return ok();
        c.skip();
        c.consume(',');
      }
      if (c.peek() == ']') return ok();
    } else {
      return ok();  // a scalar has no members
    }
  }
  std::string_view v = c.skip();
  if (v == "null" || v.empty()) return ok();
  *out = Value::text(v.front() == '"' ? json_unescape(v) : std::string(v));
  return ok();
}

Status to_int(Args a, const CallContext&, Value* out) {
  const Value& v = a[0];
  const std::string range = "to_int(): value out of range for bigint: ";
  switch (v.type) {
    case T::kInt:
      *out = v;
      return ok();
    case T::kBool:
      *out = Value::integer(v.b ? 1 : 0);
      return ok();
    case T::kFloat: {
      double r = std::nearbyint(v.f);  // float8 -> int8 rounds half to even, as PostgreSQL
      if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
        return Status::failed(range + float_to_text(v.f));
      *out = Value::integer(static_cast<std::int64_t>(r));
      return ok();
    }
    case T::kNumeric: {
      std::string r = round_decimal(v.s, 0);
      std::int64_t i = 0;
      auto res = std::from_chars(r.data(), r.data() + r.size(), i);
      if (res.ec != std::errc() || res.ptr != r.data() + r.size())
        return Status::failed(range + v.s);
      *out = Value::integer(i);
      return ok();
    }
    case T::kText: {
      std::string_view s = v.s;
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
      if (!s.empty() && s.front() == '+') s.remove_prefix(1);
      std::int64_t i = 0;
      auto res = std::from_chars(s.data(), s.data() + s.size(), i);
      if (res.ec == std::errc::result_out_of_range)
        return Status::failed(range + "\"" + v.s + "\"");
      if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size()) {
        return Status::failed("to_int(): invalid input syntax for type bigint: \"" + v.s + "\"");
      }
      *out = Value::integer(i);
      return ok();
    }
    default:
      return Status::failed(std::string("to_int(): cannot convert ") + value_type_name(v.type));
  }
}

Status to_numeric(Args a, const CallContext&, Value* out) {
  const Value& v = a[0];
  switch (v.type) {
    case T::kNumeric:
      *out = v;
      return ok();
    case T::kInt:
      *out = Value::numeric(std::to_string(v.i));
      return ok();
    case T::kFloat:
      *out = Value::numeric(float_to_decimal(v.f));
      return ok();
    case T::kText: {
      auto d = canonical_decimal(v.s);
      if (!d)
        return Status::failed("to_numeric(): invalid input syntax for type numeric: \"" + v.s +
                              "\"");
      *out = Value::numeric(std::move(*d));
      return ok();
    }
    default:
      return Status::failed(std::string("to_numeric(): cannot convert ") + value_type_name(v.type));
  }
}

bool values_equal(const Value& a, const Value& b) {
  auto numeric_text = [](const Value& v) { return v.type == T::kInt ? std::to_string(v.i) : v.s; };
  if (a.type == T::kFloat || b.type == T::kFloat) {
    auto as_double = [](const Value& v) {
      return v.type == T::kFloat ? v.f
             : v.type == T::kInt ? static_cast<double>(v.i)
                                 : std::strtod(v.s.c_str(), nullptr);
    };
    double x = as_double(a), y = as_double(b);
    return x == y || (x != x && y != y);
  }
  if ((a.type == T::kNumeric || a.type == T::kInt) &&
      (b.type == T::kNumeric || b.type == T::kInt)) {
    if (a.type == T::kInt && b.type == T::kInt) return a.i == b.i;
    return compare_decimal(numeric_text(a), numeric_text(b)) == 0;
  }
  if (a.type != b.type) return false;
  switch (a.type) {
    case T::kBool:
      return a.b == b.b;
    case T::kTimestamp:
      return a.i == b.i;
    default:
      return a.s == b.s;
  }
}

}  // namespace

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
      return float_to_text(v.f);
    case T::kTimestamp:
      return timestamp_to_text(v.i);
    default:
      return v.s;
  }
}

FunctionRegistry builtin_functions() {
  FunctionRegistry r;
  auto add = [&r](FunctionDef d) {
    Status st = r.add(std::move(d));
    assert(st.is_ok());
    (void)st;
  };
  add(def("lower", {T::kText}, 1, T::kText, "lower(text): lower case",
          [](Args a, const CallContext&, Value* out) {
            utf8_lower_in_place(&a[0].s);
            std::swap(*out, a[0]);  // both keep a buffer for the next row
            return ok();
          }));
  add(def("upper", {T::kText}, 1, T::kText, "upper(text): upper case",
          [](Args a, const CallContext&, Value* out) {
            utf8_upper_in_place(&a[0].s);
            std::swap(*out, a[0]);
            return ok();
          }));
  add(def("trim", {T::kText, T::kText}, 1, T::kText,
          "trim(text [, characters]): removes the characters (default: spaces) from both ends",
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
    add(std::move(d));
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
    add(std::move(d));
  }
  {
    FunctionDef d = def("coalesce", {T::kAny}, 1, T::kAny,
                        "coalesce(value, ...): the first value that is not NULL",
                        [](Args a, const CallContext&, Value* out) {
                          out->type = T::kNull;
                          for (Value& v : a) {
                            if (!v.is_null()) {
                              std::swap(*out, v);
                              break;
                            }
                          }
                          return ok();
                        });
    d.variadic = true;
    d.strict = false;
    add(std::move(d));
  }
  {
    FunctionDef d =
        def("nullif", {T::kAny, T::kAny}, 2, T::kAny, "nullif(a, b): NULL when a equals b, else a",
            [](Args a, const CallContext&, Value* out) {
              if (!a[0].is_null() && !a[1].is_null() && values_equal(a[0], a[1])) {
                out->type = T::kNull;
              } else {
                std::swap(*out, a[0]);
              }
              return ok();
            });
    d.strict = false;
    add(std::move(d));
  }
  add(def("substr", {T::kText, T::kInt, T::kInt}, 2, T::kText,
          "substr(text, from [, count]): characters from position `from` (1-based)", substr));
  add(def("replace", {T::kText, T::kText, T::kText}, 3, T::kText,
          "replace(text, from, to): every occurrence of `from` replaced", replace));
  {
    FunctionDef d =
        def("regexp_replace", {T::kText, T::kText, T::kText, T::kText}, 3, T::kText,
            "regexp_replace(text, pattern, replacement [, flags]): flags g (every match) "
            "and i (ignore case); \\1 in the replacement is the first group",
            [](Args, const CallContext&, Value*) { return Status::failed("unbound"); });
    d.literal_params = {1, 3};
    d.bind = bind_regexp_replace;
    add(std::move(d));
  }
  add(def("split_part", {T::kText, T::kText, T::kInt}, 3, T::kText,
          "split_part(text, delimiter, n): the n-th field (negative: from the end)", split_part));
  add(def("left", {T::kText, T::kInt}, 2, T::kText,
          "left(text, n): the first n characters (negative: all but the last -n)", left));
  add(def("right", {T::kText, T::kInt}, 2, T::kText,
          "right(text, n): the last n characters (negative: all but the first -n)", right));
  add(def("length", {T::kText}, 1, T::kInt, "length(text): number of characters",
          [](Args a, const CallContext&, Value* out) {
            *out = Value::integer(utf8_length(a[0].s));
            return ok();
          }));
  add(def("to_text", {T::kAny}, 1, T::kText, "to_text(value): the value as text, like value::text",
          [](Args a, const CallContext&, Value* out) {
            if (a[0].type == T::kText) {
              std::swap(*out, a[0]);
            } else {
              *out = Value::text(to_text(a[0]));
            }
            return ok();
          }));
  add(def("to_int", {T::kAny}, 1, T::kInt,
          "to_int(value): a bigint from text, numeric (rounded), float or boolean", to_int));
  add(def("to_numeric", {T::kAny}, 1, T::kNumeric,
          "to_numeric(value): a numeric from text, integer or float", to_numeric));
  {
    FunctionDef d =
        def("to_timestamp", {T::kText, T::kText}, 2, T::kTimestamp,
            "to_timestamp(text, format): a timestamp read with PostgreSQL's patterns YYYY "
            "MM DD HH24 HH12 MI SS MS US AM PM, in UTC",
            [](Args, const CallContext&, Value*) { return Status::failed("unbound"); });
    d.literal_params = {1};
    d.bind = bind_to_timestamp;
    add(std::move(d));
  }
  add(def("json_get", {T::kJson, T::kText}, 2, T::kText,
          "json_get(json, 'a.b.0'): the value at the path, as text (like #>>); NULL when absent",
          json_get));
  add(def("md5", {T::kText}, 1, T::kText, "md5(text): hex MD5, as PostgreSQL's md5()",
          [](Args a, const CallContext&, Value* out) {
            *out = Value::text(md5_hex(a[0].s));
            return ok();
          }));
  add(def("xxh64", {T::kAny}, 1, T::kText,
          "xxh64(value): hex XXH64 (seed 0) of the value's text, for pseudonymising",
          [](Args a, const CallContext&, Value* out) {
            const std::string s = a[0].type == T::kText ? a[0].s : to_text(a[0]);
            *out = Value::text(hex64(XXH64(s.data(), s.size(), 0)));
            return ok();
          }));
  add(def("mask_email", {T::kText}, 1, T::kText,
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
  {
    FunctionDef d =
        def("now", {}, 0, T::kTimestamp, "now(): the time the job started, the same for every row",
            [](Args, const CallContext& ctx, Value* out) {
              *out = Value::timestamp(ctx.now);
              return ok();
            });
    d.strict = false;
    add(std::move(d));
  }
  return r;
}

Status load_plugin(const std::string& path, FunctionRegistry* registry) {
  // The library stays loaded for the life of the process: its functions are called until
  // the end, so it is never closed.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return Status::invalid("--plugin " + path + ": " + dlerror());
  auto abi = reinterpret_cast<int (*)()>(dlsym(handle, "backfill_plugin_abi"));
  auto reg =
      reinterpret_cast<int (*)(FunctionRegistry*)>(dlsym(handle, "backfill_plugin_register"));
  if (!abi || !reg) {
    return Status::invalid("--plugin " + path +
                           ": not a backfill plugin (it must export backfill_plugin_abi and "
                           "backfill_plugin_register; see engine/transform/functions.hpp)");
  }
  if (abi() != kPluginAbi) {
    return Status::invalid("--plugin " + path + ": built for plugin ABI " + std::to_string(abi()) +
                           ", this backfill has " + std::to_string(kPluginAbi) + "; rebuild it");
  }
  FunctionRegistry added;
  if (reg(&added) != 0) return Status::invalid("--plugin " + path + ": its registration failed");
  for (auto& [name, d] : added.all()) {
    Status st = registry->add(d);
    if (!st.is_ok()) return st.with_context("--plugin " + path);
  }
  return Status::ok();
}

}  // namespace backfill
