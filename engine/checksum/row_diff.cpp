#include "engine/checksum/row_diff.hpp"

#include <algorithm>

namespace backfill {

const char* diff_kind_name(DiffKind k) {
  switch (k) {
    case DiffKind::kMissing:
      return "missing";
    case DiffKind::kExtra:
      return "extra";
    case DiffKind::kDifferent:
      return "different";
  }
  return "?";
}

std::vector<RowDifference> diff_rows(std::vector<KeyedHash> source, std::vector<KeyedHash> target) {
  auto order = [](const KeyedHash& a, const KeyedHash& b) {
    return a.key != b.key ? a.key < b.key : a.hash < b.hash;
  };
  std::sort(source.begin(), source.end(), order);
  std::sort(target.begin(), target.end(), order);
  std::vector<RowDifference> out;
  std::size_t i = 0, j = 0;
  while (i < source.size() || j < target.size()) {
    // The next key and the run of rows each side has for it.
    const Key& k = (j == target.size() || (i < source.size() && source[i].key < target[j].key))
                       ? source[i].key
                       : target[j].key;
    std::vector<std::uint64_t> s, t;
    while (i < source.size() && source[i].key == k) s.push_back(source[i++].hash);
    while (j < target.size() && target[j].key == k) t.push_back(target[j++].hash);
    if (s == t) continue;
    if (t.empty()) {
      out.push_back({k, DiffKind::kMissing});
    } else if (s.empty()) {
      out.push_back({k, DiffKind::kExtra});
    } else if (t.size() > s.size() && std::includes(t.begin(), t.end(), s.begin(), s.end())) {
      out.push_back({k, DiffKind::kExtra});  // the source's rows are there, and more
    } else {
      out.push_back({k, DiffKind::kDifferent});
    }
  }
  return out;
}

}  // namespace backfill
