// Resolving a mismatching chunk to its rows: given (key, row hash) lists of both sides,
// which keys are missing from the target, extra in it, or different.
//
// Keys are compared as their text forms, so the order either side listed them in does not
// matter (text keys in two databases with different collations still pair up). A target
// without a unique key may hold a key twice: the copy beyond the source's is "extra".
// A changed key shows as one missing and one extra. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/checksum/row_hash.hpp"

namespace backfill {

enum class DiffKind { kMissing, kExtra, kDifferent };
const char* diff_kind_name(DiffKind k);

struct RowDifference {
  Key key;
  DiffKind kind;
  bool operator==(const RowDifference&) const = default;
};

// Differences in key order (byte order of the key texts), every one of them.
std::vector<RowDifference> diff_rows(std::vector<KeyedHash> source, std::vector<KeyedHash> target);

}  // namespace backfill
