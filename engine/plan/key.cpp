#include "engine/plan/key.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

namespace backfill {
namespace {

int sign_of(int v) { return (v > 0) - (v < 0); }

int compare_integers(std::string_view a, std::string_view b) {
  std::int64_t x = 0, y = 0;
  std::from_chars(a.data(), a.data() + a.size(), x);
  std::from_chars(b.data(), b.data() + b.size(), y);
  return (x > y) - (x < y);
}

// Compares two non-negative decimal magnitudes "123.450".
int compare_magnitudes(std::string_view a, std::string_view b) {
  auto split = [](std::string_view s) {
    auto dot = s.find('.');
    std::string_view i = s.substr(0, dot);
    std::string_view f = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
    while (i.size() > 1 && i.front() == '0') i.remove_prefix(1);
    while (!f.empty() && f.back() == '0') f.remove_suffix(1);
    return std::pair{i, f};
  };
  auto [ai, af] = split(a);
  auto [bi, bf] = split(b);
  if (ai.size() != bi.size()) return ai.size() < bi.size() ? -1 : 1;
  if (int c = ai.compare(bi); c != 0) return sign_of(c);
  return sign_of(af.compare(bf));  // trailing zeros stripped, so plain order is numeric order
}

int compare_numerics(std::string_view a, std::string_view b) {
  // PostgreSQL orders NaN above every number and equal to itself.
  bool an = a == "NaN", bn = b == "NaN";
  if (an || bn) return an == bn ? 0 : (an ? 1 : -1);
  bool aneg = !a.empty() && a.front() == '-', bneg = !b.empty() && b.front() == '-';
  if (aneg) a.remove_prefix(1);
  if (bneg) b.remove_prefix(1);
  int mag = compare_magnitudes(a, b);
  if (mag == 0 && aneg != bneg) {
    return 0;  // -0 == 0
  }
  if (aneg != bneg) return aneg ? -1 : 1;
  return aneg ? -mag : mag;
}

// ISO dates and timestamps order as text once infinities and BC years are handled.
int compare_datetimes(std::string_view a, std::string_view b) {
  auto rank = [](std::string_view s) {
    if (s == "-infinity") return -2;
    if (s == "infinity") return 2;
    return s.ends_with(" BC") ? -1 : 0;
  };
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (ra == 2 || ra == -2) return 0;
  int c = sign_of(a.compare(b));
  return ra == -1 ? -c : c;  // BC years count down
}

}  // namespace

std::optional<KeyType> key_type_of(TypeKind kind) {
  switch (kind) {
    case TypeKind::kInt2:
    case TypeKind::kInt4:
    case TypeKind::kInt8:
      return KeyType::kInteger;
    case TypeKind::kNumeric:
      return KeyType::kNumeric;
    case TypeKind::kText:
    case TypeKind::kName:
    case TypeKind::kChar:
      return KeyType::kText;
    case TypeKind::kUuid:
      return KeyType::kUuid;
    case TypeKind::kDate:
      return KeyType::kDate;
    case TypeKind::kTimestamp:
    case TypeKind::kTimestampTz:
      return KeyType::kTimestamp;
    default:
      return std::nullopt;
  }
}

int compare_key_values(KeyType type, std::string_view a, std::string_view b) {
  switch (type) {
    case KeyType::kInteger:
      return compare_integers(a, b);
    case KeyType::kNumeric:
      return compare_numerics(a, b);
    case KeyType::kDate:
    case KeyType::kTimestamp:
      return compare_datetimes(a, b);
    case KeyType::kText:
    case KeyType::kUuid:
      return sign_of(a.compare(b));
  }
  return 0;
}

int compare_keys(const std::vector<KeyType>& types, const Key& a, const Key& b) {
  for (std::size_t i = 0; i < types.size() && i < a.size() && i < b.size(); ++i) {
    if (int c = compare_key_values(types[i], a[i], b[i]); c != 0) return c;
  }
  return 0;
}

std::string format_key(const std::vector<std::string>& columns, const Key& key) {
  std::string names, values;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i > 0) {
      names += ", ";
      values += ", ";
    }
    names += i < columns.size() ? columns[i] : "?";
    values += key[i];
  }
  return "(" + names + ")=(" + values + ")";
}

}  // namespace backfill
