// A strict reader of Prometheus' text exposition format (version 0.0.4), for tests that
// check what backfill writes for node_exporter's textfile collector and serves on /metrics.
// Debian packages no promtool; this follows the format's specification:
//   # HELP name docstring
//   # TYPE name counter|gauge|histogram|summary|untyped   (before the family's samples)
//   name{label="value",...} value [timestamp]
// Metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values
// with \\, \" and \n escapes, values as Go's ParseFloat reads them (NaN, +Inf, -Inf too).
#pragma once

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace backfill::testing {

struct Exposition {
  // "name{a=\"1\",b=\"2\"}" (labels sorted) -> value.
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family -> type
  std::vector<std::string> errors;           // "line N: what is wrong"
  bool ok() const { return errors.empty(); }
  // The value of `series` ("name{...}" as in `samples`), or NaN when absent.
  double at(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? std::nan("") : it->second;
  }
  // The sum over every series of metric `name`.
  double sum(const std::string& name) const {
    double s = 0;
    for (const auto& [k, v] : samples) {
      if (k == name || k.rfind(name + "{", 0) == 0) s += v;
    }
    return s;
  }
};

namespace prometheus_text_detail {

inline bool name_start(char c, bool metric) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (metric && c == ':');
}
inline bool name_char(char c, bool metric) {
  return name_start(c, metric) || std::isdigit(static_cast<unsigned char>(c));
}
inline bool read_name(const std::string& s, std::size_t* at, bool metric, std::string* out) {
  std::size_t i = *at;
  if (i >= s.size() || !name_start(s[i], metric)) return false;
  while (i < s.size() && name_char(s[i], metric)) ++i;
  *out = s.substr(*at, i - *at);
  *at = i;
  return true;
}
inline bool read_value(const std::string& text, double* out) {
  if (text == "NaN") return *out = std::nan(""), true;
  if (text == "+Inf" || text == "Inf") return *out = INFINITY, true;
  if (text == "-Inf") return *out = -INFINITY, true;
  if (text.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}
// The family a sample belongs to: a histogram's _bucket, _sum and _count are its own.
inline std::string family_of(const std::string& name, const std::map<std::string, std::string>& t) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = t.find(base);
      if (it != t.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace prometheus_text_detail

inline Exposition parse_exposition(const std::string& text) {
  namespace d = prometheus_text_detail;
  Exposition e;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  std::set<std::string> seen_families;
  auto fail = [&](const std::string& why) {
    e.errors.push_back("line " + std::to_string(n) + ": " + why + ": " + line);
  };
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line.substr(1));
      std::string kind, name, rest;
      words >> kind >> name;
      if (kind == "TYPE") {
        words >> rest;
        static const std::set<std::string> kKnownTypes = {"counter", "gauge", "histogram",
                                                          "summary", "untyped"};
        if (!kKnownTypes.count(rest)) fail("unknown type");
        if (e.types.count(name)) fail("second TYPE for the family");
        if (seen_families.count(name)) fail("TYPE after the family's samples");
        e.types[name] = rest;
      }
      continue;
    }
    std::size_t at = 0;
    std::string name;
    if (!d::read_name(line, &at, true, &name)) {
      fail("no metric name");
      continue;
    }
    std::map<std::string, std::string> labels;
    bool bad = false;
    if (at < line.size() && line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        std::string label;
        if (!d::read_name(line, &at, false, &label) || at + 1 >= line.size() || line[at] != '=' ||
            line[at + 1] != '"') {
          bad = true;
          break;
        }
        at += 2;
        std::string value;
        while (at < line.size() && line[at] != '"') {
          if (line[at] == '\\') {
            if (at + 1 >= line.size()) break;
            const char c = line[at + 1];
            if (c != '\\' && c != '"' && c != 'n') {
              bad = true;
              break;
            }
            value += c == 'n' ? '\n' : c;
            at += 2;
          } else {
            value += line[at++];
          }
        }
        if (bad || at >= line.size()) {
          bad = true;
          break;
        }
        ++at;  // the closing quote
        if (labels.count(label)) bad = true;
        labels[label] = value;
        if (at < line.size() && line[at] == ',') ++at;
      }
      if (bad || at >= line.size() || line[at] != '}') {
        fail("malformed labels");
        continue;
      }
      ++at;
    }
    if (at >= line.size() || line[at] != ' ') {
      fail("no space before the value");
      continue;
    }
    std::istringstream rest(line.substr(at + 1));
    std::string value_text, timestamp;
    rest >> value_text >> timestamp;
    double value = 0;
    if (!d::read_value(value_text, &value)) {
      fail("value is not a number");
      continue;
    }
    const std::string family = d::family_of(name, e.types);
    seen_families.insert(family);
    auto type = e.types.find(family);
    if (type == e.types.end()) {
      fail("sample before its family's TYPE");
    } else if (type->second == "counter" && !(value >= 0)) {
      fail("a counter below zero");
    }
    std::string key = name;
    if (!labels.empty()) {
      key += "{";
      bool first = true;
      for (const auto& [k, v] : labels) {
        key += (first ? "" : ",") + k + "=\"" + v + "\"";
        first = false;
      }
      key += "}";
    }
    if (e.samples.count(key)) fail("the same series twice");
    e.samples[key] = value;
  }
  return e;
}

}  // namespace backfill::testing
