#include "cli/job_file.hpp"

#include <toml++/toml.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace backfill::cli {
namespace {
constexpr std::string_view kConfig = "--config";
}  // namespace

std::vector<std::string> hoist_config(std::vector<std::string> args) {
  std::vector<std::string> config, rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (a == kConfig && i + 1 < args.size()) {
      config.push_back(a);
      config.push_back(args[++i]);
    } else if (a.starts_with(std::string(kConfig) + "=")) {
      config.push_back(a);
    } else {
      rest.push_back(a);
    }
  }
  config.insert(config.end(), rest.begin(), rest.end());
  return config;
}

std::string config_path(const std::vector<std::string>& args) {
  std::string path;
  for (std::size_t i = 0; i < args.size() && args[i] != "--"; ++i) {
    if (args[i] == kConfig && i + 1 < args.size()) {
      path = args[++i];
    } else if (args[i].starts_with(std::string(kConfig) + "=")) {
      path = args[i].substr(kConfig.size() + 1);
    }
  }
  return path;
}

Status check_job_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::invalid("--config " + path +
                           ": cannot read the job file: " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    (void)toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return Status::invalid("--config " + path + ":" + std::to_string(at.line) + ":" +
                           std::to_string(at.column) +
                           ": not a valid job file (TOML): " + std::string(e.description()));
  }
  return Status::ok();
}

}  // namespace backfill::cli
