// The engine's description of a table: its columns, each with a driver-neutral type, and
// its keys. A driver fills one in from its catalog (drivers/postgres/catalog.cpp,
// drivers/postgres/types.cpp) and the engine decides with it what it can chunk on
// (plan/key.hpp), how a value is hashed (checksum/row_hash.hpp) and decoded or encoded for a
// --map (format/value_codec.hpp, transform/map_compiler.hpp), without a database type name.
// Plain values; thread-safe to read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace backfill {

// What the engine knows of a column's type: the families whose values it reads, compares,
// hashes or computes. Every other type is kOther, which the engine moves as bytes.
enum class TypeKind : std::uint8_t {
  kOther,  // arrays, bytea, inet, ranges, ...: bytes the engine passes through
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kNumeric,
  kFloat4,
  kFloat8,
  kText,     // text and varchar
  kName,     // an identifier type (PostgreSQL's name): text, at most 63 bytes
  kChar,     // character(n): text padded with spaces to n characters
  kEnum,     // one of a set of labels, whose binary form is the label's text
  kDate,
  kTimestamp,    // without time zone
  kTimestampTz,  // with time zone
  kUuid,
  kJson,   // JSON kept as its text
  kJsonb,  // JSON kept parsed
};

struct ColumnType {
  TypeKind kind = TypeKind::kOther;
  // numeric(p,s): s; character(n): n; -1 when the type has none.
  int modifier = -1;
  // The driver's name for the type, in messages and in its SQL: "numeric(12,2)", "mood".
  std::string name;
  // The driver's: what a read of the column is cast to so that its field arrives in the
  // column's own binary form (a domain's base type, text for an enum). Opaque here.
  std::string read_as;
};

struct Column {
  std::string name;
  ColumnType type;
  bool not_null = false;
  bool has_default = false;
  bool generated = false;  // computed by the table (GENERATED ALWAYS AS): never written
  bool identity = false;
  std::string collation;  // the column's collation, "" if none
};

struct TableDescription {
  std::string schema;  // "" where the database has none
  std::string name;
  std::vector<Column> columns;
  std::vector<std::string> primary_key;
  std::vector<std::vector<std::string>> unique_keys;  // other unique, non-partial indexes
  std::optional<std::int64_t> estimated_rows;
  std::string database;  // identity of server and database, to tell two DSNs apart

  std::string display() const { return schema.empty() ? name : schema + "." + name; }
  const Column* column(const std::string& n) const;
  // A unique index (or the primary key) whose columns all lie within `cols`.
  bool has_unique_within(const std::vector<std::string>& cols) const;
};

}  // namespace backfill
