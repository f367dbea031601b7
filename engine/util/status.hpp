// Status and Result: how expected failures travel through the engine.
//
// A lost connection, a lock timeout, a unique violation or a bad option are normal events
// of a backfill, so they are values, not exceptions. Each carries a kind that decides what
// the engine does with it (retry, split, stop the job) and what exit code it ends as, and
// keeps the database's SQLSTATE when there is one. Exceptions stay for bugs.
// Values of these types are immutable once built and safe to copy between threads.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace backfill {

enum class ErrorKind {
  kOk,
  kInvalid,      // bad input or failed preflight: nothing was written (exit 2)
  kTransient,    // connection lost, backend terminated, lock timeout, deadlock: retry
  kTimeout,      // statement timeout: retry, or split the chunk
  kConflict,     // a row the target already has (unique violation under --on-conflict error)
  kFailed,       // anything else at run time (exit 3)
  kInterrupted,  // SIGINT / SIGTERM (exit 130)
  kDifferences,  // verify ran to its end and the tables differ (exit 1)
};

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status invalid(std::string msg) { return {ErrorKind::kInvalid, std::move(msg)}; }
  static Status transient(std::string msg, std::string sqlstate = {}) {
    return {ErrorKind::kTransient, std::move(msg), std::move(sqlstate)};
  }
  static Status timeout(std::string msg, std::string sqlstate = {}) {
    return {ErrorKind::kTimeout, std::move(msg), std::move(sqlstate)};
  }
  static Status conflict(std::string msg, std::string sqlstate = {}) {
    return {ErrorKind::kConflict, std::move(msg), std::move(sqlstate)};
  }
  static Status failed(std::string msg, std::string sqlstate = {}) {
    return {ErrorKind::kFailed, std::move(msg), std::move(sqlstate)};
  }
  static Status interrupted(std::string msg) { return {ErrorKind::kInterrupted, std::move(msg)}; }

  Status(ErrorKind kind, std::string message, std::string sqlstate = {})
      : kind_(kind), message_(std::move(message)), sqlstate_(std::move(sqlstate)) {}

  bool is_ok() const { return kind_ == ErrorKind::kOk; }
  explicit operator bool() const { return is_ok(); }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  const std::string& sqlstate() const { return sqlstate_; }
  // Worth another attempt of the same work after a backoff.
  bool retryable() const { return kind_ == ErrorKind::kTransient || kind_ == ErrorKind::kTimeout; }
  // The server could not be reached: the connection was lost or refused (SQLSTATE class 08),
  // or the server was shutting down, crashing or starting up (57P01-57P03). A restart or a
  // failover, waited out by time rather than by a count of attempts.
  bool server_lost() const {
    return kind_ == ErrorKind::kTransient && (sqlstate_.starts_with("08") || sqlstate_ == "57P01" ||
                                              sqlstate_ == "57P02" || sqlstate_ == "57P03");
  }

  // The same error with `context: ` in front, for errors that cross a layer.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return {kind_, context + ": " + message_, sqlstate_};
  }

 private:
  ErrorKind kind_ = ErrorKind::kOk;
  std::string message_;
  std::string sqlstate_;
};

// A value or the Status that explains its absence.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like absl::StatusOr
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "a Result built from a Status must carry an error");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace backfill

// Early return of an error Status from a function returning Status or Result<T>.
#define BACKFILL_RETURN_IF_ERROR(expr) \
  do {                                 \
    ::backfill::Status _st = (expr);   \
    if (!_st.is_ok()) return _st;      \
  } while (0)

#define BACKFILL_CONCAT_INNER(a, b) a##b
#define BACKFILL_CONCAT(a, b) BACKFILL_CONCAT_INNER(a, b)
#define BACKFILL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
// `BACKFILL_ASSIGN_OR_RETURN(auto x, f());` assigns f()'s value or returns its error.
#define BACKFILL_ASSIGN_OR_RETURN(lhs, expr) \
  BACKFILL_ASSIGN_OR_RETURN_IMPL(BACKFILL_CONCAT(_result_, __LINE__), lhs, expr)
