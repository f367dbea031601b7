// Row hashes on any bytes: hash_copy_rows and the streaming CopyDigester must fail cleanly
// on a stream that is not binary COPY, and count the same rows of one that is. (Their sums
// differ by design: the digester hashes a row of plain fields as the bytes that came.)
#include <cstdlib>
#include <vector>

#include "engine/checksum/row_hash.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace backfill;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  std::vector<FieldNorm> norms;
  const int n = in.byte() % 6;
  for (int i = 0; i < n; ++i) norms.push_back(static_cast<FieldNorm>(in.byte() % 4));
  const std::size_t cut = in.byte();
  const std::string_view stream = in.rest();

  ChunkDigest whole;
  auto rows = hash_copy_rows(stream, 0, norms, &whole, false);

  CopyDigester digester(norms);
  Status fed;
  // Two messages, cut anywhere (the server cuts at rows; a cut inside one must be an error).
  const std::size_t at = std::min(cut, stream.size());
  fed = digester.feed(stream.substr(0, at));
  if (fed.is_ok() && at < stream.size()) fed = digester.feed(stream.substr(at));
  auto streamed = digester.finish();
  (void)sum_mod_2_64(stream.substr(0, std::min<std::size_t>(stream.size(), 48)));

  if (rows.ok() && fed.is_ok() && streamed.ok()) {
    if (streamed.value().rows != whole.rows) std::abort();
    if (rows.value().size() != static_cast<std::size_t>(whole.rows)) std::abort();
  }
  return 0;
}
