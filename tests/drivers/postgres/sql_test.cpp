#include "drivers/postgres/sql.hpp"

#include <gtest/gtest.h>

#include "drivers/postgres/connection.hpp"

namespace backfill::pg {
namespace {

TEST(Sql, QuotesIdentifiersAlways) {
  EXPECT_EQ(quote_ident("users"), "\"users\"");
  EXPECT_EQ(quote_ident("we\"ird"), "\"we\"\"ird\"");
  EXPECT_EQ(quote_ident("users; drop table users"), "\"users; drop table users\"");
}

TEST(Sql, QuotesLiterals) { EXPECT_EQ(quote_literal("it's \\ ok"), "'it''s \\ ok'"); }

TEST(Sql, ParsesQualifiedNamesLikeSql) {
  auto a = parse_qualified_name("Public.Users");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a->schema, "public");
  EXPECT_EQ(a->name, "users");
  auto b = parse_qualified_name("\"My Schema\".\"Mixed\"\"Case\"");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b->schema, "My Schema");
  EXPECT_EQ(b->name, "Mixed\"Case");
  auto c = parse_qualified_name("users; drop table users");
  ASSERT_TRUE(c.ok());  // just a name that exists nowhere
  EXPECT_EQ(c->quoted(), "\"users; drop table users\"");
  EXPECT_FALSE(parse_qualified_name("a.b.c").ok());
  EXPECT_FALSE(parse_qualified_name("\"unterminated").ok());
  EXPECT_FALSE(parse_qualified_name("").ok());
}

TEST(Sql, ParsesIdentifierLists) {
  auto l = parse_identifier_list("a, \"B,c\" ,D");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<std::string>{"a", "B,c", "d"}));
  EXPECT_FALSE(parse_identifier_list("a,,b").ok());
}

TEST(Sql, TextArraysRoundTripAnyValue) {
  for (const Key& k : std::vector<Key>{{"1"}, {"a,b", "c\"d", "e\\f", "", "NULL", "{x}", "é"}}) {
    auto back = decode_text_array(encode_text_array(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
  EXPECT_FALSE(decode_text_array("not an array").ok());
}

TEST(Sql, DescribesADsnWithoutItsPassword) {
  std::string d = describe_dsn("host=db.example port=6543 dbname=app user=alice password=s3cret");
  EXPECT_EQ(d.find("s3cret"), std::string::npos);
  EXPECT_NE(d.find("host=db.example"), std::string::npos);
  std::string u = describe_dsn("postgresql://bob:hunter2@db.example:5432/app");
  EXPECT_EQ(u.find("hunter2"), std::string::npos);
  EXPECT_NE(u.find("user=bob"), std::string::npos);
}

TEST(Sql, RejectsAMalformedDsnWithoutEchoingIt) {
  Status st = check_dsn("host=x password=s3cret port");
  EXPECT_EQ(st.kind(), ErrorKind::kInvalid);
  EXPECT_EQ(st.message().find("s3cret"), std::string::npos);
}

TEST(Sql, ClassifiesSqlstatesByWhatTheEngineDoes) {
  EXPECT_EQ(classify_sqlstate("08006"), ErrorKind::kTransient);  // connection failure
  EXPECT_EQ(classify_sqlstate("57P01"), ErrorKind::kTransient);  // terminated by admin
  EXPECT_EQ(classify_sqlstate("40001"), ErrorKind::kTransient);  // serialization
  EXPECT_EQ(classify_sqlstate("40P01"), ErrorKind::kTransient);  // deadlock
  EXPECT_EQ(classify_sqlstate("55P03"), ErrorKind::kTransient);  // lock timeout
  EXPECT_EQ(classify_sqlstate("57014"), ErrorKind::kTimeout);    // statement timeout
  EXPECT_EQ(classify_sqlstate("23505"), ErrorKind::kConflict);
  EXPECT_EQ(classify_sqlstate("42P01"), ErrorKind::kFailed);
}

}  // namespace
}  // namespace backfill::pg
