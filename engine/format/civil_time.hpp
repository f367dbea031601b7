// Civil dates and times against PostgreSQL's timestamp: microseconds since 2000-01-01 UTC.
// Hand-written: std::chrono's calendar covers years -32767..32767, PostgreSQL's timestamp
// 4713 BC to 294276 AD. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace backfill {

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
