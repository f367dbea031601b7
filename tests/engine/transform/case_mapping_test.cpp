// lower()/upper() by ctype: ASCII only in C, libc's towlower_l per character, ICU's full
// mappings for an ICU locale, and the fallback when a libc locale is not installed here.
#include "engine/transform/case_mapping.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

std::string lower(const CaseMapping& m, std::string s) {
  m.lower(&s);
  return s;
}
std::string upper(const CaseMapping& m, std::string s) {
  m.upper(&s);
  return s;
}

using Provider = CtypeSpec::Provider;

TEST(CaseMapping, CCtypeChangesOnlyAsciiLetters) {
  auto m = CaseMapping::for_ctype({Provider::kLibc, "C"});
  EXPECT_EQ(lower(*m, "ÉCOLE Straße"), "École straße");
  EXPECT_EQ(upper(*m, "école"), "éCOLE");
  EXPECT_EQ(lower(*CaseMapping::for_ctype({Provider::kLibc, "POSIX"}), "ABC"), "abc");
}

TEST(CaseMapping, LibcUtf8LocaleMapsArmenianFullwidthAndDigraphs) {
  std::string warning;
  auto m = CaseMapping::for_ctype({Provider::kLibc, "C.UTF-8"}, &warning);
  EXPECT_EQ(warning, "");
  EXPECT_EQ(m->describe(), "libc C.UTF-8");
  // What PostgreSQL 15 answers in a C.UTF-8 database (measured).
  EXPECT_EQ(lower(*m, "ԱԲԳ Ǆ ＡＢＣ ȘTEFAN"), "աբգ ǆ ａｂｃ ștefan");
  EXPECT_EQ(upper(*m, "Nguyễn ß ǆ"), "NGUYỄN ß Ǆ");  // simple mappings: ß stays
}

TEST(CaseMapping, IcuLocaleUsesFullMappingsAndTurkishKeepsItsDotlessI) {
  auto root = CaseMapping::for_ctype({Provider::kIcu, "und"});
  EXPECT_EQ(upper(*root, "straße"), "STRASSE");
  auto tr = CaseMapping::for_ctype({Provider::kIcu, "tr"});
  EXPECT_EQ(lower(*tr, "ISTANBUL"), "ıstanbul");  // the ASCII fast path must not apply
  EXPECT_EQ(upper(*tr, "istanbul"), "İSTANBUL");
}

TEST(CaseMapping, AMissingLibcLocaleFallsBackToUnicodeAndSaysSo) {
  std::string warning;
  auto m = CaseMapping::for_ctype({Provider::kLibc, "xx_NOWHERE.UTF-8"}, &warning);
  EXPECT_NE(warning.find("xx_NOWHERE.UTF-8 is not installed"), std::string::npos) << warning;
  EXPECT_EQ(lower(*m, "ԱԲԳ ＡＢＣ"), "աբգ ａｂｃ");
}

TEST(CaseMapping, InvalidUtf8BytesAreLeftAlone) {
  const CaseMapping& u = CaseMapping::unicode();
  EXPECT_EQ(lower(u, std::string("A\xC0Z\xFF")), std::string("a\xC0z\xFF"));
}

}  // namespace
}  // namespace backfill
