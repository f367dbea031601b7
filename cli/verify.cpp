// `backfill verify`: reads options, runs preflight, compares chunk by chunk, reports the
// differences by key, and says whether the tables match.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/options.hpp"
#include "drivers/postgres/compare.hpp"
#include "drivers/postgres/ledger.hpp"
#include "engine/jobs/report.hpp"
#include "engine/jobs/verify_job.hpp"
#include "engine/util/hash.hpp"

namespace backfill::cli {
namespace {

// How many differences the terminal shows; the report lists up to --max-diffs.
constexpr std::size_t kDifferencesShown = 20;

std::string bound(const std::optional<Key>& k, const char* open) {
  return k ? key_text(*k) : std::string(open);
}

Json key_json(const std::vector<std::string>& cols, const Key& key) {
  Json out = Json::object();
  for (std::size_t i = 0; i < key.size() && i < cols.size(); ++i) out[cols[i]] = key[i];
  return out;
}

}  // namespace

Status check_keyless_repair(const pg::VerifySpec& spec, const VerifyOptions& vo) {
  if (!spec.copy.keyless || !vo.repair) return Status::ok();
  return Status::invalid("--repair: table " + spec.copy.source.display() +
                         " has no key, so a differing row cannot be matched to the row that "
                         "replaces it; verify lists its missing and extra rows by their values "
                         "without --repair (or give --key)");
}

Status verify_table(const VerifyOptions& vo, const RunContext& ctx,
                    std::chrono::steady_clock::time_point started, JsonObject* report,
                    const SetMember* member) {
  const CopyOptions& o = vo.table;
  std::shared_ptr<const pg::VerifySpec> spec;
  std::optional<ThrottleSetup> throttle_setup;
  if (member) {  // planned by the set's preflight; throttled by the set
    spec = member->verify_spec;
  } else {
    BACKFILL_ASSIGN_OR_RETURN(CopyRequest request, full_request(o));
    BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
    BACKFILL_ASSIGN_OR_RETURN(pg::VerifySpec vspec, pg::plan_verify(*c.source, *c.target, request));
    print_warnings(o.log, vspec.copy.warnings);
    spec = std::make_shared<const pg::VerifySpec>(std::move(vspec));
    BACKFILL_ASSIGN_OR_RETURN(
        throttle_setup, prepare_throttle(o, ThrottleScope::of(spec->copy), *c.source, *c.target));
  }
  BACKFILL_RETURN_IF_ERROR(check_keyless_repair(*spec, vo));
  // Both sides are PostgreSQL: the servers hash, unless a --map expression is computed here.
  BACKFILL_ASSIGN_OR_RETURN(const HashMethod method, pg::choose_hash_method(vo.method, *spec));

  std::chrono::milliseconds run_time{0};
  if (!vo.run_time.empty()) {
    BACKFILL_ASSIGN_OR_RETURN(run_time, parse_duration(vo.run_time, "--run-time"));
  }
  // The pass lives in the ledger, so --run-time can spread it over several runs.
  const std::string state_dsn = o.state.empty() ? o.target : o.state;
  auto ledger_or = pg::PgLedger::connect(state_dsn, session_settings(o), member == nullptr);
  if (!ledger_or.ok()) return ledger_or.status().with_context("--state");
  std::unique_ptr<pg::PgLedger> ledger = std::move(ledger_or).value();
  JobSpec job;
  job.command = "verify";
  job.name = o.job.empty() ? default_job_name("verify", spec->copy.source.display(),
                                              spec->copy.target.display())
                           : o.job;
  if (!member) ctx.name_job(o.log, "verify", job.name);
  job.fingerprint = hex64(hash64(spec->copy.fingerprint_text()));
  job.description = "verify " + spec->copy.source.display() + " (" + pg::describe_dsn(o.source) +
                    ") against " + spec->copy.target.display() + " (" + pg::describe_dsn(o.target) +
                    ")";
  job.chunk_rows = o.chunk_rows;
  ledger->set_estimated_rows(spec->copy.source.estimated_rows);
  BACKFILL_ASSIGN_OR_RETURN(JobOpen opened, ledger->open(job, o.restart));
  if (opened == JobOpen::kAlreadyDone && !(member && member->continue_pass)) {
    // Last night's pass is complete: tonight's starts over.
    BACKFILL_ASSIGN_OR_RETURN(opened, ledger->open(job, true));
  }
  if (opened == JobOpen::kResumed) {
    o.log->info("start", strprintf("continuing the verify pass of job %s", job.name.c_str()));
  }

  o.log->info(
      "start",
      strprintf("verifying %s -> %s: %s, %zu columns, %s hashing",
                spec->copy.source.display().c_str(), spec->copy.target.display().c_str(),
                spec->copy.keyless ? "no key (rows compared as multisets)"
                                   : ("key (" + pg::join_quoted(spec->copy.key) + ")").c_str(),
                spec->copy.columns.size(), hash_method_name(method)));

  VerifiedTables tables =
      pg::verified_tables(o.source, o.target, session_settings(o), spec, method);
  // A keyless table's rows are counted by hash in rounds of at most 100 chunks' rows a side
  // and at most 500,000 (about 80 MB by count, not measured).
  tables.multiset_rows = o.chunk_rows;
  tables.multiset_round_rows = std::min<std::int64_t>(100 * o.chunk_rows, 500000);
  VerifyJobOptions jo;
  fill_job_options(o, ctx, &jo);
  const std::string metrics_job = member ? member->set_job : job.name;
  jo.observer = ctx.observer(metrics_job, spec->copy.source.display());
  jo.max_diffs = vo.max_diffs;
  jo.repair = vo.repair;
  jo.recheck = std::chrono::milliseconds(static_cast<std::int64_t>(vo.recheck_seconds * 1000));
  if (run_time.count() > 0) jo.deadline = started + run_time;
  if (member && member->deadline) jo.deadline = *member->deadline;
  MemberThrottle throttle;
  BACKFILL_RETURN_IF_ERROR(
      throttle.start(member, std::move(throttle_setup), state_dsn, job.name, o.chunk_rows, &jo));
  BACKFILL_ASSIGN_OR_RETURN(VerifyStats st, run_verify_job(tables, *ledger, jo));
  const ThrottleSnapshot throttled = throttle.finish(outcome_name(st.outcome));
  const ChunkResult& tot = st.results.totals;
  if (ctx.metrics && !ctx.trial) {  // a trial's verdict is no verdict on the tables
    ctx.metrics->differences(metrics_job, spec->copy.source.display(), tot.missing, tot.extra,
                             tot.different, st.results.chunks_mismatched);
  }

  // A keyless table's differences are named by all their compared values.
  std::vector<std::string> key_cols = spec->copy.key;
  if (spec->copy.keyless) {
    key_cols.clear();
    for (const auto& c : spec->copy.columns) key_cols.push_back(c.target);
  }
  auto rows_json = [&](const std::vector<RowDifference>& rows) {
    Json out = Json::array();
    for (const RowDifference& r : rows) {
      out.push_back({{"key", key_json(key_cols, r.key)}, {"kind", diff_kind_name(r.kind)}});
    }
    return out;
  };
  const double rate = st.seconds > 0 ? static_cast<double>(st.rows_this_run) / st.seconds : 0;
  const char* status = st.outcome == JobOutcome::kFailed        ? "failed"
                       : st.outcome == JobOutcome::kInterrupted ? "interrupted"
                       : st.differs()                           ? "differences"
                                                                : "ok";
  std::string scope = st.pass_complete
                          ? ""
                          : " so far; the pass is not complete (" +
                                std::string(st.ran_out_of_time ? "--run-time reached" : "stopped") +
                                "): the same command continues it";
  if (!ctx.trial) {  // a trial of tune prints its own line
    for (const auto& m : st.results.mismatched) {
      const ChunkResult& r = m.result;
      std::printf(
          "chunk %lld (%s, %s]: source %s rows, target %s rows: %lld missing, %lld extra, "
          "%lld different%s\n",
          static_cast<long long>(m.chunk.id), bound(m.chunk.range.lo, "start").c_str(),
          bound(m.chunk.range.hi, "end").c_str(), with_thousands(r.rows).c_str(),
          with_thousands(r.target_rows).c_str(), static_cast<long long>(r.missing),
          static_cast<long long>(r.extra), static_cast<long long>(r.different),
          r.repaired > 0 ? (", " + std::to_string(r.repaired) + " repaired").c_str() : "");
    }
    for (std::size_t i = 0; i < tot.listed.size() && i < kDifferencesShown; ++i) {
      const auto& d = tot.listed[i];
      std::printf("  %-9s %s\n", diff_kind_name(d.kind), format_key(key_cols, d.key).c_str());
    }
    const std::int64_t total = tot.missing + tot.extra + tot.different;
    if (static_cast<std::size_t>(total) > std::min(tot.listed.size(), kDifferencesShown)) {
      std::printf("  ... %s differences in all\n", with_thousands(total).c_str());
    }
    for (std::size_t i = 0; i < tot.repaired_listed.size() && i < kDifferencesShown; ++i) {
      const auto& d = tot.repaired_listed[i];
      std::printf("  repaired %-9s %s\n", diff_kind_name(d.kind),
                  format_key(key_cols, d.key).c_str());
    }
    if (tot.repaired > 0) {
      std::printf("repaired %s rows; the chunks they were in compared again\n",
                  with_thousands(tot.repaired).c_str());
    }
    if (st.outcome == JobOutcome::kOk) {
      if (st.differs()) {
        std::printf(
            "DIFFERENT: %s missing, %s extra, %s different rows in %s of %s chunks (%s rows, %s "
            "hashing)%s\n",
            with_thousands(tot.missing).c_str(), with_thousands(tot.extra).c_str(),
            with_thousands(tot.different).c_str(),
            with_thousands(st.results.chunks_mismatched).c_str(),
            with_thousands(st.results.chunks).c_str(), with_thousands(tot.rows).c_str(),
            hash_method_name(method), scope.c_str());
      } else {
        std::printf("match: %s rows in %s chunks (%s this run, %.1f s, %s rows/s, %s hashing)%s\n",
                    with_thousands(tot.rows).c_str(), with_thousands(st.results.chunks).c_str(),
                    with_thousands(st.chunks_this_run).c_str(), st.seconds,
                    with_thousands(static_cast<std::int64_t>(rate)).c_str(),
                    hash_method_name(method), scope.c_str());
      }
    } else if (st.outcome == JobOutcome::kInterrupted) {
      std::printf(
          "interrupted: %s rows verified in %s chunks so far (%s this run), %s missing, %s "
          "extra, %s different so far\n",
          with_thousands(tot.rows).c_str(), with_thousands(st.results.chunks).c_str(),
          with_thousands(st.chunks_this_run).c_str(), with_thousands(tot.missing).c_str(),
          with_thousands(tot.extra).c_str(), with_thousands(tot.different).c_str());
    }
  }
  if (st.outcome != JobOutcome::kOk) {
    o.log->info("resume_hint",
                strprintf("%s: the chunks verified are kept; the same command continues the "
                          "pass of job %s",
                          outcome_name(st.outcome), job.name.c_str()));
  }

  {
    JsonObject& r = *report;
    r.add("command", "verify")
        .add("job", job.name)
        .add("status", status)
        .add("pass_complete", st.pass_complete)
        .add("low_watermark", watermark_json(st.low_watermark))
        .add("method", hash_method_name(method))
        .add("rows", tot.rows)
        .add("rows_target", tot.target_rows)
        .add("chunks", st.results.chunks)
        .add("chunks_this_run", st.chunks_this_run)
        .add("rows_this_run", st.rows_this_run)
        .add("chunks_mismatched", st.results.chunks_mismatched)
        .add("rows_missing", tot.missing)
        .add("rows_extra", tot.extra)
        .add("rows_different", tot.different)
        .add("differences", rows_json(tot.listed))
        .add("differences_listed", static_cast<std::int64_t>(tot.listed.size()))
        .add("repaired", tot.repaired)
        .add("repaired_rows", rows_json(tot.repaired_listed))
        .add("seconds", st.seconds)
        .add("rows_per_second", rate)
        .add("retries", st.retries)
        .add("source", spec->copy.source.display())
        .add("target", spec->copy.target.display());
    if (!member) {  // a set reports its throttle once, for all of its tables
      r.add("throttled_seconds", std::min(throttled.throttled_seconds, st.seconds))
          .add("throttled_by", throttled_by(throttled));
    }
    if (!st.error.is_ok()) r.add("error", st.error.message());
  }
  if (!st.error.is_ok()) return st.error;
  if (st.differs()) return Status(ErrorKind::kDifferences, "the tables differ");
  return Status::ok();
}

Status run_verify(const VerifyOptions& given, const RunContext& ctx) {
  // --run-time bounds the whole command, preflight included: it is a nightly window.
  const auto started = std::chrono::steady_clock::now();
  VerifyOptions vo = given;
  vo.table.request.repair = vo.repair;  // preflight checks the target may be written
  BACKFILL_RETURN_IF_ERROR(check_table_choice(vo.table));
  BACKFILL_RETURN_IF_ERROR(check_copy_connections(vo.table));
  if (!vo.table.tables.empty()) return run_verify_tables(vo, ctx, started);
  JsonObject report;
  Status st = verify_table(vo, ctx, started, &report);
  BACKFILL_RETURN_IF_ERROR(finish_report(vo.table, report));
  return st;
}

}  // namespace backfill::cli
