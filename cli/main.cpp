// The `backfill` command: parses the command line, runs one subcommand, and is the one place
// where errors become exit codes:
//   0 done, 1 verify found differences, 2 bad usage or failed preflight (nothing written),
//   3 failed at run time after retries (progress kept), 130 interrupted (progress kept).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/job_file.hpp"
#include "cli/metrics.hpp"
#include "cli/options.hpp"
#include "engine/jobs/log.hpp"

namespace {

// The only process-wide state: a signal handler can reach nothing else.
std::atomic<bool> g_interrupted{false};

extern "C" void on_signal(int) { g_interrupted.store(true); }

int exit_code(const backfill::Status& st) {
  switch (st.kind()) {
    case backfill::ErrorKind::kOk:
      return 0;
    case backfill::ErrorKind::kDifferences:
      return 1;
    case backfill::ErrorKind::kInvalid:
      return 2;
    case backfill::ErrorKind::kInterrupted:
      return 130;
    default:
      return 3;
  }
}

// How a run ended, for the metrics' last write.
const char* run_outcome(const backfill::Status& st) {
  switch (st.kind()) {
    case backfill::ErrorKind::kOk:
      return "ok";
    case backfill::ErrorKind::kDifferences:
      return "differences";
    case backfill::ErrorKind::kInterrupted:
      return "interrupted";
    default:
      return "failed";
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace backfill::cli;
  CLI::App app{"backfill: chunked, resumable table copies for PostgreSQL", "backfill"};
  app.require_subcommand(1);
  app.set_config("--config", "", "Read options from a TOML file (flags override it)");
  app.config_formatter(job_file_format());

  CopyOptions copy_opts;
  CLI::App* copy = app.add_subcommand("copy", "Copy a table into another table or database");
  add_copy_options(copy, &copy_opts);

  CopyOptions plan_opts;
  CLI::App* plan =
      app.add_subcommand("plan", "Show what a copy or verify would do; writes nothing");
  add_copy_options(plan, &plan_opts, false);
  plan->add_subcommand("copy", "Plan a copy (the default)")->fallthrough();
  VerifyOptions plan_verify_opts;
  CLI::App* plan_verify = plan->add_subcommand("verify", "Plan a verify: chunks and hash method");
  add_verify_options(plan_verify, &plan_verify_opts, false);

  VerifyOptions verify_opts;
  CLI::App* verify = app.add_subcommand(
      "verify", "Prove target == source chunk by chunk; name the rows that differ");
  add_verify_options(verify, &verify_opts);

  StatusOptions status_opts;
  CLI::App* status = app.add_subcommand("status", "Show the jobs in a ledger");
  add_status_options(status, &status_opts);

  UpdateOptions update_opts;
  CLI::App* update = app.add_subcommand(
      "update", "Fill columns of a live table in place, chunk by chunk: --set \"col = SQL\"");
  add_update_options(update, &update_opts);
  UpdateOptions plan_update_opts;
  CLI::App* plan_update = plan->add_subcommand("update", "Plan an update: chunks and SQL");
  add_update_options(plan_update, &plan_update_opts);

  TuneOptions tune_opts;
  CLI::App* tune = app.add_subcommand(
      "tune",
      "Find the --jobs and chunk size that suit a table: short trials into a scratch "
      "table (or of a verify), measured, then a recommendation");
  add_tune_options(tune, &tune_opts);

  ControlOptions control_opts;
  CLI::App* control = app.add_subcommand(
      "control", "Change a running job: pause, resume, rate, chunks in flight, chunk time");
  add_control_options(control, &control_opts);

  // --config after the subcommand as well as before it, and a broken job file named with
  // its line before CLI11 reads what it can of it.
  const std::vector<std::string> args =
      hoist_config(std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
  if (const std::string path = config_path(args); !path.empty()) {
    backfill::Status st = check_job_file(path);
    if (st.is_ok()) st = check_job_file_keys(path, app);
    if (!st.is_ok()) {
      std::fprintf(stderr, "backfill: error: %s\n", st.message().c_str());
      return exit_code(st);
    }
  }
  try {
    // CLI11 takes the arguments last first.
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  // The job's log and metrics, as the parsed subcommand's options say.
  CopyOptions* job_opts = copy->parsed()          ? &copy_opts
                          : verify->parsed()      ? &verify_opts.table
                          : update->parsed()      ? &update_opts.common
                          : plan_verify->parsed() ? &plan_verify_opts.table
                          : plan_update->parsed() ? &plan_update_opts.common
                          : plan->parsed()        ? &plan_opts
                          : tune->parsed()        ? &tune_opts.table
                                                  : nullptr;
  const char* command = copy->parsed()     ? "copy"
                        : verify->parsed() ? "verify"
                        : update->parsed() ? "update"
                        : tune->parsed()   ? "tune"
                                           : "plan";
  std::optional<backfill::Log> json_log;
  backfill::Log* log = &backfill::Log::standard();
  std::unique_ptr<JobMetrics> metrics;
  if (job_opts != nullptr) {
    // CLI11 checked the value's spelling.
    if (job_opts->log_format == "json") {
      log = &json_log.emplace(backfill::LogFormat::kJson, stderr);
      log->set_job(command, job_opts->job);
    }
    job_opts->log = log;
    if (plan->parsed() && job_opts->metrics.enabled()) {
      log->error("error",
                 "backfill: error: --metrics-file and --metrics-listen are for a job "
                 "that runs; plan writes none");
      return 2;
    }
    auto started = JobMetrics::start(job_opts->metrics, command);
    if (!started.ok()) {
      log->error("error", "backfill: error: " + started.status().message());
      return exit_code(started.status());
    }
    metrics = std::move(started).value();
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  RunContext ctx{&g_interrupted};
  ctx.metrics = metrics.get();

  // A job file's per-table sections, which CLI11 leaves alone.
  const CLI::Option* config = app.get_config_ptr();
  const std::string config_path = config && config->count() > 0 ? config->as<std::string>() : "";
  auto sections = [&](std::vector<std::string> section, CopyOptions* o) {
    return config_path.empty() ? backfill::Status::ok()
                               : read_table_sections(config_path, section, o);
  };
  backfill::Status st;
  if (copy->parsed()) {
    st = sections({"copy"}, &copy_opts);
    if (st.is_ok()) st = run_copy(copy_opts, ctx);
  } else if (verify->parsed()) {
    st = sections({"verify"}, &verify_opts.table);
    if (st.is_ok()) st = run_verify(verify_opts, ctx);
  } else if (update->parsed()) {
    st = run_update(update_opts, ctx);
  } else if (plan_update->parsed()) {
    st = run_plan_update(plan_update_opts);
  } else if (plan_verify->parsed()) {
    st = sections({"plan", "verify"}, &plan_verify_opts.table);
    if (st.is_ok()) st = run_plan_verify(plan_verify_opts);
  } else if (plan->parsed()) {
    st = sections({"plan"}, &plan_opts);
    if (st.is_ok()) st = run_plan_copy(plan_opts);
  } else if (tune->parsed()) {
    st = sections({"tune"}, &tune_opts.table);
    if (st.is_ok()) st = run_tune(tune_opts, ctx);
  } else if (status->parsed()) {
    st = run_status(status_opts);
  } else if (control->parsed()) {
    st = run_control(control_opts);
  }
  if (!st.is_ok() && st.kind() != backfill::ErrorKind::kInterrupted &&
      st.kind() != backfill::ErrorKind::kDifferences) {
    log->error("error", "backfill: error: " + st.message(), {{"exit_code", exit_code(st)}});
  }
  if (metrics) metrics->finish(run_outcome(st), log);
  return exit_code(st);
}
