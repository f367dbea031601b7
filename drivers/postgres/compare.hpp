// PostgreSQL's side of a verify: a scanner of the source table and one of the target table
// (engine/jobs/verify_job.hpp), each on its own connection, each read a single statement
// in its own short transaction. The comparison itself is the engine's; these only read
// (and, for --repair, the target's scanner writes). The factory functions are thread-safe.
#pragma once

#include <memory>

#include "drivers/postgres/verify_spec.hpp"
#include "engine/jobs/verify_job.hpp"

namespace backfill::pg {

Result<std::unique_ptr<SourceScanner>> open_source_scanner(const std::string& dsn,
                                                           const SessionSettings& settings,
                                                           std::shared_ptr<const VerifySpec> spec);
Result<std::unique_ptr<TargetScanner>> open_target_scanner(const std::string& dsn,
                                                           const SessionSettings& settings,
                                                           std::shared_ptr<const VerifySpec> spec);

// Both sides of a verify between two PostgreSQL tables, compared by `method`.
VerifiedTables verified_tables(std::string source_dsn, std::string target_dsn,
                               SessionSettings settings, std::shared_ptr<const VerifySpec> spec,
                               HashMethod method);

}  // namespace backfill::pg
