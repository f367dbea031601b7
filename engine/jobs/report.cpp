#include "engine/jobs/report.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>

namespace backfill {

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
  return add_raw(key, json_escape(value));
}
JsonObject& JsonObject::add(const std::string& key, std::int64_t value) {
  return add_raw(key, std::to_string(value));
}
JsonObject& JsonObject::add(const std::string& key, double value) {
  if (!std::isfinite(value)) return add_raw(key, "null");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", value);
  return add_raw(key, buf);
}
JsonObject& JsonObject::add(const std::string& key, bool value) {
  return add_raw(key, value ? "true" : "false");
}
JsonObject& JsonObject::add_raw(const std::string& key, std::string json) {
  fields_.emplace_back(key, std::move(json));
  return *this;
}

std::string JsonObject::str() const {
  std::string out = "{";
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    out += (i == 0 ? "\n  " : ",\n  ") + json_escape(fields_[i].first) + ": " + fields_[i].second;
  }
  return out + "\n}\n";
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
