// A json document's text as PostgreSQL's jsonb prints it, for a json value a --map writes
// into a jsonb column: verify compares the target's jsonb with what the map gives, so that
// must be jsonb's text too, not the json's own. Hand-written over simdjson's parser: no
// library prints jsonb's rules (keys ordered by length, then bytes; of duplicate keys the
// last; ", " and ": " between items; numbers as numeric prints them; strings escaped as
// escape_json). Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "engine/util/status.hpp"

namespace backfill {

// `json` (valid JSON, as a json column holds it) as jsonb's text ("1.50e2" is 150,
// "\u00e9" is é); an error for what jsonb refuses (\u0000) or for invalid JSON.
Result<std::string> jsonb_text(std::string_view json);

}  // namespace backfill
