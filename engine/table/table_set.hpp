// A set of tables named by patterns (`--tables`, `--exclude`): the patterns' syntax, and the
// choice among the tables a source's catalog lists. Driver-neutral: a driver lists its
// tables, the engine decides which of them the patterns name.
//
// A pattern is `name` or `schema.name`, each part a PostgreSQL identifier with `*` matching
// any run of characters: unquoted letters fold to lower case as SQL folds them, and a
// "quoted" part is taken as it is (case kept; `*`, `.` and `,` literal; `""` a quote), like
// psql's and pg_dump's patterns. A pattern without a schema names the tables the source's
// search_path shows. Patterns are comma-separated. Hand-written: no library parses
// PostgreSQL's identifier quoting, and the glob is the 20-line backtracking match.
#pragma once

#include <string>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill {

struct TableName {
  std::string schema, name;
  // Shown by the source's search_path, so that a pattern without a schema names it.
  bool visible = false;
  std::string display() const { return schema + "." + name; }
  bool operator==(const TableName& o) const { return schema == o.schema && name == o.name; }
};

// One part of a pattern: characters to match exactly, and where `*` stands.
struct NamePattern {
  std::string text;        // the characters, folded and unquoted
  std::vector<bool> star;  // star[i]: text[i] is a `*` that matches any run
  bool matches(const std::string& name) const;
};

struct TablePattern {
  std::string as_typed;
  bool has_schema = false;
  NamePattern schema, name;
  bool matches(const TableName& t) const;
};

// Whether `p` matches any of `tables`.
bool matches_any(const TablePattern& p, const std::vector<TableName>& tables);

// `text` as comma-separated patterns; kInvalid naming `option` and what is wrong (an
// unterminated quote, an empty pattern, more than one dot).
Result<std::vector<TablePattern>> parse_table_patterns(const std::string& text,
                                                       const std::string& option);

// The tables of `candidates` that some `include` pattern matches and no `exclude` pattern
// does, in the candidates' order. kInvalid, naming it, when an include pattern matches no
// table at all: a typo must not shrink a migration silently.
Result<std::vector<TableName>> select_tables(const std::vector<TableName>& candidates,
                                             const std::vector<TablePattern>& include,
                                             const std::vector<TablePattern>& exclude);

}  // namespace backfill
