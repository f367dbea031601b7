#include "drivers/postgres/types.hpp"

#include <gtest/gtest.h>

namespace backfill::pg {
namespace {

TEST(Types, NamesEachKindFromItsBaseType) {
  struct Case {
    const char* typname;
    const char* typtype;
    TypeKind kind;
  };
  for (const Case& c : {Case{"int2", "b", TypeKind::kInt2},
                        Case{"int4", "b", TypeKind::kInt4},
                        Case{"int8", "b", TypeKind::kInt8},
                        Case{"numeric", "b", TypeKind::kNumeric},
                        Case{"float4", "b", TypeKind::kFloat4},
                        Case{"float8", "b", TypeKind::kFloat8},
                        Case{"text", "b", TypeKind::kText},
                        Case{"varchar", "b", TypeKind::kText},
                        Case{"name", "b", TypeKind::kName},
                        Case{"bpchar", "b", TypeKind::kChar},
                        Case{"bool", "b", TypeKind::kBool},
                        Case{"date", "b", TypeKind::kDate},
                        Case{"timestamp", "b", TypeKind::kTimestamp},
                        Case{"timestamptz", "b", TypeKind::kTimestampTz},
                        Case{"uuid", "b", TypeKind::kUuid},
                        Case{"json", "b", TypeKind::kJson},
                        Case{"jsonb", "b", TypeKind::kJsonb},
                        Case{"mood", "e", TypeKind::kEnum},
                        Case{"bytea", "b", TypeKind::kOther},
                        Case{"_int4", "b", TypeKind::kOther},
                        Case{"inet", "b", TypeKind::kOther}}) {
    EXPECT_EQ(column_type(c.typname, c.typtype, "x", "x").kind, c.kind) << c.typname;
  }
}

TEST(Types, ReadsTheModifierOfNumericAndCharacter) {
  EXPECT_EQ(column_type("numeric", "b", "numeric(12,2)", "numeric(12,2)").modifier, 2);
  EXPECT_EQ(column_type("numeric", "b", "numeric", "numeric").modifier, -1);
  EXPECT_EQ(column_type("numeric", "b", "numeric(5,0)", "numeric(5,0)").modifier, 0);
  EXPECT_EQ(column_type("bpchar", "b", "character(5)", "character(5)").modifier, 5);
  // A domain's typmod is its base type's: the server rounds to it on storing. Its name is
  // only a name.
  EXPECT_EQ(column_type("numeric", "d", "money2", "numeric(10,2)").modifier, 2);
  EXPECT_EQ(column_type("numeric", "d", "\"odd(1,5)\"", "numeric").modifier, -1);
  EXPECT_EQ(column_type("varchar", "b", "character varying(20)", "character varying(20)").modifier,
            -1);
}

TEST(Types, CastsAReadToTheCodecsForm) {
  auto t = [](const char* typname, const char* read_as) {
    return column_type(typname, "b", read_as, read_as);
  };
  EXPECT_EQ(cast_for_codec(FieldCodec::kInt8, t("int4", "integer")), "int8");
  EXPECT_EQ(cast_for_codec(FieldCodec::kInt8, t("int8", "bigint")), "");
  EXPECT_EQ(cast_for_codec(FieldCodec::kFloat8, t("float4", "real")), "float8");
  EXPECT_EQ(cast_for_codec(FieldCodec::kJsonb, t("json", "json")), "jsonb");
  EXPECT_EQ(cast_for_codec(FieldCodec::kText, t("text", "text")), "");
  EXPECT_EQ(cast_for_codec(FieldCodec::kText, t("varchar", "character varying(9)")), "text");
  EXPECT_EQ(cast_for_codec(FieldCodec::kText, t("inet", "inet")), "text");
  EXPECT_EQ(cast_for_codec(FieldCodec::kNumeric, t("numeric", "numeric")), "");
}

}  // namespace
}  // namespace backfill::pg
