#include "engine/transform/map_compiler.hpp"

namespace backfill {
namespace {

// The conversion that would make a value of the wrong type fit, for the message.
std::string fix_for(FieldCodec c) {
  switch (c) {
    case FieldCodec::kInt2:
    case FieldCodec::kInt4:
    case FieldCodec::kInt8:
      return "; convert it with to_int()";
    case FieldCodec::kNumeric:
    case FieldCodec::kFloat4:
    case FieldCodec::kFloat8:
      return "; convert it with to_numeric()";
    case FieldCodec::kTimestamp:
    case FieldCodec::kTimestampTz:
    case FieldCodec::kDate:
      return "; convert it with to_timestamp(text, format)";
    default:
      return "";
  }
}

}  // namespace

MapCompiler::MapCompiler(const TableDescription& reads, const FunctionRegistry& functions,
                         CallContext context)
    : reads_(reads), functions_(functions), context_(context) {
  inputs_.table = reads_.display();
}

Result<MapOutput> MapCompiler::compile(const std::string& map_text, const MapAssignment& a,
                                       const Column& target) {
  const std::string where = "--map \"" + map_text + "\"";
  ColumnTypeOf type_of = [this](const std::string& name) -> std::optional<ValueType> {
    const Column* c = reads_.column(name);
    if (!c) return std::nullopt;
    return value_type_of(read_codec_of(c->type.kind));
  };
  auto expr = Expr::compile(a.expression, a.offset, functions_, type_of, &inputs_);
  if (!expr.ok()) {
    return Status::invalid(where + ": " + expr.status().message());
  }
  MapOutput out;
  out.column = target.name;
  if (target.generated) {
    return Status::invalid(where + ": target column \"" + target.name +
                           "\" is computed by the table");
  }
  auto codec = write_codec_of(target.type.kind);
  if (!codec) {
    return Status::invalid(where + ": target column \"" + target.name + "\" has type " +
                           target.type.name +
                           ", which a --map cannot write; compute it on the source with "
                           "--source-expr, or map into a text column");
  }
  if (!can_store((*expr)->type(), *codec)) {
    return Status::invalid(where + ": the expression gives " + value_type_name((*expr)->type()) +
                           ", which target column \"" + target.name + "\" (" + target.type.name +
                           ") cannot store" + fix_for(*codec));
  }
  out.expr = std::move(expr).value();
  out.codec = *codec;
  // The modifier the server applies on storing: numeric's scale, character(n)'s length.
  if (*codec == FieldCodec::kNumeric || *codec == FieldCodec::kBpchar) {
    out.modifier = target.type.modifier;
  }
  return out;
}

FieldCodec MapCompiler::input_codec(std::size_t k) const {
  return read_codec_of(reads_.column(inputs_.columns[k])->type.kind);
}

std::shared_ptr<const MapPlan> MapCompiler::plan(std::vector<MapOutput> outputs,
                                                 int first_input_field,
                                                 std::vector<MapKeyField> key) const {
  auto p = std::make_shared<MapPlan>();
  p->outputs = std::move(outputs);
  p->key = std::move(key);
  p->input_columns = inputs_.columns;
  p->context = context_;
  for (std::size_t k = 0; k < inputs_.columns.size(); ++k) {
    p->input_codecs.push_back(input_codec(k));
    p->input_fields.push_back(first_input_field + static_cast<int>(k));
  }
  return p;
}

}  // namespace backfill
