#include "drivers/postgres/compare.hpp"

#include "drivers/postgres/source.hpp"

namespace backfill::pg {
namespace {

Result<ChunkDigest> digest(PgConnection& conn, const std::string& sql) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn.query(sql));
  ChunkDigest d;
  d.rows = r.int64(0, 0);
  BACKFILL_ASSIGN_OR_RETURN(d.sum, sum_mod_2_64(r.text(0, 1)));
  return d;
}

Result<std::vector<KeyedHash>> keyed_hashes(PgConnection& conn, const std::string& sql,
                                            std::size_t key_columns) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn.query(sql));
  std::vector<KeyedHash> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    KeyedHash kh;
    for (std::size_t c = 0; c < key_columns; ++c) kh.key.push_back(r.text(i, static_cast<int>(c)));
    kh.hash = static_cast<std::uint64_t>(r.int64(i, static_cast<int>(key_columns)));
    out.push_back(std::move(kh));
  }
  return out;
}

// What differs between the two sides' scanners: the SQL of each read.
enum class Side { kSource, kTarget };

// One side's reads. `Base` is the engine's SourceScanner or TargetScanner.
template <typename Base>
class PgScanner : public Base {
 public:
  PgScanner(std::unique_ptr<PgConnection> conn, std::shared_ptr<const VerifySpec> spec, Side side)
      : conn_(std::move(conn)), spec_(std::move(spec)), side_(side) {}

  Result<ChunkDigest> digest(const ChunkRange& range) override {
    return pg::digest(*conn_,
                      source() ? spec_->source_digest_sql(range) : spec_->target_digest_sql(range));
  }
  Result<std::vector<KeyedHash>> row_hashes(const ChunkRange& range) override {
    return keyed_hashes(*conn_,
                        source() ? spec_->source_rows_sql(range) : spec_->target_rows_sql(range),
                        spec_->key_text_count());
  }
  Status stream(const ChunkRange& range, bool with_keys, const DataSink& on_data) override {
    return conn_->copy_out_each(source() ? spec_->source_stream_sql(range, with_keys)
                                         : spec_->target_stream_sql(range, with_keys),
                                on_data);
  }
  Status reset() override { return conn_->reconnect(); }

  Result<std::vector<ChunkRange>> position_ranges(std::int64_t rows) override {
    BACKFILL_ASSIGN_OR_RETURN(
        TidExtent extent,
        read_tid_extent(*conn_, source() ? spec_->copy.source : spec_->copy.target));
    return extent.ranges(rows);
  }

  Result<std::vector<Key>> values_at(const std::vector<Key>& positions) override {
    std::string tids = "{";
    for (std::size_t i = 0; i < positions.size(); ++i) {
      tids += (i ? ",\"" : "\"") + positions[i].at(0) + "\"";
    }
    tids += "}";
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult r,
        conn_->query(source() ? spec_->source_values_sql() : spec_->target_values_sql(), {tids}));
    std::vector<Key> out(positions.size());
    for (int i = 0; i < r.rows(); ++i) {
      for (std::size_t p = 0; p < positions.size(); ++p) {
        if (positions[p].at(0) != r.text(i, 0) || positions[p].at(1) != r.text(i, 1)) continue;
        Key values;
        for (int c = 2; c < r.columns(); ++c) {
          values.push_back(r.is_null(i, c) ? "NULL" : r.text(i, c));
        }
        out[p] = std::move(values);
      }
    }
    return out;
  }

 protected:
  bool source() const { return side_ == Side::kSource; }
  std::unique_ptr<PgConnection> conn_;
  std::shared_ptr<const VerifySpec> spec_;
  Side side_;
};

class PgSourceScanner final : public PgScanner<SourceScanner> {
 public:
  PgSourceScanner(std::unique_ptr<PgConnection> conn, std::shared_ptr<const VerifySpec> spec)
      : PgScanner(std::move(conn), std::move(spec), Side::kSource) {}
  Status rows_by_key(const std::vector<Key>& keys, std::string* out) override {
    return conn_->copy_out(spec_->source_rows_by_key_sql(keys), out);
  }
};

class PgTargetScanner final : public PgScanner<TargetScanner> {
 public:
  PgTargetScanner(std::unique_ptr<PgConnection> conn, std::shared_ptr<const VerifySpec> spec)
      : PgScanner(std::move(conn), std::move(spec), Side::kTarget) {}
  Status replace(const std::vector<Key>& remove, std::string_view rows) override {
    return conn_->transaction([&]() -> Status {
      BACKFILL_RETURN_IF_ERROR(conn_->exec(spec_->target_delete_by_key_sql(remove)));
      if (rows.empty()) return Status::ok();
      return conn_->copy_in(spec_->copy.write_into_target_sql(), rows).status();
    });
  }
};

}  // namespace

Result<std::unique_ptr<SourceScanner>> open_source_scanner(const std::string& dsn,
                                                           const SessionSettings& settings,
                                                           std::shared_ptr<const VerifySpec> spec) {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn, settings));
  return std::unique_ptr<SourceScanner>(new PgSourceScanner(std::move(conn), std::move(spec)));
}

Result<std::unique_ptr<TargetScanner>> open_target_scanner(const std::string& dsn,
                                                           const SessionSettings& settings,
                                                           std::shared_ptr<const VerifySpec> spec) {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn, settings));
  return std::unique_ptr<TargetScanner>(new PgTargetScanner(std::move(conn), std::move(spec)));
}

VerifiedTables verified_tables(std::string source_dsn, std::string target_dsn,
                               SessionSettings settings, std::shared_ptr<const VerifySpec> spec,
                               HashMethod method) {
  VerifiedTables t;
  t.open_source = [=] { return open_source_scanner(source_dsn, settings, spec); };
  t.open_target = [=] { return open_target_scanner(target_dsn, settings, spec); };
  t.open_walker = [=]() -> Result<std::unique_ptr<KeyWalker>> {
    // A multiset comparison is one chunk: the whole table, read in ranges by its comparer.
    if (spec->copy.keyless) return std::unique_ptr<KeyWalker>(new WholeTableWalker);
    BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(source_dsn, settings));
    return std::unique_ptr<KeyWalker>(
        new PgKeyWalker(std::move(conn), std::shared_ptr<const CopySpec>(spec, &spec->copy)));
  };
  t.estimated_rows = spec->copy.source.estimated_rows;
  t.method = method;
  t.norms = spec->norms;
  t.key_fields = spec->key_text_count();
  t.multiset = spec->copy.keyless;
  t.map = spec->copy.map;
  return t;
}

}  // namespace backfill::pg
