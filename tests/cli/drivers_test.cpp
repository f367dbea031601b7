#include "cli/drivers.hpp"

#include <gtest/gtest.h>

namespace backfill::cli {
namespace {

TEST(Drivers, PicksTheDriverFromTheConnectionString) {
  for (const char* dsn : {"", "host=/tmp port=5432 dbname=app", "postgresql://u@h/db",
                          "postgres://u@h:5433/db", "PostgreSQL://h/db",
                          "host=h options='-c search_path=x://y'"}) {
    auto k = driver_of(dsn);
    ASSERT_TRUE(k.ok()) << dsn;
    EXPECT_EQ(k.value(), DriverKind::kPostgres) << dsn;
  }
  for (const char* dsn : {"mysql://u:p@h:3306/db", "mariadb://u@h/db?socket=/run/m.sock"}) {
    auto k = driver_of(dsn);
    ASSERT_TRUE(k.ok()) << dsn;
    EXPECT_EQ(k.value(), DriverKind::kMysql) << dsn;
  }
  auto bad = driver_of("oracle://scott:tiger@h/db");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"oracle://\""), std::string::npos);
  EXPECT_EQ(bad.status().message().find("tiger"), std::string::npos);
}

TEST(Drivers, RefusesWhatThisBuildCannotUseInEachRole) {
  const std::string my = "mysql://app:pw@h/db";
  EXPECT_TRUE(check_dsn("postgresql://h/db", "--source", DsnRole::kSource).is_ok());
  Status src = check_dsn(my, "--source", DsnRole::kSource);
  EXPECT_EQ(src.kind(), ErrorKind::kInvalid);
  EXPECT_NE(src.message().find("--source: a MySQL/MariaDB source"), std::string::npos);
  EXPECT_NE(check_dsn(my, "--target", DsnRole::kTarget).message().find("must be a PostgreSQL"),
            std::string::npos);
  EXPECT_NE(check_dsn(my, "--state", DsnRole::kState).message().find("ledger"), std::string::npos);
  EXPECT_EQ(check_dsn("host=x port", "--source", DsnRole::kSource).kind(), ErrorKind::kInvalid);
}

}  // namespace
}  // namespace backfill::cli
