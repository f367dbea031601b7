// What PostgreSQL's catalog says about a table: columns with their types, the primary key
// and unique indexes, the planner's row estimate, and which database it lives in.
// Read-only queries on pg_catalog; each call uses the connection it is given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/sql.hpp"
#include "engine/transform/case_mapping.hpp"

namespace backfill::pg {

struct ColumnInfo {
  std::string name;
  std::string type;       // format_type(): "numeric(12,2)", "character varying(80)", "mood"
  std::string type_name;  // pg_type.typname of the base type: "numeric", "varchar", "text"
  // The type to cast to on the source so the bytes arrive in this column's binary form:
  // the column's own type, a domain's base type, or text for an enum (whose binary form
  // is its label).
  std::string wire_type;
  bool not_null = false;
  bool has_default = false;
  bool generated = false;  // GENERATED ALWAYS AS (...) STORED: never written
  bool identity = false;
  std::string collation;  // for text keys: the column's collation, "" if none
};

struct TableInfo {
  std::uint32_t oid = 0;
  std::string schema;
  std::string name;
  std::vector<ColumnInfo> columns;
  std::vector<std::string> primary_key;
  std::vector<std::vector<std::string>> unique_keys;  // valid, non-partial, plain-column indexes
  // The first column of each btree index that starts with a plain column.
  std::vector<std::string> btree_leading_columns;
  std::optional<std::int64_t> estimated_rows;
  std::string database;  // identity of server and database, to tell two DSNs apart

  std::string quoted() const { return quote_ident(schema) + "." + quote_ident(name); }
  std::string display() const { return schema + "." + name; }
  const ColumnInfo* column(const std::string& n) const;
  // A unique index (or the primary key) whose columns all lie within `cols`.
  bool has_unique_within(const std::vector<std::string>& cols) const;
  // A btree index whose first column is `col`: rows inserted in that column's order land at
  // its right edge.
  bool has_btree_led_by(const std::string& col) const;
};

// kInvalid when the table does not exist or is not a table.
Result<TableInfo> describe_table(PgConnection& conn, const QualifiedName& name);
// Identifies the server (by its start time and system identifier where readable) and the
// database, so that two connection strings can be recognised as the same database.
Result<std::string> database_identity(PgConnection& conn);
// The connected database's ctype, for lower() and upper() in --map: its collation
// provider (libc, or ICU from PostgreSQL 15) and its LC_CTYPE or ICU locale.
Result<CtypeSpec> database_ctype(PgConnection& conn);
// Whether two database identities are databases of one server (one running postmaster).
bool same_server(const std::string& identity_a, const std::string& identity_b);

}  // namespace backfill::pg
