#include "engine/jobs/report.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>

namespace backfill {

std::string json_text(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  json_[key] = value;
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, std::int64_t value) {
  json_[key] = value;
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, double value) {
  // Milliseconds are what a report's seconds and rates can honestly claim.
  json_[key] = std::isfinite(value) ? Json(std::round(value * 1000) / 1000) : Json(nullptr);
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, bool value) {
  json_[key] = value;
  return *this;
}
JsonObject& JsonObject::add(const std::string& key, Json value) {
  json_[key] = std::move(value);
  return *this;
}

Status write_report(const std::string& path, const std::string& json) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::failed("cannot write report " + tmp);
    f << json;
    if (!f.flush()) return Status::failed("cannot write report " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::failed("cannot move report into place at " + path);
  }
  return Status::ok();
}

}  // namespace backfill
