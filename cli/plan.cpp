// `backfill plan`: shows what a copy would do (key, estimate, first chunks, SQL) and writes
// nothing: no ledger, no rows, only catalog reads and a walk of the first chunk boundaries.
#include <cstdio>

#include "cli/options.hpp"
#include "drivers/postgres/defer_indexes.hpp"
#include "drivers/postgres/source.hpp"
#include "drivers/postgres/verify_spec.hpp"
#include "engine/jobs/progress.hpp"

namespace backfill::cli {
namespace {

// Enough chunks to show what the boundaries look like without walking a big table.
constexpr int kChunksShown = 3;

std::string show_bound(const std::optional<Key>& k, const char* open) {
  if (!k) return open;
  std::string out = "(";
  for (std::size_t i = 0; i < k->size(); ++i) out += (i ? ", " : "") + (*k)[i];
  return out + ")";
}

// plan's options are optional on the command line (its subcommands share them): check here.
Status check_required(const CopyOptions& o) {
  if (o.source.empty()) return Status::invalid("--source is required");
  if (o.target.empty()) return Status::invalid("--target is required");
  BACKFILL_RETURN_IF_ERROR(check_table_choice(o));
  return check_copy_connections(o);
}

void print_first_chunks(const std::vector<ChunkRange>& ranges) {
  std::printf("  first chunks:\n");
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    std::printf("    %zu: (%s, %s]\n", i + 1, show_bound(ranges[i].lo, "start").c_str(),
                show_bound(ranges[i].hi, "end").c_str());
  }
}

Result<std::vector<ChunkRange>> first_chunks(const CopyOptions& o,
                                             std::shared_ptr<const pg::CopySpec> spec) {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, pg::PgConnection::connect(o.source, session_settings(o)));
  pg::PgKeyWalker walker(std::move(conn), std::move(spec));
  PlanCursor cursor;
  return plan_chunks(walker, &cursor, o.chunk_rows, kChunksShown);
}

void print_estimate(const pg::CopySpec& spec, const CopyOptions& o, int parallel,
                    const std::string& why = "") {
  if (spec.source.estimated_rows) {
    std::int64_t rows = *spec.source.estimated_rows;
    std::printf(
        "  rows:        ~%s (planner estimate)\n  chunks:      ~%s of %s rows, %d in "
        "parallel%s%s%s\n",
        with_thousands(rows).c_str(), with_thousands(rows / o.chunk_rows + 1).c_str(),
        with_thousands(o.chunk_rows).c_str(), parallel, why.empty() ? "" : " (", why.c_str(),
        why.empty() ? "" : ")");
  } else {
    std::printf("  rows:        unknown (table never analysed)\n");
  }
}

}  // namespace

Status run_plan_verify(const VerifyOptions& vo) {
  const CopyOptions& o = vo.table;
  BACKFILL_RETURN_IF_ERROR(check_required(o));
  if (!o.tables.empty()) return run_plan_tables(o, true);
  BACKFILL_ASSIGN_OR_RETURN(CopyRequest request, full_request(o));
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  BACKFILL_ASSIGN_OR_RETURN(pg::VerifySpec v, pg::plan_verify(*c.source, *c.target, request));
  print_warnings(vo.table.log, v.copy.warnings);
  auto spec = std::make_shared<const pg::VerifySpec>(std::move(v));
  BACKFILL_ASSIGN_OR_RETURN(const HashMethod method, pg::choose_hash_method(vo.method, *spec));
  const bool streamed = method == HashMethod::kStreamed;
  std::printf("verify %s -> %s\n", spec->copy.source.display().c_str(),
              spec->copy.target.display().c_str());
  if (spec->copy.keyless) {
    std::printf(
        "  key:         none: the two tables are compared as multisets of rows, each side read "
        "in TID ranges of about %s rows, counts and row-hash sums added up over the table\n",
        with_thousands(o.chunk_rows).c_str());
  } else {
    std::printf("  key:         (%s)\n", pg::join_quoted(spec->copy.key).c_str());
  }
  std::printf("  method:      %s%s\n", streamed ? "streamed" : "push-down",
              streamed
                  ? " (rows over binary COPY, XXH3 here)"
                  : " (each server sums 64-bit row hashes; only mismatching chunks' keys travel)");
  std::printf("  compared:\n");
  for (const auto& col : spec->copy.columns) {
    std::printf("    %-24s <- %s\n", col.target.c_str(),
                (col.computed ? col.source_text : col.read_expr).c_str());
  }
  std::vector<ChunkRange> ranges;
  if (spec->copy.keyless) {
    // One chunk, the whole table; each side's own TID ranges are read within it.
    ranges.push_back(ChunkRange{});
  } else {
    print_estimate(spec->copy, o, o.jobs);
    BACKFILL_ASSIGN_OR_RETURN(
        ranges, first_chunks(o, std::shared_ptr<const pg::CopySpec>(spec, &spec->copy)));
    print_first_chunks(ranges);
  }
  if (!ranges.empty()) {
    std::printf(
        "  per chunk, source:\n    %s\n",
        (streamed ? spec->source_stream_sql(ranges[0], false) : spec->source_digest_sql(ranges[0]))
            .c_str());
    std::printf(
        "  per chunk, target:\n    %s\n",
        (streamed ? spec->target_stream_sql(ranges[0], false) : spec->target_digest_sql(ranges[0]))
            .c_str());
  }
  std::printf("nothing was written\n");
  return Status::ok();
}

