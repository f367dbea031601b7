// Load-aware throttling: the readings a LoadProbe takes, the controller that turns them into
// allowed chunks in flight, the chunk sizer that steers chunk size toward a target chunk
// time, and the Throttle that a job's claim loop asks before every chunk.
//
// Controller and ChunkSizer are pure logic: every call takes the time it is, so tests drive
// them with a fake clock. Throttle is thread-safe: a monitor thread feeds it readings,
// the claim loop waits on it, the commit stage tells it what each chunk took.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/util/clock.hpp"

namespace backfill {

using Seconds = std::chrono::duration<double>;

constexpr double kNoLimit = std::numeric_limits<double>::infinity();

// One signal of one database at one moment.
struct Reading {
  std::string where;            // "source", "target", or "" for a local signal
  std::string signal;           // "active backends", "replication lag", "pause file", ...
  std::optional<double> value;  // nullopt: could not be read, `error` says why
  std::string error;
  bool server_lost = false;    // unread because its server cannot be reached (Status::server_lost)
  double limit = kNoLimit;     // above it: cut chunks in flight
  double critical = kNoLimit;  // above it: pause
  std::string unit;            // printed after values: "", " s", " MB/s", "x"

  std::string name() const { return where.empty() ? signal : where + " " + signal; }
  bool over_limit() const { return value && *value > limit; }
  bool over_critical() const { return value && *value > critical; }
};

// Samples the load signals of one database. Implementations own their connection and are
// used from one thread (the monitor's).
class LoadProbe {
 public:
  virtual ~LoadProbe() = default;
  // Appends the current reading of each signal; a signal that cannot be read is appended
  // without a value. Never fails as a whole: a lost connection is a set of unreadable signals.
  virtual void sample(std::vector<Reading>* out) = 0;
};

enum class ThrottleState { kRunning, kThrottled, kPaused };
const char* throttle_state_name(ThrottleState s);

struct ControllerConfig {
  double max_level = 4;            // chunks in flight when all is healthy
  double min_level = 1.0 / 16;     // below 1: one chunk, then a rest (duty cycle)
  Seconds grow_every{0.5};         // healthy for this long: grow once
  double grow_factor = 1.5;        // fast growth: level x this + 0.25 per step
  double grow_step = 0.125;        // careful growth near the level that hurt
  Seconds forget_after{2.0};       // healthy this long: forget the level that hurt
  Seconds cut_cooldown{1.0};       // one cut per signal's reaction time
  Seconds fail_closed_after{3.0};  // unreadable for longer: over its limit
};

struct Decision {
  ThrottleState state = ThrottleState::kRunning;
  int in_flight = 1;     // chunks allowed in flight; 0 when paused
  double duty = 1;       // below 1: after each chunk, rest (1/duty - 1) times its duration
  double share = 1;      // of full speed: level / max level (0 when paused)
  std::string reason;    // why it is not running free: "target replication lag 3.1 s > 2 s"
  std::string limiting;  // the signal behind it (its name), for time per reason
};

// Cuts hard when a signal is over its limit (x0.5, at most once per cut_cooldown) and
// remembers the level that hurt. While healthy it grows: fast (x1.5 + 0.25 every
// grow_every) below half the level that hurt, carefully (+grow_step) above it, so that next
// to a steady foreground it saws just under the point where the foreground notices instead
// of overshooting; once healthy for forget_after it forgets that level and grows fast back
// to full speed (from the floor to four chunks in flight in three seconds). It
// pauses while a signal is over its critical level or unreadable for longer than
// fail_closed_after, and resumes by itself.
class Controller {
 public:
  explicit Controller(ControllerConfig config);
  Decision update(Clock::time_point now, const std::vector<Reading>& readings);
  double level() const { return level_; }
  void set_max_level(double max_level);

 private:
  ControllerConfig config_;
  double level_;
  std::optional<double> hurt_;  // the level at the last cut, until forgotten
  std::optional<Clock::time_point> last_cut_, last_grow_, last_over_;
  std::map<std::string, Clock::time_point> unreadable_since_;  // by reading name
};

struct ChunkSizerConfig {
  Seconds target{0.5};  // --chunk-time
  std::int64_t min_rows = 100;
  std::int64_t max_rows = 2'000'000;
  double max_growth = 2.0;  // per chunk
  double far_over = 2.0;    // a chunk over target x this: cut straight to the estimate
};

// Steers chunk size toward the target chunk time from what finished chunks took.
class ChunkSizer {
 public:
  ChunkSizer(ChunkSizerConfig config, std::int64_t initial_rows);
  std::int64_t rows() const { return rows_; }
  void observe(std::int64_t rows, Seconds took);
  void halve() { rows_ = std::max(config_.min_rows, rows_ / 2); }
  void set_target(Seconds target) { config_.target = target; }
  const ChunkSizerConfig& config() const { return config_; }

