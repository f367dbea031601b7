// MD5 (RFC 1321), for the md5() built-in: PostgreSQL's md5() gives the same lower-case
// hex. Not for security; for pseudonymising values the way existing SQL already does.
#pragma once

#include <string>
#include <string_view>

namespace backfill {

std::string md5_hex(std::string_view data);

}  // namespace backfill
