#include "engine/format/civil_time.hpp"

#include <cstdio>

namespace backfill {

std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468 - 10957;  // 10957: days from 1970-01-01 to 2000-01-01
}

CivilTime civil_from_days(std::int64_t days) {
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
  return t;
}

CivilTime civil_from_micros(std::int64_t micros) {
  constexpr std::int64_t kDay = 86400LL * 1000000;
  std::int64_t days = micros / kDay;
  std::int64_t rem = micros % kDay;
  if (rem < 0) {
    rem += kDay;
    --days;
  }
  CivilTime t = civil_from_days(days);
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

std::string date_to_text(std::int64_t days) {
  if (days == kDateInfinity) return "infinity";
  if (days == kDateMinusInfinity) return "-infinity";
  // By days, not microseconds: a date past the timestamp range has none that fit.
  const CivilTime t = civil_from_days(days);
  const bool bc = t.year <= 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d%s",
                static_cast<long long>(bc ? 1 - t.year : t.year), t.month, t.day, bc ? " BC" : "");
  return buf;
}

Result<std::int64_t> date_micros(std::int64_t days) {
  if (days == kDateInfinity) return kTimestampInfinity;
  if (days == kDateMinusInfinity) return kTimestampMinusInfinity;
  if (days < kFirstTimestampDay || days >= kEndTimestampDay) {
    return Status::failed("date out of range for timestamp: " + date_to_text(days));
  }
  return days * 86400000000LL;
}

std::string timestamp_to_text(std::int64_t micros, bool with_zone) {
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
  if (with_zone) out += "+00";
  if (bc) out += " BC";
  return out;
}

}  // namespace backfill
