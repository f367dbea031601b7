// The job file (--config FILE, TOML): where on the command line it may be given, and its
// syntax checked before CLI11 reads its options.
//
// CLI11 takes --config only before the subcommand, and reads TOML leniently: a line it
// cannot parse is dropped, and the user then hears of a missing --source instead of the
// broken line. So the file is first parsed by a TOML library that names the line, and a
// --config given after the subcommand is moved in front of it. Plain functions.
#pragma once

#include <string>
#include <vector>

#include "engine/util/status.hpp"

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

}  // namespace backfill::cli
