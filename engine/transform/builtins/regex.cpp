// regexp_replace(text, pattern, replacement [, flags]) on PCRE2, compiled (and JIT-compiled)
// once per call site, matching by Unicode characters.
//
// PostgreSQL's regular expressions are Spencer's ARE; PCRE2 is the library closest to them
// (look-ahead and look-behind, back-references, POSIX classes, non-greedy quantifiers).
// What differs is bridged here: ARE's \m \M \y \Y \Z and [[:<:]] [[:>:]] are rewritten
// into PCRE2's spelling; `.` matches a newline and `$` only the end unless a newline flag
// says otherwise; the replacement's \1..\9, \& and \\ are PostgreSQL's; after an empty
// match the search goes on one character later, as PostgreSQL's does. The classes (\w \d
// \s, [:alpha:] and the rest, word boundaries) are spelled out as explicit ranges of the
// target database's classification (CaseMapping::class_body), compiled at the job's first
// row: PCRE2's own follow Unicode's properties, not glibc's or ICU's. One difference
// remains: where alternatives match at the same place ARE takes the longest (`a|ab` on
// "abc" matches "ab") and PCRE2 the first ("a").
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <mutex>
#include <optional>

#include "engine/transform/builtins/common.hpp"
#include "engine/transform/case_mapping.hpp"

