// Conversion built-ins and the ones about NULL: to_text, to_int, to_numeric, to_timestamp,
// coalesce, nullif, now. Each converts as PostgreSQL's cast or function of that name does.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "engine/format/civil_time.hpp"
#include "engine/format/decimal.hpp"
#include "engine/format/float_text.hpp"
#include "engine/transform/builtins/common.hpp"

namespace backfill::builtins {
namespace {

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
  // PostgreSQL's defaults for the fields the input does not give: year 0 (1 BC), January 1st,
  // midnight.
  CivilTime t;
  t.year = 0;
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
    // An input shorter than the format leaves the remaining fields at their defaults, as in
    // PostgreSQL (to_timestamp('2024', 'YYYY-MM') is 2024-01-01, to_timestamp('', ...) 1 BC).
    if (pos >= in.size()) break;
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
  // Past a timestamp's range (4714-11-24 BC to 294276 AD) is an error, as in PostgreSQL,
  // never a wrapped value: the year is bounded before the microseconds are computed.
  const std::int64_t day =
      days_from_civil(std::clamp<std::int64_t>(t.year, -5000000, 5000000), t.month, t.day);
  if (t.year < -5000000 || t.year > 5000000 || day < kFirstTimestampDay ||
      day >= kEndTimestampDay) {
    return Status::failed("to_timestamp(): timestamp out of range: \"" + std::string(in) + "\"");
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
      *out = Value::numeric(v.form == ValueForm::kReal ? real_to_decimal(static_cast<float>(v.f))
                                                       : float_to_decimal(v.f));
      return ok();
    case T::kText: {
      auto d = canonical_decimal(cast_to_text(v));
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
    case T::kTimestamp: {
      if (a.form == b.form || (a.form != ValueForm::kDate && b.form != ValueForm::kDate)) {
        return a.i == b.i;
      }
      // A date against a timestamp compares as date::timestamp.
      auto x = timestamp_micros(a), y = timestamp_micros(b);
      return x.ok() && y.ok() && x.value() == y.value();
    }
    case T::kText:
      return cast_to_text(a) == cast_to_text(b);  // character(n) compares without its padding
    default:
      return a.s == b.s;
  }
}

}  // namespace

void add_convert_functions(FunctionRegistry* r) {
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
    add_or_die(r, std::move(d));
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
    add_or_die(r, std::move(d));
  }
  add_or_die(r, def("to_text", {T::kAny}, 1, T::kText,
                    "to_text(value): the value as text, like value::text",
                    [](Args a, const CallContext&, Value* out) {
                      if (a[0].type == T::kText && a[0].form == ValueForm::kDefault) {
                        std::swap(*out, a[0]);
                      } else {
                        *out = Value::text(cast_to_text(a[0]));
                      }
                      return ok();
                    }));
  add_or_die(r,
             def("to_int", {T::kAny}, 1, T::kInt,
                 "to_int(value): a bigint from text, numeric (rounded), float or boolean", to_int));
  add_or_die(r, def("to_numeric", {T::kAny}, 1, T::kNumeric,
                    "to_numeric(value): a numeric from text, integer or float", to_numeric));
  add_or_die(r, bound_def("to_timestamp", {T::kText, T::kText}, 2, T::kTimestamp,
                          "to_timestamp(text, format): a timestamp read with PostgreSQL's patterns "
                          "YYYY MM DD HH24 HH12 MI SS MS US AM PM, in UTC",
                          {1}, bind_to_timestamp));
  {
    FunctionDef d =
        def("now", {}, 0, T::kTimestamp, "now(): the time the job started, the same for every row",
            [](Args, const CallContext& ctx, Value* out) {
              *out = Value::timestamp(ctx.now);
              return ok();
            });
    d.strict = false;
    add_or_die(r, std::move(d));
  }
}

}  // namespace backfill::builtins