 private:
  ChunkSizerConfig config_;
  std::int64_t rows_;
};

// Settings changed at run time through the ledger (`backfill control`).
struct RuntimeControl {
  bool paused = false;
  std::optional<double> max_rate;  // rows/s
  std::optional<int> jobs;
  std::optional<int> chunk_time_ms;
  bool operator==(const RuntimeControl&) const = default;
};

struct ThrottleOptions {
  ControllerConfig controller;  // its max_level is set from `jobs`: 2 chunks in flight each
  std::optional<ChunkSizerConfig> sizer;  // nullopt: fixed chunk size
  std::int64_t chunk_rows = 50000;        // fixed size, or the sizer's first
  double max_rate = 0;                    // rows/s, 0: none
  int jobs = 2;
};

// What `status` and the progress line show.
struct ThrottleSnapshot {
  ThrottleState state = ThrottleState::kRunning;
  std::string reason;
  std::string limiting;  // the signal behind it (Decision::limiting)
  int in_flight = 0, allowed = 0;
  double rate_cap = 0;  // rows/s the job is paced at (0: not paced)
  std::int64_t chunk_rows = 0;
  bool adaptive = false;  // chunk size steered toward a chunk time
  double throttled_seconds = 0;
  std::map<std::string, double> seconds_by_reason;  // by limiting signal
  std::vector<Reading> readings;
  // Chunks run through the throttle (failed ones too) and their rows: a set's progress.
  std::int64_t chunks_finished = 0, rows_finished = 0;
};

// What a job's pipeline asks of a throttle before and after each chunk. Throttle is the
// load-aware one; NoThrottle, the default of every job, admits each chunk at once and keeps
// the job's fixed chunk size, so that the pipeline never checks for "no throttle".
// Implementations are thread-safe.
class ChunkThrottle {
 public:
  virtual ~ChunkThrottle() = default;
  // Blocks until a chunk of `rows` planned rows may start or `stop()` says to give up; true
  // when it may start. A rate cap charges the rows at once, under the lock that admits (so
  // that chunks admitted together, by several lanes or tables, all count against it), and
  // says in *charged what it charged, for finished() to settle.
  virtual bool admit(const std::function<bool()>& stop, std::int64_t rows,
                     std::int64_t* charged) = 0;
  // A chunk whose rows are not known up front: nothing is charged until it finishes.
  bool admit(const std::function<bool()>& stop) {
    std::int64_t charged = 0;
    return admit(stop, 0, &charged);
  }
  // The rows of the next chunk, where `fixed` is the job's --chunk-rows.
  virtual std::int64_t next_chunk_rows(std::int64_t fixed) const = 0;
  // A chunk admitted earlier is finished with the rows it really had (0 when it failed);
  // `charged` is what its admit() charged.
  virtual void finished(std::int64_t rows, std::int64_t charged, Seconds took) = 0;
  void finished(std::int64_t rows, Seconds took) { finished(rows, 0, took); }
  // A chunk's statement timed out.
  virtual void chunk_timed_out() = 0;
  virtual ThrottleSnapshot snapshot() const = 0;
  // Since when it has been paused because its probes cannot reach a server, or nullopt.
  // Lock-free: it is asked from inside admit()'s `stop`.
  virtual std::optional<Clock::time_point> unreachable_since() const { return std::nullopt; }
};

class NoThrottle final : public ChunkThrottle {
 public:
  // Stateless, so one instance serves every job.
  static NoThrottle& instance();
  using ChunkThrottle::admit;
  using ChunkThrottle::finished;
  bool admit(const std::function<bool()>&, std::int64_t, std::int64_t* charged) override {
    *charged = 0;
    return true;
  }
  std::int64_t next_chunk_rows(std::int64_t fixed) const override { return fixed; }
  void finished(std::int64_t, std::int64_t, Seconds) override {}
  void chunk_timed_out() override {}
  ThrottleSnapshot snapshot() const override { return {}; }
};

class Throttle final : public ChunkThrottle {
 public:
  explicit Throttle(ThrottleOptions options, Clock::time_point now = Clock::steady().now());

