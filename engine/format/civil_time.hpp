// Civil dates and times against PostgreSQL's timestamp: microseconds since 2000-01-01 UTC.
// Hand-written: std::chrono's calendar covers years -32767..32767, PostgreSQL's timestamp
// 4713 BC to 294276 AD. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "engine/util/status.hpp"

namespace backfill {

struct CivilTime {
  std::int64_t year = 2000;
  int month = 1, day = 1, hour = 0, minute = 0, second = 0, micros = 0;
};
std::int64_t days_from_civil(std::int64_t y, int m, int d);  // days since 2000-01-01
CivilTime civil_from_days(std::int64_t days);                // the date part; the time is 00:00
CivilTime civil_from_micros(std::int64_t micros);
std::int64_t micros_from_civil(const CivilTime& t);
// "2024-06-30 10:00:00.5+00" ("2024-06-30 10:00:00.5" without the zone, as a timestamp
// without time zone prints), or "infinity" / "-infinity".
std::string timestamp_to_text(std::int64_t micros, bool with_zone = true);
inline constexpr std::int64_t kTimestampInfinity = INT64_MAX;
inline constexpr std::int64_t kTimestampMinusInfinity = INT64_MIN;
// A date: days since 2000-01-01, INT32_MAX / INT32_MIN for infinity / -infinity.
inline constexpr std::int64_t kDateInfinity = INT32_MAX;
inline constexpr std::int64_t kDateMinusInfinity = INT32_MIN;
// The days from 2000-01-01 a timestamp covers, as PostgreSQL's datetime.h bounds them:
// julian day 0 (4714-11-24 BC) to TIMESTAMP_END_JULIAN (294277-01-01), exclusive.
inline constexpr std::int64_t kFirstTimestampDay = -2451545;
inline constexpr std::int64_t kEndTimestampDay = 109203528 - 2451545;
// "2024-06-30", "0001-01-01 BC", "infinity".
std::string date_to_text(std::int64_t days);
// A date's first instant as a timestamp, as date::timestamp: an error past its range.
Result<std::int64_t> date_micros(std::int64_t days);

}  // namespace backfill
