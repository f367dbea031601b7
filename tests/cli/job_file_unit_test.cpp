// The job file's place on the command line and its syntax check (cli/job_file.hpp).
#include "cli/job_file.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace backfill::cli {
namespace {

using Args = std::vector<std::string>;

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(JobFile, ConfigAfterTheSubcommandIsMovedInFrontOfIt) {
  EXPECT_EQ(hoist_config({"copy", "--config", "job.toml", "--jobs", "4"}),
            (Args{"--config", "job.toml", "copy", "--jobs", "4"}));
  EXPECT_EQ(hoist_config({"plan", "verify", "--config=job.toml"}),
            (Args{"--config=job.toml", "plan", "verify"}));
  EXPECT_EQ(hoist_config({"--config", "a.toml", "copy"}), (Args{"--config", "a.toml", "copy"}));
  // After "--" nothing is an option.
  EXPECT_EQ(hoist_config({"copy", "--", "--config", "x"}), (Args{"copy", "--", "--config", "x"}));
  // Without a value it stays where it is, for CLI11 to refuse.
  EXPECT_EQ(hoist_config({"copy", "--config"}), (Args{"copy", "--config"}));
}

TEST(JobFile, TheLastConfigIsTheOneRead) {
  EXPECT_EQ(config_path({"--config", "a.toml", "copy"}), "a.toml");
  EXPECT_EQ(config_path({"--config=a.toml", "--config", "b.toml"}), "b.toml");
  EXPECT_EQ(config_path({"copy", "--jobs", "2"}), "");
}

TEST(JobFile, AValidFileIsAccepted) {
  EXPECT_TRUE(check_job_file(write_file("ok.toml",
                                        "[copy]\nsource = \"host=a\"\njobs = 4\n"
                                        "[copy.table.\"public.users\"]\nwhere = \"id > 0\"\n"))
                  .is_ok());
}

// Regression: a malformed job file was reported as "--source is required".
TEST(JobFile, AMalformedFileIsRefusedNamingItsLine) {
  struct Case {
    const char* text;
    const char* where;  // ":LINE:COLUMN:"
  } cases[] = {
      {"[copy]\nsource = \"x\"\ntarget = \n", ":3:10:"},    // no value
      {"[copy\nsource = \"x\"\n", ":1:6:"},                 // an unclosed section
      {"garbage here\n[copy]\nsource = \"a\"\n", ":1:9:"},  // not a key = value
      {"[copy]\ntable = \"users\n", ":2:15:"},              // an unclosed string
      {"[copy]\njobs = 1\njobs = 2\n", ":3:8:"},            // a key given twice
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const std::string path = write_file("bad.toml", c.text);
    Status st = check_job_file(path);
    EXPECT_EQ(st.kind(), ErrorKind::kInvalid);
    EXPECT_EQ(st.message().rfind("--config " + path + c.where, 0), 0u) << st.message();
    EXPECT_NE(st.message().find("not a valid job file"), std::string::npos) << st.message();
  }
}

TEST(JobFile, AMissingFileIsRefusedNamingIt) {
  Status st = check_job_file("/nonexistent/job.toml");
  EXPECT_EQ(st.kind(), ErrorKind::kInvalid);
  EXPECT_EQ(st.message(),
            "--config /nonexistent/job.toml: cannot read the job file: No such file or directory");
}

}  // namespace
}  // namespace backfill::cli
