#include "engine/checksum/piece_digest.hpp"

#include <gtest/gtest.h>

#include "engine/format/copy_format.hpp"

namespace backfill {
namespace {

// `rows` rows of (id, a value long enough that a stream spans several pieces).
std::string stream_of(int rows, int changed_row = -1) {
  CopyWriter w;
  for (int i = 0; i < rows; ++i) {
    w.begin_tuple(2);
    w.add_bytes(std::to_string(i));
    w.add_bytes(std::string(1000, i == changed_row ? 'y' : 'x') + std::to_string(i));
  }
  return w.finish().bytes;
}

// The stream fed as PostgreSQL sends it: the header with the first row, then one row per
// message, then the trailer.
Result<ChunkDigest> pieces_digest(const std::string& stream, const std::vector<FieldNorm>& norms,
                                  oneapi::tbb::task_arena& arena) {
  PieceDigester d(arena, norms);
  CopyReader r(stream);
  EXPECT_TRUE(r.read_header().is_ok());
  std::vector<CopyField> f;
  std::size_t start = 0;
  while (*r.next(&f)) {
    EXPECT_TRUE(d.feed(std::string_view(stream).substr(start, r.position() - start)).is_ok());
    start = r.position();
  }
  EXPECT_TRUE(d.feed(std::string_view(stream).substr(start)).is_ok());
  return d.finish();
}

TEST(PieceDigester, DigestsPiecesInTheArenaAsOneDigesterWould) {
  oneapi::tbb::task_arena arena(2);
  for (const auto& norms : {std::vector<FieldNorm>{FieldNorm::kBytes, FieldNorm::kBytes},
                            std::vector<FieldNorm>{FieldNorm::kBytes, FieldNorm::kFloat8}}) {
    for (int rows : {0, 1, 3, 2000}) {  // 2,000 rows of 1 KB: eight pieces
      const std::string s = stream_of(rows);
      CopyDigester one(norms);
      ASSERT_TRUE(one.feed(s).is_ok());
      auto want = one.finish();
      ASSERT_TRUE(want.ok());
      auto got = pieces_digest(s, norms, arena);
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_EQ(got.value(), want.value()) << rows << " rows";
      EXPECT_EQ(got.value().rows, rows);
    }
    // A change in a row of a later piece shows.
    auto base = pieces_digest(stream_of(2000), norms, arena);
    auto changed = pieces_digest(stream_of(2000, 1500), norms, arena);
    ASSERT_TRUE(base.ok() && changed.ok());
    EXPECT_NE(base.value(), changed.value());
  }
}

TEST(PieceDigester, AStreamCutShortOrBrokenIsAnError) {
  oneapi::tbb::task_arena arena(2);
  const std::vector<FieldNorm> norms{FieldNorm::kBytes, FieldNorm::kBytes};
  const std::string s = stream_of(600);
  {
    PieceDigester d(arena, norms);
    ASSERT_TRUE(d.feed(std::string_view(s).substr(0, s.size() - 2)).is_ok());  // no trailer
    EXPECT_FALSE(d.finish().ok());
  }
  {
    PieceDigester d(arena, norms);
    (void)d.feed(s.substr(0, 11) + "garbage that is no tuple");  // a broken header piece
    EXPECT_FALSE(d.finish().ok());
  }
  {
    // Abandoned half way (its read failed): the destructor waits for the pieces in flight.
    PieceDigester d(arena, norms);
    (void)d.feed(std::string_view(s).substr(0, s.size() / 2));
  }
}

}  // namespace
}  // namespace backfill
