#include "engine/checksum/row_hash.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace backfill {
namespace {

constexpr char kNullTag = 0;
constexpr char kValueTag = 1;

// Tag and big-endian length in one append: this runs for every field of every row.
void append_value(std::string_view payload, std::string* out) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  const char head[5] = {kValueTag, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                        static_cast<char>(n >> 8), static_cast<char>(n)};
  out->append(head, sizeof head);
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
// in trailing zero digits and display scale, so drop both (and the weight of a zero). The
// digits are already big-endian 16-bit words: the kept ones are copied as they are.
void append_numeric(std::string_view b, std::string* out) {
  if (b.size() < 8) return append_value(b, out);
  const std::int16_t ndigits = get_be16(b.data());
  std::int16_t weight = get_be16(b.data() + 2);
  std::uint16_t sign = static_cast<std::uint16_t>(get_be16(b.data() + 4));
  if (ndigits < 0 || b.size() != 8 + 2 * static_cast<std::size_t>(ndigits))
    return append_value(b, out);
  auto digit = [&](std::size_t i) { return get_be16(b.data() + 8 + 2 * i); };
  std::size_t first = 0, end = static_cast<std::size_t>(ndigits);
  while (end > first && digit(end - 1) == 0) --end;
  while (first < end && digit(first) == 0) ++first, --weight;
  if (first == end && sign != 0xC000) {  // zero, of any sign and scale (NaN is 0xC000)
    weight = 0;
    sign = 0;
  }
  const auto kept = static_cast<std::uint16_t>(end - first);
  const auto w = static_cast<std::uint16_t>(weight);
  const char head[8] = {static_cast<char>(kept >> 8),
                        static_cast<char>(kept),
                        static_cast<char>(w >> 8),
                        static_cast<char>(w),
                        static_cast<char>(sign >> 8),
                        static_cast<char>(sign),
                        0,
                        0};  // display scale: not the value
  const auto n = static_cast<std::uint32_t>(8 + 2 * kept);
  const char tag[5] = {kValueTag, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                       static_cast<char>(n >> 8), static_cast<char>(n)};
  out->append(tag, sizeof tag);
  out->append(head, sizeof head);
  out->append(b.substr(8 + 2 * first, 2 * kept));
}

}  // namespace

FieldNorm field_norm_of(const ColumnType& type) {
  switch (type.kind) {
    case TypeKind::kFloat4:
      return FieldNorm::kFloat4;
    case TypeKind::kFloat8:
      return FieldNorm::kFloat8;
    case TypeKind::kNumeric:
      // A numeric with a typmod has one display scale for every value, and both sides are
      // read as the target's type: equal values are equal bytes. Only bare numeric (1.0
      // against 1.00) needs its scale dropped.
      return type.modifier < 0 ? FieldNorm::kNumeric : FieldNorm::kBytes;
    default:
      return FieldNorm::kBytes;
  }
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

Result<std::uint64_t> sum_mod_2_64(std::string_view decimal) {
  const bool negative = !decimal.empty() && decimal.front() == '-';
  std::string_view digits = negative ? decimal.substr(1) : decimal;
  if (negative && digits.empty()) return Status::failed("hash sum \"-\" is not a number");
  if (digits.size() > 38) {
    return Status::failed("hash sum of " + std::to_string(digits.size()) + " digits is too large");
  }
  __extension__ using u128 = unsigned __int128;
  u128 magnitude = 0;  // 38 decimal digits < 2^127
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return Status::failed("hash sum \"" + std::string(decimal) + "\" is not an integer");
    }
    magnitude = magnitude * 10 + static_cast<unsigned>(c - '0');
  }
  const auto low = static_cast<std::uint64_t>(magnitude);  // mod 2^64
  return negative ? 0 - low : low;
}

namespace {

// The row hash: the key texts (the first key_fields fields) when `hash_keys`, and the
// normalised compared fields, in their canonical form, through XXH3. `canon` is scratch
// space.
Result<std::uint64_t> row_hash(const std::vector<CopyField>& fields, std::size_t key_fields,
                               const std::vector<FieldNorm>& norms, bool hash_keys,
                               std::string* canon) {
  if (fields.size() != key_fields + norms.size()) {
    return Status::failed("row has " + std::to_string(fields.size()) + " fields, expected " +
                          std::to_string(key_fields + norms.size()));
  }
  canon->clear();
  for (std::size_t i = 0; i < key_fields; ++i) {
    if (!fields[i]) return Status::failed("NULL key value in a verified row");
    if (hash_keys) append_canonical(FieldNorm::kBytes, fields[i], canon);
  }
  for (std::size_t i = 0; i < norms.size(); ++i)
    append_canonical(norms[i], fields[key_fields + i], canon);
  return XXH3_64bits(canon->data(), canon->size());
}

}  // namespace

Result<std::vector<KeyedHash>> hash_copy_rows(std::string_view stream, std::size_t key_fields,
                                              const std::vector<FieldNorm>& norms,
                                              ChunkDigest* digest, bool hash_keys) {
  CopyReader reader(stream);
  BACKFILL_RETURN_IF_ERROR(reader.read_header());
  std::vector<KeyedHash> out;
  std::vector<CopyField> fields;
  std::string canon;
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(bool more, reader.next(&fields));
    if (!more) return out;
    KeyedHash kh;
    BACKFILL_ASSIGN_OR_RETURN(kh.hash, row_hash(fields, key_fields, norms, hash_keys, &canon));
    for (std::size_t i = 0; i < key_fields; ++i) kh.key.emplace_back(*fields[i]);
    if (digest) digest->add(kh.hash);
    out.push_back(std::move(kh));
  }
}

CopyDigester::CopyDigester(std::vector<FieldNorm> norms)
    : norms_(std::move(norms)), raw_(std::all_of(norms_.begin(), norms_.end(), [](FieldNorm n) {
        return n == FieldNorm::kBytes;
      })) {}

Status CopyDigester::feed(std::string_view message) {
  if (trailer_seen_) return Status::failed("binary COPY stream continues after its trailer");
  CopyReader reader = header_seen_ ? CopyReader::continuing(message) : CopyReader(message);
  if (!header_seen_) {
    BACKFILL_RETURN_IF_ERROR(reader.read_header());
    header_seen_ = true;
  }
  while (!reader.exhausted()) {
    BACKFILL_ASSIGN_OR_RETURN(bool row, reader.next(&fields_));
    if (!row) {
      trailer_seen_ = true;
      break;
    }
    if (raw_ && fields_.size() == norms_.size()) {
      const std::string_view tuple = reader.last_tuple();
      digest_.add(XXH3_64bits(tuple.data(), tuple.size()));
      continue;
    }
    BACKFILL_ASSIGN_OR_RETURN(std::uint64_t h, row_hash(fields_, 0, norms_, true, &canon_));
    digest_.add(h);
  }
  return Status::ok();
}

Result<ChunkDigest> CopyDigester::finish() const {
  if (!trailer_seen_) return Status::failed("binary COPY stream ended without its trailer");
  return digest_;
}

}  // namespace backfill
