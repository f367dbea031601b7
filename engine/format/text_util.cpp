#include "engine/format/text_util.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace backfill {
namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes the code point at s[*pos] and advances; invalid bytes come out as themselves.
std::uint32_t next_code_point(std::string_view s, std::size_t* pos) {
  const auto c = static_cast<unsigned char>(s[*pos]);
  int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
  if (extra <= 0 || *pos + static_cast<std::size_t>(extra) >= s.size()) {
    ++*pos;
    return c;
  }
  std::uint32_t cp = c & (0x3Fu >> extra);
  for (int i = 1; i <= extra; ++i) {
    auto b = static_cast<unsigned char>(s[*pos + static_cast<std::size_t>(i)]);
    if (!is_continuation(b)) {
      ++*pos;
      return c;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  *pos += static_cast<std::size_t>(extra) + 1;
  return cp;
}

std::uint32_t lower_cp(std::uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 0x20;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x130) return 'i';
    if (c == 0x178) return 0xFF;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1u) ? c + 1 : c;
    return c;
  }
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  return c;
}

std::uint32_t upper_cp(std::uint32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if (c == 0xB5) return 0x39C;
  if (c >= 0x100 && c <= 0x17F) {
    if (c == 0x131) return 'I';
    if (c == 0x17F) return 'S';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1u) ? c : c - 1;
    return c;
  }
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 37;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 63;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3CB) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

template <typename Map>
std::string map_case(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {  // the common case, without decoding
      out.push_back(static_cast<char>(map(c)));
      ++i;
      continue;
    }
    append_utf8(&out, map(next_code_point(s, &i)));
  }
  return out;
}

struct Decimal {
  bool negative = false;
  std::string int_digits;   // no leading zeros; empty for 0
  std::string frac_digits;  // as printed (dscale digits)
};

Decimal split_decimal(std::string_view c) {
  Decimal d;
  if (!c.empty() && c[0] == '-') {
    d.negative = true;
    c.remove_prefix(1);
  }
  auto dot = c.find('.');
  std::string_view ip = c.substr(0, dot);
  while (!ip.empty() && ip[0] == '0') ip.remove_prefix(1);
  d.int_digits = std::string(ip);
  if (dot != std::string_view::npos) d.frac_digits = std::string(c.substr(dot + 1));
  return d;
}

std::string join_decimal(const Decimal& d) {
  bool zero = d.int_digits.find_first_not_of('0') == std::string::npos &&
              d.frac_digits.find_first_not_of('0') == std::string::npos;
  std::string out = (d.negative && !zero) ? "-" : "";
  out += d.int_digits.empty() ? "0" : d.int_digits;
  if (!d.frac_digits.empty()) out += "." + d.frac_digits;
  return out;
}

}  // namespace

void append_utf8(std::string* out, std::uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::int64_t utf8_length(std::string_view s) {
  std::int64_t n = 0;
  for (char c : s) n += !is_continuation(static_cast<unsigned char>(c));
  return n;
}

std::size_t utf8_offset(std::string_view s, std::int64_t n) {
  if (n <= 0) return 0;
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_continuation(static_cast<unsigned char>(s[i]))) {
      if (seen == n) return i;
      ++seen;
    }
  }
  return s.size();
}

std::string utf8_lower(std::string_view s) { return map_case(s, lower_cp); }
std::string utf8_upper(std::string_view s) { return map_case(s, upper_cp); }

void utf8_lower_in_place(std::string* s) {
  for (char& c : *s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      *s = map_case(*s, lower_cp);
      return;
    }
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
}

void utf8_upper_in_place(std::string* s) {
  for (char& c : *s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      *s = map_case(*s, upper_cp);
      return;
    }
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
}

std::optional<std::string> canonical_decimal(std::string_view t) {
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    }
    return true;
  };
  if (iequals(t, "nan")) return "NaN";
  if (iequals(t, "infinity") || iequals(t, "+infinity") || iequals(t, "inf") || iequals(t, "+inf"))
    return "Infinity";
  if (iequals(t, "-infinity") || iequals(t, "-inf")) return "-Infinity";
  Decimal d;
  std::size_t i = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) d.negative = t[i++] == '-';
  std::string digits;
  std::int64_t int_len = 0;
  bool point = false, any = false;
  for (; i < t.size(); ++i) {
    char c = t[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
      any = true;
      if (!point) ++int_len;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  std::int64_t exponent = 0;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) neg = t[i++] == '-';
    std::size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9' && i - start < 6) {
      exponent = exponent * 10 + (t[i] - '0');
      ++i;
    }
    if (i == start) return std::nullopt;
    if (neg) exponent = -exponent;
  }
  if (i != t.size() || exponent > 1000 || exponent < -1000) return std::nullopt;
  const std::int64_t frac_len = static_cast<std::int64_t>(digits.size()) - int_len;
  const std::int64_t dscale = std::max<std::int64_t>(0, frac_len - exponent);
  const std::int64_t new_int_len = int_len + exponent;
  std::string ip, fp;
  if (new_int_len <= 0) {
    fp = std::string(static_cast<std::size_t>(-new_int_len), '0') + digits;
  } else if (new_int_len >= static_cast<std::int64_t>(digits.size())) {
    ip = digits + std::string(static_cast<std::size_t>(new_int_len) - digits.size(), '0');
  } else {
    ip = digits.substr(0, static_cast<std::size_t>(new_int_len));
    fp = digits.substr(static_cast<std::size_t>(new_int_len));
  }
  fp.resize(static_cast<std::size_t>(dscale), '0');
  std::size_t nz = ip.find_first_not_of('0');
  d.int_digits = nz == std::string::npos ? "" : ip.substr(nz);
  d.frac_digits = fp;
  return join_decimal(d);
}

