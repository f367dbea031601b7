// The binary COPY reader and the field decoders behind it, on any bytes: a stream that is
// not PostgreSQL's binary COPY must be an error, never a crash or a read out of bounds.
// Invariants: the reader and the counters agree on the number of tuples, and a field that
// decodes encodes back to a field that decodes to the same value.
#include <vector>

#include "engine/format/copy_format.hpp"
#include "engine/format/value_codec.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace backfill;

namespace {
constexpr FieldCodec kCodecs[] = {
    FieldCodec::kText, FieldCodec::kBpchar,    FieldCodec::kInt2,   FieldCodec::kInt4,
    FieldCodec::kInt8, FieldCodec::kFloat4,    FieldCodec::kFloat8, FieldCodec::kNumeric,
    FieldCodec::kBool, FieldCodec::kTimestamp, FieldCodec::kDate,   FieldCodec::kJsonb,
    FieldCodec::kJson, FieldCodec::kUuid,
};
constexpr std::size_t kCodecCount = sizeof kCodecs / sizeof kCodecs[0];
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const bool piece = in.byte() & 1;  // a CopyData piece without a header, or a whole stream
  const std::string_view stream = in.rest();

  CopyReader reader = piece ? CopyReader::continuing(stream) : CopyReader(stream);
  std::vector<CopyField> fields;
  std::int64_t tuples = 0;
  bool ok = piece || reader.read_header().is_ok();
  while (ok) {
    auto r = reader.next(&fields);
    if (!r.ok() || !r.value()) {
      ok = r.ok();
      break;
    }
    ++tuples;
    CHECK(reader.last_tuple().size() <= stream.size());
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (!fields[i]) continue;
      const FieldCodec codec = kCodecs[(i + tuples) % kCodecCount];
      auto v = decode_field(codec, *fields[i]);
      if (!v.ok()) continue;
      // What decodes encodes, and decodes to the same text again.
      std::string bytes;
      if (!encode_field(codec, -1, v.value(), &bytes).is_ok()) continue;
      auto again = decode_field(codec, bytes);
      CHECK(again.ok());
      if (!v.value().is_null() && codec != FieldCodec::kFloat4 && codec != FieldCodec::kFloat8) {
        CHECK(to_text(again.value()) == to_text(v.value()));
      }
    }
  }
  if (!piece) {
    auto counted = count_copy_rows(stream);
    if (ok && reader.at_end()) CHECK(counted.ok() && counted.value() == tuples);
    (void)copy_stream_tuples(stream);
  } else {
    auto counted = count_copy_tuples(stream);
    if (counted.ok()) CHECK(counted.value() >= 0);
  }
  return 0;
}
