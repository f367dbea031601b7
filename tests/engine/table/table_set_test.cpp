#include "engine/table/table_set.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

std::vector<TableName> catalog() {
  return {{"app", "orders", false},    {"app", "order_items", false}, {"app", "Users", false},
          {"public", "orders", true},  {"public", "audit", true},     {"public", "a*b", true},
          {"sales.eu", "leads", false}};
}

std::vector<std::string> chosen(const std::string& include, const std::string& exclude = "") {
  auto in = parse_table_patterns(include, "--tables");
  EXPECT_TRUE(in.ok()) << in.status().message();
  std::vector<TablePattern> ex;
  if (!exclude.empty()) ex = parse_table_patterns(exclude, "--exclude").value();
  auto r = select_tables(catalog(), in.value(), ex);
  if (!r.ok()) return {"error: " + r.status().message()};
  std::vector<std::string> out;
  for (const auto& t : r.value()) out.push_back(t.display());
  return out;
}

TEST(TablePatterns, GlobsMatchAnyRunAndUnquotedNamesFoldToLowerCase) {
  EXPECT_EQ(chosen("app.*"),
            (std::vector<std::string>{"app.orders", "app.order_items", "app.Users"}));
  EXPECT_EQ(chosen("APP.Order*"), (std::vector<std::string>{"app.orders", "app.order_items"}));
  EXPECT_EQ(chosen("*.orders"), (std::vector<std::string>{"app.orders", "public.orders"}));
  EXPECT_EQ(chosen("app.*s"),
            (std::vector<std::string>{"app.orders", "app.order_items", "app.Users"}));
  EXPECT_EQ(chosen("app.*er*s"),
            (std::vector<std::string>{"app.orders", "app.order_items", "app.Users"}));
  EXPECT_EQ(chosen("app.o*r*_*"), std::vector<std::string>{"app.order_items"});
}

TEST(TablePatterns, QuotedPartsKeepCaseAndTakeStarsDotsAndCommasLiterally) {
  EXPECT_EQ(chosen("app.\"Users\""), std::vector<std::string>{"app.Users"});
  EXPECT_EQ(chosen("\"a*b\""), std::vector<std::string>{"public.a*b"});
  EXPECT_EQ(chosen("\"sales.eu\".leads"), std::vector<std::string>{"sales.eu.leads"});
  auto p = parse_table_patterns("\"x,y\", z", "--tables");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p.value().size(), 2u);
  EXPECT_TRUE(p.value()[0].name.matches("x,y"));
}

TEST(TablePatterns, WithoutASchemaTheSearchPathsTablesAreMeant) {
  EXPECT_EQ(chosen("orders"), std::vector<std::string>{"public.orders"});
  EXPECT_EQ(chosen("*"), (std::vector<std::string>{"public.orders", "public.audit", "public.a*b"}));
}

TEST(TablePatterns, ExcludeRemovesAndAPatternThatMatchesNothingIsAnError) {
  EXPECT_EQ(chosen("app.*,public.*", "*.order*,public.a\"*\"b"),
            (std::vector<std::string>{"app.Users", "public.audit"}));
  EXPECT_EQ(chosen("app.*,app.nope"),
            std::vector<std::string>{"error: --tables: 'app.nope' matches no table of the source"});
  EXPECT_EQ(chosen("app.users").front().substr(0, 6), "error:");  // "Users" is not users
  EXPECT_EQ(chosen("app.*", "app.*"),
            std::vector<std::string>{"error: --exclude leaves no table of --tables"});
}

TEST(TablePatterns, MalformedPatternsAreRefusedByName) {
  for (const char* bad : {"a.b.c", "\"open", "a,,b", "a.", ""}) {
    auto p = parse_table_patterns(bad, "--tables");
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().kind(), ErrorKind::kInvalid);
    EXPECT_NE(p.status().message().find("--tables"), std::string::npos) << p.status().message();
  }
}

}  // namespace
}  // namespace backfill
