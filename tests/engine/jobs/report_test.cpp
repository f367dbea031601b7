#include "engine/jobs/report.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace backfill {
namespace {

TEST(Report, EscapesEverythingJsonCannotCarryRaw) {
  EXPECT_EQ(json_text(Json("a\"b\\c\nd\te\x01")), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(json_text(Json("héllo")), "\"héllo\"");  // UTF-8 passes through
  // A byte that is not UTF-8 (a key from a misencoded column) does not stop the report.
  EXPECT_EQ(json_text(Json(std::string("a\xFF") + "b")),
            "\"a\xEF\xBF\xBD"
            "b\"");
}

TEST(Report, KeepsKeysInOrderAndWritesNumbersAsNumbers) {
  JsonObject o;
  o.add("command", "copy")
      .add("rows", std::int64_t{12})
      .add("ok", true)
      .add("rate", 1.5)
      .add("nan", 0.0 / 0.0);
  EXPECT_EQ(o.str(),
            "{\n  \"command\": \"copy\",\n  \"rows\": 12,\n  \"ok\": true,\n  \"rate\": 1.5,\n  "
            "\"nan\": null\n}\n");
}

TEST(Report, WritesTheFileWholeAndReportsAnUnwritablePath) {
  std::string path = ::testing::TempDir() + "report_test.json";
  ASSERT_TRUE(write_report(path, "{}\n").is_ok());
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "{}\n");
  std::remove(path.c_str());
  EXPECT_FALSE(write_report("/nonexistent-dir/r.json", "{}").is_ok());
}

}  // namespace
}  // namespace backfill
