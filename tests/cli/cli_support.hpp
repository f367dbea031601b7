// Shared pieces of the CLI suites: a source and a target database, the copy command line,
// and exact comparison of two tables across databases.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/pg_fixture.hpp"

namespace backfill::testing {

struct SourceAndTarget {
  TestDatabase src{"src"};
  TestDatabase dst{"dst"};

  std::vector<std::string> copy(const std::string& table, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"copy",    "--source", src.dsn(),    "--target", dst.dsn(),
                               "--table", table,      "--progress", "none"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Both tables' rows, sorted by `order`, as text: equal means every value is equal.
  void expect_same(const std::string& src_select, const std::string& dst_select) {
    auto a = src.rows(src_select);
    auto b = dst.rows(dst_select);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "row " << i;
  }

  bool ledger_exists() {
    return dst.value("SELECT to_regclass('backfill.jobs') IS NOT NULL") == "t";
  }
};

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string temp_path(const std::string& name) { return ::testing::TempDir() + name; }

}  // namespace backfill::testing
