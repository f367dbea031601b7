#include "cli/job_file.hpp"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace backfill::cli {
namespace {
constexpr std::string_view kConfig = "--config";

// The subcommands whose job-file section may hold per-table sections, `[copy.table."NAME"]`
// (main.cpp reads them for these), and the keys such a section takes (read_table_sections).
const std::vector<std::vector<std::string>> kTableSectionCommands = {
    {"copy"}, {"verify"}, {"plan"}, {"plan", "verify"}, {"tune"}};
const std::vector<std::string> kTableSectionKeys = {"key", "columns", "where", "map",
                                                    "source-expr"};

class JobFileFormat final : public CLI::ConfigBase {
 public:
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::vector<CLI::ConfigItem> read = CLI::ConfigBase::from_config(input);
    for (CLI::ConfigItem& item : read) {
      if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
      std::replace(item.name.begin(), item.name.end(), '_', '-');
    }
    return read;
  }
};

// Levenshtein distance, for the nearest valid key: a dozen lines no library of ours has.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

const CLI::App* subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

// The options a job file can set in `app`'s section, by their names without the dashes.
std::vector<std::string> keys_of(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_configurable()) continue;
    for (const std::string& name : opt->get_lnames()) {
      if (name != "help" && name != "config") out.push_back(name);
    }
  }
  return out;
}

// The subcommands (by section name, "plan.verify") other than `except` that take `key`.
void owners_of(const CLI::App& app, const std::string& path, const std::string& key,
               const std::string& except, std::vector<std::string>* out) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string name = path.empty() ? sub->get_name() : path + "." + sub->get_name();
    const std::vector<std::string> keys = keys_of(*sub);
    if (name != except && std::find(keys.begin(), keys.end(), key) != keys.end()) {
      out->push_back(name);
    }
    owners_of(*sub, name, key, except, out);
  }
}

std::string join_dotted(const std::vector<std::string>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) out += (out.empty() ? "" : ".") + parts[i];
  return out;
}

// What other tools call an option of ours, for the hint.
const std::vector<std::pair<std::string, std::string>> kOtherNames = {
    {"filter", "where"},          {"query", "where"},          {"threads", "jobs"},
    {"workers", "jobs"},          {"parallel", "jobs"},        {"chunk-size", "chunk-rows"},
    {"batch-size", "chunk-rows"}, {"conflict", "on-conflict"}, {"table-name", "table"}};

// "; did you mean 'jobs'?" when a key is that close to `key` (or is what other tools call
// `key`), otherwise the nearest named.
std::string nearest(const std::string& key, const std::vector<std::string>& valid) {
  for (const auto& [other, ours] : kOtherNames) {
    if (key == other && std::find(valid.begin(), valid.end(), ours) != valid.end()) {
      return "; did you mean '" + ours + "'?";
    }
  }
  const std::string* best = nullptr;
  std::size_t best_distance = 0;
  for (const std::string& v : valid) {
    const std::size_t d = edit_distance(key, v);
    if (best == nullptr || d < best_distance) {
      best = &v;
      best_distance = d;
    }
  }
  if (best == nullptr) return "";
  return best_distance <= std::max<std::size_t>(2, key.size() / 3)
             ? "; did you mean '" + *best + "'?"
             : "; the nearest is '" + *best + "'";
}
}  // namespace

std::shared_ptr<CLI::Config> job_file_format() { return std::make_shared<JobFileFormat>(); }

Status check_job_file_keys(const std::string& path, const CLI::App& app) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = JobFileFormat().from_file(path);
  } catch (const CLI::Error& e) {
    return Status::invalid("--config " + path + ": " + e.what());
  }
  for (const CLI::ConfigItem& item : items) {
    // A section's opening marker: its name is checked even when it holds no key.
    const bool opening = item.name == "++";
    if (item.name == "--") continue;
    const std::vector<std::string>& parents = item.parents;
    // The subcommand the section names, as far as its parts are subcommands.
    const CLI::App* section = &app;
    std::size_t depth = 0;
    while (depth < parents.size()) {
      const CLI::App* sub = subcommand(*section, parents[depth]);
      if (sub == nullptr) break;
      section = sub;
      ++depth;
    }
    const std::string command = join_dotted(parents, 0, depth);
    const std::string where =
        "--config " + path + ": [" + join_dotted(parents, 0, parents.size()) + "]";
    if (depth < parents.size()) {
      const std::vector<std::string> head(parents.begin(), parents.begin() + depth);
      const bool tables_here = std::find(kTableSectionCommands.begin(), kTableSectionCommands.end(),
                                         head) != kTableSectionCommands.end();
      // (CLI11 opens [copy.table."x"] level by level: [copy.table] is opened on the way.)
      if (parents[depth] != "table" || (depth + 1 >= parents.size() && !opening) || !tables_here) {
        std::vector<std::string> sections;
        for (const auto& c : kTableSectionCommands) {
          if (c == head) sections.push_back("table.\"NAME\"");
        }
        for (const CLI::App* sub : section->get_subcommands([](const CLI::App*) { return true; })) {
          sections.push_back(sub->get_name());
        }
        return Status::invalid(
            where + ": no such section" +
            (command.empty()
                 ? " (a section is named after its subcommand)" + nearest(parents[0], sections)
                 : " of [" + command + "]" +
                       (sections.empty() ? std::string(", which has no sections of its own")
                                         : nearest(parents[depth], sections))));
      }
      if (!opening && std::find(kTableSectionKeys.begin(), kTableSectionKeys.end(), item.name) ==
                          kTableSectionKeys.end()) {
        return Status::invalid(where + ": '" + item.name +
                               "' is not a key of a table's section (key, columns, where, "
                               "map, source-expr)" +
                               nearest(item.name, kTableSectionKeys));
      }
      continue;
    }
    if (opening) continue;
    const std::vector<std::string> valid = keys_of(*section);
    if (std::find(valid.begin(), valid.end(), item.name) != valid.end()) continue;
    if (command.empty()) {
      return Status::invalid("--config " + path + ": '" + item.name +
                             "' is outside any section; put it under its subcommand's, "
                             "[copy], [verify], [update], ...");
    }
    std::vector<std::string> owners;
    owners_of(app, "", item.name, command, &owners);
    std::string owned;
    for (const std::string& o : owners) owned += (owned.empty() ? "" : ", ") + o;
    return Status::invalid(
        where + ": '" + item.name + "' is not an option of " + command +
        (owners.empty() ? nearest(item.name, valid) : " (it is one of " + owned + ")"));
  }
  return Status::ok();
}

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
