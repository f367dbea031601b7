// The job file (--config FILE, TOML): where on the command line it may be given, and its
// syntax checked before CLI11 reads its options.
//
// CLI11 takes --config only before the subcommand, and reads TOML leniently: a line it
// cannot parse is dropped, and the user then hears of a missing --source instead of the
// broken line. So the file is first parsed by a TOML library that names the line, and a
// --config given after the subcommand is moved in front of it. Plain functions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/util/status.hpp"

namespace CLI {
class App;
class Config;
}  // namespace CLI

namespace backfill::cli {

// `args` (argv without argv[0]) with every --config option moved to the front, so that
// `backfill copy --config FILE` means `backfill --config FILE copy`. Nothing after "--" is
// touched.
std::vector<std::string> hoist_config(std::vector<std::string> args);

// The value of the last --config in `args` ("" without one), the one CLI11 reads.
std::string config_path(const std::vector<std::string>& args);

// The file readable and valid TOML: otherwise kInvalid naming the file and, for a syntax
// error, its line and column.
Status check_job_file(const std::string& path);

// How the job file is read: CLI11's TOML reader, each key written with '_' taken as with
// '-' (`on_conflict` is `on-conflict`). CLI11 2.1 matches keys to options by their exact
// names and drops the others, so this is done here.
std::shared_ptr<CLI::Config> job_file_format();

// Every key of the job file an option of its section's subcommand (or, in a per-table
// section `[copy.table."NAME"]`, one a table's section takes), and every section a
// subcommand: otherwise kInvalid naming the file, the section and the key, the nearest
// valid key, and the subcommand the key belongs to if it is another's. `app` is the
// command line as defined, before parsing.
Status check_job_file_keys(const std::string& path, const CLI::App& app);

}  // namespace backfill::cli