namespace backfill::builtins {
namespace {

// \1..\9 are the groups a replacement can name; a tenth pair holds the whole match.
constexpr std::uint32_t kOvectorPairs = 10;

struct CodeFree {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct MatchDataFree {
  void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// One match block per thread, shared by every pattern: no allocation per row.
pcre2_match_data* match_data() {
  thread_local std::unique_ptr<pcre2_match_data, MatchDataFree> md(
      pcre2_match_data_create(kOvectorPairs, nullptr));
  return md.get();
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  return n < 0 ? "error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

// The body of a bracket's [:name:] as the database classifies characters, or nullopt for a
// name PostgreSQL does not know (left for PCRE2 to refuse). Under the `i` flag [:upper:] and
// [:lower:] are [:alpha:], as in PostgreSQL.
std::optional<std::string> posix_class(std::string_view name, const CaseMapping& m, bool caseless) {
  static const std::pair<std::string_view, CharClass> kClasses[] = {
      {"alpha", CharClass::kAlpha}, {"digit", CharClass::kDigit}, {"alnum", CharClass::kAlnum},
      {"upper", CharClass::kUpper}, {"lower", CharClass::kLower}, {"space", CharClass::kSpace},
      {"punct", CharClass::kPunct}, {"graph", CharClass::kGraph}, {"print", CharClass::kPrint}};
  // Fixed in PostgreSQL whatever the locale.
  if (name == "xdigit") return std::string("0-9A-Fa-f");
  if (name == "blank") return std::string(" \\t");
  if (name == "cntrl") return std::string("\\x{0}-\\x{1f}\\x{7f}-\\x{9f}");
  if (name == "word") return m.class_body(CharClass::kAlnum) + "_";
  for (const auto& [n, k] : kClasses) {
    if (name != n) continue;
    const bool cased = k == CharClass::kUpper || k == CharClass::kLower;
    return m.class_body(caseless && cased ? CharClass::kAlpha : k);
  }
  return std::nullopt;
}

// ARE's escapes and classes that PCRE2 spells otherwise; everything else is the same. The
// classes (\w \d \s, [:alpha:] and the others, and the word boundaries built on \w) are
// spelled out as the database's locale classifies characters (`m`): PCRE2's own follow
// Unicode's properties, which differ from glibc's (every non-ASCII digit is alpha there)
// and from ICU's alnum (no ¾).
std::string are_to_pcre2(std::string_view p, const CaseMapping& m, bool caseless, bool extended) {
  // Outside brackets each class is one subroutine, defined once at the pattern's end (a
  // glibc \w is some 760 ranges: spelled out at each use, a few \y would pass PCRE2's
  // size limit). At the end, the definitions number after the pattern's own groups.
  bool use_w = false, use_d = false, use_s = false;
  const std::string word = "(?&bf_w)";
  const std::string word_start = "(?<!" + word + ")(?=" + word + ")";
  const std::string word_end = "(?<=" + word + ")(?!" + word + ")";
  auto outside = [&](char e) -> std::optional<std::string> {
    use_w = use_w || e == 'w' || e == 'W' || e == 'm' || e == 'M' || e == 'y' || e == 'Y';
    use_d = use_d || e == 'd' || e == 'D';
    use_s = use_s || e == 's' || e == 'S';
    switch (e) {
      case 'w':
        return word;
      case 'W':
        return std::string("(?:(?!(?&bf_w))(?s:.))");
      case 'd':
        return std::string("(?&bf_d)");
      case 'D':
        return std::string("(?:(?!(?&bf_d))(?s:.))");
      case 's':
        return std::string("(?&bf_s)");
      case 'S':
        return std::string("(?:(?!(?&bf_s))(?s:.))");
      case 'm':
        return word_start;
      case 'M':
        return word_end;
      case 'y':
        return "(?:" + word_start + "|" + word_end + ")";
      case 'Y':
        return "(?:(?<=" + word + ")(?=" + word + ")|(?<!" + word + ")(?!" + word + "))";
      case 'Z':
        return std::string("\\z");
      default:
        return std::nullopt;
    }
  };
  std::string out;
  out.reserve(p.size() + 8);
  bool in_bracket = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (!in_bracket && p.substr(i, 7) == "[[:<:]]") {
      out += *outside('m');
      i += 6;
    } else if (!in_bracket && p.substr(i, 7) == "[[:>:]]") {
      out += *outside('M');
      i += 6;
    } else if (c == '\\' && i + 1 < p.size()) {
      const char n = p[++i];
      if (in_bracket) {
        // Inside a bracket \w \d \s lose their own brackets, as in ARE.
        if (n == 'w') {
          out += m.class_body(CharClass::kAlnum) + "_";
        } else if (n == 'd') {
          out += m.class_body(CharClass::kDigit);
        } else if (n == 's') {
          out += m.class_body(CharClass::kSpace);
        } else {
          out += c;
          out += n;
        }
      } else if (auto spelled = outside(n)) {
        out += *spelled;
      } else {
        out += c;
        out += n;
      }
    } else if (in_bracket) {
      if (c == '[' && i + 1 < p.size() && (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
        // [:alpha:], [.x.], [=x=] inside a bracket: a class spelled out, the others copied
        // to their closing pair.
        const char kind = p[i + 1];
        const std::size_t close = p.find(std::string{kind, ']'}, i + 2);
        if (close != std::string_view::npos) {
          std::optional<std::string> body;
          if (kind == ':') body = posix_class(p.substr(i + 2, close - i - 2), m, caseless);
          if (body) {
            out += *body;
          } else {
            out.append(p.substr(i, close + 2 - i));
          }
          i = close + 1;
          continue;
        }
      }
      out += c;
      if (c == ']') in_bracket = false;
    } else {
      out += c;
      if (c == '[') {
        in_bracket = true;
        // A ']' first (after an optional '^') is a member, not the end.
        if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
        if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      }
    }
  }
  if (use_w || use_d || use_s) {
    // Under flag x after a newline, so as not to end up inside a trailing comment.
    if (extended) out += "\n";
    out += "(?(DEFINE)";
    if (use_w) out += "(?<bf_w>[" + m.class_body(CharClass::kAlnum) + "_])";
    if (use_d) out += "(?<bf_d>[" + m.class_body(CharClass::kDigit) + "])";
    if (use_s) out += "(?<bf_s>[" + m.class_body(CharClass::kSpace) + "])";
    out += ")";
  }
  return out;
}

// PostgreSQL's replacement: \1..\9 a group (empty when it did not take part), \& the whole
// match, \\ a backslash; any other backslash stays as it is.
void append_replacement(std::string* out, std::string_view subject, std::string_view rep,
                        const PCRE2_SIZE* ov, std::uint32_t pairs) {
  auto group = [&](std::uint32_t g) {
    if (g < pairs && ov[2 * g] != PCRE2_UNSET) {
      out->append(subject.substr(ov[2 * g], ov[2 * g + 1] - ov[2 * g]));
    }
  };
  for (std::size_t i = 0; i < rep.size(); ++i) {
    if (rep[i] != '\\' || i + 1 == rep.size()) {
      out->push_back(rep[i]);
      continue;
    }
    const char n = rep[i + 1];
    if (n >= '1' && n <= '9') {
      group(static_cast<std::uint32_t>(n - '0'));
      ++i;
    } else if (n == '&') {
      group(0);
      ++i;
    } else if (n == '\\') {
      out->push_back('\\');
      ++i;
    } else {
      out->push_back('\\');
    }
  }
}

std::size_t next_char(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

Result<FunctionImpl> bind_regexp_replace(std::span<const Value> lit) {
  std::uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY;
  bool global = false;
  bool literal = false;
  if (lit.size() > 3 && !lit[3].is_null()) {
    for (char c : lit[3].s) {
      switch (c) {
        case 'g':
          global = true;
          break;
        case 'i':
          options |= PCRE2_CASELESS;
          break;
        case 'c':
          options &= ~PCRE2_CASELESS;
          break;
        case 'n':
        case 'm':  // newline-sensitive: . stops at a newline, ^ and $ match at one
          options = (options | PCRE2_MULTILINE) & ~(PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY);
          break;
        case 'p':  // partial: . stops at a newline, ^ and $ do not match at one
          options &= ~PCRE2_DOTALL;
          break;
        case 'w':  // inverse partial: ^ and $ match at a newline, . crosses it
          options = (options | PCRE2_MULTILINE | PCRE2_DOTALL) & ~PCRE2_DOLLAR_ENDONLY;
          break;
        case 's':
          options = (options | PCRE2_DOTALL | PCRE2_DOLLAR_ENDONLY) & ~PCRE2_MULTILINE;
          break;
        case 'x':
          options |= PCRE2_EXTENDED;
          break;
        case 'q':
          literal = true;
          break;
        default:
          return Status::invalid(std::string("regexp_replace(): flag '") + c +
                                 "' is not supported (use g, i, c, n, m, p, w, s, x, q)");
      }
    }
  }
  // PCRE2 takes few options beside LITERAL: the pattern's characters and case are all that
  // matter then.
  if (literal) options = PCRE2_LITERAL | PCRE2_UTF | (options & PCRE2_CASELESS);
  if (lit[1].is_null()) {
    return FunctionImpl([](Args, const CallContext&, Value* out) {
      *out = Value::null();
      return Status::ok();
    });
  }
  // Compiled here for the Unicode classes, so that a bad pattern stops the job at preflight;
  // the classes of the job's own ctype are compiled at its first row, once.
  auto compile = [options, literal,
                  source = lit[1].s](const CaseMapping& m) -> Result<std::shared_ptr<pcre2_code>> {
    const std::string pattern = literal ? source
                                        : are_to_pcre2(source, m, (options & PCRE2_CASELESS) != 0,
                                                       (options & PCRE2_EXTENDED) != 0);
    int error = 0;
    PCRE2_SIZE offset = 0;
    std::shared_ptr<pcre2_code> code(
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                      &offset, nullptr),
        CodeFree());
    if (!code) {
      return Status::invalid("regexp_replace(): invalid regular expression '" + source +
                             "': " + pcre2_message(error));
    }
    // JIT is a speed-up only: where it is unavailable the interpreter gives the same answers.
    (void)pcre2_jit_compile(code.get(), PCRE2_JIT_COMPLETE);
    return code;
  };
  BACKFILL_ASSIGN_OR_RETURN(std::shared_ptr<pcre2_code> unicode_code,
                            compile(CaseMapping::unicode()));
  struct ForCtype {
    std::once_flag once;
    std::shared_ptr<pcre2_code> code;
    Status error;
  };
  auto for_ctype = std::make_shared<ForCtype>();
  return FunctionImpl([unicode_code, for_ctype, compile, global](Args a, const CallContext& ctx,
                                                                 Value* out) {
    if (ctx.case_mapping) {
      std::call_once(for_ctype->once, [&] {
        auto c = compile(*ctx.case_mapping);
        if (c.ok()) {
          for_ctype->code = std::move(c).value();
        } else {
          for_ctype->error = c.status();
        }
      });
      if (!for_ctype->error.is_ok()) return for_ctype->error;
    }
    const std::shared_ptr<pcre2_code>& code = ctx.case_mapping ? for_ctype->code : unicode_code;
    const std::string& subject = a[0].s;
    const std::string& rep = a[2].s;
    const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
    pcre2_match_data* md = match_data();
    std::string& o = out->s;
    out->type = T::kText;
    o.clear();  // the earlier row's buffer, reused
    std::size_t copied = 0, start = 0;
    // The subject's UTF-8 is checked once, on the first match, not again from each start.
    std::uint32_t match_options = 0;
    while (start <= subject.size()) {
      int rc = pcre2_match(code.get(), subj, subject.size(), start, match_options, md, nullptr);
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        // A pattern that backtracks deeply outgrows JIT's stack; the interpreter's is the heap.
        rc = pcre2_match(code.get(), subj, subject.size(), start, match_options | PCRE2_NO_JIT, md,
                         nullptr);
      }
      match_options = PCRE2_NO_UTF_CHECK;
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) return Status::failed("regexp_replace(): " + pcre2_message(rc));
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const std::uint32_t pairs = rc == 0 ? kOvectorPairs : static_cast<std::uint32_t>(rc);
      o.append(subject, copied, ov[0] - copied);
      append_replacement(&o, subject, rep, ov, pairs);
      copied = ov[1];
      if (!global) break;
      start = ov[1] > ov[0] ? ov[1] : next_char(subject, ov[1]);
    }
    o.append(subject, copied, std::string::npos);
    return Status::ok();
  });
}

}  // namespace

void add_regex_functions(FunctionRegistry* r) {
  add_or_die(r, bound_def("regexp_replace", {T::kText, T::kText, T::kText, T::kText}, 3, T::kText,
                          "regexp_replace(text, pattern, replacement [, flags]): flags g (every "
                          "match), i (ignore case), n (newline-sensitive) and the others of "
                          "PostgreSQL; \\1 in the replacement is the first group",
                          {1, 3}, bind_regexp_replace));
}

}  // namespace backfill::builtins
