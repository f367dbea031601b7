// Numbers read from text with std::from_chars: the whole text or nothing, no exceptions, no
// locale. For the server's own output (ledger rows, catalog type modifiers, load signals)
// and for the command line's values. Pure; thread-safe.
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace backfill {

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T v{};
  const char* end = text.data() + text.size();
  auto r = std::from_chars(text.data(), end, v);
  if (r.ec != std::errc() || r.ptr != end || text.empty()) return std::nullopt;
  return v;
}

}  // namespace backfill
