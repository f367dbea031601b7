// UTF-8 walking for the built-in functions: code points, lengths and offsets counted in
// characters, as PostgreSQL counts them in a UTF-8 database. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace backfill {

// Appends code point `cp` as UTF-8.
void append_utf8(std::string* out, std::uint32_t cp);
// Decodes the code point at s[*pos] and advances past it; a byte that does not start a
// valid sequence comes out as itself, one byte long.
std::uint32_t next_code_point(std::string_view s, std::size_t* pos);
// Number of code points in valid UTF-8 (continuation bytes are not counted).
std::int64_t utf8_length(std::string_view s);
// Byte offset of code point `n` (0-based), or s.size() when the text is shorter.
std::size_t utf8_offset(std::string_view s, std::int64_t n);

}  // namespace backfill
