// The first error of a job across its threads (duckdb's TaskErrorManager): the first one is
// kept and later ones dropped, since they are mostly its consequences; failed() tells every
// thread to stop claiming and retrying. Thread-safe.
#pragma once

#include <atomic>
#include <mutex>

#include "engine/util/status.hpp"

namespace backfill {

class FirstError {
 public:
  // Keeps `st` (an error) unless an earlier one is kept; returns whether it was the first.
  bool set(const Status& st) {
    std::lock_guard lock(mu_);
    failed_ = true;
    if (!first_.is_ok()) return false;
    first_ = st;
    return true;
  }
  bool failed() const { return failed_.load(); }
  // Status::ok() until an error is set.
  Status get() const {
    std::lock_guard lock(mu_);
    return first_;
  }
  // Readable by retry loops as their "give up" flag.
  const std::atomic<bool>* flag() const { return &failed_; }

 private:
  mutable std::mutex mu_;
  Status first_;
  std::atomic<bool> failed_{false};
};

}  // namespace backfill
