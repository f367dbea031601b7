// What a set of tables (`--tables`) needs from PostgreSQL's catalog: the tables a pattern may
// name, the foreign keys between them, the sequences their columns own, and whether the
// session may switch the target's triggers off. Read-only, except sync_sequence().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/sql.hpp"
#include "engine/plan/table_order.hpp"
#include "engine/table/table_set.hpp"

namespace backfill::pg {

// Every table a set may name: ordinary and partitioned tables outside the system schemas
// and the ledger's, never a partition (its rows are copied through its parent). Sorted by
// schema and name.
Result<std::vector<TableName>> list_tables(PgConnection& conn);

// Whether each of `tables` exists in conn's database as a table; the names of those that do
// not.
Result<std::vector<std::string>> missing_tables(PgConnection& conn,
                                                const std::vector<TableName>& tables);

// The foreign keys among `tables` in conn's database, as indexes into `tables`. A foreign key
// of a partition counts as its parent's.
Result<std::vector<TableReference>> references_among(PgConnection& conn,
                                                     const std::vector<TableName>& tables);

// --disable-triggers: kInvalid, saying why and what to do, unless the session may set
// session_replication_role (PostgreSQL 15: a superuser, or a role granted SET on it).
Status check_may_disable_triggers(PgConnection& conn);

// A sequence a column owns (serial, or an identity column).
struct OwnedSequence {
  std::string column;
  QualifiedName sequence;
};
Result<std::vector<OwnedSequence>> owned_sequences(PgConnection& conn, const QualifiedName& table);

// Moves the target's sequence `seq`, owned by `column` of `table`, past the source's
// sequence's last value (when `source_last` is given) and past the largest value of the
// column in the target, so that the application's next insert cannot collide. Never moves
// it back. The value it was set to, or nullopt when it already stood past both.
Result<std::optional<std::int64_t>> sync_sequence(PgConnection& target, const QualifiedName& table,
                                                  const OwnedSequence& seq,
                                                  std::optional<std::int64_t> source_last);
// The source sequence's last value handed out; nullopt when it never handed one out.
Result<std::optional<std::int64_t>> sequence_last_value(PgConnection& source,
                                                        const QualifiedName& seq);

}  // namespace backfill::pg
