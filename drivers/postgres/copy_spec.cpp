#include "drivers/postgres/copy_spec.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "drivers/postgres/map_spec.hpp"
#include "engine/plan/key.hpp"

namespace backfill::pg {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// "(a, b)" for a row comparison; a single column needs no parentheses.
std::string row_of(const std::vector<std::string>& items) {
  if (items.size() == 1) return items[0];
  std::string out = "(";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + ")";
}

}  // namespace

Result<ConflictPolicy> parse_conflict_policy(const std::string& text, std::string* newer_column) {
  if (text == "error") return ConflictPolicy::kError;
  if (text == "skip") return ConflictPolicy::kSkip;
  if (text == "overwrite") return ConflictPolicy::kOverwrite;
  if (text.starts_with("newer:") && text.size() > 6) {
    BACKFILL_ASSIGN_OR_RETURN(*newer_column, parse_identifier(text.substr(6)));
    return ConflictPolicy::kNewer;
  }
  return Status::invalid("--on-conflict must be error, skip, overwrite or newer:COLUMN, not '" +
                         text + "'");
}

std::string key_range_predicate(const std::vector<std::string>& columns,
                                const std::vector<std::string>& types, const ChunkRange& range,
                                const std::string& alias) {
  std::vector<std::string> cols;
  for (const auto& k : columns) cols.push_back((alias.empty() ? "" : alias + ".") + quote_ident(k));
  auto literals = [&](const Key& values) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < values.size(); ++i) {
      out.push_back(quote_literal(values[i]) + "::" + types[i]);
    }
    return row_of(out);
  };
  std::string pred;
  if (range.lo) pred = row_of(cols) + " > " + literals(*range.lo);
  if (range.hi) pred += (pred.empty() ? "" : " AND ") + row_of(cols) + " <= " + literals(*range.hi);
  return pred.empty() ? "true" : pred;
}

std::string CopySpec::range_predicate(const ChunkRange& range) const {
  return key_range_predicate(key, key_types, range);
}

std::string CopySpec::select_list() const {
  std::string list;
  for (const auto& c : columns) {
    if (!c.computed) list += (list.empty() ? "" : ", ") + c.read_expr;
  }
  for (const auto& in : map_inputs) list += (list.empty() ? "" : ", ") + in;
  return list;
}

std::string CopySpec::read_sql(const ChunkRange& range) const {
  std::string sql = "COPY (SELECT " + select_list();
  sql += " FROM " + source.quoted() + " AS s WHERE " + range_predicate(range);
  if (!where.empty()) sql += " AND (" + where + ")";
  return sql + ") TO STDOUT (FORMAT binary)";
}

// The key's text forms, ordered by the key itself. ORDER BY names the columns through the
// table alias: a bare name would order by the text output column of the same name.
std::string CopySpec::boundary_select(bool after) const {
  std::string out, ord;
  std::vector<std::string> cols, params;
  for (std::size_t i = 0; i < key.size(); ++i) {
    std::string col = "s." + quote_ident(key[i]);
    out += (i ? ", " : "") + col + "::text";
    ord += (i ? ", " : "") + col;
    cols.push_back(col);
    std::string param = "$";
    param += std::to_string(i + 1);
    param += "::";
    param += key_types[i];
    params.push_back(std::move(param));
  }
  std::string sql = "SELECT " + out + " FROM " + source.quoted() + " AS s";
  if (after) sql += " WHERE " + row_of(cols) + " > " + row_of(params);
  return sql + " ORDER BY " + ord + " LIMIT 1 OFFSET $" +
         std::to_string(after ? key.size() + 1 : 1) + "::bigint";
}

