#include "engine/format/float_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <type_traits>

#include "engine/format/decimal.hpp"

namespace backfill {

namespace {

// Whether the decimal `sci` ("d.ddde+XX", as to_chars writes it) lies exactly halfway
// between v and a neighbour. Such a text reads back as v when v's mantissa is even (ties go
// to even), so std::to_chars may give it as the shortest; PostgreSQL's Ryu never does, and
// prints one digit more. Tested exactly, with from_chars (correctly rounded at any length):
// a midpoint moved by one unit in its 30th extra digit reads as the neighbour, a text
// inside v's interval does not (unless within 1e-30 of its edge).
template <typename F>
bool is_midpoint(F v, std::string_view sci) {
  const bool negative = sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  const std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+'), sci.data() + sci.size(), exponent);
  auto read = [&](const std::string& d, int exp) {
    const std::string text =
        (negative ? "-" : "") + d.substr(0, 1) + "." + d.substr(1) + "e" + std::to_string(exp);
    F out = 0;
    std::from_chars(text.data(), text.data() + text.size(), out);
    return out;
  };
  constexpr std::size_t kExtra = 30;
  std::string away = digits + std::string(kExtra - 1, '0') + "1";  // |sci| + a tiny bit
  std::string toward = digits + std::string(kExtra, '0');          // |sci| - a tiny bit
  for (std::size_t i = toward.size(); i-- > 0;) {
    if (toward[i] != '0') {
      --toward[i];
      break;
    }
    toward[i] = '9';
  }
  int toward_exponent = exponent;
  if (toward[0] == '0') {  // 1e+23 less a bit is 9.99...e+22
    toward.erase(0, 1);
    --toward_exponent;
  }
  return read(away, exponent) != v || read(toward, toward_exponent) != v;
}

// The shortest round-trip digits of v (a double or a float), printed as PostgreSQL's
// float8out/float4out do: fixed notation for decimal exponents -4 up to `fixed_below`.
template <typename F>
std::string shortest_text(F v, int fixed_below) {
  if (v != v) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
  // Past a midpoint: the shortest text with more digits that is no tie (it reads back as v:
  // correctly rounded to that many digits, v is its nearest).
  for (int after_point = std::max(0, static_cast<int>(sci.find('e')) - 2 - (sci[0] == '-'));
       is_midpoint(v, sci) && after_point < 20; ++after_point) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific, after_point + 1);
    sci = std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
  }
  const bool negative = sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  auto e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+'), sci.data() + sci.size(), exponent);
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= fixed_below) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + ebuf;
  }
  if (exponent < 0) {
    return out + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  }
  const auto int_len = static_cast<std::size_t>(exponent) + 1;
  if (digits.size() <= int_len) return out + digits + std::string(int_len - digits.size(), '0');
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

}  // namespace

std::string float_to_text(double v) { return shortest_text(v, 15); }  // DBL_DIG
std::string real_to_text(float v) { return shortest_text(v, 6); }     // FLT_DIG

std::string real_to_decimal(float v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(v));
  return *canonical_decimal(buf);
}

std::string float_to_decimal(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return *canonical_decimal(buf);
}

}  // namespace backfill
