// In-memory fakes of the engine's seams, for unit tests of engine logic only: nothing that
// claims database behaviour is tested against these.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "engine/format/copy_format.hpp"
#include "engine/table/sink.hpp"
#include "engine/table/source.hpp"
#include "engine/util/clock.hpp"

namespace backfill::fakes {

// A clock that moves only when a test advances it.
class ManualClock final : public Clock {
 public:
  time_point now() const override { return time_point(duration(ticks_.load())); }
  void advance(duration d) { ticks_ += d.count(); }

 private:
  std::atomic<duration::rep> ticks_{0};
};

// A table of integer keys 1..n (with optional gaps), each row one field: its key as text.
class FakeTable {
 public:
  explicit FakeTable(std::vector<std::int64_t> keys) : keys_(std::move(keys)) {
    std::sort(keys_.begin(), keys_.end());
  }
  static FakeTable range(std::int64_t n) {
    std::vector<std::int64_t> k;
    for (std::int64_t i = 1; i <= n; ++i) k.push_back(i);
    return FakeTable(std::move(k));
  }
  std::vector<std::int64_t> in(const ChunkRange& r) const {
    std::vector<std::int64_t> out;
    for (auto k : keys_) {
      if (r.lo && k <= std::stoll((*r.lo)[0])) continue;
      if (r.hi && k > std::stoll((*r.hi)[0])) continue;
      out.push_back(k);
    }
    return out;
  }
  const std::vector<std::int64_t>& keys() const { return keys_; }

 private:
  std::vector<std::int64_t> keys_;
};

class FakeWalker : public KeyWalker {
 public:
  explicit FakeWalker(const FakeTable& t) : t_(t) {}
  Result<std::optional<Key>> boundary_after(const std::optional<Key>& after,
                                            std::int64_t rows) override {
    ++calls;
    std::int64_t seen = 0;
    for (auto k : t_.keys()) {
      if (after && k <= std::stoll((*after)[0])) continue;
      if (++seen == rows) return std::optional<Key>(Key{std::to_string(k)});
    }
    return std::optional<Key>{};
  }
  int calls = 0;

 private:
  const FakeTable& t_;
};

struct FakeFailures {
  std::mutex mu;
  // Fail this many reads / writes of a chunk id with this status, then succeed.
  std::map<std::int64_t, std::pair<int, Status>> reads, writes;
  // The same, but after the read has sent half its rows / the writer has taken one piece.
  std::map<std::int64_t, std::pair<int, Status>> reads_midway, writes_midway;
  Status take(std::map<std::int64_t, std::pair<int, Status>>& m, std::int64_t id) {
    std::lock_guard l(mu);
    auto it = m.find(id);
    if (it == m.end() || it->second.first == 0) return Status::ok();
    --it->second.first;
    return it->second.second;
  }
};

class FakeSource : public Source {
 public:
  FakeSource(const FakeTable& t, FakeFailures* f) : t_(t), f_(f) {}
  // Rows per message: 1 as PostgreSQL sends them, more to glue rows together, 0 for the
  // whole stream at once.
  int rows_per_message = 1;
  Result<std::unique_ptr<ChunkReader>> open_reader() override {
    return std::unique_ptr<ChunkReader>(new Reader(*this));
  }
  Result<std::unique_ptr<KeyWalker>> open_walker() override {
    return std::unique_ptr<KeyWalker>(new FakeWalker(t_));
  }
  std::optional<std::int64_t> estimated_rows() const override {
    return static_cast<std::int64_t>(t_.keys().size());
  }
  std::atomic<int> resets{0};

 private:
  struct Reader : ChunkReader {
    explicit Reader(FakeSource& owner) : s(owner) {}
    // By default as PostgreSQL sends it: a message a row, the header with the first, the
    // trailer alone.
    Status read(const ChunkRange& r, const DataSink& on_data) override {
      // The id is not known here; failures are keyed by the range's upper bound instead.
      std::int64_t hi = r.hi ? std::stoll((*r.hi)[0]) : -1;
      if (Status st = s.f_->take(s.f_->reads, hi); !st.is_ok()) return st;
      const auto keys = s.t_.in(r);
      const std::size_t fail_at = keys.size() / 2;
      std::string message(kCopyHeader);
      int in_message = 0;
      for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i == fail_at) {
          if (Status st = s.f_->take(s.f_->reads_midway, hi); !st.is_ok()) return st;
        }
        CopyWriter w(CopyWriter::TuplesOnly{});
        w.begin_tuple(1);
        w.add_bytes(std::to_string(keys[i]));
        message += w.take_tuples();
        if (s.rows_per_message > 0 && ++in_message == s.rows_per_message) {
          if (Status st = on_data(message); !st.is_ok()) return st;
          message.clear();
          in_message = 0;
        }
      }
      message += kCopyTrailer;
      return on_data(message);
    }
    Status reset() override {
      ++s.resets;
      return Status::ok();
    }
    FakeSource& s;
  };
  const FakeTable& t_;
  FakeFailures* f_;
};

// Collects written keys; counts how often each was written, and whether a chunk's keys
// ever arrived out of order.
class FakeSink : public Sink {
 public:
  explicit FakeSink(FakeFailures* f) : f_(f) {}
  std::set<std::int64_t> done_elsewhere;  // chunk ids another worker finished first
  std::atomic<bool> out_of_order{false};
  Result<std::unique_ptr<ChunkWriter>> open_writer() override {
    return std::unique_ptr<ChunkWriter>(new Writer(*this));
  }
  std::map<std::string, int> written() {
    std::lock_guard l(mu_);
    return written_;
  }

 private:
  struct Writer : ChunkWriter {
    explicit Writer(FakeSink& owner) : s(owner) {}
    Result<WriteResult> write(const Chunk& c, RowStream& rows) override {
      if (Status st = s.f_->take(s.f_->writes, c.id); !st.is_ok()) return st;
      if (s.done_elsewhere.count(c.id)) return WriteResult{0, false, true};
      std::string tuples;
      while (true) {
        BACKFILL_ASSIGN_OR_RETURN(std::string_view piece, rows.next());
        if (piece.empty()) break;
        tuples += piece;
        if (Status st = s.f_->take(s.f_->writes_midway, c.id); !st.is_ok()) return st;
      }
      CopyReader r = CopyReader::continuing(tuples);
      std::vector<CopyField> f;
      WriteResult out;
      std::lock_guard l(s.mu_);
      std::int64_t previous = 0;
      while (!r.exhausted()) {
        BACKFILL_ASSIGN_OR_RETURN(bool more, r.next(&f));
        if (!more) break;
        const std::int64_t key = std::stoll(std::string(*f[0]));
        if (key <= previous) s.out_of_order = true;
        previous = key;
        ++s.written_[std::string(*f[0])];
        ++out.rows_written;
      }
      return out;
    }
    Status reset() override { return Status::ok(); }
    FakeSink& s;
  };
  FakeFailures* f_;
  std::mutex mu_;
  std::map<std::string, int> written_;
};

}  // namespace backfill::fakes
