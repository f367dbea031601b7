#include "engine/format/value_codec.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

#include "engine/format/civil_time.hpp"
#include "engine/format/copy_format.hpp"
#include "engine/format/decimal.hpp"
#include "engine/format/float_text.hpp"
#include "engine/format/jsonb_text.hpp"
#include "engine/transform/utf8.hpp"

namespace backfill {
namespace {

using T = ValueType;

// Sign words of the binary numeric form.
constexpr std::uint16_t kNumericPositive = 0x0000;
constexpr std::uint16_t kNumericNegative = 0x4000;
constexpr std::uint16_t kNumericNaN = 0xC000;
constexpr std::uint16_t kNumericPlusInf = 0xD000;
constexpr std::uint16_t kNumericMinusInf = 0xF000;
constexpr int kNumericMaxScale = 0x3FFF;  // NUMERIC_DSCALE_MAX: the most a numeric can have

Status bad_length(const char* type, std::size_t n) {
  return Status::failed(std::string("a ") + type + " field of " + std::to_string(n) + " bytes");
}

Result<double> as_double(const Value& v) {
  switch (v.type) {
    case T::kFloat:
      return v.f;
    case T::kInt:
      return static_cast<double>(v.i);
    case T::kNumeric:
      if (v.s == "NaN") return std::nan("");
      if (v.s == "Infinity") return HUGE_VAL;
      if (v.s == "-Infinity") return -HUGE_VAL;
      return std::strtod(v.s.c_str(), nullptr);
    default:
      return Status::failed(std::string("cannot store ") + value_type_name(v.type) + " as a float");
  }
}

Result<std::int64_t> as_int(const Value& v, std::int64_t lo, std::int64_t hi, const char* type) {
  std::int64_t i = 0;
  switch (v.type) {
    case T::kInt:
      i = v.i;
      break;
    case T::kFloat: {
      double r = std::nearbyint(v.f);
      if (!(r >= static_cast<double>(lo) && r <= static_cast<double>(hi))) {
        return Status::failed(float_to_text(v.f) + " is out of range for " + type);
      }
      i = static_cast<std::int64_t>(r);
      break;
    }
    case T::kNumeric: {
      std::string r = round_decimal(v.s, 0);
      auto res = std::from_chars(r.data(), r.data() + r.size(), i);
      if (res.ec != std::errc() || res.ptr != r.data() + r.size()) {
        return Status::failed(v.s + " is out of range for " + type);
      }
      break;
    }
    case T::kBool:
      i = v.b;
      break;
    default:
      return Status::failed(std::string("cannot store ") + value_type_name(v.type) + " as " + type);
  }
  if (i < lo || i > hi) return Status::failed(std::to_string(i) + " is out of range for " + type);
  return i;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<FieldCodec> write_codec_of(TypeKind kind) {
  switch (kind) {
    case TypeKind::kInt2:
      return FieldCodec::kInt2;
    case TypeKind::kInt4:
      return FieldCodec::kInt4;
    case TypeKind::kInt8:
      return FieldCodec::kInt8;
    case TypeKind::kFloat4:
      return FieldCodec::kFloat4;
    case TypeKind::kFloat8:
      return FieldCodec::kFloat8;
    case TypeKind::kNumeric:
      return FieldCodec::kNumeric;
    case TypeKind::kBool:
      return FieldCodec::kBool;
    case TypeKind::kTimestamp:
      return FieldCodec::kTimestamp;
    case TypeKind::kTimestampTz:
      return FieldCodec::kTimestampTz;
    case TypeKind::kDate:
      return FieldCodec::kDate;
    case TypeKind::kJsonb:
      return FieldCodec::kJsonb;
    case TypeKind::kJson:
      return FieldCodec::kJson;
    case TypeKind::kUuid:
      return FieldCodec::kUuid;
    case TypeKind::kChar:
      return FieldCodec::kBpchar;
    case TypeKind::kText:
    case TypeKind::kName:
    case TypeKind::kEnum:  // its binary form is its label
      return FieldCodec::kText;
    case TypeKind::kOther:
      break;
  }
  return std::nullopt;
}

FieldCodec read_codec_of(TypeKind kind) {
  const std::optional<FieldCodec> stored = write_codec_of(kind);
  if (!stored) return FieldCodec::kText;
  switch (*stored) {
    case FieldCodec::kInt2:
    case FieldCodec::kInt4:
      return FieldCodec::kInt8;
    default:
      return *stored;
  }
}

ValueType value_type_of(FieldCodec c) {
  switch (c) {
    case FieldCodec::kInt2:
    case FieldCodec::kInt4:
    case FieldCodec::kInt8:
      return T::kInt;
    case FieldCodec::kFloat4:
    case FieldCodec::kFloat8:
      return T::kFloat;
    case FieldCodec::kNumeric:
      return T::kNumeric;
    case FieldCodec::kBool:
      return T::kBool;
    case FieldCodec::kTimestamp:
    case FieldCodec::kTimestampTz:
    case FieldCodec::kDate:
      return T::kTimestamp;
    case FieldCodec::kJsonb:
    case FieldCodec::kJson:
      return T::kJson;
    case FieldCodec::kText:
    case FieldCodec::kBpchar:
    case FieldCodec::kUuid:
      return T::kText;
  }
  return T::kText;
}

bool can_store(ValueType t, FieldCodec c) {
  if (t == T::kNull || c == FieldCodec::kText || c == FieldCodec::kBpchar) return true;
  switch (c) {
    case FieldCodec::kInt2:
    case FieldCodec::kInt4:
    case FieldCodec::kInt8:
    case FieldCodec::kFloat4:
    case FieldCodec::kFloat8:
    case FieldCodec::kNumeric:
      return t == T::kInt || t == T::kNumeric || t == T::kFloat;
    case FieldCodec::kBool:
      return t == T::kBool;
    case FieldCodec::kTimestamp:
    case FieldCodec::kTimestampTz:
    case FieldCodec::kDate:
      return t == T::kTimestamp;
    case FieldCodec::kJsonb:
    case FieldCodec::kJson:
      return t == T::kJson;
    case FieldCodec::kUuid:
      return t == T::kText;
    case FieldCodec::kText:
    case FieldCodec::kBpchar:
      return true;
  }
  return false;
}

std::string encode_numeric(std::string_view canonical) {
  std::string out;
  auto header = [&](std::int16_t ndigits, std::int16_t weight, std::uint16_t sign,
                    std::int16_t dscale) {
    put_be16(&out, ndigits);
    put_be16(&out, weight);
    put_be16(&out, static_cast<std::int16_t>(sign));
    put_be16(&out, dscale);
  };
  if (canonical == "NaN") {
    header(0, 0, kNumericNaN, 0);
    return out;
  }
  if (canonical == "Infinity" || canonical == "-Infinity") {
    header(0, 0, canonical[0] == '-' ? kNumericMinusInf : kNumericPlusInf, 0);
    return out;
  }
  const bool negative = !canonical.empty() && canonical[0] == '-';
  if (negative) canonical.remove_prefix(1);
  auto dot = canonical.find('.');
  std::string ip(canonical.substr(0, dot));
  std::string fp = dot == std::string_view::npos ? "" : std::string(canonical.substr(dot + 1));
  const auto dscale = static_cast<std::int16_t>(fp.size());
  if (ip == "0") ip.clear();
  ip.insert(0, (4 - ip.size() % 4) % 4, '0');
  fp.append((4 - fp.size() % 4) % 4, '0');
  // Base-10000 digits, four decimal digits each: integer part, then fraction.
  const std::string digits = ip + fp;
  std::vector<std::int16_t> groups(digits.size() / 4);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const char* d = digits.data() + 4 * g;
    groups[g] = static_cast<std::int16_t>((d[0] - '0') * 1000 + (d[1] - '0') * 100 +
                                          (d[2] - '0') * 10 + (d[3] - '0'));
  }
  auto weight = static_cast<int>(ip.size() / 4) - 1;
  std::size_t first = 0;
  while (first < groups.size() && groups[first] == 0) {
    ++first;
    --weight;
  }
  std::size_t last = groups.size();
  while (last > first && groups[last - 1] == 0) --last;
  if (first == last) {
    header(0, 0, kNumericPositive, dscale);
    return out;
  }
  header(static_cast<std::int16_t>(last - first), static_cast<std::int16_t>(weight),
         negative ? kNumericNegative : kNumericPositive, dscale);
  for (std::size_t i = first; i < last; ++i) put_be16(&out, groups[i]);
  return out;
}

Result<std::string> decode_numeric(std::string_view b) {
  if (b.size() < 8) return bad_length("numeric", b.size());
  const int ndigits = get_be16(b.data());
  const int weight = get_be16(b.data() + 2);
  const auto sign = static_cast<std::uint16_t>(get_be16(b.data() + 4));
  const int dscale = get_be16(b.data() + 6);
  if (sign == kNumericNaN) return std::string("NaN");
  if (sign == kNumericPlusInf) return std::string("Infinity");
  if (sign == kNumericMinusInf) return std::string("-Infinity");
  if (ndigits < 0 || b.size() != 8 + 2 * static_cast<std::size_t>(ndigits))
    return bad_length("numeric", b.size());
  // What numeric_recv refuses (found by tests/fuzz/copy_reader_fuzz.cpp: a negative scale
  // resized the fraction to 2^64 bytes).
  if (sign != kNumericPositive && sign != kNumericNegative) {
    return Status::failed("a numeric field with an invalid sign");
  }
  if (dscale < 0 || dscale > kNumericMaxScale) {
    return Status::failed("a numeric field with an invalid scale " + std::to_string(dscale));
  }
  for (int i = 0; i < ndigits; ++i) {
    if (const int d = get_be16(b.data() + 8 + 2 * i); d < 0 || d >= 10000) {
      return Status::failed("a numeric field with an invalid digit group " + std::to_string(d));
    }
  }
  auto digit = [&](int i) -> int {
    return (i >= 0 && i < ndigits) ? get_be16(b.data() + 8 + 2 * i) : 0;
  };
  std::string ip, fp;
  for (int i = 0; i <= weight; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ip.empty() ? "%d" : "%04d", digit(i));
    if (ip.empty() && digit(i) == 0) continue;
    ip += buf;
  }
  for (int i = weight + 1; static_cast<int>(fp.size()) < dscale; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04d", digit(i));
    fp += buf;
  }
  fp.resize(static_cast<std::size_t>(dscale));
  std::string out = sign == kNumericNegative ? "-" : "";
  out += ip.empty() ? "0" : ip;
  if (!fp.empty()) out += "." + fp;
  if (out[0] == '-' && out.find_first_not_of("-0.") == std::string::npos) out.erase(0, 1);
  return out;
}

std::string_view trim_padding(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

Status decode_field_into(FieldCodec c, std::string_view b, Value* out) {
  if (c == FieldCodec::kText || c == FieldCodec::kBpchar || c == FieldCodec::kJson) {
    out->type = c == FieldCodec::kJson ? T::kJson : T::kText;
    out->form = c == FieldCodec::kBpchar ? ValueForm::kPaddedChar
                : c == FieldCodec::kJson ? ValueForm::kJsonText
                                         : ValueForm::kDefault;
    out->s.assign(b);
    return Status::ok();
  }
  BACKFILL_ASSIGN_OR_RETURN(*out, decode_field(c, b));
  return Status::ok();
}

Result<Value> decode_field(FieldCodec c, std::string_view b) {
  switch (c) {
    case FieldCodec::kBpchar:
    case FieldCodec::kText:
    case FieldCodec::kJson: {
      Value v = Value::text(std::string(b));
      if (c == FieldCodec::kJson) {
        v.type = T::kJson;
        v.form = ValueForm::kJsonText;
      }
      if (c == FieldCodec::kBpchar) v.form = ValueForm::kPaddedChar;
      return v;
    }
    case FieldCodec::kJsonb:
      if (b.empty() || b[0] != 1) return Status::failed("a jsonb field of an unknown version");
      return Value::json(std::string(b.substr(1)));
    case FieldCodec::kInt2:
      if (b.size() != 2) return bad_length("smallint", b.size());
      return Value::integer(get_be16(b.data()));
    case FieldCodec::kInt4:
      if (b.size() != 4) return bad_length("integer", b.size());
      return Value::integer(get_be32(b.data()));
    case FieldCodec::kInt8:
      if (b.size() != 8) return bad_length("bigint", b.size());
      return Value::integer(get_be64(b.data()));
    case FieldCodec::kFloat4: {
      if (b.size() != 4) return bad_length("real", b.size());
      auto bits = static_cast<std::uint32_t>(get_be32(b.data()));
      float f;
      std::memcpy(&f, &bits, 4);
      Value v = Value::floating(static_cast<double>(f));
      v.form = ValueForm::kReal;
      return v;
    }
    case FieldCodec::kFloat8: {
      if (b.size() != 8) return bad_length("double precision", b.size());
      auto bits = static_cast<std::uint64_t>(get_be64(b.data()));
      double d;
      std::memcpy(&d, &bits, 8);
      return Value::floating(d);
    }
    case FieldCodec::kNumeric: {
      BACKFILL_ASSIGN_OR_RETURN(std::string d, decode_numeric(b));
      return Value::numeric(std::move(d));
    }
    case FieldCodec::kBool:
      if (b.size() != 1) return bad_length("boolean", b.size());
      return Value::boolean(b[0] != 0);
    case FieldCodec::kTimestamp:
    case FieldCodec::kTimestampTz: {
      if (b.size() != 8) return bad_length("timestamp", b.size());
      Value v = Value::timestamp(get_be64(b.data()));
      if (c == FieldCodec::kTimestamp) v.form = ValueForm::kTimestampNoZone;
      return v;
    }
    case FieldCodec::kDate:
      // Days, whatever the date: one past the timestamp range (dates go to 5874897 AD,
      // timestamps to 294276 AD) is a date still, and fails only where it must become a
      // timestamp, as in PostgreSQL.
      if (b.size() != 4) return bad_length("date", b.size());
      return Value::date(get_be32(b.data()));
    case FieldCodec::kUuid: {
      if (b.size() != 16) return bad_length("uuid", b.size());
      static const char* kHex = "0123456789abcdef";
      std::string s;
      for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
        s.push_back(kHex[static_cast<unsigned char>(b[i]) >> 4]);
        s.push_back(kHex[static_cast<unsigned char>(b[i]) & 15]);
      }
      return Value::text(std::move(s));
    }
  }
  return Status::failed("unknown field codec");
}

Status encode_field(FieldCodec c, int modifier, const Value& v, std::string* out) {
  switch (c) {
    case FieldCodec::kBpchar: {
      const std::size_t start = out->size();
      // A character(n) into one of no length (bpchar) keeps its spaces as they are; into a
      // character(m) it is cut to its text and padded to m.
      if (v.type == T::kText && v.form == ValueForm::kPaddedChar && modifier < 0) {
        out->append(v.s);
        return Status::ok();
      }
      BACKFILL_RETURN_IF_ERROR(encode_field(FieldCodec::kText, -1, v, out));
      const std::int64_t length = utf8_length(std::string_view(*out).substr(start));
      if (modifier > length) out->append(static_cast<std::size_t>(modifier - length), ' ');
      return Status::ok();
    }
    case FieldCodec::kText:
      // As the assignment cast to text: a character(n) loses its padding.
      if (v.type == T::kText && v.form == ValueForm::kPaddedChar) {
        out->append(trim_padding(v.s));
      } else if (v.type == T::kText || v.type == T::kJson || v.type == T::kNumeric) {
        out->append(v.s);
      } else {
        out->append(to_text(v));
      }
      return Status::ok();
    case FieldCodec::kJson:
    case FieldCodec::kJsonb:
      if (v.type != T::kJson)
        return Status::failed(std::string("cannot store ") + value_type_name(v.type) + " as json");
      if (c == FieldCodec::kJsonb) {
        out->push_back(1);
        // A json column's text becomes jsonb's own, as the server would store it: verify
        // compares these bytes with the target's.
        if (v.form == ValueForm::kJsonText) {
          BACKFILL_ASSIGN_OR_RETURN(std::string text, jsonb_text(v.s));
          out->append(text);
          return Status::ok();
        }
      }
      out->append(v.s);
      return Status::ok();
    case FieldCodec::kInt2: {
      BACKFILL_ASSIGN_OR_RETURN(std::int64_t i, as_int(v, INT16_MIN, INT16_MAX, "smallint"));
      put_be16(out, static_cast<std::int16_t>(i));
      return Status::ok();
    }
    case FieldCodec::kInt4: {
      BACKFILL_ASSIGN_OR_RETURN(std::int64_t i, as_int(v, INT32_MIN, INT32_MAX, "integer"));
      put_be32(out, static_cast<std::int32_t>(i));
      return Status::ok();
    }
    case FieldCodec::kInt8: {
      BACKFILL_ASSIGN_OR_RETURN(std::int64_t i, as_int(v, INT64_MIN, INT64_MAX, "bigint"));
      put_be64(out, i);
      return Status::ok();
    }
    case FieldCodec::kFloat4: {
      BACKFILL_ASSIGN_OR_RETURN(double d, as_double(v));
      auto f = static_cast<float>(d);
      // As float8 -> float4: a value past a real's range is an error, not infinity or 0.
      if (std::isinf(f) && !std::isinf(d)) {
        return Status::failed("value out of range for real: overflow (" + float_to_text(d) + ")");
      }
      if (f == 0 && d != 0) {
        return Status::failed("value out of range for real: underflow (" + float_to_text(d) + ")");
      }
      std::uint32_t bits;
      std::memcpy(&bits, &f, 4);
      put_be32(out, static_cast<std::int32_t>(bits));
      return Status::ok();
    }
    case FieldCodec::kFloat8: {
      BACKFILL_ASSIGN_OR_RETURN(double d, as_double(v));
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      put_be64(out, static_cast<std::int64_t>(bits));
      return Status::ok();
    }
    case FieldCodec::kNumeric: {
      std::string d;
      if (v.type == T::kNumeric) {
        d = v.s;
      } else if (v.type == T::kInt) {
        d = std::to_string(v.i);
      } else if (v.type == T::kFloat) {
        d = v.form == ValueForm::kReal ? real_to_decimal(static_cast<float>(v.f))
                                       : float_to_decimal(v.f);
      } else {
        return Status::failed(std::string("cannot store ") + value_type_name(v.type) +
                              " as numeric");
      }
      if (modifier >= 0) d = round_decimal(d, modifier);
      out->append(encode_numeric(d));
      return Status::ok();
    }
    case FieldCodec::kBool:
      if (v.type != T::kBool)
        return Status::failed(std::string("cannot store ") + value_type_name(v.type) +
                              " as boolean");
      out->push_back(v.b ? 1 : 0);
      return Status::ok();
    case FieldCodec::kTimestamp:
    case FieldCodec::kTimestampTz: {
      if (v.type != T::kTimestamp)
        return Status::failed(std::string("cannot store ") + value_type_name(v.type) +
                              " as a timestamp");
      BACKFILL_ASSIGN_OR_RETURN(std::int64_t micros, timestamp_micros(v));
      put_be64(out, micros);
      return Status::ok();
    }
    case FieldCodec::kDate: {
      if (v.type != T::kTimestamp)
        return Status::failed(std::string("cannot store ") + value_type_name(v.type) +
                              " as a date");
      std::int32_t days;
      if (v.form == ValueForm::kDate) {
        days = static_cast<std::int32_t>(v.i);  // read from a date: in a date's range
      } else if (v.i == kTimestampInfinity) {
        days = INT32_MAX;
      } else if (v.i == kTimestampMinusInfinity) {
        days = INT32_MIN;
      } else {
        std::int64_t d = v.i / 86400000000LL;
        if (v.i % 86400000000LL < 0) --d;  // a date is the day the instant falls on
        days = static_cast<std::int32_t>(d);
      }
      put_be32(out, days);
      return Status::ok();
    }
    case FieldCodec::kUuid: {
      const std::string s = v.type == T::kText ? v.s : to_text(v);
      std::string bytes;
      int hi = -1;
      for (char ch : s) {
        if (ch == '-' || ch == '{' || ch == '}') continue;
        int d = hex_digit(ch);
        if (d < 0) return Status::failed("invalid input syntax for type uuid: \"" + s + "\"");
        if (hi < 0) {
          hi = d;
        } else {
          bytes.push_back(static_cast<char>(hi << 4 | d));
          hi = -1;
        }
      }
      if (bytes.size() != 16 || hi >= 0)
        return Status::failed("invalid input syntax for type uuid: \"" + s + "\"");
      out->append(bytes);
      return Status::ok();
    }
  }
  return Status::failed("unknown field codec");
}

}  // namespace backfill
