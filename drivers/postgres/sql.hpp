// Building SQL text safely: identifiers always quoted, literals always escaped, and the
// names users type (`public.users`, `"Mixed Case".t`) parsed the way PostgreSQL parses them.
// Nothing here runs SQL. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/plan/key.hpp"
#include "engine/util/status.hpp"

namespace backfill::pg {

// "name" with embedded quotes doubled; always quoted, so no name is ever read as SQL.
std::string quote_ident(std::string_view name);
// 'text' with embedded quotes doubled. Our sessions pin standard_conforming_strings=on,
// so backslashes are plain characters.
std::string quote_literal(std::string_view value);

struct QualifiedName {
  std::optional<std::string> schema;
  std::string name;
  std::string quoted() const;  // "schema"."name" or "name"
  std::string display() const;
};

// Parses `table`, `schema.table`, `"Quoted"."Names"`. Unquoted parts fold to lower case,
// as in SQL. A name that cannot be parsed is kInvalid.
Result<QualifiedName> parse_qualified_name(std::string_view text);
// Parses one identifier (`Email`, `"Email"`) the same way.
Result<std::string> parse_identifier(std::string_view text);
// Splits "a, b, \"c,d\"" into identifiers.
Result<std::vector<std::string>> parse_identifier_list(std::string_view text);

// PostgreSQL array literals for text[] values, as the ledger stores keys.
std::string encode_text_array(const Key& values);
Result<Key> decode_text_array(std::string_view literal);

// Comma-separated, each quoted: "a", "b".
std::string join_quoted(const std::vector<std::string>& names);

}  // namespace backfill::pg
