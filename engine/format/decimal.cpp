#include "engine/format/decimal.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace backfill {
namespace {

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

}  // namespace backfill