Status run_plan_copy(const CopyOptions& o) {
  BACKFILL_RETURN_IF_ERROR(check_required(o));
  if (!o.tables.empty()) return run_plan_tables(o, false);
  BACKFILL_ASSIGN_OR_RETURN(PreparedCopy p, prepare_copy(o));
  const pg::CopySpec& spec = *p.spec;
  std::printf("copy %s -> %s\n", spec.source.display().c_str(), spec.target.display().c_str());
  std::printf("  source:      %s\n", pg::describe_dsn(o.source).c_str());
  std::printf("  target:      %s\n", pg::describe_dsn(o.target).c_str());
  std::printf("  ledger:      %s\n",
              pg::describe_dsn(o.state.empty() ? o.target : o.state).c_str());
  if (spec.keyless) {
    std::printf("  key:         none: chunked by TID range (a TID range scan per chunk)\n");
  } else {
    std::printf("  key:         (%s) of type (", pg::join_quoted(spec.key).c_str());
    for (std::size_t i = 0; i < spec.key_types.size(); ++i) {
      std::printf("%s%s", i ? ", " : "", spec.key_types[i].c_str());
    }
    std::printf(")\n");
  }
  std::printf("  columns:\n");
  for (const auto& c : spec.columns) {
    std::printf("    %-24s <- %s\n", c.target.c_str(),
                (c.computed ? c.source_text : c.read_expr).c_str());
  }
  std::printf("  on conflict: %s%s%s\n", policy_name(spec.policy),
              spec.newer_column.empty() ? "" : ":", spec.newer_column.c_str());
  print_estimate(spec, o, p.lanes, p.lanes_why);
  BACKFILL_ASSIGN_OR_RETURN(auto ranges, first_chunks(o, p.spec));
  print_first_chunks(ranges);
  if (!ranges.empty()) {
    std::printf("  read, per chunk (source):\n    %s\n", spec.read_sql(ranges[0]).c_str());
  }
  std::printf("  write, per chunk (target, one transaction):\n    %s\n", spec.write_sql().c_str());
  if (std::string merge = spec.merge_sql(); !merge.empty()) {
    std::printf("    %s\n", merge.c_str());
  }
  if (o.defer_indexes) {
    BACKFILL_ASSIGN_OR_RETURN(auto deferred, pg::describe_deferred(*p.target, spec.target));
    std::printf("  --defer-indexes: dropped before the copy, rebuilt in this order after it:\n");
    for (const auto& d : deferred) {
      std::printf("    %s %s\n      %s\n", d.kind.c_str(), d.name.c_str(), d.create_sql[0].c_str());
    }
  }
  std::printf("nothing was written\n");
  return Status::ok();
}

}  // namespace backfill::cli
