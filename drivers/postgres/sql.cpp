#include "drivers/postgres/sql.hpp"

#include <cctype>

namespace backfill::pg {

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string QualifiedName::quoted() const {
  return schema ? quote_ident(*schema) + "." + quote_ident(name) : quote_ident(name);
}

std::string QualifiedName::display() const { return schema ? *schema + "." + name : name; }

namespace {

// Reads one identifier at `pos`, leaving `pos` after it.
Result<std::string> read_identifier(std::string_view text, std::size_t* pos) {
  std::size_t i = *pos;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::string out;
  if (i < text.size() && text[i] == '"') {
    ++i;
    while (true) {
      if (i >= text.size())
        return Status::invalid("unterminated quoted identifier in '" + std::string(text) + "'");
      if (text[i] == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          out += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      out += text[i++];
    }
    if (out.empty())
      return Status::invalid("empty quoted identifier in '" + std::string(text) + "'");
  } else {
    // Unquoted: everything up to a dot or comma, trimmed, folded to lower case. Characters
    // SQL would not accept unquoted are kept, so such a name simply names no table.
    std::size_t start = i;
    while (i < text.size() && text[i] != '.' && text[i] != ',') ++i;
    std::string_view part = text.substr(start, i - start);
    while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back())))
      part.remove_suffix(1);
    if (part.empty()) return Status::invalid("missing name in '" + std::string(text) + "'");
    for (char c : part) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  *pos = i;
  return out;
}

}  // namespace

Result<QualifiedName> parse_qualified_name(std::string_view text) {
  std::size_t pos = 0;
  BACKFILL_ASSIGN_OR_RETURN(std::string first, read_identifier(text, &pos));
  QualifiedName q;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    BACKFILL_ASSIGN_OR_RETURN(std::string second, read_identifier(text, &pos));
    q.schema = std::move(first);
    q.name = std::move(second);
  } else {
    q.name = std::move(first);
  }
  if (pos != text.size()) {
    return Status::invalid("cannot parse table name '" + std::string(text) +
                           "' (expected table or schema.table, double-quoted where needed)");
  }
  return q;
}

Result<std::string> parse_identifier(std::string_view text) {
  std::size_t pos = 0;
  BACKFILL_ASSIGN_OR_RETURN(std::string id, read_identifier(text, &pos));
  if (pos != text.size()) {
    return Status::invalid("cannot parse column name '" + std::string(text) + "'");
  }
  return id;
}

Result<std::vector<std::string>> parse_identifier_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(std::string id, read_identifier(text, &pos));
    out.push_back(std::move(id));
    if (pos == text.size()) break;
    if (text[pos] != ',') {
      return Status::invalid("cannot parse column list '" + std::string(text) + "'");
    }
    ++pos;
  }
  return out;
}

std::string encode_text_array(const Key& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

Result<Key> decode_text_array(std::string_view s) {
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') {
    return Status::failed("malformed key array '" + std::string(s) + "' in the ledger");
  }
  Key out;
  std::size_t i = 1;
  const std::size_t end = s.size() - 1;
  if (i == end) return out;
  while (i <= end) {
    std::string v;
    if (s[i] == '"') {
      ++i;
      while (i < end && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < end) ++i;
        v += s[i++];
      }
      if (i >= end) return Status::failed("malformed key array in the ledger");
      ++i;  // closing quote
    } else {
      while (i < end && s[i] != ',') v += s[i++];
      if (v == "NULL") return Status::failed("NULL key value in the ledger");
    }
    out.push_back(std::move(v));
    if (i == end) break;
    if (s[i] != ',') return Status::failed("malformed key array in the ledger");
    ++i;
  }
  return out;
}

std::string join_quoted(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ", ";
    out += quote_ident(names[i]);
  }
  return out;
}

}  // namespace backfill::pg