int compare_decimal(std::string_view a, std::string_view b) {
  auto rank = [](std::string_view x) {
    return x == "NaN" ? 2 : x == "Infinity" ? 1 : x == "-Infinity" ? -1 : 0;
  };
  int ra = rank(a), rb = rank(b);
  if (ra != 0 || rb != 0) return ra < rb ? -1 : ra > rb ? 1 : 0;
  Decimal x = split_decimal(a), y = split_decimal(b);
  auto trim_frac = [](std::string& f) {
    while (!f.empty() && f.back() == '0') f.pop_back();
  };
  trim_frac(x.frac_digits);
  trim_frac(y.frac_digits);
  const bool xz = x.int_digits.empty() && x.frac_digits.empty();
  const bool yz = y.int_digits.empty() && y.frac_digits.empty();
  if (xz) x.negative = false;
  if (yz) y.negative = false;
  if (x.negative != y.negative) return x.negative ? -1 : 1;
  int mag = 0;
  if (x.int_digits.size() != y.int_digits.size()) {
    mag = x.int_digits.size() < y.int_digits.size() ? -1 : 1;
  } else if (int c = x.int_digits.compare(y.int_digits); c != 0) {
    mag = c < 0 ? -1 : 1;
  } else if (int f = x.frac_digits.compare(y.frac_digits); f != 0) {
    mag = f < 0 ? -1 : 1;
  }
  return x.negative ? -mag : mag;
}

std::string round_decimal(std::string_view canonical, int scale) {
  if (canonical == "NaN" || canonical == "Infinity" || canonical == "-Infinity") {
    return std::string(canonical);
  }
  Decimal d = split_decimal(canonical);
  const auto s = static_cast<std::size_t>(std::max(scale, 0));
  if (d.frac_digits.size() <= s) {
    d.frac_digits.resize(s, '0');
    return join_decimal(d);
  }
  const bool up = d.frac_digits[s] >= '5';
  std::string digits = d.int_digits + d.frac_digits.substr(0, s);
  if (up) {
    int i = static_cast<int>(digits.size()) - 1;
    for (; i >= 0; --i) {
      if (digits[static_cast<std::size_t>(i)] == '9') {
        digits[static_cast<std::size_t>(i)] = '0';
      } else {
        ++digits[static_cast<std::size_t>(i)];
        break;
      }
    }
    if (i < 0) digits.insert(digits.begin(), '1');
  }
  d.int_digits = digits.substr(0, digits.size() - s);
  d.frac_digits = digits.substr(digits.size() - s);
  std::size_t nz = d.int_digits.find_first_not_of('0');
  d.int_digits = nz == std::string::npos ? "" : d.int_digits.substr(nz);
  return join_decimal(d);
}

std::string float_to_text(double v) {
  if (v != v) return "NaN";
  if (v == __builtin_inf()) return "Infinity";
  if (v == -__builtin_inf()) return "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
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
  if (exponent < -4 || exponent >= 15) {
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

std::string float_to_decimal(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return *canonical_decimal(buf);
}

std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468 - 10957;  // 10957: days from 1970-01-01 to 2000-01-01
}

CivilTime civil_from_micros(std::int64_t micros) {
  constexpr std::int64_t kDay = 86400LL * 1000000;
  std::int64_t days = micros / kDay;
  std::int64_t rem = micros % kDay;
  if (rem < 0) {
    rem += kDay;
    --days;
  }
  const std::int64_t z = days + 10957 + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  CivilTime t;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = yoe + era * 400 + (t.month <= 2);
  t.hour = static_cast<int>(rem / 3600000000LL);
  t.minute = static_cast<int>(rem / 60000000LL % 60);
  t.second = static_cast<int>(rem / 1000000 % 60);
  t.micros = static_cast<int>(rem % 1000000);
  return t;
}

std::int64_t micros_from_civil(const CivilTime& t) {
  return ((days_from_civil(t.year, t.month, t.day) * 24 + t.hour) * 60 + t.minute) * 60000000LL +
         t.second * 1000000LL + t.micros;
}

std::string timestamp_to_text(std::int64_t micros) {
  if (micros == kTimestampInfinity) return "infinity";
  if (micros == kTimestampMinusInfinity) return "-infinity";
  CivilTime t = civil_from_micros(micros);
  const bool bc = t.year <= 0;
  char buf[80];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02d:%02d:%02d",
                        static_cast<long long>(bc ? 1 - t.year : t.year), t.month, t.day, t.hour,
                        t.minute, t.second);
  std::string out(buf, static_cast<std::size_t>(n));
  if (t.micros != 0) {
    std::snprintf(buf, sizeof buf, ".%06d", t.micros);
    std::string frac(buf);
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  out += "+00";
  if (bc) out += " BC";
  return out;
}

}  // namespace backfill
