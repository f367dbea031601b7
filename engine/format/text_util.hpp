// UTF-8 and number helpers shared by the built-in functions and the binary codecs.
// Pure functions on their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace backfill {

// Appends code point `cp` as UTF-8.
void append_utf8(std::string* out, std::uint32_t cp);
// Number of code points in valid UTF-8 (continuation bytes are not counted).
std::int64_t utf8_length(std::string_view s);
// Byte offset of code point `n` (0-based), or s.size() when the text is shorter.
std::size_t utf8_offset(std::string_view s, std::int64_t n);
// Case mapping of ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic letters: what
// PostgreSQL's lower()/upper() do in a UTF-8 database for those scripts.
std::string utf8_lower(std::string_view s);
std::string utf8_upper(std::string_view s);
// The same in place; ASCII text (the common case) is mapped without a copy.
void utf8_lower_in_place(std::string* s);
void utf8_upper_in_place(std::string* s);

// A decimal number's canonical text as PostgreSQL's numeric prints it: "-12.340", "0",
// "NaN", "Infinity". Accepts what numeric_in accepts (spaces around, a sign, digits with
// one point, an exponent). nullopt when it is not a number.
std::optional<std::string> canonical_decimal(std::string_view text);
// -1, 0, 1: a against b, both canonical decimals (NaN sorts above everything, as in
// PostgreSQL).
int compare_decimal(std::string_view a, std::string_view b);
// A canonical decimal rounded half away from zero to `scale` fraction digits.
std::string round_decimal(std::string_view canonical, int scale);

// A double as PostgreSQL prints float8 with extra_float_digits > 0: the shortest text that
// reads back exactly, fixed notation for exponents -4..14, otherwise "1.5e+20".
std::string float_to_text(double v);

// A double as a canonical decimal, the way PostgreSQL casts float8 to numeric: 15
// significant digits.
std::string float_to_decimal(double v);

// Microseconds since 2000-01-01 UTC <-> civil date and time.
struct CivilTime {
  std::int64_t year = 2000;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0, micros = 0;
};
std::int64_t days_from_civil(std::int64_t y, int m, int d);  // days since 2000-01-01
CivilTime civil_from_micros(std::int64_t micros);
std::int64_t micros_from_civil(const CivilTime& t);
// "2024-06-30 10:00:00.5+00", or "infinity" / "-infinity".
std::string timestamp_to_text(std::int64_t micros);
inline constexpr std::int64_t kTimestampInfinity = INT64_MAX;
inline constexpr std::int64_t kTimestampMinusInfinity = INT64_MIN;

}  // namespace backfill
