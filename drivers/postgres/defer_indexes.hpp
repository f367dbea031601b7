// --defer-indexes: a one-shot copy into an empty table that receives no writes yet fills the
// bare heap, then builds its indexes and constraints once, as pg_restore and pgcopydb do.
//
// Deferred are the table's indexes, the constraints an index backs (primary key, unique,
// exclusion), its foreign keys, and the foreign keys of other tables that reference it (they
// depend on its key). An exclusion constraint whose index has storage parameters or its own
// tablespace stays in place: its definition cannot carry them back. Each is saved with the SQL that
// recreates it exactly (its name, definition, tablespace, comment, CLUSTER and REPLICA IDENTITY
// marks), in order: the objects an index backs first, the foreign keys after. Check constraints,
// NOT NULL, defaults and triggers stay. Plain functions over a connection to the target database.
#pragma once

#include <string>
#include <vector>

#include "drivers/postgres/catalog.hpp"
#include "drivers/postgres/connection.hpp"

namespace backfill::pg {

struct DeferredObject {
  int ord = 0;                          // rebuild order
  std::string kind;                     // "primary key", "index", "foreign key", ...
  std::string name;                     // for messages
  std::vector<std::string> drop_sql;    // run before the copy
  std::vector<std::string> create_sql;  // after it: the definition, then comments and marks
  bool created = false;                 // rebuilt (by this run or an earlier one)
};

// What the copy must drop from `table` and rebuild afterwards. kInvalid when the table
// cannot be copied this way (partitioned, or a partition).
Result<std::vector<DeferredObject>> describe_deferred(PgConnection& target, const TableInfo& table);

// Whether `table` holds a row, for preflight: the deferred copy fills empty tables only.
Result<bool> table_has_rows(PgConnection& target, const TableInfo& table);

// Runs `object.create_sql` on `conn` inside the caller's transaction, with no statement
// timeout (an index build takes as long as the table needs) and parallel maintenance workers.
Status create_deferred(PgConnection& conn, const DeferredObject& object);

}  // namespace backfill::pg
