// `backfill verify`: reads options, runs preflight, compares chunk by chunk, reports the
// differences by key, and says whether the tables match.
#include <chrono>
#include <cstdio>

#include "cli/options.hpp"
#include "drivers/postgres/compare.hpp"
#include "engine/hash.hpp"
#include "engine/memory_ledger.hpp"
#include "engine/report.hpp"
#include "engine/verify_job.hpp"

namespace backfill::cli {
namespace {

// How many differences the terminal shows; the report lists up to --max-diffs.
constexpr std::size_t kDifferencesShown = 20;

std::string bound(const std::optional<Key>& k, const char* open) {
  if (!k) return open;
  std::string out = "(";
  for (std::size_t i = 0; i < k->size(); ++i) out += (i ? ", " : "") + (*k)[i];
  return out + ")";
}

std::string key_json(const std::vector<std::string>& cols, const Key& key) {
  std::string out = "{";
  for (std::size_t i = 0; i < key.size() && i < cols.size(); ++i) {
    out += (i ? ", " : "") + json_escape(cols[i]) + ": " + json_escape(key[i]);
  }
  return out + "}";
}

}  // namespace

Status run_verify(const VerifyOptions& vo, const RunContext& ctx) {
  const CopyOptions& o = vo.table;
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  BACKFILL_ASSIGN_OR_RETURN(pg::VerifySpec vspec, pg::plan_verify(*c.source, *c.target, o.request));
  auto spec = std::make_shared<const pg::VerifySpec>(std::move(vspec));
  c.source.reset();
  c.target.reset();
  // Both sides are PostgreSQL and --map only renames, so the servers can hash; --method
  // streamed hashes here instead.
  const pg::HashMethod method =
      vo.method == "streamed" ? pg::HashMethod::kStreamed : pg::HashMethod::kPushDown;

  // Chunks are planned in memory: a verify writes nothing to the databases it checks.
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger ledger(state, "verify");
  JobSpec job;
  job.command = "verify";
  job.name = default_job_name("verify", spec->copy.source.display(), spec->copy.target.display());
  job.fingerprint = hex64(hash64(spec->copy.fingerprint_text()));
  BACKFILL_RETURN_IF_ERROR(ledger.open(job, true).status());

  std::fprintf(stderr, "verifying %s -> %s: key (%s), %zu columns, %s hashing\n",
               spec->copy.source.display().c_str(), spec->copy.target.display().c_str(),
               pg::join_quoted(spec->copy.key).c_str(), spec->copy.columns.size(),
               pg::hash_method_name(method));

  pg::CompareOptions co;
  co.method = method;
  pg::PgComparedTables tables(o.source, o.target, session_settings(o), spec, co);
  VerifyJobOptions jo;
  jo.jobs = o.jobs;
  jo.chunk_rows = o.chunk_rows;
  jo.retry.max_attempts = o.max_retries;
  jo.progress = parse_progress_mode(o.progress);
  jo.interrupt = ctx.interrupt;
  jo.max_diffs = vo.max_diffs;
  jo.repair = vo.repair;
  jo.recheck = std::chrono::milliseconds(static_cast<std::int64_t>(vo.recheck_seconds * 1000));
  BACKFILL_ASSIGN_OR_RETURN(VerifyStats st, run_verify_job(tables, ledger, jo));

  const auto& key_cols = spec->copy.key;
  auto rows_json = [&](const std::vector<RowDifference>& rows) {
    std::string out = "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out += std::string(i ? "," : "") + "\n    {\"key\": " + key_json(key_cols, rows[i].key) +
             ", \"kind\": \"" + diff_kind_name(rows[i].kind) + "\"}";
    }
    return out + (rows.empty() ? "]" : "\n  ]");
  };
  for (const auto& m : st.mismatched) {
    std::printf(
        "chunk %lld (%s, %s]: source %s rows, target %s rows: %lld missing, %lld extra, %lld "
        "different\n",
        static_cast<long long>(m.chunk.id), bound(m.chunk.range.lo, "start").c_str(),
        bound(m.chunk.range.hi, "end").c_str(), with_thousands(m.source.rows).c_str(),
        with_thousands(m.target.rows).c_str(), static_cast<long long>(m.missing),
        static_cast<long long>(m.extra), static_cast<long long>(m.different));
  }
  for (std::size_t i = 0; i < st.differences.size() && i < kDifferencesShown; ++i) {
    const auto& d = st.differences[i];
    std::printf("  %-9s %s\n", diff_kind_name(d.kind), format_key(key_cols, d.key).c_str());
  }
  for (std::size_t i = 0; i < st.repaired_rows.size() && i < kDifferencesShown; ++i) {
    const auto& d = st.repaired_rows[i];
    std::printf("  repaired %-9s %s\n", diff_kind_name(d.kind),
                format_key(key_cols, d.key).c_str());
  }
  if (st.repaired > 0) {
    std::printf("repaired %s rows; the chunks they were in compared again\n",
                with_thousands(st.repaired).c_str());
  }
  const std::int64_t total = st.missing + st.extra + st.different;
  if (static_cast<std::size_t>(total) > std::min(st.differences.size(), kDifferencesShown)) {
    std::printf("  ... %s differences in all\n", with_thousands(total).c_str());
  }
  const double rate = st.seconds > 0 ? static_cast<double>(st.source_rows) / st.seconds : 0;
  const char* status = st.outcome == JobOutcome::kFailed        ? "failed"
                       : st.outcome == JobOutcome::kInterrupted ? "interrupted"
                       : st.differs()                           ? "differences"
                                                                : "ok";
  if (st.outcome == JobOutcome::kOk) {
    if (st.differs()) {
      std::printf(
          "DIFFERENT: %s missing, %s extra, %s different rows in %zu of %s chunks (%s rows, %.1f "
          "s, %s hashing)\n",
          with_thousands(st.missing).c_str(), with_thousands(st.extra).c_str(),
          with_thousands(st.different).c_str(), st.mismatched.size(),
          with_thousands(st.chunks).c_str(), with_thousands(st.source_rows).c_str(), st.seconds,
          pg::hash_method_name(method));
    } else {
      std::printf("match: %s rows in %s chunks, %.1f s, %s rows/s, %s hashing\n",
                  with_thousands(st.source_rows).c_str(), with_thousands(st.chunks).c_str(),
                  st.seconds, with_thousands(static_cast<std::int64_t>(rate)).c_str(),
                  pg::hash_method_name(method));
    }
  }

  if (!o.report.empty()) {
    JsonObject r;
    r.add("command", "verify")
        .add("job", job.name)
        .add("status", status)
        .add("method", pg::hash_method_name(method))
        .add("rows", st.source_rows)
        .add("rows_target", st.target_rows)
        .add("chunks", st.chunks)
        .add("chunks_mismatched", static_cast<std::int64_t>(st.mismatched.size()))
        .add("rows_missing", st.missing)
        .add("rows_extra", st.extra)
        .add("rows_different", st.different)
        .add_raw("differences", rows_json(st.differences))
        .add("differences_listed", static_cast<std::int64_t>(st.differences.size()))
        .add("repaired", st.repaired)
        .add_raw("repaired_rows", rows_json(st.repaired_rows))
        .add("seconds", st.seconds)
        .add("rows_per_second", rate)
        .add("throttled_seconds", 0.0)
        .add("retries", st.retries)
        .add("source", spec->copy.source.display())
        .add("target", spec->copy.target.display());
    if (!st.error.is_ok()) r.add("error", st.error.message());
    BACKFILL_RETURN_IF_ERROR(write_report(o.report, r.str()));
  }
  if (!st.error.is_ok()) return st.error;
  if (st.differs()) return Status(ErrorKind::kDifferences, "the tables differ");
  return Status::ok();
}

}  // namespace backfill::cli
