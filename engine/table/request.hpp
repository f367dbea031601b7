// What the user asked a job to do with a table, as typed, before any driver has resolved
// it: the command line and job files fill these in, and the source's driver turns one into
// the SQL (or other reads) its job runs, refusing what cannot work (preflight). Names and
// SQL fragments stay text here; only a driver knows its database's syntax. Plain values.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/transform/functions.hpp"

namespace backfill {

// What a write does with a row whose key the target already has.
enum class ConflictPolicy {
  kError,      // fail the chunk (the target was meant to be empty of these keys)
  kSkip,       // keep the target's row
  kOverwrite,  // replace it with the source's
  kNewer,      // replace it when the source's row is newer by a column (newer:COLUMN)
};
const char* policy_name(ConflictPolicy p);

struct CopyRequest {
  std::string table;                      // --table, as typed
  std::string to;                         // --to, as typed; empty: same as table
  std::string key;                        // --key, as typed; empty: primary key
  std::string columns;                    // --columns, as typed; empty: every fillable column
  std::vector<std::string> maps;          // --map "dst = src_column" or "dst = expression"
  std::vector<std::string> source_exprs;  // --source-expr "dst = SQL on the source row"
  std::string where;                      // --where: SQL, run on the source as given
  std::string on_conflict = "error";
  bool for_verify = false;  // verify compares what is filled; unfilled columns are not its business
  bool repair = false;      // verify --repair: the target is written too
  // What a --map expression may call (built-ins and plugins); null: the built-ins.
  std::shared_ptr<const FunctionRegistry> functions;
  CallContext context;  // now() of the job
};

struct UpdateRequest {
  std::string table;                                  // --table
  std::string key;                                    // --key; empty: primary key
  std::vector<std::string> sets;                      // --set "column = SQL expression"
  std::string where;                                  // --where: SQL
  std::vector<std::string> maps;                      // --map "column = expression", computed here
  std::shared_ptr<const FunctionRegistry> functions;  // null: the built-ins
  CallContext context;
};

}  // namespace backfill
