// PostgreSQL's type names, in the one place that knows them: what kind of value
// (engine/table/table.hpp) a column of each type holds, and the cast that makes a read
// arrive in the binary form of the codec a --map decodes it with. Pure functions;
// thread-safe.
#pragma once

#include <string>

#include "engine/format/value_codec.hpp"
#include "engine/table/table.hpp"

namespace backfill::pg {

// A column's type from the catalog: `typname` and `typtype` of its base type (a domain's
// base type, else its own), format_type() of its own type, and the type it is read as.
ColumnType column_type(const std::string& typname, const std::string& typtype,
                       const std::string& format_type, const std::string& read_as);

// The type a read must be cast to for its field to arrive as `codec` decodes it, or "" when
// a column of `type` already arrives so.
std::string cast_for_codec(FieldCodec codec, const ColumnType& type);

// How verify's push-down hash reads a value of type `type` (format_type's spelling) into
// hash_record_extended: as it is, in the "C" collation (text), or through its text form.
// Native hashes are used only for the types whose default hash agrees exactly with the
// equality verify promises: -0 and 0, every NaN, numeric 1.0 and 1.00 hash alike. jsonb,
// arrays and interval hash by looser equalities (jsonb 1.0 = 1.00, '1 day' = '24 hours'),
// so they, and every type not listed, are hashed through their text.
enum class NativeHash { kAsIs, kInC, kViaText };
NativeHash native_hash_of(const std::string& type);

}  // namespace backfill::pg
