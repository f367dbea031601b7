// The SQL verify runs on each side, built from the same column mapping as copy (so a target
// built by `backfill copy` with some arguments verifies with the same arguments).
//
// Push-down: each server returns a chunk's row count and the sum of 64-bit row hashes
// (each column's own hash where its equality is the one verify promises, its text form
// otherwise, with sessions pinned so that DateStyle, TimeZone, float and bytea output
// cannot differ); only a mismatching chunk's (key, row hash) lists travel. Streamed: both sides'
// rows come over binary COPY and are hashed here: the compared columns alone for the digests, and
// with key texts first for a mismatching chunk's (key, row hash) lists. Plain data; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "drivers/postgres/copy_spec.hpp"
#include "engine/checksum/row_hash.hpp"
#include "engine/jobs/verify_job.hpp"

namespace backfill::pg {

struct VerifySpec {
  CopySpec copy;  // tables, key, column mapping, --where
  std::vector<std::string> target_key_types;
  std::vector<FieldNorm> norms;  // per compared column, for the streamed method
  // Both servers have hash_record_extended (14+); otherwise rows hash by their text form.
  bool native_row_hash = true;

  std::string source_digest_sql(const ChunkRange& r) const;
  std::string target_digest_sql(const ChunkRange& r) const;
  std::string source_rows_sql(const ChunkRange& r) const;  // key texts, then the row hash
  std::string target_rows_sql(const ChunkRange& r) const;
  // COPY of the compared columns, after the key texts when `with_keys`.
  std::string source_stream_sql(const ChunkRange& r, bool with_keys) const;
  std::string target_stream_sql(const ChunkRange& r, bool with_keys) const;
  // Repair: the source rows of `keys` as copy reads them, and the target rows to replace.
  std::string source_rows_by_key_sql(const std::vector<Key>& keys) const;
  std::string target_delete_by_key_sql(const std::vector<Key>& keys) const;
  // A keyless table's rows are named by their position, (ctid, tableoid) texts: a
  // partition's pages start at 0 like any table's. The key texts of a row in the lists and
  // keyed streams: the key's columns, or these two.
  std::size_t key_text_count() const { return copy.keyless ? 2 : copy.key.size(); }
  // $1: the ctids, as a tid[] literal. Each row's position texts, then its compared columns
  // as text (the source's as it reads them, before --map).
  std::string source_values_sql() const;
  std::string target_values_sql() const;

 private:
  std::string source_row_hash() const;
  std::string target_row_hash() const;
  std::string key_texts(const std::string& alias, const std::vector<std::string>& cols) const;
  std::vector<std::string> source_exprs() const;  // the compared columns, as the source reads
  std::string source_filter(const ChunkRange& r) const;
  std::string target_filter(const ChunkRange& r) const;
};

// --method auto | push-down | streamed for this spec: auto pushes down unless a --map
// expression is computed here (the servers cannot compute it); push-down then is kInvalid.
Result<HashMethod> choose_hash_method(const std::string& option, const VerifySpec& spec);

// Preflight for verify: as for copy, and the key must be copied into the target.
Result<VerifySpec> plan_verify(PgConnection& src, PgConnection& tgt, CopyRequest request);

}  // namespace backfill::pg
