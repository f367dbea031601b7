#include "engine/table/table.hpp"

#include <algorithm>

namespace backfill {

const Column* TableDescription::column(const std::string& n) const {
  for (const auto& c : columns) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

bool TableDescription::has_unique_within(const std::vector<std::string>& cols) const {
  auto within = [&](const std::vector<std::string>& idx) {
    return !idx.empty() && std::all_of(idx.begin(), idx.end(), [&](const std::string& c) {
      return std::find(cols.begin(), cols.end(), c) != cols.end();
    });
  };
  return within(primary_key) || std::any_of(unique_keys.begin(), unique_keys.end(), within);
}

}  // namespace backfill