std::string CopySpec::split_point_sql(const ChunkRange& range) const {
  std::string keys, ord;
  for (std::size_t i = 0; i < key.size(); ++i) {
    keys += (i ? ", s." : "s.") + quote_ident(key[i]) + "::text";
    ord += (i ? ", s." : "s.") + quote_ident(key[i]);
  }
  const std::string from = " FROM " + source.quoted() + " AS s WHERE " + range_predicate(range);
  // The first half gets floor(n / 2) rows, the second the rest: both non-empty when n >= 2.
  return "WITH n AS (SELECT count(*) AS n" + from + ") SELECT " + keys +
         ", (SELECT n FROM n) FROM " + source.quoted() + " AS s WHERE " + range_predicate(range) +
         " ORDER BY " + ord + " OFFSET greatest((SELECT n FROM n) / 2 - 1, 0) LIMIT 1";
}

std::string CopySpec::first_boundary_sql() const { return boundary_select(false); }

std::string CopySpec::boundary_sql() const { return boundary_select(true); }

std::string CopySpec::write_into_target_sql() const {
  std::vector<std::string> cols;
  for (const auto& c : columns) cols.push_back(c.target);
  return "COPY " + target.quoted() + " (" + join_quoted(cols) + ") FROM STDIN (FORMAT binary)";
}

std::string CopySpec::write_sql() const {
  if (policy == ConflictPolicy::kError) return write_into_target_sql();
  std::vector<std::string> cols;
  for (const auto& c : columns) cols.push_back(c.target);
  return "COPY pg_temp.backfill_stage (" + join_quoted(cols) + ") FROM STDIN (FORMAT binary)";
}

std::string CopySpec::stage_create_sql() const {
  std::vector<std::string> cols;
  for (const auto& c : columns) cols.push_back(c.target);
  // Same column types as the target, no constraints; emptied by every commit.
  return "CREATE TEMP TABLE IF NOT EXISTS backfill_stage ON COMMIT DELETE ROWS AS SELECT " +
         join_quoted(cols) + " FROM " + target.quoted() + " WITH NO DATA";
}

std::string CopySpec::merge_sql() const {
  if (policy == ConflictPolicy::kError) return "";
  std::vector<std::string> cols;
  for (const auto& c : columns) cols.push_back(c.target);
  std::string sql = "INSERT INTO " + target.quoted() + " AS t (" + join_quoted(cols) +
                    ") OVERRIDING SYSTEM VALUE SELECT " + join_quoted(cols) +
                    " FROM pg_temp.backfill_stage ON CONFLICT ";
  if (policy == ConflictPolicy::kSkip) return sql + "DO NOTHING";
  std::string sets;
  for (const auto& c : cols) {
    if (contains(target_key, c)) continue;
    sets += (sets.empty() ? "" : ", ") + quote_ident(c) + " = EXCLUDED." + quote_ident(c);
  }
  sql += "(" + join_quoted(target_key) + ") ";
  if (sets.empty()) return sql + "DO NOTHING";
  sql += "DO UPDATE SET " + sets;
  if (policy == ConflictPolicy::kNewer) {
    std::string c = quote_ident(newer_column);
    // Last writer wins: only a strictly newer version replaces a row; a NULL version never
    // wins against a set one.
    sql += " WHERE EXCLUDED." + c + " > t." + c + " OR (t." + c + " IS NULL AND EXCLUDED." + c +
           " IS NOT NULL)";
  }
  return sql;
}

std::string CopySpec::fingerprint_text() const {
  std::string f = "src=" + source.display() + ";dst=" + target.display() + ";key=";
  for (const auto& k : key) f += quote_ident(k) + ",";
  f += ";cols=";
  for (const auto& c : columns) {
    f += quote_ident(c.target) + "=" + c.read_expr + (c.computed ? c.source_text : "") + ",";
  }
  f += ";where=" + where + ";policy=" + policy_name(policy) + ":" + newer_column;
  return f;
}

Result<std::int64_t> tid_page(const Key& bound) {
  long long page = 0, item = 0;
  char tail = 0;
  if (bound.size() != 1 ||
      std::sscanf(bound[0].c_str(), "(%lld,%lld)%c", &page, &item, &tail) != 2 || page < 0) {
    return Status::failed("a TID-range chunk bound is not a TID: " +
                          (bound.empty() ? std::string("(none)") : bound[0]));
  }
  return static_cast<std::int64_t>(page);
}

