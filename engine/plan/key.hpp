// Keys: the values of a table's key columns for one row, and their order.
//
// The engine keeps key values in the text form the database prints (with its date, time
// zone and number formats pinned by the driver), because that form round-trips exactly
// through the ledger and back into a query for every key type we chunk on. KeyType knows
// how those text forms order, so engine code (planner tests, merges) can compare keys
// without a database. Plain values; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/table/table.hpp"

namespace backfill {

using Key = std::vector<std::string>;

enum class KeyType { kInteger, kNumeric, kText, kUuid, kDate, kTimestamp };

// How keys of a column of this kind order, or nullopt when we cannot chunk on it.
std::optional<KeyType> key_type_of(TypeKind kind);

// <0, 0, >0 as a orders before, equal to, after b in the key's type. Text compares bytes
// (the "C" order).
int compare_key_values(KeyType type, std::string_view a, std::string_view b);
int compare_keys(const std::vector<KeyType>& types, const Key& a, const Key& b);

// "(id)=(42)" / "(a, b)=(1, x)": how a key appears in messages.
std::string format_key(const std::vector<std::string>& columns, const Key& key);

}  // namespace backfill
