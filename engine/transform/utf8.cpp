#include "engine/transform/utf8.hpp"

namespace backfill {
namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

std::uint32_t next_code_point(std::string_view s, std::size_t* pos) {
  const auto c = static_cast<unsigned char>(s[*pos]);
  int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
  if (extra <= 0 || *pos + static_cast<std::size_t>(extra) >= s.size()) {
    ++*pos;
    return c;
  }
  std::uint32_t cp = c & (0x3Fu >> extra);
  for (int i = 1; i <= extra; ++i) {
    auto b = static_cast<unsigned char>(s[*pos + static_cast<std::size_t>(i)]);
    if (!is_continuation(b)) {
      ++*pos;
      return c;
    }
    cp = (cp << 6) | (b & 0x3Fu);
  }
  *pos += static_cast<std::size_t>(extra) + 1;
  return cp;
}

void append_utf8(std::string* out, std::uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::int64_t utf8_length(std::string_view s) {
  std::int64_t n = 0;
  for (char c : s) n += !is_continuation(static_cast<unsigned char>(c));
  return n;
}

std::size_t utf8_offset(std::string_view s, std::int64_t n) {
  if (n <= 0) return 0;
  std::int64_t seen = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!is_continuation(static_cast<unsigned char>(s[i]))) {
      if (seen == n) return i;
      ++seen;
    }
  }
  return s.size();
}

}  // namespace backfill
