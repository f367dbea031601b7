#include "drivers/postgres/map_spec.hpp"

#include <cctype>
#include <charconv>

namespace backfill::pg {
namespace {

// How a column an expression reads is selected, and the codec its field arrives in.
// Integers all arrive as bigint, floats as double; text-like and unknown types as text.
FieldCodec read_codec(const ColumnInfo& c, std::string* cast) {
  const std::string& t = c.type_name;
  cast->clear();
  if (t == "int2" || t == "int4" || t == "int8") {
    if (t != "int8") *cast = "int8";
    return FieldCodec::kInt8;
  }
  if (t == "float4" || t == "float8") {
    if (t != "float8") *cast = "float8";
    return FieldCodec::kFloat8;
  }
  if (t == "numeric") return FieldCodec::kNumeric;
  if (t == "bool") return FieldCodec::kBool;
  if (t == "timestamptz" || t == "timestamp") return FieldCodec::kTimestamp;
  if (t == "date") return FieldCodec::kDate;
  if (t == "jsonb") return FieldCodec::kJsonb;
  if (t == "json") {
    *cast = "jsonb";
    return FieldCodec::kJsonb;
  }
  if (t == "uuid") return FieldCodec::kUuid;
  if (t != "text") *cast = "text";
  return FieldCodec::kText;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

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
    case FieldCodec::kDate:
      return "; convert it with to_timestamp(text, format)";
    default:
      return "";
  }
}

// The number a type modifier starts with: the 2 of "2)" in "numeric(12,2)".
int leading_int(std::string_view s) {
  int v = -1;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

std::optional<FieldCodec> write_codec(const ColumnInfo& c, int* modifier) {
  *modifier = -1;
  const std::string& t = c.type_name;
  if (t == "int2") return FieldCodec::kInt2;
  if (t == "int4") return FieldCodec::kInt4;
  if (t == "int8") return FieldCodec::kInt8;
  if (t == "float4") return FieldCodec::kFloat4;
  if (t == "float8") return FieldCodec::kFloat8;
  if (t == "numeric") {
    // "numeric(12,2)": the scale the server rounds to on storing.
    auto comma = c.type.find(',');
    if (comma != std::string::npos)
      *modifier = leading_int(std::string_view(c.type).substr(comma + 1));
    return FieldCodec::kNumeric;
  }
  if (t == "bool") return FieldCodec::kBool;
  if (t == "timestamptz" || t == "timestamp") return FieldCodec::kTimestamp;
  if (t == "date") return FieldCodec::kDate;
  if (t == "jsonb") return FieldCodec::kJsonb;
  if (t == "json") return FieldCodec::kJson;
  if (t == "uuid") return FieldCodec::kUuid;
  if (t == "bpchar") {
    // "character(5)": stored padded to 5 characters.
    auto paren = c.type.find('(');
    if (paren != std::string::npos)
      *modifier = leading_int(std::string_view(c.type).substr(paren + 1));
    return FieldCodec::kBpchar;
  }
  // Text types, and enums, whose binary form is their label.
  if (t == "text" || t == "varchar" || t == "name" || c.wire_type == "text") {
    return FieldCodec::kText;
  }
  return std::nullopt;
}

Result<MapAssignment> split_assignment(const std::string& option, const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || trim(text.substr(0, eq)).empty()) {
    return Status::invalid(option + " \"" + text + "\": expected \"target_column = expression\"");
  }
  MapAssignment a;
  BACKFILL_ASSIGN_OR_RETURN(a.target, parse_identifier(trim(text.substr(0, eq))));
  std::size_t start = eq + 1;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  a.expression = trim(text.substr(start));
  a.offset = start;
  return a;
}

Result<CallContext> map_context(PgConnection& target, CallContext base,
                                const std::vector<std::string>& maps,
                                std::vector<std::string>* warnings) {
  if (maps.empty() || base.case_mapping) return base;
  BACKFILL_ASSIGN_OR_RETURN(CtypeSpec ctype, database_ctype(target));
  std::string warning;
  base.case_mapping = CaseMapping::for_ctype(ctype, &warning);
  if (!warning.empty()) warnings->push_back("--map: " + warning);
  return base;
}

MapCompiler::MapCompiler(const TableInfo& reads, const FunctionRegistry& functions,
                         CallContext context)
    : reads_(reads), functions_(functions), context_(context) {
  inputs_.table = reads_.display();
}

Result<MapOutput> MapCompiler::compile(const std::string& map_text, const MapAssignment& a,
                                       const ColumnInfo& target) {
  const std::string where = "--map \"" + map_text + "\"";
  ColumnTypeOf type_of = [this](const std::string& name) -> std::optional<ValueType> {
    const ColumnInfo* c = reads_.column(name);
    if (!c) return std::nullopt;
    std::string cast;
    return value_type_of(read_codec(*c, &cast));
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
  auto codec = write_codec(target, &out.modifier);
  if (!codec) {
    return Status::invalid(where + ": target column \"" + target.name + "\" has type " +
                           target.type +
                           ", which a --map cannot write; compute it on the source with "
                           "--source-expr, or map into a text column");
  }
  if (!can_store((*expr)->type(), *codec)) {
    return Status::invalid(where + ": the expression gives " + value_type_name((*expr)->type()) +
                           ", which target column \"" + target.name + "\" (" + target.type +
                           ") cannot store" + fix_for(*codec));
  }
  out.expr = std::move(expr).value();
  out.codec = *codec;
  return out;
}

std::vector<std::string> MapCompiler::input_reads() const {
  std::vector<std::string> reads;
  for (const auto& name : inputs_.columns) {
    std::string cast;
    read_codec(*reads_.column(name), &cast);
    reads.push_back(quote_ident(name) + (cast.empty() ? "" : "::" + cast));
  }
  return reads;
}

std::vector<std::string> MapCompiler::input_types() const {
  std::vector<std::string> types;
  for (const auto& name : inputs_.columns) {
    std::string cast;
    const ColumnInfo& c = *reads_.column(name);
    read_codec(c, &cast);
    types.push_back(cast.empty() ? c.type : cast);
  }
  return types;
}

std::shared_ptr<const MapPlan> MapCompiler::plan(std::vector<MapOutput> outputs,
                                                 int first_input_field) const {
  auto p = std::make_shared<MapPlan>();
  p->outputs = std::move(outputs);
  p->context = context_;
  for (std::size_t k = 0; k < inputs_.columns.size(); ++k) {
    std::string cast;
    p->input_codecs.push_back(read_codec(*reads_.column(inputs_.columns[k]), &cast));
    p->input_fields.push_back(first_input_field + static_cast<int>(k));
  }
  return p;
}

}  // namespace backfill::pg
