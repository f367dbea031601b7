// The PostgreSQL side of `--map "dst = expression"` (the compiler is the engine's,
// engine/transform/map_compiler.hpp): the assignment split by SQL's identifier rules, the
// context lower() and upper() follow (the target database's ctype), and each input column
// selected with the cast that makes its field arrive in the form the engine decodes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "drivers/postgres/catalog.hpp"
#include "engine/transform/map_compiler.hpp"

namespace backfill::pg {

// "dst = rhs", split; kInvalid naming the option when there is no '=' or no target name.
// The target is an SQL identifier ("Quoted" keeps its case).
Result<MapAssignment> split_assignment(const std::string& option, const std::string& text);

// The context --map expressions run in: `base` (now() of the job) with lower() and upper()
// following the ctype of the database `target` writes to, read only when there are maps.
// A ctype this machine cannot follow exactly adds a line to `warnings`.
Result<CallContext> map_context(PgConnection& target, CallContext base,
                                const std::vector<std::string>& maps,
                                std::vector<std::string>* warnings);

// What a read must add after its own columns for the compiler's inputs, one per input slot,
// each cast to the form its codec decodes: "col"::int8.
std::vector<std::string> map_input_reads(const MapCompiler& compiler, const TableInfo& reads);
// The types those reads arrive in (the cast, or the column's own type), for a staging
// table that holds them.
std::vector<std::string> map_input_types(const MapCompiler& compiler, const TableInfo& reads);

}  // namespace backfill::pg
