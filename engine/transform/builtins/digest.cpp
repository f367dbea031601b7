// Digest built-ins: md5 (OpenSSL's EVP, the same lower-case hex as PostgreSQL's md5()) and
// xxh64 (for pseudonymising without a cryptographic cost).
#include <openssl/evp.h>
#include <xxhash.h>

#include <memory>

#include "engine/transform/builtins/common.hpp"
#include "engine/util/hash.hpp"

namespace backfill::builtins {
namespace {

// MD5 fetched once (OpenSSL 3 looks an implicit EVP_md5() up on every call); nullptr where
// the provider has none, as under a FIPS-only configuration.
const EVP_MD* md5_method() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

Status md5(Args a, const CallContext&, Value* out) {
  // One context per thread, reset for every row: no allocation in the steady state.
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* md = md5_method();
  if (!md || !ctx || !EVP_DigestInit_ex2(ctx.get(), md, nullptr) ||
      !EVP_DigestUpdate(ctx.get(), a[0].s.data(), a[0].s.size()) ||
      !EVP_DigestFinal_ex(ctx.get(), digest, &len)) {
    return Status::failed("md5(): OpenSSL has no MD5 here (a FIPS-only configuration?)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->type = T::kText;
  out->s.resize(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out->s[2 * i] = kHex[digest[i] >> 4];
    out->s[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return ok();
}

}  // namespace

void add_digest_functions(FunctionRegistry* r) {
  add_or_die(r,
             def("md5", {T::kText}, 1, T::kText, "md5(text): hex MD5, as PostgreSQL's md5()", md5));
  add_or_die(r, def("xxh64", {T::kAny}, 1, T::kText,
                    "xxh64(value): hex XXH64 (seed 0) of the value's text, for pseudonymising",
                    [](Args a, const CallContext&, Value* out) {
                      const std::string s = cast_to_text(a[0]);
                      *out = Value::text(hex64(XXH64(s.data(), s.size(), 0)));
                      return ok();
                    }));
}

}  // namespace backfill::builtins
