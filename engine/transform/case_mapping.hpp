// lower() and upper() as the target database computes them, which depends on its ctype.
//
// PostgreSQL maps case with the database's locale: in a C or POSIX ctype only ASCII letters
// change; with a libc locale each character goes through towlower_l()/towupper_l() of that
// locale (simple, one-to-one mappings: upper('ß') stays 'ß'); with an ICU locale through
// ICU's full mappings (upper('ß') is 'SS'). The driver reads the ctype at preflight and
// builds one CaseMapping for the job; the same mapping then serves every row on every
// thread. Immutable after construction; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "engine/util/status.hpp"

namespace backfill {

// How a database's ctype is given; the driver fills it from its catalog.
struct CtypeSpec {
  // kUnicode: Unicode's simple mappings whatever the locale (PostgreSQL 17's builtin C.UTF-8).
  enum class Provider { kLibc, kIcu, kUnicode };
  Provider provider = Provider::kLibc;
  // libc: the LC_CTYPE name ("C", "C.UTF-8", "en_US.utf8"); ICU: the ICU locale ("und", "de").
  std::string locale = "C.UTF-8";
};

// A character class of PostgreSQL's regular expressions: [[:alpha:]] and the others, \w
// (alnum and '_'), \d (digit), \s (space).
enum class CharClass : std::uint8_t {
  kAlpha,
  kDigit,
  kAlnum,
  kUpper,
  kLower,
  kSpace,
  kPunct,
  kGraph,
  kPrint,
};
inline constexpr std::size_t kCharClasses = 9;

class CaseMapping {
 public:
  // The mapping for `ctype`. A libc locale this machine does not have falls back to ICU's
  // simple mappings of the root locale, which agree with glibc's Unicode tables; `warning`
  // then says so, for the job to print.
  static std::shared_ptr<const CaseMapping> for_ctype(const CtypeSpec& ctype,
                                                      std::string* warning = nullptr);
  // Unicode's simple mappings, locale-independent: the default where no database said more.
  static const CaseMapping& unicode();

  virtual ~CaseMapping() = default;
  // Maps `*s` (UTF-8) in place. Text of ASCII letters only takes a fast path without a copy
  // where the locale maps ASCII the usual way (everywhere but Turkish and Azeri).
  virtual void lower(std::string* s) const = 0;
  virtual void upper(std::string* s) const = 0;
  virtual std::string describe() const = 0;  // "libc C.UTF-8", for plan and messages

  // Whether code point `c` is in the class as the database's regular expressions classify
  // it (PostgreSQL's pg_wc_is*()): in a C ctype ASCII only; with a libc locale its
  // isw*_l() (glibc counts every non-ASCII digit as alpha); with ICU its u_is*().
  virtual bool in_class(std::uint32_t c, CharClass k) const = 0;
  // The class's members as the inside of a PCRE2 character class ("\x{30}-\x{39}..."),
  // computed once per class from in_class() over every code point.
  const std::string& class_body(CharClass k) const;

 private:
  mutable std::mutex classes_mu_;
  mutable std::array<std::string, kCharClasses> classes_;
  mutable std::array<bool, kCharClasses> have_class_{};
};

}  // namespace backfill
