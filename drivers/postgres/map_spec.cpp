#include "drivers/postgres/map_spec.hpp"

#include <cctype>

#include "drivers/postgres/types.hpp"

namespace backfill::pg {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

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

std::vector<std::string> map_input_reads(const MapCompiler& compiler, const TableInfo& reads) {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < compiler.inputs().size(); ++k) {
    const std::string& name = compiler.inputs()[k];
    const std::string cast = cast_for_codec(compiler.input_codec(k), reads.column(name)->type);
    out.push_back(quote_ident(name) + (cast.empty() ? "" : "::" + cast));
  }
  return out;
}

std::vector<std::string> map_input_types(const MapCompiler& compiler, const TableInfo& reads) {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < compiler.inputs().size(); ++k) {
    const ColumnType& type = reads.column(compiler.inputs()[k])->type;
    const std::string cast = cast_for_codec(compiler.input_codec(k), type);
    out.push_back(cast.empty() ? type.name : cast);
  }
  return out;
}

}  // namespace backfill::pg
