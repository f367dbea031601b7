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
#include "engine/table/table.hpp"
#include "engine/transform/case_mapping.hpp"

namespace backfill::pg {

// The engine's column (engine/table/table.hpp), filled in from pg_attribute: its type's kind
// from the base type's pg_type.typname (drivers/postgres/types.cpp), its name from
// format_type(), and `read_as` the type a read is cast to so that the bytes arrive in the
// column's binary form (the column's own type, a domain's base type, or text for an enum,
// whose binary form is its label).
using ColumnInfo = Column;

// The engine's table description, with what only this driver needs.
struct TableInfo : TableDescription {
  std::uint32_t oid = 0;
  // The first column of each btree index that starts with a plain column.
  std::vector<std::string> btree_leading_columns;

  std::string quoted() const { return quote_ident(schema) + "." + quote_ident(name); }
  // A btree index whose first column is `col`: rows inserted in that column's order land at
  // its right edge.
  bool has_btree_led_by(const std::string& col) const;
};

// kInvalid when the table does not exist or is not a table.
Result<TableInfo> describe_table(PgConnection& conn, const QualifiedName& name);
// Identifies the server (by its start time and system identifier where readable) and the
// database, so that two connection strings can be recognised as the same database.
Result<std::string> database_identity(PgConnection& conn);

// What a role needs on a table: each a privilege `has_table_privilege` knows ("SELECT",
// "INSERT", "UPDATE", "DELETE"), or "TEMPORARY" on the table's database (a staging table).
// kInvalid naming the role, the first privilege it lacks and the object, with the GRANT that
// gives it; `side` ("--source", "--target") leads the message. A privilege granted on some
// columns only counts, so such a role is never refused here for what it may do.
Status check_privileges(PgConnection& conn, const TableInfo& table,
                        const std::vector<std::string>& privileges, const std::string& side);
// The connected database's ctype, for lower() and upper() in --map: its collation
// provider (libc, or ICU from PostgreSQL 15) and its LC_CTYPE or ICU locale.
Result<CtypeSpec> database_ctype(PgConnection& conn);
// Whether two database identities are databases of one server (one running postmaster).
bool same_server(const std::string& identity_a, const std::string& identity_b);

}  // namespace backfill::pg