Key tid_bound(std::int64_t page) { return {"(" + std::to_string(page) + ",0)"}; }

std::string tid_extent_sql() {
  // Line pointers start at 1, so "(p,0)" sorts before every row of page p: (p, q] is the
  // pages p to q - 1, of every partition. The rows a page index holds: the statistics' rows
  // per page, times the pages of all partitions over the largest one's. A table outside a
  // partition tree has no tree: it is its own leaf; a partitioned parent holds no rows.
  return "WITH l AS (SELECT c.reltuples, c.relpages, pg_relation_size(c.oid) / "
         "current_setting('block_size')::bigint AS pages FROM (SELECT relid FROM "
         "pg_partition_tree($1::oid::regclass) WHERE isleaf UNION SELECT $1::oid::regclass) p "
         "JOIN pg_class c ON c.oid = p.relid WHERE c.relkind <> 'p') SELECT "
         "coalesce(max(pages), 0), coalesce(sum(reltuples) FILTER (WHERE reltuples > 0) / "
         "nullif(sum(relpages) FILTER (WHERE reltuples > 0), 0) * sum(pages) / nullif(max(pages), "
         "0), 0)::float8 FROM l";
}

Status resolve_key(const TableInfo& S, const std::string& key_option, std::vector<std::string>* key,
                   std::vector<std::string>* key_types) {
  if (!key_option.empty()) {
    BACKFILL_ASSIGN_OR_RETURN(*key, parse_identifier_list(key_option));
    for (const auto& k : *key) {
      const ColumnInfo* c = S.column(k);
      if (!c)
        return Status::invalid("--key: table " + S.display() + " has no column \"" + k + "\"");
      if (!c->not_null) {
        return Status::invalid("--key: column \"" + k + "\" of " + S.display() +
                               " is nullable; a key column must be NOT NULL");
      }
    }
    if (!S.has_unique_within(*key)) {
      return Status::invalid("--key: no unique index of " + S.display() + " covers (" +
                             join_quoted(*key) + "); a key must identify one row");
    }
  } else {
    if (S.primary_key.empty()) {
      return Status::invalid("table " + S.display() +
                             " has no primary key; name NOT NULL columns with a unique index in "
                             "--key");
    }
    *key = S.primary_key;
  }
  key_types->clear();
  for (const auto& k : *key) {
    const ColumnInfo* c = S.column(k);
    if (!key_type_of(c->type.kind)) {
      return Status::invalid("key column \"" + k + "\" has type " + c->type.name +
                             "; keyset chunking supports smallint, integer, bigint, numeric, "
                             "text, varchar, char, uuid, date, timestamp and timestamptz");
    }
    key_types->push_back(c->type.name);
  }
  return Status::ok();
}

