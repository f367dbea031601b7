#include "engine/throttle/throttle.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace backfill {

NoThrottle& NoThrottle::instance() {
  static NoThrottle none;
  return none;
}
namespace {

std::string number(double v) {
  char buf[32];
  if (std::isinf(v)) return "unlimited";
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// "target replication lag 3.1 s > 2 s", or the name alone for a flag ("pause file").
std::string describe(const Reading& r, double bound) {
  if (r.unit == "flag") return r.name();
  return r.name() + " " + number(*r.value) + r.unit + " > " + number(bound) + r.unit;
}

// libpq's messages run on over several lines; a reason is one.
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Every reason to pause is shown ("pause file /x; target replication lag 31 s > 20 s"); the
// first one names the time spent.
void add_reason(std::string* reasons, std::string* first, const std::string& reason,
                const std::string& name) {
  if (reasons->empty()) *first = name;
  *reasons += (reasons->empty() ? "" : "; ") + reason;
}

// Full speed is two chunks in flight per job: one read while one is written.
ControllerConfig for_jobs(ControllerConfig c, int jobs) {
  c.max_level = 2.0 * std::max(1, jobs);
  return c;
}

constexpr auto kAdmitPoll = std::chrono::milliseconds(100);
// Under --max-rate a chunk holds at most this many seconds' rows at the cap.
constexpr double kRateChunkSeconds = 0.1;

}  // namespace

const char* throttle_state_name(ThrottleState s) {
  switch (s) {
    case ThrottleState::kRunning:
      return "running";
    case ThrottleState::kThrottled:
      return "throttled";
    case ThrottleState::kPaused:
      return "paused";
  }
  return "?";
}

Controller::Controller(ControllerConfig config) : config_(config), level_(config.max_level) {}

void Controller::set_max_level(double max_level) {
  config_.max_level = std::max(1.0, max_level);
  level_ = std::min(level_, config_.max_level);
}

Decision Controller::update(Clock::time_point now, const std::vector<Reading>& readings) {
  std::string critical, critical_name, over, over_name;
  bool critical_load = false;  // a load signal over its critical level (not a flag or a gap)
  std::set<std::string> lost;  // databases already named unreachable in this update
  for (const auto& r : readings) {
    const std::string name = r.name();
    if (!r.value) {
      auto [it, first] = unreadable_since_.try_emplace(name, now);
      const Seconds for_how_long = now - it->second;
      if (first || for_how_long < config_.fail_closed_after) continue;
      // A server that cannot be reached is one reason, not one per signal it would give.
      if (r.server_lost) {
        if (lost.insert(r.where).second) {
          add_reason(&critical, &critical_name,
                     (r.where.empty() ? std::string("server") : r.where) + " unreachable for " +
                         number(for_how_long.count()) + " s (fail closed): " + first_line(r.error),
                     "server unreachable");
        }
        continue;
      }
      add_reason(&critical, &critical_name,
                 name + " unreadable for " + number(for_how_long.count()) +
                     " s (fail closed): " + first_line(r.error),
                 r.signal + " unreadable");
      continue;
    }
    unreadable_since_.erase(name);
    if (r.over_critical()) {
      add_reason(&critical, &critical_name, describe(r, r.critical), r.signal);
      critical_load = critical_load || r.unit != "flag";
    } else if (r.over_limit() && over.empty()) {
      over = describe(r, r.limit);
      over_name = r.signal;
    }
  }
  Decision d;
  // Over a limit or a critical level: cut (at most once per cooldown) and remember the
  // level that hurt, so that after a pause for load it comes back carefully, not at full
  // speed. A pause by hand (file, control) or for an unreadable signal says nothing about
  // load: it resumes where it was.
  auto cut = [&] {
    if (!last_cut_ || now - *last_cut_ >= config_.cut_cooldown) {
      hurt_ = level_;
      level_ = std::max(config_.min_level, level_ * 0.5);
      last_cut_ = now;
    }
    last_grow_ = last_over_ = now;
  };
  if (!critical.empty()) {
    if (critical_load) cut();
    last_grow_ = now;
    d.state = ThrottleState::kPaused;
    d.in_flight = 0;
    d.duty = std::min(1.0, level_);
    d.share = 0;
    d.reason = critical;
    d.limiting = critical_name;
    return d;
  }
  if (!over.empty()) {
    cut();
    d.state = ThrottleState::kThrottled;
    d.reason = over;
    d.limiting = over_name;
  } else if (level_ < config_.max_level) {
    if (hurt_ && last_over_ && now - *last_over_ >= config_.forget_after) hurt_.reset();
    if (!last_grow_ || now - *last_grow_ >= config_.grow_every) {
      const bool careful = hurt_ && level_ >= *hurt_ * 0.5;
      level_ = std::min(config_.max_level,
                        careful ? level_ + config_.grow_step : level_ * config_.grow_factor + 0.25);
      last_grow_ = now;
    }
    d.state = level_ < config_.max_level ? ThrottleState::kThrottled : ThrottleState::kRunning;
    if (d.state == ThrottleState::kThrottled) {
      d.reason = "recovering";
      d.limiting = "recovering";
    }
  }
  d.in_flight = std::max(1, static_cast<int>(std::floor(level_)));
  d.duty = std::min(1.0, level_);
  d.share = level_ / config_.max_level;
  return d;
}

ChunkSizer::ChunkSizer(ChunkSizerConfig config, std::int64_t initial_rows)
    : config_(config), rows_(std::clamp(initial_rows, config.min_rows, config.max_rows)) {}

void ChunkSizer::observe(std::int64_t rows, Seconds took) {
  if (rows <= 0 || took.count() <= 0) return;
  const double estimate = static_cast<double>(rows) * (config_.target / took);
  double next = estimate;
  if (took <= config_.target * config_.far_over) {
    // Bounded steps either way, so one odd chunk cannot swing the size.
    const auto current = static_cast<double>(rows_);
    next = std::clamp(estimate, current / config_.max_growth, current * config_.max_growth);
  }
  rows_ =
      std::clamp(static_cast<std::int64_t>(std::llround(next)), config_.min_rows, config_.max_rows);
}

Throttle::Throttle(ThrottleOptions options, Clock::time_point now)
    : options_(std::move(options)),
      controller_(for_jobs(options_.controller, options_.jobs)),
      rest_until_(now),
      rate_next_(now),
      accounted_at_(now) {
  if (options_.sizer) sizer_.emplace(*options_.sizer, options_.chunk_rows);
  decide(now);
}

void Throttle::report(Clock::time_point now, std::vector<Reading> readings) {
  std::lock_guard lk(mu_);
  last_report_ = now;
  readings_ = std::move(readings);
  decide(now);
  changed_.notify_all();
}

void Throttle::set_control(const RuntimeControl& control, Clock::time_point now) {
  std::lock_guard lk(mu_);
  if (control == control_) return;
  const double cap_before = rate_cap();
  control_ = control;
  // A new cap holds from now: what the old one still charged (a slow cap's wait after its
  // last chunk) is forgiven, so that lifting a cap takes effect at once.
  if (rate_cap() != cap_before) rate_next_ = std::min(rate_next_, now);
  const int jobs = control.jobs ? std::clamp(*control.jobs, 1, options_.jobs) : options_.jobs;
  controller_.set_max_level(2.0 * jobs);
  if (control.chunk_time_ms) {
    const Seconds target{*control.chunk_time_ms / 1000.0};
    if (sizer_) {
      sizer_->set_target(target);
    } else {
      ChunkSizerConfig config;
      config.target = target;
      sizer_.emplace(config, options_.chunk_rows);
    }
  } else if (options_.sizer && sizer_) {
    sizer_->set_target(options_.sizer->target);  // back to the command line's chunk time
  } else if (!options_.sizer) {
    sizer_.reset();  // back to the command line's fixed --chunk-rows
  }
  decide(now);
  changed_.notify_all();
}

void Throttle::account(Clock::time_point now) {
  const double dt = Seconds(now - accounted_at_).count();
  accounted_at_ = now;
  if (dt <= 0 || decision_.state == ThrottleState::kRunning) return;
  throttled_seconds_ += dt;
  seconds_by_reason_[decision_.limiting] += dt;
}

void Throttle::decide(Clock::time_point now) {
  account(now);
  std::vector<Reading> all = readings_;
  if (control_.paused) {
    Reading r;
    r.signal = "paused by `backfill control`";
    r.value = 1;
    r.critical = 0;
    r.unit = "flag";
    all.push_back(r);
  }
  decision_ = controller_.update(now, all);
  if (decision_.state == ThrottleState::kPaused && decision_.limiting == "server unreachable") {
    if (unreachable_since_ns_.load() == 0) {
      unreachable_since_ns_ = std::max<std::int64_t>(1, now.time_since_epoch().count());
    }
  } else {
    unreachable_since_ns_ = 0;
  }
}

std::optional<Clock::time_point> Throttle::unreachable_since() const {
  const std::int64_t ns = unreachable_since_ns_.load();
  if (ns == 0) return std::nullopt;
  return Clock::time_point(Clock::time_point::duration(ns));
}

Clock::time_point Throttle::earliest_start() const { return std::max(rest_until_, rate_next_); }

bool Throttle::silent(Clock::time_point now) const {
  return last_report_ && now - *last_report_ > options_.controller.fail_closed_after;
}

bool Throttle::admit(const std::function<bool()>& stop, std::int64_t rows, std::int64_t* charged) {
  *charged = 0;
  std::unique_lock lk(mu_);
  while (true) {
    if (stop()) return false;
    const auto now = std::chrono::steady_clock::now();
    account(now);
    if (!silent(now) && decision_.state != ThrottleState::kPaused &&
        in_flight_ < decision_.in_flight) {
      const auto start = earliest_start();
      if (start <= now) {
        ++in_flight_;
        // No credit for the time nothing ran (the start, a pause): the cap holds from now.
        if (const double cap = rate_cap(); cap > 0 && rows > 0) {
          *charged = rows;
          rate_next_ = std::max(rate_next_, now) + std::chrono::duration_cast<Clock::duration>(
                                                       Seconds(static_cast<double>(rows) / cap));
        }
        return true;
      }
      // Held back by the rate cap alone (the load is fine): paced. Counted once however many
      // lanes wait at the same time, from when the first began to when the last woke.
      const bool paced = decision_.state == ThrottleState::kRunning && start == rate_next_;
      changed_.wait_until(lk, std::min(start, now + kAdmitPoll));
      // Only while the load stays fine: a change to throttled or paused meanwhile is
      // counted by account() under its own reason.
      if (paced && decision_.state == ThrottleState::kRunning) {
        const auto woke = std::chrono::steady_clock::now();
        const auto from = std::max(now, paced_until_);
        if (woke > from) {
          const double dt = Seconds(woke - from).count();
          throttled_seconds_ += dt;
          seconds_by_reason_["max rate"] += dt;
          paced_until_ = woke;
        }
      }
    } else {
      changed_.wait_for(lk, kAdmitPoll);
    }
  }
}

std::int64_t Throttle::chunk_rows() const {
  std::lock_guard lk(mu_);
  return std::min(sizer_ ? sizer_->rows() : options_.chunk_rows, rate_chunk_limit_locked());
}

std::int64_t Throttle::rate_chunk_limit() const {
  std::lock_guard lk(mu_);
  return rate_chunk_limit_locked();
}

std::int64_t Throttle::rate_chunk_limit_locked() const {
  const double cap = control_.max_rate.value_or(options_.max_rate);
  if (cap <= 0) return std::numeric_limits<std::int64_t>::max();
  return std::max<std::int64_t>(1, std::llround(cap * kRateChunkSeconds));
}

double Throttle::rate_cap() const {
  double cap = control_.max_rate.value_or(options_.max_rate);
  if (decision_.state == ThrottleState::kThrottled && full_rate_ > 0) {
    const double paced = full_rate_ * decision_.share;
    cap = cap > 0 ? std::min(cap, paced) : paced;
  }
  return cap;
}

void Throttle::finished(std::int64_t rows, std::int64_t charged, Seconds took) {
  std::lock_guard lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  in_flight_ = std::max(0, in_flight_ - 1);
  if (rows > 0 || took.count() > 0) ++chunks_finished_;  // not an admission never started
  rows_finished_ += rows;
  if (sizer_) sizer_->observe(rows, took);
  recent_.emplace_back(now, rows);
  while (now - recent_.front().first > std::chrono::seconds(3)) recent_.pop_front();
  const Seconds span = now - recent_.front().first;
  if (decision_.state == ThrottleState::kRunning && span >= Seconds(1.5)) {
    std::int64_t sum = 0;
    for (auto it = std::next(recent_.begin()); it != recent_.end(); ++it) sum += it->second;
    const double rate = static_cast<double>(sum) / span.count();
    full_rate_ = full_rate_ > 0 ? 0.7 * full_rate_ + 0.3 * rate : rate;
  }
  // Settle what admit() charged with the rows the chunk really had: fewer (the range's last
  // chunk, a failure) give the difference back, more (a TID range denser than its
  // estimate) push the next start further.
  const double cap = rate_cap();
  if (cap > 0 && rows != charged) {
    const auto owed = std::chrono::duration_cast<Clock::duration>(
        Seconds(static_cast<double>(rows - charged) / cap));
    rate_next_ = rows > charged ? std::max(rate_next_, now) + owed : rate_next_ + owed;
  } else if (cap <= 0 && decision_.duty < 1) {  // no rate known: rest after each chunk
    const auto rest = took * (1 / decision_.duty - 1);
    rest_until_ = std::max(rest_until_, now + std::chrono::duration_cast<Clock::duration>(rest));
  }
  changed_.notify_all();
}

void Throttle::chunk_timed_out() {
  std::lock_guard lk(mu_);
  if (sizer_) sizer_->halve();
}

ThrottleSnapshot Throttle::snapshot() const {
  std::lock_guard lk(mu_);
  ThrottleSnapshot s;
  s.state = decision_.state;
  s.reason = decision_.reason;
  s.limiting = decision_.limiting;
  if (const auto now = std::chrono::steady_clock::now(); silent(now)) {
    s.state = ThrottleState::kPaused;
    s.limiting = "no load readings";
    s.reason = "no load readings for " + number(Seconds(now - *last_report_).count()) +
               " s, paused (fail closed)";
  }
  s.in_flight = in_flight_;
  s.allowed = decision_.in_flight;
  s.rate_cap = rate_cap();
  s.chunk_rows = std::min(sizer_ ? sizer_->rows() : options_.chunk_rows, rate_chunk_limit_locked());
  s.adaptive = sizer_.has_value();
  s.throttled_seconds = throttled_seconds_;
  s.seconds_by_reason = seconds_by_reason_;
  s.readings = readings_;
  s.chunks_finished = chunks_finished_;
  s.rows_finished = rows_finished_;
  return s;
}

std::optional<Seconds> Throttle::chunk_target() const {
  std::lock_guard lk(mu_);
  if (!sizer_) return std::nullopt;
  return sizer_->config().target;
}

namespace {
ChunkSizerConfig sized_like(const Throttle& shared) {
  ChunkSizerConfig c;
  if (auto target = shared.chunk_target()) c.target = *target;
  return c;
}
}  // namespace

TableThrottle::TableThrottle(Throttle& shared, std::int64_t initial_rows)
    : shared_(shared), sizer_(sized_like(shared), initial_rows) {}

std::int64_t TableThrottle::next_chunk_rows(std::int64_t fixed) const {
  const std::int64_t limit = shared_.rate_chunk_limit();
  const std::optional<Seconds> target = shared_.chunk_target();
  if (!target) return std::min(fixed, limit);
  std::lock_guard lk(mu_);
  sizer_.set_target(*target);
  return std::min(sizer_.rows(), limit);
}

void TableThrottle::finished(std::int64_t rows, std::int64_t charged, Seconds took) {
  {
    std::lock_guard lk(mu_);
    sizer_.observe(rows, took);
  }
  shared_.finished(rows, charged, took);
}

void TableThrottle::chunk_timed_out() {
  std::lock_guard lk(mu_);
  sizer_.halve();
}

ThrottleSnapshot TableThrottle::snapshot() const {
  ThrottleSnapshot s = shared_.snapshot();
  if (s.adaptive) {
    const std::int64_t limit = shared_.rate_chunk_limit();
    std::lock_guard lk(mu_);
    s.chunk_rows = std::min(sizer_.rows(), limit);
  }
  return s;
}

}  // namespace backfill
