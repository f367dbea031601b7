// The JSON report a run leaves behind (`--report FILE`), written with nlohmann-json.
//
// JsonObject keeps keys in insertion order so reports diff cleanly, rounds seconds and
// rates to milliseconds, and writes NaN and infinities as null. Not thread-safe; the report
// is built once, at the end of a run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/util/status.hpp"

namespace backfill {

// Ordered, so that a report lists its fields in the order a run produced them.
using Json = nlohmann::ordered_json;

// `j` as text: two-space indents, UTF-8 as it is, a byte that is not UTF-8 replaced (a key
// value from a bytea or a misencoded column must not stop the report).
std::string json_text(const Json& j);

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
  JsonObject& add(const std::string& key, Json value);  // a nested object or list
  const Json& json() const { return json_; }
  std::string str() const { return json_text(json_) + "\n"; }

 private:
  Json json_ = Json::object();
};

// Writes `json` to `path` through a temporary file and a rename, so a reader never sees half
// a report.
Status write_report(const std::string& path, const std::string& json);

}  // namespace backfill
