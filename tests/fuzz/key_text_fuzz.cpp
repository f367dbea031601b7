// Key texts on any bytes: the ledger's text[] literal decoder (a key read back from the
// ledger) and the comparison of key values by type (the planner's and merges' order).
// Invariants: a decoded key encodes to a literal that decodes to the same key, and the
// order is antisymmetric and reflexive.
#include "drivers/postgres/sql.hpp"
#include "engine/plan/key.hpp"
#include "tests/fuzz/fuzz_input.hpp"

using namespace backfill;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Input in(data, size);
  const auto type = static_cast<KeyType>(in.byte() % 6);
  const std::string_view a = in.until('\0');
  const std::string_view b = in.until('\0');
  const std::string_view literal = in.rest();

  auto key = pg::decode_text_array(literal);
  if (key.ok()) {
    auto again = pg::decode_text_array(pg::encode_text_array(key.value()));
    CHECK(again.ok() && again.value() == key.value());
  }
  const int ab = compare_key_values(type, a, b);
  const int ba = compare_key_values(type, b, a);
  CHECK((ab < 0) == (ba > 0) && (ab == 0) == (ba == 0));
  CHECK(compare_key_values(type, a, a) == 0);
  (void)format_key({"a", "b"}, Key{std::string(a), std::string(b)});
  return 0;
}
