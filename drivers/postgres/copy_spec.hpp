// Preflight for copy: turns what the user asked for into the exact SQL a job will run,
// and refuses, before anything is written, what cannot work.
//
// It resolves both tables, the key (primary key or --key, which must be NOT NULL and carry
// a unique index), the column list (each target column from its --map, or from the
// same-named source column, cast on read to the target's type), the conflict policy, and
// checks on the source that every cast exists and --where parses. Every failure is
// kInvalid with a message naming the table, column or option at fault.
#pragma once

#include <string>
#include <vector>

#include "drivers/postgres/catalog.hpp"
#include "drivers/postgres/connection.hpp"
#include "engine/plan/planner.hpp"
#include "engine/table/request.hpp"
#include "engine/transform/functions.hpp"
#include "engine/transform/transform.hpp"

namespace backfill::pg {

struct ColumnMapping {
  std::string target;       // target column
  std::string source;       // source column it is read from; empty for a --source-expr
  std::string source_sql;   // what the source computes: "col", or "(expr)" for --source-expr
  std::string read_expr;    // source_sql cast to the wire type, AS the target column
  std::string source_text;  // for messages: source column "x" (type), or --source-expr "..."
  bool computed = false;    // by a --map expression, here: nothing is read for it as such
};

struct CopySpec {
  TableInfo source;
  TableInfo target;
  std::vector<std::string> key;         // source key columns, in order
  std::vector<std::string> key_types;   // their types as format_type() spells them (bigint, text)
  std::vector<std::string> target_key;  // the target columns the key is copied to
  // No primary key and no --key: chunked by TID range, key {"ctid"} of type tid, so that a
  // chunk (lo, hi] is the pages from lo's up to hi's (a TID range scan; partitions each
  // scan their own pages). Copied with --on-conflict error only, exactly once through the
  // ledger in the target; verified as a multiset.
  bool keyless = false;
  std::vector<ColumnMapping> columns;
  std::string where;
  ConflictPolicy policy = ConflictPolicy::kError;
  std::string newer_column;  // target column, for kNewer
  // --map expressions: the transform that computes their columns from the read, whose
  // fields are the read_exprs of the columns not computed, then map_inputs. Null when
  // every column is read as it is written.
  std::shared_ptr<const MapPlan> map;
  std::vector<std::string> warnings;  // for the job to print before it starts
  std::vector<std::string> map_inputs;

  // The SELECT list of a read: what the source sends for the columns, before the transform.
  std::string select_list() const;

  // SQL, built once here so `plan` prints exactly what the job runs.
  std::string range_predicate(const ChunkRange& range) const;  // on the source key
  // The key texts of the range's middle row, then the range's row count.
  std::string split_point_sql(const ChunkRange& range) const;
  std::string read_sql(const ChunkRange& range) const;
  std::string boundary_sql() const;  // $1..$n: key after (absent for the first), $last: offset
  std::string first_boundary_sql() const;
  std::string write_sql() const;              // COPY into the target, or into the staging table
  std::string write_into_target_sql() const;  // COPY straight into the target
  std::string stage_create_sql() const;
  std::string merge_sql() const;  // staging -> target with the conflict policy; "" for error
  std::string boundary_select(bool after) const;
  // The arguments that decide what is written, for the job's fingerprint.
  std::string fingerprint_text() const;
};

// "(a, b) > ('1'::int, 'x'::text) AND (a, b) <= (...)": rows of the chunk, on any table
// whose key columns are `columns` of `types`.
// With `alias`, the columns are qualified by it ("s"."a").
std::string key_range_predicate(const std::vector<std::string>& columns,
                                const std::vector<std::string>& types, const ChunkRange& range,
                                const std::string& alias = "");

// TID chunking of a keyless table: the page that "(p,0)" starts (kFailed for a bound that
// is no such text), and the bound for page p.
Result<std::int64_t> tid_page(const Key& bound);
Key tid_bound(std::int64_t page);
// $1: the table's oid. Its pages now (the largest of its partitions'), and the rows a page
// index holds by the statistics, over every partition (0 when it was never analysed).
std::string tid_extent_sql();

// --on-conflict's text; newer:COLUMN names the column as an SQL identifier.
Result<ConflictPolicy> parse_conflict_policy(const std::string& text, std::string* newer_column);

// The key of a table: `key_option` (--key: NOT NULL columns covered by a unique index), or
// its primary key; and their types, each one keyset chunking supports.
Status resolve_key(const TableInfo& table, const std::string& key_option,
                   std::vector<std::string>* key, std::vector<std::string>* key_types);

// Preflight. `src` and `tgt` may be the same connection's database or not.
Result<CopySpec> plan_copy(PgConnection& src, PgConnection& tgt, const CopyRequest& request);

}  // namespace backfill::pg
