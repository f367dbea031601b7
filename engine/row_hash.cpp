#include "engine/row_hash.hpp"

#include <xxhash.h>

#include <cstring>
#include <limits>

namespace backfill {
namespace {

constexpr char kNullTag = 0;
constexpr char kValueTag = 1;

void append_value(std::string_view payload, std::string* out) {
  out->push_back(kValueTag);
  put_be32(out, static_cast<std::int32_t>(payload.size()));
  out->append(payload);
}

// float4/float8: every NaN hashes as one NaN and -0 as 0, as PostgreSQL's = sees them.
template <typename Float, typename Bits, std::size_t N>
void append_float(std::string_view bytes, std::string* out) {
  if (bytes.size() != N) return append_value(bytes, out);
  Bits bits = 0;
  for (std::size_t i = 0; i < N; ++i)
    bits = static_cast<Bits>((bits << 8) | static_cast<unsigned char>(bytes[i]));
  Float f;
  std::memcpy(&f, &bits, N);
  if (f != f) {
    f = std::numeric_limits<Float>::quiet_NaN();
  } else if (f == 0) {
    f = 0;
  }
  std::memcpy(&bits, &f, N);
  char buf[N];
  for (std::size_t i = 0; i < N; ++i) buf[i] = static_cast<char>(bits >> (8 * (N - 1 - i)));
  append_value(std::string_view(buf, N), out);
}

// numeric: ndigits, weight, sign, dscale, then base-10000 digits. Equal values differ only
// in trailing zero digits and display scale, so drop both (and the weight of a zero).
void append_numeric(std::string_view b, std::string* out) {
  if (b.size() < 8) return append_value(b, out);
  std::int16_t ndigits = get_be16(b.data());
  std::int16_t weight = get_be16(b.data() + 2);
  std::uint16_t sign = static_cast<std::uint16_t>(get_be16(b.data() + 4));
  if (ndigits < 0 || b.size() != 8 + 2 * static_cast<std::size_t>(ndigits))
    return append_value(b, out);
  std::vector<std::int16_t> digits;
  for (int i = 0; i < ndigits; ++i) digits.push_back(get_be16(b.data() + 8 + 2 * i));
  while (!digits.empty() && digits.back() == 0) digits.pop_back();
  std::size_t lead = 0;
  while (lead < digits.size() && digits[lead] == 0) ++lead, --weight;
  digits.erase(digits.begin(), digits.begin() + static_cast<std::ptrdiff_t>(lead));
  if (digits.empty() && sign != 0xC000) {  // zero, of any sign and scale (NaN is 0xC000)
    weight = 0;
    sign = 0;
  }
  std::string canon;
  put_be16(&canon, static_cast<std::int16_t>(digits.size()));
  put_be16(&canon, weight);
  put_be16(&canon, static_cast<std::int16_t>(sign));
  put_be16(&canon, 0);  // display scale: not part of the value
  for (auto d : digits) put_be16(&canon, d);
  append_value(canon, out);
}

}  // namespace

FieldNorm field_norm_for(std::string_view t) {
  if (t == "real" || t == "float4") return FieldNorm::kFloat4;
  if (t == "double precision" || t == "float8") return FieldNorm::kFloat8;
  if (t == "numeric" || t.starts_with("numeric(")) return FieldNorm::kNumeric;
  return FieldNorm::kBytes;
}

void append_canonical(FieldNorm norm, const CopyField& field, std::string* out) {
  if (!field) {
    out->push_back(kNullTag);
    return;
  }
  switch (norm) {
    case FieldNorm::kFloat4:
      return append_float<float, std::uint32_t, 4>(*field, out);
    case FieldNorm::kFloat8:
      return append_float<double, std::uint64_t, 8>(*field, out);
    case FieldNorm::kNumeric:
      return append_numeric(*field, out);
    case FieldNorm::kBytes:
      return append_value(*field, out);
  }
}

std::uint64_t combine_hash_halves(std::int64_t high_sum, std::int64_t low_sum) {
  return (static_cast<std::uint64_t>(high_sum) << 32) + static_cast<std::uint64_t>(low_sum);
}

Result<std::vector<KeyedHash>> hash_copy_rows(std::string_view stream, std::size_t key_fields,
                                              const std::vector<FieldNorm>& norms,
                                              ChunkDigest* digest) {
  CopyReader reader(stream);
  BACKFILL_RETURN_IF_ERROR(reader.read_header());
  std::vector<KeyedHash> out;
  std::vector<CopyField> fields;
  std::string canon;
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) break;
    if (fields.size() != key_fields + norms.size()) {
      return Status::failed("row has " + std::to_string(fields.size()) + " fields, expected " +
                            std::to_string(key_fields + norms.size()));
    }
    KeyedHash kh;
    canon.clear();
    for (std::size_t i = 0; i < key_fields; ++i) {
      if (!fields[i]) return Status::failed("NULL key value in a verified row");
      kh.key.emplace_back(*fields[i]);
      append_canonical(FieldNorm::kBytes, fields[i], &canon);
    }
    for (std::size_t i = 0; i < norms.size(); ++i)
      append_canonical(norms[i], fields[key_fields + i], &canon);
    kh.hash = XXH3_64bits(canon.data(), canon.size());
    if (digest) digest->add(kh.hash);
    out.push_back(std::move(kh));
  }
  return out;
}

}  // namespace backfill
