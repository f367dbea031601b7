// PostgreSQL implementation of verify's seam: compares a chunk of the source and of the
// target, by push-down digests or by streamed rows, and resolves a mismatch to its rows.
// Each comparer owns one connection to each side; each side's reads are single statements,
// so each runs in its own short transaction. PgComparedTables is thread-safe.
#pragma once

#include <memory>

#include "drivers/postgres/verify_spec.hpp"
#include "engine/jobs/verify_job.hpp"

namespace backfill::pg {

struct CompareOptions {
  HashMethod method = HashMethod::kPushDown;
};

class PgComparedTables final : public ComparedTables {
 public:
  PgComparedTables(std::string source_dsn, std::string target_dsn, SessionSettings settings,
                   std::shared_ptr<const VerifySpec> spec, CompareOptions options)
      : source_dsn_(std::move(source_dsn)),
        target_dsn_(std::move(target_dsn)),
        settings_(std::move(settings)),
        spec_(std::move(spec)),
        options_(options) {}

  Result<std::unique_ptr<ChunkComparer>> open_comparer() override;
  Result<std::unique_ptr<KeyWalker>> open_walker() override;
  std::optional<std::int64_t> estimated_rows() const override {
    return spec_->copy.source.estimated_rows;
  }

 private:
  std::string source_dsn_, target_dsn_;
  SessionSettings settings_;
  std::shared_ptr<const VerifySpec> spec_;
  CompareOptions options_;
};

}  // namespace backfill::pg
