// Between a binary COPY field and a Value: the decoders for the columns a `--map` reads
// and the encoders for the columns it writes, each in PostgreSQL's binary form.
//
// The engine picks a FieldCodec per column from its type's kind (engine/table/table.hpp),
// and the driver casts on read so that the field arrives in that form. Pure functions;
// thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/table/table.hpp"
#include "engine/transform/functions.hpp"

namespace backfill {

enum class FieldCodec {
  kText,    // text, varchar, name; and, read as text, every type not listed here
  kBpchar,  // character(n): text, padded with spaces to n characters as the server stores it
  kInt2,
  kInt4,
  kInt8,
  kFloat4,
  kFloat8,
  kNumeric,
  kBool,
  kTimestamp,    // timestamp without time zone: microseconds since 2000-01-01
  kTimestampTz,  // timestamp with time zone: the same, read as ValueForm::kDefault
  kDate,
  kJsonb,
  kJson,
  kUuid,
};

// The codec a --map reads a column of this kind with: its write codec widened (every integer
// as kInt8), and kText for a type a --map cannot write (the driver casts the read to match).
// A real, a character(n), a date, a timestamp and json are read as they are, so that their
// values keep their PostgreSQL type's form.
FieldCodec read_codec_of(TypeKind kind);
// The codec a column of this kind is written with, or nullopt for a type a --map cannot
// produce (bytea, arrays, inet, ...).
std::optional<FieldCodec> write_codec_of(TypeKind kind);

// The Value type a field of this codec decodes to.
ValueType value_type_of(FieldCodec c);
// Whether a value of static type `t` can be written to a column of this codec. Anything
// can be written to text (as its text, like an assignment cast).
bool can_store(ValueType t, FieldCodec c);

Result<Value> decode_field(FieldCodec c, std::string_view bytes);
// The same into an existing value, whose string keeps its capacity from row to row.
Status decode_field_into(FieldCodec c, std::string_view bytes, Value* out);
// Appends the field's bytes (without the length word). `modifier` >= 0 applies the column's
// type modifier as the server would on storing the value (so that a verify reading it back
// sees the same bytes): a numeric rounded to that scale, a character(n) padded to n.
Status encode_field(FieldCodec c, int modifier, const Value& v, std::string* out);

// A character(n)'s text without its trailing spaces, as the cast to text gives it.
std::string_view trim_padding(std::string_view s);

// The binary numeric form of a canonical decimal, and back.
std::string encode_numeric(std::string_view canonical);
Result<std::string> decode_numeric(std::string_view bytes);

}  // namespace backfill
