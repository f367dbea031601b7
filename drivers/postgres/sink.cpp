#include "drivers/postgres/sink.hpp"

#include "drivers/postgres/ledger.hpp"

namespace backfill::pg {
namespace {

class PgChunkWriter final : public ChunkWriter {
 public:
  PgChunkWriter(std::unique_ptr<PgConnection> conn, std::shared_ptr<const CopySpec> spec,
                std::optional<std::string> ledger_job)
      : conn_(std::move(conn)),
        spec_(std::move(spec)),
        ledger_job_(std::move(ledger_job)),
        write_sql_(spec_->write_sql()),
        merge_sql_(spec_->merge_sql()) {}

  Result<WriteResult> write(const Chunk& chunk, RowStream& rows) override {
    if (!merge_sql_.empty() && !stage_ready_) {
      BACKFILL_RETURN_IF_ERROR(conn_->exec(spec_->stage_create_sql()));
      stage_ready_ = true;
    }
    WriteResult out;
    BACKFILL_RETURN_IF_ERROR(conn_->transaction([&] { return write_once(chunk, rows, &out); }));
    return out;
  }

  Status reset() override {
    stage_ready_ = false;  // temporary tables die with the session
    return conn_->reconnect();
  }

 private:
  // The stream's tuples, framed as one binary COPY stream, while they are still arriving.
  Status send_rows(RowStream& rows) {
    BACKFILL_RETURN_IF_ERROR(conn_->copy_in_send(kCopyHeader));
    while (true) {
      BACKFILL_ASSIGN_OR_RETURN(std::string_view tuples, rows.next());
      if (tuples.empty()) break;
      BACKFILL_RETURN_IF_ERROR(conn_->copy_in_send(tuples));
    }
    return conn_->copy_in_send(kCopyTrailer);
  }

  // The chunk's rows and, with a ledger in this database, its completion: one transaction.
  Status write_once(const Chunk& chunk, RowStream& rows, WriteResult* result) {
    WriteResult& out = *result;
    if (ledger_job_) {
      BACKFILL_ASSIGN_OR_RETURN(bool pending, lock_pending_chunk(*conn_, *ledger_job_, chunk.id));
      if (!pending) {
        // Finished by another worker (or by us, before a lost connection hid the commit).
        out.already_done = true;
        return Status::ok();
      }
    }
    BACKFILL_RETURN_IF_ERROR(conn_->copy_in_begin(write_sql_));
    if (Status st = send_rows(rows); !st.is_ok()) {
      conn_->copy_in_abort("backfill: " + st.message());
      return st;
    }
    BACKFILL_ASSIGN_OR_RETURN(std::int64_t copied, conn_->copy_in_end());
    out.rows_written = copied;
    if (!merge_sql_.empty()) {
      BACKFILL_ASSIGN_OR_RETURN(PgResult merged, conn_->query(merge_sql_));
      out.rows_written = merged.affected();
    }
    if (ledger_job_) {
      BACKFILL_RETURN_IF_ERROR(
          record_chunk_done(*conn_, *ledger_job_, chunk.id, rows.rows(), out.rows_written));
      out.ledger_recorded = true;
    }
    return Status::ok();
  }

  std::unique_ptr<PgConnection> conn_;
  std::shared_ptr<const CopySpec> spec_;
  std::optional<std::string> ledger_job_;
  std::string write_sql_;
  std::string merge_sql_;
  bool stage_ready_ = false;
};

}  // namespace

Result<std::unique_ptr<ChunkWriter>> PgSink::open_writer() {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn_, settings_));
  return std::unique_ptr<ChunkWriter>(new PgChunkWriter(std::move(conn), spec_, ledger_job_));
}

}  // namespace backfill::pg
