// In-memory fakes of the engine's seams, for unit tests of engine logic only: nothing that
// claims database behaviour is tested against these.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "engine/copy_format.hpp"
#include "engine/sink.hpp"
#include "engine/source.hpp"

namespace backfill::fakes {

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
    Result<CopyBatch> read(const ChunkRange& r) override {
      // The id is not known here; failures are keyed by the range's upper bound instead.
      std::int64_t hi = r.hi ? std::stoll((*r.hi)[0]) : -1;
      if (Status st = s.f_->take(s.f_->reads, hi); !st.is_ok()) return st;
      CopyWriter w;
      for (auto k : s.t_.in(r)) {
        w.begin_tuple(1);
        w.add_bytes(std::to_string(k));
      }
      return w.finish();
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

// Collects written keys; counts how often each was written.
class FakeSink : public Sink {
 public:
  explicit FakeSink(FakeFailures* f) : f_(f) {}
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
    Result<WriteResult> write(const Chunk& c, const CopyBatch& b) override {
      if (Status st = s.f_->take(s.f_->writes, c.id); !st.is_ok()) return st;
      CopyReader r(b.bytes);
      BACKFILL_RETURN_IF_ERROR(r.read_header());
      std::vector<CopyField> f;
      WriteResult out;
      std::lock_guard l(s.mu_);
      while (true) {
        BACKFILL_ASSIGN_OR_RETURN(bool more, r.next(&f));
        if (!more) break;
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
