#include "drivers/postgres/types.hpp"

#include <charconv>
#include <string_view>

namespace backfill::pg {
namespace {

TypeKind kind_of(const std::string& t, const std::string& typtype) {
  if (typtype == "e") return TypeKind::kEnum;
  if (t == "bool") return TypeKind::kBool;
  if (t == "int2") return TypeKind::kInt2;
  if (t == "int4") return TypeKind::kInt4;
  if (t == "int8") return TypeKind::kInt8;
  if (t == "numeric") return TypeKind::kNumeric;
  if (t == "float4") return TypeKind::kFloat4;
  if (t == "float8") return TypeKind::kFloat8;
  if (t == "text" || t == "varchar") return TypeKind::kText;
  if (t == "name") return TypeKind::kName;
  if (t == "bpchar") return TypeKind::kChar;
  if (t == "date") return TypeKind::kDate;
  if (t == "timestamp") return TypeKind::kTimestamp;
  if (t == "timestamptz") return TypeKind::kTimestampTz;
  if (t == "uuid") return TypeKind::kUuid;
  if (t == "json") return TypeKind::kJson;
  if (t == "jsonb") return TypeKind::kJsonb;
  return TypeKind::kOther;
}

// The number a type modifier starts with: the 2 of "2)" in "numeric(12,2)".
int leading_int(std::string_view s) {
  int v = -1;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// format_type's spelling without the typmod: "timestamp(3) with time zone" is
// "timestamp with time zone", "character varying(20)[]" is "character varying[]".
std::string without_typmod(const std::string& type) {
  const auto open = type.find('(');
  const auto close = type.find(')', open);
  if (open == std::string::npos || close == std::string::npos) return type;
  std::string out = type.substr(0, open) + type.substr(close + 1);
  return out.ends_with(' ') ? out.substr(0, out.size() - 1) : out;
}

}  // namespace

ColumnType column_type(const std::string& typname, const std::string& typtype,
                       const std::string& format_type, const std::string& read_as) {
  ColumnType t;
  t.kind = kind_of(typname, typtype);
  t.name = format_type;
  t.read_as = read_as;
  // The modifier from the type the column is read as: its own, or its domain's base type's
  // (the server rounds or pads to that on storing). Never from a domain's name, whatever
  // it is spelled like.
  const std::string& spelled = read_as;
  if (t.kind == TypeKind::kNumeric) {
    // "numeric(12,2)": the scale the server rounds to on storing.
    if (auto comma = spelled.find(','); comma != std::string::npos) {
      t.modifier = leading_int(std::string_view(spelled).substr(comma + 1));
    }
  } else if (t.kind == TypeKind::kChar) {
    // "character(5)": stored padded to 5 characters.
    if (auto paren = spelled.find('('); paren != std::string::npos) {
      t.modifier = leading_int(std::string_view(spelled).substr(paren + 1));
    }
  }
  return t;
}

std::string cast_for_codec(FieldCodec codec, const ColumnType& type) {
  switch (codec) {
    case FieldCodec::kInt8:
      return type.kind == TypeKind::kInt8 ? "" : "int8";
    case FieldCodec::kFloat8:
      return type.kind == TypeKind::kFloat8 ? "" : "float8";
    case FieldCodec::kJsonb:
      return type.kind == TypeKind::kJsonb ? "" : "jsonb";
    case FieldCodec::kText:
      return type.kind == TypeKind::kText && type.read_as == "text" ? "" : "text";
    default:
      return "";
  }
}

NativeHash native_hash_of(const std::string& type) {
  static const char* const kNative[] = {"boolean",
                                        "smallint",
                                        "integer",
                                        "bigint",
                                        "real",
                                        "double precision",
                                        "numeric",
                                        "bytea",
                                        "date",
                                        "time without time zone",
                                        "timestamp without time zone",
                                        "timestamp with time zone",
                                        "uuid"};
  const std::string base = without_typmod(type);
  if (base == "text" || base == "character varying") return NativeHash::kInC;
  for (const char* t : kNative) {
    if (base == t) return NativeHash::kAsIs;
  }
  return NativeHash::kViaText;
}

}  // namespace backfill::pg
