#include "engine/table/table_set.hpp"

namespace backfill {
namespace {

char fold(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// One part of a pattern, from `in` at `*pos` up to an unquoted `.` or the end.
Result<NamePattern> parse_part(const std::string& in, std::size_t* pos, const std::string& what) {
  NamePattern p;
  bool quoted = false;
  std::size_t i = *pos;
  for (; i < in.size(); ++i) {
    const char c = in[i];
    if (quoted) {
      if (c != '"') {
        p.text += c;
        p.star.push_back(false);
      } else if (i + 1 < in.size() && in[i + 1] == '"') {
        p.text += '"';
        p.star.push_back(false);
        ++i;
      } else {
        quoted = false;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '.') {
      break;
    } else {
      p.text += fold(c);
      p.star.push_back(c == '*');
    }
  }
  if (quoted) return Status::invalid(what + ": a quote is not closed");
  if (p.text.empty()) return Status::invalid(what + ": a name is empty");
  *pos = i;
  return p;
}

// Splits at commas outside quotes, trimming the spaces around each piece.
std::vector<std::string> split_patterns(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  auto flush = [&] {
    const auto b = cur.find_first_not_of(" \t\n");
    const auto e = cur.find_last_not_of(" \t\n");
    out.push_back(b == std::string::npos ? "" : cur.substr(b, e - b + 1));
    cur.clear();
  };
  for (char c : text) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

}  // namespace

bool NamePattern::matches(const std::string& name) const {
  // Backtracking glob: on a mismatch, let the last `*` swallow one more character.
  std::size_t p = 0, n = 0, star_p = std::string::npos, star_n = 0;
  while (n < name.size()) {
    if (p < text.size() && star[p]) {
      star_p = p++;
      star_n = n;
    } else if (p < text.size() && text[p] == name[n]) {
      ++p;
      ++n;
    } else if (star_p != std::string::npos) {
      p = star_p + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < text.size() && star[p]) ++p;
  return p == text.size();
}

bool TablePattern::matches(const TableName& t) const {
  if (!name.matches(t.name)) return false;
  return has_schema ? schema.matches(t.schema) : t.visible;
}

bool matches_any(const TablePattern& p, const std::vector<TableName>& tables) {
  for (const TableName& t : tables) {
    if (p.matches(t)) return true;
  }
  return false;
}

Result<std::vector<TablePattern>> parse_table_patterns(const std::string& text,
                                                       const std::string& option) {
  std::vector<TablePattern> out;
  for (const std::string& piece : split_patterns(text)) {
    const std::string what = option + " '" + piece + "'";
    if (piece.empty()) return Status::invalid(option + ": an empty pattern in '" + text + "'");
    TablePattern t;
    t.as_typed = piece;
    std::size_t pos = 0;
    BACKFILL_ASSIGN_OR_RETURN(NamePattern first, parse_part(piece, &pos, what));
    if (pos < piece.size()) {
      ++pos;  // the dot
      BACKFILL_ASSIGN_OR_RETURN(t.name, parse_part(piece, &pos, what));
      if (pos < piece.size()) {
        return Status::invalid(what + ": more than one dot (a pattern is name or schema.name)");
      }
      t.schema = std::move(first);
      t.has_schema = true;
    } else {
      t.name = std::move(first);
    }
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<TableName>> select_tables(const std::vector<TableName>& candidates,
                                             const std::vector<TablePattern>& include,
                                             const std::vector<TablePattern>& exclude) {
  for (const TablePattern& p : include) {
    if (!matches_any(p, candidates)) {
      return Status::invalid("--tables: '" + p.as_typed + "' matches no table of the source" +
                             (p.has_schema ? "" : " on its search_path (give the schema: s.name)"));
    }
  }
  std::vector<TableName> out;
  for (const TableName& t : candidates) {
    bool in = false, out_ = false;
    for (const TablePattern& p : include) in = in || p.matches(t);
    for (const TablePattern& p : exclude) out_ = out_ || p.matches(t);
    if (in && !out_) out.push_back(t);
  }
  if (out.empty()) return Status::invalid("--exclude leaves no table of --tables");
  return out;
}

}  // namespace backfill
