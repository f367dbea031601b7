// Preflight of `--map "dst = expression"`, in the engine's terms: compiles each expression
// against the columns of the table it reads (engine/table/table.hpp), checks that its result
// fits the target column, and gives the plan the transform stage runs. Which codec each
// column is read and written with follows from its type's kind; the driver only casts its
// reads so that the fields arrive in those codecs' forms.
//
// Used by copy and verify (the expressions read the source table) and by update (they read
// the table they write). Not thread-safe; one per preflight.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "engine/table/table.hpp"
#include "engine/transform/transform.hpp"

namespace backfill {

// A --map's "dst = rhs", as the driver's identifier syntax split it.
struct MapAssignment {
  std::string target;      // the target column
  std::string expression;  // the right-hand side, trimmed
  std::size_t offset = 0;  // where it starts in the option's text
};

class MapCompiler {
 public:
  MapCompiler(const TableDescription& reads, const FunctionRegistry& functions,
              CallContext context);

  // A computed output for `target`: the expression compiled and checked against the column.
  // Errors are kInvalid and quote the --map with the position at fault.
  Result<MapOutput> compile(const std::string& map_text, const MapAssignment& a,
                            const Column& target);

  // The columns the expressions read, one per input slot, in slot order.
  const std::vector<std::string>& inputs() const { return inputs_.columns; }
  // The codec input `k` is read with; the driver casts the read to it.
  FieldCodec input_codec(std::size_t k) const;
  // The plan, once every map is compiled: `outputs` in write order, and the inputs read as
  // fields first_input_field, first_input_field + 1, ...
  // `key`: where the row's key is among the fields, for messages.
  std::shared_ptr<const MapPlan> plan(std::vector<MapOutput> outputs, int first_input_field,
                                      std::vector<MapKeyField> key = {}) const;

 private:
  const TableDescription& reads_;
  const FunctionRegistry& functions_;
  CallContext context_;
  ExprInputs inputs_;
};

}  // namespace backfill
