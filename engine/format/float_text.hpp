// Doubles as PostgreSQL prints them: float8's text and the cast of float8 to numeric.
// Pure functions; thread-safe.
#pragma once

#include <string>

namespace backfill {

// A double as PostgreSQL prints float8 with extra_float_digits > 0: the shortest text that
// reads back exactly, fixed notation for exponents -4..14, otherwise "1.5e+20".
std::string float_to_text(double v);
// A real as PostgreSQL prints float4: the shortest text that reads back as the same float,
// fixed notation for exponents -4..5, otherwise "1e+06".
std::string real_to_text(float v);

// A double as a canonical decimal, the way PostgreSQL casts float8 to numeric: 15
// significant digits.
std::string float_to_decimal(double v);
// A real as a canonical decimal, as PostgreSQL casts float4 to numeric: 6 significant digits.
std::string real_to_decimal(float v);

}  // namespace backfill
