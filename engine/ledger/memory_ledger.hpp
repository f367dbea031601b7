// An in-memory Ledger: the chunk state machine without a database.
//
// It exists so the engine's logic (claims, leases, resume, restart, fingerprints) and the
// pipelines can be unit-tested without a database; it claims nothing about PostgreSQL. Several
// MemoryLedger objects built on one shared MemoryLedgerState behave like several workers
// on one job. The clock is injected so lease expiry is testable. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/ledger/ledger.hpp"
#include "engine/util/clock.hpp"

namespace backfill {

enum class ChunkState { kPending, kRunning, kDone };

struct MemoryChunk {
  Chunk chunk;
  ChunkState state = ChunkState::kPending;
  std::string worker;
  Clock::time_point lease_until{};
  ChunkResult result;
};

struct MemoryJob {
  JobSpec spec;
  PlanCursor cursor;
  std::vector<MemoryChunk> chunks;
  bool done = false;
};

struct MemoryLedgerState {
  std::mutex mu;
  std::map<std::string, MemoryJob> jobs;
  std::vector<std::string> dead_workers;  // workers whose claims count as abandoned
};

class MemoryLedger final : public Ledger {
 public:
  // Leases long enough that a live worker never loses a chunk in a test.
  static constexpr std::chrono::seconds kDefaultLease{300};

  MemoryLedger(std::shared_ptr<MemoryLedgerState> state, std::string worker,
               const Clock& clock = Clock::steady(),
               std::chrono::milliseconds lease = kDefaultLease);

  Result<JobOpen> open(const JobSpec& spec, bool restart) override;
  Result<std::optional<Chunk>> claim() override;
  Result<PlanCursor> plan_position() override;
  Result<bool> record_plan(const PlanCursor& from, const std::vector<ChunkRange>& chunks,
                           const PlanCursor& to) override;
  Status complete(const Chunk& chunk, const ChunkResult& result) override;
  Status release(const Chunk& chunk) override;
  Result<LedgerProgress> progress() override;
  Result<JobResults> results(std::int64_t max_listed) override;
  Status finish(JobOutcome outcome, const std::string& message) override;

 private:
  MemoryJob& job();  // requires state_->mu
  std::optional<Chunk> claim_locked(MemoryJob& j);

  std::shared_ptr<MemoryLedgerState> state_;
  std::string worker_;
  const Clock& clock_;
  std::chrono::milliseconds lease_;
  std::string job_name_;
};

}  // namespace backfill