  // Monitor side: the latest readings of every probe and local signal.
  void report(Clock::time_point now, std::vector<Reading> readings);
  std::optional<Clock::time_point> unreachable_since() const override;
  void set_control(const RuntimeControl& control, Clock::time_point now = Clock::steady().now());

  // Claim side: blocks until a chunk may start (not paused, under the chunks allowed in
  // flight, past any rest or rate pacing) or `stop()` says to give up (checked at least
  // every 100 ms); true when the chunk may start, and it then counts as in flight.
  using ChunkThrottle::admit;
  using ChunkThrottle::finished;
  bool admit(const std::function<bool()>& stop, std::int64_t rows, std::int64_t* charged) override;
  std::int64_t chunk_rows() const;
  std::int64_t next_chunk_rows(std::int64_t) const override { return chunk_rows(); }
  // Under a --max-rate cap, the most rows a chunk may hold: a tenth of a second's, so the
  // cap holds over every second however the chunks' commits bunch. Unbounded otherwise.
  std::int64_t rate_chunk_limit() const;
  // Commit side: a chunk admitted earlier is finished (rows 0 when it failed).
  void finished(std::int64_t rows, std::int64_t charged, Seconds took) override;
  // A chunk's statement timed out: halve the chunk size at once.
  void chunk_timed_out() override;
  // The chunk time chunks are sized toward (`control` may change it); nullopt: fixed size.
  std::optional<Seconds> chunk_target() const;

  ThrottleSnapshot snapshot() const override;

 private:
  void decide(Clock::time_point now);        // mu_ held
  void account(Clock::time_point now);       // mu_ held
  Clock::time_point earliest_start() const;  // mu_ held
  double rate_cap() const;                   // mu_ held
  std::int64_t rate_chunk_limit_locked() const;

  ThrottleOptions options_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  Controller controller_;
  std::optional<ChunkSizer> sizer_;
  std::vector<Reading> readings_;
  RuntimeControl control_;
  Decision decision_;
  // decision_ paused for an unreachable server since (steady clock, ns), 0 when not; atomic
  // for unreachable_since(), which admit()'s caller asks while admit() holds mu_.
  std::atomic<std::int64_t> unreachable_since_ns_{0};
  int in_flight_ = 0;
  Clock::time_point rest_until_, rate_next_, accounted_at_;
  Clock::time_point paced_until_{};  // the end of the pacing counted so far
  // Rows finished in the last few seconds, and the rate seen while running free: a cut to
  // share s paces the job at s x that rate. On a small server fewer chunks in flight do
  // not mean fewer rows a second (two chunks keep two cores as busy as four), a paced
  // rate does.
  std::deque<std::pair<Clock::time_point, std::int64_t>> recent_;
  double full_rate_ = 0;
  // The last report of the monitor. Once reports come, their stopping (a probe hung on its
  // connection) holds the job like an unreadable signal: fail closed.
  std::optional<Clock::time_point> last_report_;
  bool silent(Clock::time_point now) const;  // mu_ held
  double throttled_seconds_ = 0;
  std::map<std::string, double> seconds_by_reason_;
  std::int64_t chunks_finished_ = 0, rows_finished_ = 0;
};

// One table's view of a throttle its set of tables shares (`--tables`): the shared
// Throttle admits every chunk of the set (the load signals, the pause, the rate, the chunks
// in flight across tables, `backfill control` of the set), and each table sizes its own
// chunks toward the shared chunk time, since a table's rows per second are its own (a
// narrow table's chunk size would make a wide table's chunks run long). Thread-safe.
class TableThrottle final : public ChunkThrottle {
 public:
  // `initial_rows`: the table's first chunk, when chunks are sized.
  TableThrottle(Throttle& shared, std::int64_t initial_rows);
  using ChunkThrottle::admit;
  using ChunkThrottle::finished;
  bool admit(const std::function<bool()>& stop, std::int64_t rows, std::int64_t* charged) override {
    return shared_.admit(stop, rows, charged);
  }
  std::int64_t next_chunk_rows(std::int64_t fixed) const override;
  void finished(std::int64_t rows, std::int64_t charged, Seconds took) override;
  void chunk_timed_out() override;
  ThrottleSnapshot snapshot() const override;

 private:
  Throttle& shared_;
  mutable std::mutex mu_;
  mutable ChunkSizer sizer_;
};

}  // namespace backfill
