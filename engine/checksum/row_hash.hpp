// Row hashes and chunk digests for verify.
//
// A row hash is XXH3-64 over the row's fields, each as a tag (NULL or value) and a
// length-prefixed payload in the binary form of its type, after normalising the values
// whose type calls them equal while their bytes differ: float -0 and 0, every NaN, numeric
// 1.0 and 1.00. No separators, no text output involved. A chunk digest is the row count
// and the sum of row hashes mod 2^64 (never XOR: two equal rows must not cancel).
// Pure functions and plain values; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/format/copy_format.hpp"
#include "engine/plan/key.hpp"
#include "engine/table/table.hpp"
#include "engine/util/status.hpp"

namespace backfill {

// How a field's binary form is normalised before hashing.
enum class FieldNorm { kBytes, kFloat4, kFloat8, kNumeric };

// The normalisation for a column of this type; kBytes for the types whose equal values are
// equal bytes.
FieldNorm field_norm_of(const ColumnType& type);

// Appends the canonical form of `field` under `norm` to `out` (tag, length, payload).
void append_canonical(FieldNorm norm, const CopyField& field, std::string* out);

struct ChunkDigest {
  std::int64_t rows = 0;
  std::uint64_t sum = 0;  // of row hashes, mod 2^64
  void add(std::uint64_t row_hash) {
    ++rows;
    sum += row_hash;  // unsigned: wraps mod 2^64
  }
  bool operator==(const ChunkDigest&) const = default;
};

// The sum of 64-bit hashes mod 2^64, from the exact decimal sum a server prints for
// sum(bigint) (PostgreSQL accumulates it in 128 bits: one aggregate, no overflow).
// Empty (SQL NULL: no rows) is 0. Anything but an optional '-' and digits, or more than
// 38 digits, is an error.
Result<std::uint64_t> sum_mod_2_64(std::string_view decimal);

// One row of a chunk, as verify compares it: its key and its hash.
struct KeyedHash {
  Key key;
  std::uint64_t hash = 0;
};

// Hashes every row of a binary COPY stream whose first `key_fields` fields are the key's
// text forms and whose other fields are normalised by `norms` (one per non-key field). The
// key texts are part of the hash unless `hash_keys` is false (a keyless row's position is
// no part of its value).
Result<std::vector<KeyedHash>> hash_copy_rows(std::string_view stream, std::size_t key_fields,
                                              const std::vector<FieldNorm>& norms,
                                              ChunkDigest* digest, bool hash_keys = true);

// The digest alone of a binary COPY stream of compared fields only (no key texts), fed one
// CopyData message at a time as the server sends them, so hashing overlaps the server's
// reading; no per-row allocation, for the chunks that match, which is nearly all of them.
class CopyDigester {
 public:
  explicit CopyDigester(std::vector<FieldNorm> norms);
  // One message: the header with the first rows, whole rows, or the trailer.
  Status feed(std::string_view message);
  // The digest, once the trailer came; an error for a stream cut short.
  Result<ChunkDigest> finish() const;

 private:
  std::vector<FieldNorm> norms_;  // a copy: a few bytes, and no reference to outlive
  // Every field compared as its bytes: the row hash is XXH3 of the tuple as it came (field
  // count, then each field's length, -1 for NULL, and bytes), which carries the same
  // information as the canonical form without copying the row.
  bool raw_ = false;
  ChunkDigest digest_;
  bool header_seen_ = false, trailer_seen_ = false;
  std::vector<CopyField> fields_;
  std::string canon_;
};

}  // namespace backfill
