// Job files on any bytes: the syntax check (toml++), CLI11's reading of the options, and
// the per-table sections must accept a file or refuse it with a message, never crash.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/job_file.hpp"
#include "cli/options.hpp"

using namespace backfill;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/backfill_job_fuzz_" + std::to_string(getpid()) + ".toml";
  static const struct Cleanup {
    ~Cleanup() { std::remove(path.c_str()); }
  } cleanup;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  Status checked = cli::check_job_file(path);
  if (!checked.is_ok()) {
    if (checked.message().find(path) == std::string::npos) std::abort();  // names the file
    return 0;
  }
  // What main() does next with a file that passed: CLI11 reads the options, then the
  // per-table sections of each subcommand.
  try {
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    (void)CLI::ConfigTOML().from_config(in);
  } catch (const CLI::Error&) {
  }
  for (const auto& section : {std::vector<std::string>{"copy"}, {"verify"}, {"plan"}}) {
    cli::CopyOptions o;
    (void)cli::read_table_sections(path, section, &o);
  }
  return 0;
}
