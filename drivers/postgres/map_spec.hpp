// Preflight of `--map "dst = expression"`: compiles each expression against the columns of
// the table it reads, checks that its result fits the target column, and says how each
// column it reads is to be selected (cast so that the field arrives in a form the engine
// decodes) and how each result is to be encoded.
//
// Used by copy and verify (the expressions read the source table) and by update (they read
// the table they write). Not thread-safe; one per preflight.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "drivers/postgres/catalog.hpp"
#include "engine/transform/transform.hpp"

namespace backfill::pg {

// The codec a column is written with, or nullopt for a type a --map cannot produce (inet,
// bytea, arrays, ...). `modifier`: a numeric(p,s) column's s, a character(n) column's n,
// else -1.
std::optional<FieldCodec> write_codec(const ColumnInfo& column, int* modifier);

// "dst = rhs", split; kInvalid naming the option when there is no '=' or no target name.
struct MapAssignment {
  std::string target;      // the target column
  std::string expression;  // the right-hand side, trimmed
  std::size_t offset = 0;  // where it starts in the option's text
};
Result<MapAssignment> split_assignment(const std::string& option, const std::string& text);

// The context --map expressions run in: `base` (now() of the job) with lower() and upper()
// following the ctype of the database `target` writes to, read only when there are maps.
// A ctype this machine cannot follow exactly adds a line to `warnings`.
Result<CallContext> map_context(PgConnection& target, CallContext base,
                                const std::vector<std::string>& maps,
                                std::vector<std::string>* warnings);

class MapCompiler {
 public:
  MapCompiler(const TableInfo& reads, const FunctionRegistry& functions, CallContext context);

  // A computed output for `target`: the expression compiled and checked against the column.
  // Errors are kInvalid and quote the --map with the position at fault.
  Result<MapOutput> compile(const std::string& map_text, const MapAssignment& a,
                            const ColumnInfo& target);

  // What the read must add after its own columns, one per input slot: "col"::cast.
  std::vector<std::string> input_reads() const;
  // The types those reads arrive in (the cast, or the column's own type), for a staging
  // table that holds them.
  std::vector<std::string> input_types() const;
  // The plan, once every map is compiled: `outputs` in write order, and the inputs read as
  // fields first_input_field, first_input_field + 1, ...
  std::shared_ptr<const MapPlan> plan(std::vector<MapOutput> outputs, int first_input_field) const;

 private:
  const TableInfo& reads_;
  const FunctionRegistry& functions_;
  CallContext context_;
  ExprInputs inputs_;
};

}  // namespace backfill::pg
