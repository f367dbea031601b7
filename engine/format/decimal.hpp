// Decimal text as PostgreSQL's numeric prints it, with exact arithmetic on the digits: the
// canonical form, comparison and rounding that --map's numeric values need. Hand-written:
// no library does numeric's text rules (dscale kept, NaN above everything). Pure
// functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace backfill {

// A decimal number's canonical text as PostgreSQL's numeric prints it: "-12.340", "0",
// "NaN", "Infinity". Accepts what numeric_in accepts (spaces around, a sign, digits with
// one point, an exponent). nullopt when it is not a number.
std::optional<std::string> canonical_decimal(std::string_view text);
// -1, 0, 1: a against b, both canonical decimals (NaN sorts above everything, as in
// PostgreSQL).
int compare_decimal(std::string_view a, std::string_view b);
// A canonical decimal rounded half away from zero to `scale` fraction digits.
std::string round_decimal(std::string_view canonical, int scale);

}  // namespace backfill
