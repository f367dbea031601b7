#include "engine/ledger/memory_ledger.hpp"

#include <algorithm>

namespace backfill {

MemoryLedger::MemoryLedger(std::shared_ptr<MemoryLedgerState> state, std::string worker,
                           const Clock& clock, std::chrono::milliseconds lease)
    : state_(std::move(state)), worker_(std::move(worker)), clock_(clock), lease_(lease) {}

MemoryJob& MemoryLedger::job() { return state_->jobs.at(job_name_); }

Result<JobOpen> MemoryLedger::open(const JobSpec& spec, bool restart) {
  std::lock_guard lock(state_->mu);
  job_name_ = spec.name;
  auto it = state_->jobs.find(spec.name);
  if (it == state_->jobs.end() || restart) {
    state_->jobs[spec.name] = MemoryJob{spec, {}, {}, false};
    return JobOpen::kNew;
  }
  if (it->second.spec.fingerprint != spec.fingerprint) {
    return Status::invalid("job '" + spec.name +
                           "' exists with different arguments; use --restart to start it over "
                           "or --job to name a new one");
  }
  return it->second.done ? JobOpen::kAlreadyDone : JobOpen::kResumed;
}

std::optional<Chunk> MemoryLedger::claim_locked(MemoryJob& j) {
  auto now = clock_.now();
  const auto& dead = state_->dead_workers;
  for (auto& c : j.chunks) {
    bool abandoned =
        c.state == ChunkState::kRunning &&
        (c.lease_until < now || std::find(dead.begin(), dead.end(), c.worker) != dead.end());
    if (c.state == ChunkState::kPending || abandoned) {
      if (c.state == ChunkState::kRunning) ++c.chunk.attempt;  // a dead claim counts as a try
      c.state = ChunkState::kRunning;
      c.worker = worker_;
      c.lease_until = now + lease_;
      return c.chunk;
    }
  }
  return std::nullopt;
}

Result<std::optional<Chunk>> MemoryLedger::claim() {
  std::lock_guard lock(state_->mu);
  return claim_locked(job());
}

Result<PlanCursor> MemoryLedger::plan_position() {
  std::lock_guard lock(state_->mu);
  return job().cursor;
}

Result<bool> MemoryLedger::record_plan(const PlanCursor& from,
                                       const std::vector<ChunkRange>& chunks,
                                       const PlanCursor& to) {
  std::lock_guard lock(state_->mu);
  MemoryJob& j = job();
  if (j.cursor.done != from.done || j.cursor.after != from.after) return false;
  for (const auto& r : chunks) {
    MemoryChunk mc;
    mc.chunk = Chunk{static_cast<std::int64_t>(j.chunks.size()) + 1, r, 1};
    j.chunks.push_back(std::move(mc));
  }
  j.cursor = to;
  return true;
}

Status MemoryLedger::complete(const Chunk& chunk, const ChunkResult& result) {
  std::lock_guard lock(state_->mu);
  for (auto& c : job().chunks) {
    if (c.chunk.id != chunk.id) continue;
    if (c.state == ChunkState::kDone) {
      return Status::conflict("chunk " + std::to_string(chunk.id) + " is already done");
    }
    if (c.worker != worker_) {
      return Status::conflict("chunk " + std::to_string(chunk.id) + " was claimed by " + c.worker);
    }
    c.state = ChunkState::kDone;
    c.result = result;
    return Status::ok();
  }
  return Status::failed("no chunk " + std::to_string(chunk.id));
}

Status MemoryLedger::release(const Chunk& chunk) {
  std::lock_guard lock(state_->mu);
  for (auto& c : job().chunks) {
    if (c.chunk.id == chunk.id && c.state == ChunkState::kRunning && c.worker == worker_) {
      c.state = ChunkState::kPending;
      c.worker.clear();
    }
  }
  return Status::ok();
}

Result<LedgerProgress> MemoryLedger::progress() {
  std::lock_guard lock(state_->mu);
  LedgerProgress p;
  const MemoryJob& j = job();
  p.chunks_planned = static_cast<std::int64_t>(j.chunks.size());
  p.plan_done = j.cursor.done;
  bool contiguous = true;  // chunks are kept in key order
  for (const auto& c : j.chunks) {
    if (c.state == ChunkState::kDone) {
      ++p.chunks_done;
      p.rows_done += c.result.rows;
      if (contiguous) p.low_watermark = c.chunk.range.hi;
    } else {
      contiguous = false;
      if (c.state == ChunkState::kRunning) ++p.chunks_running;
    }
  }
  return p;
}

Status MemoryLedger::finish(JobOutcome outcome, const std::string&) {
  std::lock_guard lock(state_->mu);
  MemoryJob& j = job();
  j.done = outcome == JobOutcome::kOk && j.cursor.done &&
           std::all_of(j.chunks.begin(), j.chunks.end(),
                       [](const MemoryChunk& c) { return c.state == ChunkState::kDone; });
  return Status::ok();
}

}  // namespace backfill

namespace backfill {

Result<JobResults> MemoryLedger::results(std::int64_t max_listed) {
  std::lock_guard lock(state_->mu);
  JobResults out;
  auto listed = static_cast<std::size_t>(max_listed);
  for (const auto& c : job().chunks) {
    if (c.state != ChunkState::kDone) continue;
    const ChunkResult& r = c.result;
    ++out.chunks;
    if (r.differs()) ++out.chunks_mismatched;
    ChunkResult& t = out.totals;
    t.rows += r.rows;
    t.target_rows += r.target_rows;
    t.missing += r.missing;
    t.extra += r.extra;
    t.different += r.different;
    t.repaired += r.repaired;
    for (const auto& d : r.listed) {
      if (t.listed.size() < listed) t.listed.push_back(d);
    }
    for (const auto& d : r.repaired_listed) {
      if (t.repaired_listed.size() < listed) t.repaired_listed.push_back(d);
    }
    if ((r.differs() || r.repaired > 0) && out.mismatched.size() < listed) {
      ChunkResult counts = r;
      counts.listed.clear();
      counts.repaired_listed.clear();
      out.mismatched.push_back({c.chunk, counts});
    }
  }
  return out;
}

}  // namespace backfill
