// PostgreSQL Sink: writes a chunk into the target table with binary COPY, in one
// transaction, under the job's conflict policy.
//
// Policy error copies straight into the table. The other policies copy into a temporary
// staging table and merge with INSERT ... ON CONFLICT. When the ledger lives in the target
// database (`ledger_job` set), the chunk's ledger row is locked, checked and marked done in
// the same transaction as its rows, so a chunk is written exactly once whatever crashes.
// Each writer owns one connection; PgSink is thread-safe.
#pragma once

#include <memory>
#include <optional>

#include "drivers/postgres/copy_spec.hpp"
#include "engine/table/sink.hpp"

namespace backfill::pg {

class PgSink final : public Sink {
 public:
  PgSink(std::string dsn, SessionSettings settings, std::shared_ptr<const CopySpec> spec,
         std::optional<std::string> ledger_job)
      : dsn_(std::move(dsn)),
        settings_(std::move(settings)),
        spec_(std::move(spec)),
        ledger_job_(std::move(ledger_job)) {}
  Result<std::unique_ptr<ChunkWriter>> open_writer() override;

 private:
  std::string dsn_;
  SessionSettings settings_;
  std::shared_ptr<const CopySpec> spec_;
  std::optional<std::string> ledger_job_;
};

}  // namespace backfill::pg
