// Stable 64-bit hashing (XXH3), the same on every platform and xxHash version >= 0.8, for
// anything that is stored or compared across processes: job names, checksums.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace backfill {

std::uint64_t hash64(std::string_view bytes);
// 16 lower-case hex digits.
std::string hex64(std::uint64_t v);

}  // namespace backfill
