// A `--map` expression: parsed, checked and bound once before the job, then evaluated for
// every row in the transform stage.
//
// The language is small on purpose: column references (bare names fold to lower case as
// in SQL; "Quoted" names keep theirs), string literals in single quotes ('' for a quote),
// numbers (42 is an integer, 1.5 and 1e3 are numeric), NULL, TRUE, FALSE, and function
// calls nested to any depth. Every error names its position in the text.
//
// An Expr is immutable once compiled and eval() is const: one Expr serves every thread.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/transform/functions.hpp"

namespace backfill {

// The columns the expressions of one job read, each decoded once per row into its slot.
// Shared by all the expressions of a job, so a column two maps read is decoded once.
struct ExprInputs {
  std::vector<std::string> columns;
  std::string table;  // the table they are read from, for "no column" messages; may be empty
  int slot(const std::string& column);
};

// What the compiler asks about a column name: its type as an expression sees it, or
// nullopt when there is no such column.
using ColumnTypeOf = std::function<std::optional<ValueType>(const std::string& column)>;

// Working memory of Expr::eval(): each call's argument values, kept from row to row so
// that their strings keep their capacity and a row allocates nothing. One per thread and
// expression; it starts empty.
struct EvalScratch {
  std::vector<std::vector<Value>> args;  // by call site
};

class Expr {
 public:
  struct Node;

  // `offset` is where `text` starts inside what the user typed, so that positions in
  // messages count from the start of the whole --map.
  static Result<std::shared_ptr<const Expr>> compile(std::string_view text, std::size_t offset,
                                                     const FunctionRegistry& functions,
                                                     const ColumnTypeOf& column_type,
                                                     ExprInputs* inputs);
  ~Expr();

  // The static type of the result (kNull when it is always NULL).
  ValueType type() const;
  const std::string& text() const { return text_; }
  // `inputs` holds the decoded columns, by slot.
  Status eval(std::span<const Value> inputs, const CallContext& ctx, EvalScratch* scratch,
              Value* out) const;
  // The same with a scratch of its own: for one-off evaluations.
  Status eval(std::span<const Value> inputs, const CallContext& ctx, Value* out) const;

 private:
  Expr() = default;
  std::unique_ptr<Node> root_;
  int calls_ = 0;  // call sites, numbered from 0
  std::string text_;
};

// The type two values of `a` and `b` are compared or chosen in, or nullopt when they do not
// mix (integer and numeric make numeric; either with float makes float; NULL fits all).
std::optional<ValueType> common_type(ValueType a, ValueType b);

}  // namespace backfill
