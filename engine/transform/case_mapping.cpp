#include "engine/transform/case_mapping.hpp"

#include <locale.h>
#include <unicode/ucasemap.h>
#include <unicode/uchar.h>
#include <wctype.h>

#include <array>
#include <cctype>
#include <cstdio>

#include "engine/transform/utf8.hpp"

namespace backfill {
namespace {

constexpr std::string_view kAsciiUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view kAsciiLower = "abcdefghijklmnopqrstuvwxyz";

void ascii_lower(std::string* s) {
  for (char& c : *s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
}

void ascii_upper(std::string* s) {
  for (char& c : *s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  }
}

// Each row's result is built in this thread's scratch and swapped in, so that in the
// steady state neither string allocates.
std::string& scratch() {
  thread_local std::string s;
  return s;
}

// One code point at a time through `map`; bytes that are not valid UTF-8 stay as they are.
template <typename Map>
void map_code_points(std::string* s, Map map) {
  std::string& out = scratch();
  out.clear();
  for (std::size_t i = 0; i < s->size();) {
    const auto c = static_cast<unsigned char>((*s)[i]);
    if (c < 0x80) {
      // Not a byte: Turkish maps 'I' to U+0131 and 'i' to U+0130.
      append_utf8(&out, map(c));
      ++i;
      continue;
    }
    const std::size_t start = i;
    const std::uint32_t cp = next_code_point(*s, &i);
    if (i - start == 1) {
      out.push_back(static_cast<char>(c));
    } else {
      append_utf8(&out, map(cp));
    }
  }
  s->swap(out);
}

// The base of the mappings that are not C: the ASCII fast path, where the locale allows it,
// in the same pass that finds the text is ASCII.
class MappingBase : public CaseMapping {
 public:
  void lower(std::string* s) const override {
    if (ascii_fast_ && map_ascii<'A', 'Z', 32>(s)) return;
    slow_lower(s);
  }
  void upper(std::string* s) const override {
    if (ascii_fast_ && map_ascii<'a', 'z', -32>(s)) return;
    slow_upper(s);
  }

 protected:
  // Called once the object can map: the fast path holds only where the locale maps the
  // ASCII letters to each other (Turkish maps 'I' to dotless 'ı').
  void check_ascii() {
    std::string up(kAsciiUpper), low(kAsciiLower);
    slow_lower(&up);
    slow_upper(&low);
    ascii_fast_ = up == kAsciiLower && low == kAsciiUpper;
  }
  virtual void slow_lower(std::string* s) const = 0;
  virtual void slow_upper(std::string* s) const = 0;

 private:
  // Maps letters first..last by `shift` while the text is ASCII; false at the first byte
  // beyond it (what is mapped so far maps to itself again on the slow path).
  template <char first, char last, int shift>
  static bool map_ascii(std::string* s) {
    for (char& c : *s) {
      if (static_cast<unsigned char>(c) >= 0x80) return false;
      if (c >= first && c <= last) c = static_cast<char>(c + shift);
    }
    return true;
  }
  bool ascii_fast_ = false;
};

bool ascii_in_class(std::uint32_t c, CharClass k) {
  if (c > 127) return false;
  const int ch = static_cast<int>(c);
  switch (k) {
    case CharClass::kAlpha:
      return std::isalpha(ch);
    case CharClass::kDigit:
      return std::isdigit(ch);
    case CharClass::kAlnum:
      return std::isalnum(ch);
    case CharClass::kUpper:
      return std::isupper(ch);
    case CharClass::kLower:
      return std::islower(ch);
    case CharClass::kSpace:
      return std::isspace(ch);
    case CharClass::kPunct:
      return std::ispunct(ch);
    case CharClass::kGraph:
      return std::isgraph(ch);
    case CharClass::kPrint:
      return std::isprint(ch);
  }
  return false;
}

bool icu_in_class(std::uint32_t c, CharClass k) {
  const auto cp = static_cast<UChar32>(c);
  switch (k) {
    case CharClass::kAlpha:
      return u_isalpha(cp);
    case CharClass::kDigit:
      return u_isdigit(cp);
    case CharClass::kAlnum:
      return u_isalnum(cp);
    case CharClass::kUpper:
      return u_isupper(cp);
    case CharClass::kLower:
      return u_islower(cp);
    case CharClass::kSpace:
      return u_isspace(cp);
    case CharClass::kPunct:
      return u_ispunct(cp);
    case CharClass::kGraph:
      return u_isgraph(cp);
    case CharClass::kPrint:
      return u_isprint(cp);
  }
  return false;
}

// A C or POSIX ctype: ASCII letters only, as PostgreSQL's lc_ctype_is_c() paths do.
class AsciiMapping final : public CaseMapping {
 public:
  void lower(std::string* s) const override { ascii_lower(s); }
  void upper(std::string* s) const override { ascii_upper(s); }
  std::string describe() const override { return "C (ASCII letters only)"; }
  bool in_class(std::uint32_t c, CharClass k) const override { return ascii_in_class(c, k); }
};

// A mapping one code point to one, as libc's towlower_l and ICU's u_tolower are: the
// library is asked once for each of the first 2,048 code points (Latin, Greek, Cyrillic,
// Armenian, Hebrew, Arabic: the two-byte UTF-8 range) and those answers are kept in a
// table; code points above are asked for each time.
class CodePointMapping : public MappingBase {
 protected:
  // Fills the tables; called by the subclass's constructor once map_one() works.
  void build() {
    for (std::uint32_t c = 0; c < kTabled; ++c) {
      lower_[c] = map_one(c, false);
      upper_[c] = map_one(c, true);
    }
    check_ascii();
  }
  virtual std::uint32_t map_one(std::uint32_t c, bool to_upper) const = 0;

  void slow_lower(std::string* s) const override {
    map_code_points(
        s, [this](std::uint32_t c) { return c < kTabled ? lower_[c] : map_one(c, false); });
  }
  void slow_upper(std::string* s) const override {
    map_code_points(s,
                    [this](std::uint32_t c) { return c < kTabled ? upper_[c] : map_one(c, true); });
  }

 private:
  static constexpr std::uint32_t kTabled = 0x800;
  std::array<std::uint32_t, kTabled> lower_{}, upper_{};
};

// A libc locale: towlower_l()/towupper_l() per character, what PostgreSQL does for a
// multibyte database whose collation provider is libc.
class LibcMapping final : public CodePointMapping {
 public:
  LibcMapping(locale_t loc, std::string name) : loc_(loc), name_(std::move(name)) { build(); }
  ~LibcMapping() override { freelocale(loc_); }
  LibcMapping(const LibcMapping&) = delete;
  LibcMapping& operator=(const LibcMapping&) = delete;
  std::string describe() const override { return "libc " + name_; }
  bool in_class(std::uint32_t c, CharClass k) const override {
    const auto w = static_cast<wint_t>(c);
    switch (k) {
      case CharClass::kAlpha:
        return iswalpha_l(w, loc_);
      case CharClass::kDigit:
        return iswdigit_l(w, loc_);
      case CharClass::kAlnum:
        return iswalnum_l(w, loc_);
      case CharClass::kUpper:
        return iswupper_l(w, loc_);
      case CharClass::kLower:
        return iswlower_l(w, loc_);
      case CharClass::kSpace:
        return iswspace_l(w, loc_);
      case CharClass::kPunct:
        return iswpunct_l(w, loc_);
      case CharClass::kGraph:
        return iswgraph_l(w, loc_);
      case CharClass::kPrint:
        return iswprint_l(w, loc_);
    }
    return false;
  }

 protected:
  std::uint32_t map_one(std::uint32_t c, bool to_upper) const override {
    const auto w = static_cast<wint_t>(c);
    return static_cast<std::uint32_t>(to_upper ? towupper_l(w, loc_) : towlower_l(w, loc_));
  }

 private:
  locale_t loc_;
  std::string name_;
};

// ICU's simple, locale-independent mappings per code point: the same one-to-one mappings
// glibc's UTF-8 locales are generated from.
class IcuSimpleMapping final : public CodePointMapping {
 public:
  explicit IcuSimpleMapping(std::string why) : why_(std::move(why)) { build(); }
  std::string describe() const override { return why_; }
  bool in_class(std::uint32_t c, CharClass k) const override { return icu_in_class(c, k); }

 protected:
  std::uint32_t map_one(std::uint32_t c, bool to_upper) const override {
    const auto cp = static_cast<UChar32>(c);
    return static_cast<std::uint32_t>(to_upper ? u_toupper(cp) : u_tolower(cp));
  }

 private:
  std::string why_;
};

// An ICU locale: full mappings of the locale (upper('ß') = 'SS'), what PostgreSQL does
// for a database whose collation provider is ICU.
class IcuLocaleMapping final : public MappingBase {
 public:
  IcuLocaleMapping(UCaseMap* map, std::string name) : map_(map), name_(std::move(name)) {
    check_ascii();
  }
  ~IcuLocaleMapping() override { ucasemap_close(map_); }
  IcuLocaleMapping(const IcuLocaleMapping&) = delete;
  IcuLocaleMapping& operator=(const IcuLocaleMapping&) = delete;
  std::string describe() const override { return "ICU " + name_; }
  bool in_class(std::uint32_t c, CharClass k) const override { return icu_in_class(c, k); }

 protected:
  void slow_lower(std::string* s) const override { apply(s, ucasemap_utf8ToLower); }
  void slow_upper(std::string* s) const override { apply(s, ucasemap_utf8ToUpper); }

 private:
  using Fn = int32_t (*)(const UCaseMap*, char*, int32_t, const char*, int32_t, UErrorCode*);
  void apply(std::string* s, Fn fn) const {
    std::string& out = scratch();
    // Full mappings can grow a character (ß -> SS, ŉ -> ʼN): room for that first, and the
    // exact size when ICU asks for more.
    out.resize(s->size() * 3 + 16);
    for (int attempt = 0; attempt < 2; ++attempt) {
      UErrorCode err = U_ZERO_ERROR;
      const int32_t n = fn(map_, out.data(), static_cast<int32_t>(out.size()), s->data(),
                           static_cast<int32_t>(s->size()), &err);
      if (err == U_BUFFER_OVERFLOW_ERROR) {
        out.resize(static_cast<std::size_t>(n));
        continue;
      }
      if (U_FAILURE(err)) return;  // ill-formed text: left as it is
      out.resize(static_cast<std::size_t>(n));
      s->swap(out);
      return;
    }
  }

  UCaseMap* map_;
  std::string name_;
};

}  // namespace

const std::string& CaseMapping::class_body(CharClass k) const {
  const auto i = static_cast<std::size_t>(k);
  std::lock_guard lock(classes_mu_);
  if (have_class_[i]) return classes_[i];
  std::string& body = classes_[i];
  char buf[32];
  auto emit = [&](std::uint32_t lo, std::uint32_t hi) {
    std::snprintf(buf, sizeof buf, lo == hi ? "\\x{%x}" : "\\x{%x}-\\x{%x}", lo, hi);
    body += buf;
  };
  bool in = false;
  std::uint32_t start = 0;
  for (std::uint32_t c = 0; c <= 0x110000; ++c) {
    const bool member = c < 0x110000 && (c < 0xD800 || c > 0xDFFF) && in_class(c, k);
    if (member && !in) start = c;
    if (!member && in) emit(start, c - 1);
    in = member;
  }
  have_class_[i] = true;
  return body;
}

const CaseMapping& CaseMapping::unicode() {
  static const IcuSimpleMapping kUnicode("Unicode simple case mapping");
  return kUnicode;
}

std::shared_ptr<const CaseMapping> CaseMapping::for_ctype(const CtypeSpec& ctype,
                                                          std::string* warning) {
  if (ctype.provider == CtypeSpec::Provider::kUnicode) {
    return std::make_shared<IcuSimpleMapping>("Unicode simple case mapping");
  }
  if (ctype.provider == CtypeSpec::Provider::kIcu) {
    UErrorCode err = U_ZERO_ERROR;
    UCaseMap* map = ucasemap_open(ctype.locale.c_str(), 0, &err);
    if (map && U_SUCCESS(err)) return std::make_shared<IcuLocaleMapping>(map, ctype.locale);
    if (map) ucasemap_close(map);
    if (warning) *warning = "ICU could not open locale " + ctype.locale + ": " + u_errorName(err);
    return std::make_shared<IcuSimpleMapping>("Unicode simple case mapping");
  }
  if (ctype.locale == "C" || ctype.locale == "POSIX") return std::make_shared<AsciiMapping>();
  if (locale_t loc = newlocale(LC_CTYPE_MASK, ctype.locale.c_str(), static_cast<locale_t>(0))) {
    return std::make_shared<LibcMapping>(loc, ctype.locale);
  }
  if (warning) {
    *warning = "locale " + ctype.locale +
               " is not installed on this machine; lower() and upper() use Unicode's simple "
               "case mappings, which agree with glibc's UTF-8 locales except Turkish and Azeri";
  }
  return std::make_shared<IcuSimpleMapping>("Unicode simple case mapping (locale " + ctype.locale +
                                            " missing here)");
}

}  // namespace backfill
