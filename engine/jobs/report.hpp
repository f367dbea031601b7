// The JSON report a run leaves behind (`--report FILE`), and the small JSON writer it uses.
//
// JsonObject keeps keys in insertion order so reports diff cleanly. Not thread-safe; the
// report is built once, at the end of a run.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill {

std::string json_escape(const std::string& s);

class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& value);
  JsonObject& add(const std::string& key, const char* value) {
    return add(key, std::string(value));
  }
  JsonObject& add(const std::string& key, std::int64_t value);
  JsonObject& add(const std::string& key, int value) {
    return add(key, static_cast<std::int64_t>(value));
  }
  JsonObject& add(const std::string& key, double value);
  JsonObject& add(const std::string& key, bool value);
  JsonObject& add_raw(const std::string& key, std::string json);  // an already encoded value
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Writes `json` to `path` through a temporary file and a rename, so a reader never sees half
// a report.
Status write_report(const std::string& path, const std::string& json);

}  // namespace backfill