Result<CopySpec> plan_copy(PgConnection& src, PgConnection& tgt, const CopyRequest& req) {
  CopySpec spec;
  BACKFILL_ASSIGN_OR_RETURN(QualifiedName src_name, parse_qualified_name(req.table));
  BACKFILL_ASSIGN_OR_RETURN(QualifiedName dst_name,
                            parse_qualified_name(req.to.empty() ? req.table : req.to));
  auto src_info = describe_table(src, src_name);
  if (!src_info.ok()) return src_info.status().with_context("source");
  spec.source = std::move(src_info).value();
  auto tgt_info = describe_table(tgt, dst_name);
  if (!tgt_info.ok()) return tgt_info.status().with_context("target");
  spec.target = std::move(tgt_info).value();
  const TableInfo& S = spec.source;
  const TableInfo& T = spec.target;
  if (S.database == T.database && S.oid == T.oid) {
    return Status::invalid("source and target are the same table (" + S.display() +
                           " in the same database); give --to another table or --target another "
                           "database");
  }

  if (req.key.empty() && S.primary_key.empty()) {
    // No key to chunk on: TID ranges. A unique NOT NULL key, when there is one, is better:
    // a chunk can then be matched to its rows again (conflict policies, dual writes).
    if (src.server_version() < 140000) {
      return Status::invalid("table " + S.display() +
                             " has no primary key; chunks of a table without a key are TID "
                             "ranges, which need PostgreSQL 14 or later (TID range scans), and "
                             "the source is " +
                             std::to_string(src.server_version() / 10000) +
                             ": name NOT NULL columns with a unique index in --key");
    }
    spec.keyless = true;
    spec.key = {"ctid"};
    spec.key_types = {"tid"};
    std::string hint = S.unique_keys.empty()
                           ? ""
                           : " (it has a unique index on (" + join_quoted(S.unique_keys.front()) +
                                 "): --key uses it if its columns are NOT NULL)";
    spec.warnings.push_back("table " + S.display() + " has no primary key: chunked by TID range" +
                            hint);
  } else {
    BACKFILL_RETURN_IF_ERROR(resolve_key(S, req.key, &spec.key, &spec.key_types));
  }

  // Maps: "dst = source_column" renames; "dst = expression" is computed here.
  std::shared_ptr<const FunctionRegistry> functions =
      req.functions ? req.functions : std::make_shared<const FunctionRegistry>(builtin_functions());
  BACKFILL_ASSIGN_OR_RETURN(CallContext context,
                            map_context(tgt, req.context, req.maps, &spec.warnings));
  MapCompiler compiler(S, *functions, context);
  std::vector<std::pair<std::string, std::string>> maps;  // renames
  std::map<std::string, MapOutput> computed;
  for (const auto& m : req.maps) {
    BACKFILL_ASSIGN_OR_RETURN(MapAssignment a, split_assignment("--map", m));
    const ColumnInfo* tc = T.column(a.target);
    if (!tc) {
      return Status::invalid("--map \"" + m + "\": target table " + T.display() +
                             " has no column \"" + a.target + "\"");
    }
    if (tc->generated) {
      return Status::invalid("--map \"" + m + "\": \"" + a.target + "\" of " + T.display() +
                             " is a generated column, which the target computes; it takes no "
                             "--map");
    }
    bool twice = computed.count(a.target) > 0;
    for (const auto& [d, _] : maps) twice = twice || d == a.target;
    if (twice) return Status::invalid("--map: target column \"" + a.target + "\" is mapped twice");
    auto from = parse_identifier(a.expression);
    if (from.ok() && S.column(*from)) {
      maps.emplace_back(a.target, *from);
      continue;
    }
    BACKFILL_ASSIGN_OR_RETURN(MapOutput out, compiler.compile(m, a, *tc));
    computed.emplace(a.target, std::move(out));
  }

  // --source-expr "dst = SQL": the source computes the column.
  std::map<std::string, std::string> exprs;
  for (const auto& x : req.source_exprs) {
    auto eq = x.find('=');
    if (eq == std::string::npos || trim(x.substr(eq + 1)).empty()) {
      return Status::invalid("--source-expr \"" + x + "\": expected \"target_column = SQL\"");
    }
    auto dst = parse_identifier(trim(x.substr(0, eq)));
    if (!dst.ok()) return dst.status().with_context("--source-expr \"" + x + "\"");
    const ColumnInfo* tc = T.column(*dst);
    if (!tc || tc->generated) {
      return Status::invalid("--source-expr \"" + x + "\": target table " + T.display() +
                             (tc ? " computes column \"" : " has no column \"") + *dst + "\"");
    }
    bool mapped =
        computed.count(*dst) > 0 ||
        std::any_of(maps.begin(), maps.end(), [&](const auto& m) { return m.first == *dst; });
    if (mapped || exprs.count(*dst)) {
      return Status::invalid("--source-expr: target column \"" + *dst + "\" is filled twice");
    }
    exprs[*dst] = trim(x.substr(eq + 1));
  }

  // Which target columns to fill.
  std::vector<std::string> only;
  if (!req.columns.empty()) {
    BACKFILL_ASSIGN_OR_RETURN(only, parse_identifier_list(req.columns));
    for (const auto& c : only) {
      if (!T.column(c))
        return Status::invalid("--columns: target table " + T.display() + " has no column \"" + c +
                               "\"");
    }
  }
  for (const auto& col : T.columns) {
    if (col.generated) continue;
    std::string from;
    for (const auto& [d, s] : maps) {
      if (d == col.name) from = s;
    }
    // A --map always fills its column; otherwise --columns, when given, picks the columns.
    bool wanted = !from.empty() || only.empty() || contains(only, col.name);
    if (from.empty() && S.column(col.name)) from = col.name;
    if (auto c = computed.find(col.name); c != computed.end()) {
      ColumnMapping m;
      m.target = col.name;
      m.source_text = "--map \"" + col.name + " = " + c->second.expr->text() + "\"";
      m.computed = true;
      spec.columns.push_back(std::move(m));
      continue;
    }
    if (auto e = exprs.find(col.name); e != exprs.end()) {
      // --source-expr: the source computes it; always cast, the expression's type is its own.
      const std::string sql = "(" + e->second + ")";
      spec.columns.push_back({col.name, "", sql,
                              sql + "::" + col.type.read_as + " AS " + quote_ident(col.name),
                              "--source-expr \"" + col.name + " = " + e->second + "\""});
      continue;
    }
    if (wanted && !from.empty()) {
      const ColumnInfo* sc = S.column(from);
      std::string expr = quote_ident(from);
      if (sc->type.name != col.type.read_as) expr += "::" + col.type.read_as;
      spec.columns.push_back({col.name, from, quote_ident(from),
                              expr + " AS " + quote_ident(col.name),
                              "source column \"" + from + "\" (" + sc->type.name + ")"});
      continue;
    }
    if (!only.empty() && contains(only, col.name)) {
      return Status::invalid("--columns: target column \"" + col.name +
                             "\" has no source column of that name; add --map \"" + col.name +
                             " = source_column\"");
    }
    if (col.not_null && !col.has_default && !col.identity && !req.for_verify) {
      return Status::invalid("target column \"" + col.name + "\" of " + T.display() +
                             " is NOT NULL without a default, and nothing fills it: the source "
                             "has no column of that name; add --map \"" +
                             col.name + " = source_column\"");
    }
  }
  if (spec.columns.empty()) {
    return Status::invalid("no target column of " + T.display() + " has a source: nothing to copy");
  }
  if (!computed.empty()) {
    // Read fields: the columns not computed, in order, then the expressions' inputs.
    std::vector<MapOutput> outputs;
    int field = 0;
    for (const auto& c : spec.columns) {
      if (c.computed) {
        outputs.push_back(computed.at(c.target));
      } else {
        outputs.push_back(MapOutput::pass_through(c.target, field++));
      }
    }
    // The key's fields, read in the target columns' own forms, where it passes through.
    // Named only when every key column is a type a --map can read back.
    std::vector<MapKeyField> key;
    for (const auto& k : spec.key) {
      int at = 0;
      for (const auto& c : spec.columns) {
        if (c.computed) continue;
        if (c.source == k) {
          if (auto codec = write_codec_of(T.column(c.target)->type.kind)) {
            key.push_back({k, at, *codec});
          }
          break;
        }
        ++at;
      }
    }
    if (key.size() != spec.key.size()) key.clear();
    spec.map_inputs = map_input_reads(compiler, S);
    spec.map = compiler.plan(std::move(outputs), field, std::move(key));
  }

  // Where the key lands in the target, for ON CONFLICT.
  for (const auto& k : spec.key) {
    for (const auto& c : spec.columns) {
      if (c.source == k) {
        spec.target_key.push_back(c.target);
        break;
      }
    }
  }

  BACKFILL_ASSIGN_OR_RETURN(spec.policy,
                            parse_conflict_policy(req.on_conflict, &spec.newer_column));
  if (spec.keyless && spec.policy != ConflictPolicy::kError && !req.for_verify) {
    return Status::invalid("--on-conflict " + req.on_conflict + ": table " + S.display() +
                           " has no key, so a conflict cannot be told from a second copy of a "
                           "row; a table without a key is copied with --on-conflict error "
                           "(exactly once through the ledger in the target), or give --key");
  }
  // Every policy but error promises that a row copied twice lands once: only a unique index
  // on the key in the target can tell the second copy from a new row. Without one, skip would
  // skip nothing and write every row of a rerun again (verify never writes).
  if (spec.policy != ConflictPolicy::kError && !req.for_verify) {
    if (spec.target_key.size() != spec.key.size() || !T.has_unique_within(spec.target_key)) {
      return Status::invalid("--on-conflict " + req.on_conflict + " needs the key copied into " +
                             T.display() + " and a unique index there on (" +
                             join_quoted(spec.target_key.empty() ? spec.key : spec.target_key) +
                             "), which it does not have: a second copy of a row could not be "
                             "told from a new one");
    }
  }
  if (spec.policy == ConflictPolicy::kNewer) {
    bool filled =
        std::any_of(spec.columns.begin(), spec.columns.end(),
                    [&](const ColumnMapping& c) { return c.target == spec.newer_column; });
    if (!filled) {
      return Status::invalid("--on-conflict newer:" + spec.newer_column + ": target column \"" +
                             spec.newer_column + "\" is not copied");
    }
  }

  // What the roles may do, before anything is read or written: read the source; write the
  // target, and update it for a policy that overwrites; read it to verify, or to check that a
  // table without a key starts empty; write it to repair; stage chunks in a temporary table
  // for a policy that merges.
  BACKFILL_RETURN_IF_ERROR(check_privileges(src, S, {"SELECT"}, "--source"));
  std::vector<std::string> target_needs;
  if (req.for_verify) {
    target_needs = {"SELECT"};
    if (req.repair) target_needs.insert(target_needs.end(), {"INSERT", "UPDATE", "DELETE"});
  } else {
    target_needs = {"INSERT"};
    if (spec.keyless) target_needs.push_back("SELECT");
    if (spec.policy == ConflictPolicy::kOverwrite || spec.policy == ConflictPolicy::kNewer) {
      target_needs.insert(target_needs.end(), {"SELECT", "UPDATE"});
    }
    if (spec.policy != ConflictPolicy::kError) target_needs.push_back("TEMPORARY");
  }
  BACKFILL_RETURN_IF_ERROR(check_privileges(tgt, T, target_needs, "--target"));

  // Casts, expressions and --where, checked on the source without reading a row: every
  // column in one statement, and only when that fails each on its own, to name it.
  std::string reads;
  for (const auto& c : spec.columns) {
    if (!c.computed) reads += (reads.empty() ? "" : ", ") + c.read_expr;
  }
  const bool all_cast =
      reads.empty() ||
      src.exec("SELECT " + reads + " FROM " + S.quoted() + " AS s LIMIT 0").is_ok();
  for (const auto& c : spec.columns) {
    if (c.computed || all_cast) continue;
    Status st = src.exec("SELECT " + c.read_expr + " FROM " + S.quoted() + " AS s LIMIT 0");
    if (!st.is_ok()) {
      return Status::invalid("target column \"" + c.target + "\" (" +
                             T.column(c.target)->type.name + ") cannot be filled from " +
                             c.source_text + ": " + st.message());
    }
  }
  if (!req.where.empty()) {
    spec.where = req.where;
    Status st = src.exec("SELECT 1 FROM " + S.quoted() + " AS s WHERE (" + req.where + ") LIMIT 0");
    if (!st.is_ok()) return Status::invalid("--where: " + st.message());
    BACKFILL_RETURN_IF_ERROR(refuse_writing_sql(src,
                                                "SELECT 1 FROM (SELECT * FROM " + S.quoted() +
                                                    " LIMIT " + std::to_string(kWriteTrialRows) +
                                                    ") AS s WHERE (" + req.where + ")",
                                                "--where \"" + req.where + "\""));
  }
  return spec;
}

}  // namespace backfill::pg
