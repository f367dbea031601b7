// The controller and the chunk sizer as pure logic, driven by a fake clock and scripted
// signals; the Throttle's admission and accounting around them.
#include "engine/throttle/throttle.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace backfill {
namespace {

using std::chrono::milliseconds;

const Clock::time_point t0 = Clock::steady().now();
Clock::time_point at(double seconds) {
  return t0 + std::chrono::duration_cast<Clock::duration>(Seconds(seconds));
}

Reading lag(std::optional<double> v) {
  Reading r;
  r.where = "target";
  r.signal = "replication lag";
  r.value = v;
  r.limit = 2;
  r.critical = 20;
  r.unit = " s";
  if (!v) r.error = "connection refused";
  return r;
}

TEST(Controller, StartsFullCutsHardAndAtMostOncePerCooldown) {
  Controller c(ControllerConfig{});  // max 4 in flight
  auto d = c.update(at(0), {lag(0.1)});
  EXPECT_EQ(d.state, ThrottleState::kRunning);
  EXPECT_EQ(d.in_flight, 4);
  d = c.update(at(0.25), {lag(3.5)});
  EXPECT_EQ(d.state, ThrottleState::kThrottled);
  EXPECT_EQ(d.in_flight, 2);
  EXPECT_EQ(d.reason, "target replication lag 3.5 s > 2 s");
  EXPECT_EQ(d.limiting, "replication lag");
  d = c.update(at(0.75), {lag(3.5)});  // within the cooldown: no second cut yet
  EXPECT_EQ(d.in_flight, 2);
  d = c.update(at(1.25), {lag(3.5)});
  EXPECT_EQ(d.in_flight, 1);
  d = c.update(at(2.25), {lag(3.5)});  // below one in flight: one chunk and a rest
  EXPECT_EQ(d.in_flight, 1);
  EXPECT_DOUBLE_EQ(d.duty, 0.5);
  for (double t = 3.25; t < 8; t += 1) c.update(at(t), {lag(3.5)});
  EXPECT_DOUBLE_EQ(c.level(), 1.0 / 16);  // the floor
}

TEST(Controller, GrowsGentlyBackToFullOnceHealthy) {
  Controller c(ControllerConfig{});
  for (double t = 0; t < 6; t += 1) c.update(at(t), {lag(5)});
  ASSERT_DOUBLE_EQ(c.level(), 1.0 / 16);
  std::vector<double> levels;
  Decision d;
  d.state = ThrottleState::kThrottled;
  double t = 6;
  for (; d.state != ThrottleState::kRunning && t < 20; t += 0.25) {
    d = c.update(at(t), {lag(0.5)});
    levels.push_back(c.level());
  }
  // Never more than x1.5 + 0.25 per half second; full again within 5 s of the load going.
  for (std::size_t i = 1; i < levels.size(); ++i)
    EXPECT_LE(levels[i], levels[i - 1] * 1.5 + 0.25 + 1e-9);
  EXPECT_EQ(d.state, ThrottleState::kRunning);
  EXPECT_EQ(d.in_flight, 4);
  EXPECT_LE(t - 6, 5.0);
  EXPECT_GE(t - 6, 2.5);  // in steps, not at once
}

// Next to a steady foreground: after a cut it grows back carefully toward the level that
// hurt, instead of overshooting it again; healthy for long enough, it forgets that level.
TEST(Controller, GrowsCarefullyNearTheLevelThatHurtUntilItForgetsIt) {
  Controller c(ControllerConfig{});
  c.update(at(0), {lag(3)});  // 4 hurt: 2
  ASSERT_DOUBLE_EQ(c.level(), 2);
  c.update(at(0.5), {lag(0.5)});
  EXPECT_DOUBLE_EQ(c.level(), 2.125);  // +0.125, not x1.5 + 0.25
  c.update(at(1.0), {lag(0.5)});
  EXPECT_DOUBLE_EQ(c.level(), 2.25);
  c.update(at(2.0), {lag(0.5)});  // healthy for 2 s: forgotten, fast again
  EXPECT_DOUBLE_EQ(c.level(), 2.25 * 1.5 + 0.25);
}

TEST(Controller, PausesAboveCriticalAndResumesByItself) {
  Controller c(ControllerConfig{});
  auto d = c.update(at(0), {lag(25)});
  EXPECT_EQ(d.state, ThrottleState::kPaused);
  EXPECT_EQ(d.in_flight, 0);
  EXPECT_EQ(d.reason, "target replication lag 25 s > 20 s");
  d = c.update(at(1), {lag(25)});
  EXPECT_EQ(d.state, ThrottleState::kPaused);
  d = c.update(at(2), {lag(0.2)});
  EXPECT_NE(d.state, ThrottleState::kPaused);
  EXPECT_GE(d.in_flight, 1);
}

TEST(Controller, AFlagReadingIsNamedAlone) {
  Controller c(ControllerConfig{});
  Reading pause;
  pause.signal = "pause file /tmp/x";
  pause.value = 1;
  pause.critical = 0;
  pause.unit = "flag";
  auto d = c.update(at(0), {lag(0.1), pause});
  EXPECT_EQ(d.state, ThrottleState::kPaused);
  EXPECT_EQ(d.reason, "pause file /tmp/x");
  d = c.update(at(1), {lag(25), pause});  // every reason to pause is shown
  EXPECT_EQ(d.reason, "target replication lag 25 s > 20 s; pause file /tmp/x");
  EXPECT_EQ(d.limiting, "replication lag");
}

TEST(Controller, ASignalUnreadableForLongerThanThreeSecondsFailsClosed) {
  Controller c(ControllerConfig{});
  EXPECT_EQ(c.update(at(0), {lag(0.1)}).state, ThrottleState::kRunning);
  EXPECT_EQ(c.update(at(1), {lag(std::nullopt)}).state, ThrottleState::kRunning);
  EXPECT_EQ(c.update(at(3.5), {lag(std::nullopt)}).state, ThrottleState::kRunning);
  auto d = c.update(at(4.25), {lag(std::nullopt)});
  EXPECT_EQ(d.state, ThrottleState::kPaused);
  EXPECT_EQ(d.in_flight, 0);
  EXPECT_NE(d.reason.find("target replication lag unreadable for 3.25 s"), std::string::npos)
      << d.reason;
  EXPECT_NE(d.reason.find("fail closed"), std::string::npos);
  EXPECT_NE(d.reason.find("connection refused"), std::string::npos);
  d = c.update(at(5), {lag(0.1)});
  EXPECT_NE(d.state, ThrottleState::kPaused);
}

TEST(Controller, AServerThatCannotBeReachedIsOneReasonNotOnePerSignal) {
  Controller c(ControllerConfig{});
  auto lost = [](const std::string& signal) {
    Reading r;
    r.where = "source";
    r.signal = signal;
    r.error = "cannot connect to host=db: connection refused\n\tIs the server running?";
    r.server_lost = true;
    return r;
  };
  const std::vector<Reading> readings{lost("active backends"), lost("WAL rate"), lag(0.1)};
  c.update(at(0), readings);
  auto d = c.update(at(3.5), readings);
  EXPECT_EQ(d.state, ThrottleState::kPaused);
  EXPECT_EQ(d.reason,
            "source unreachable for 3.5 s (fail closed): cannot connect to host=db: connection "
            "refused");
  EXPECT_EQ(d.limiting, "server unreachable");
}

// A table where a chunk takes 5 ms plus 10 us a row: 500 ms is 49,500 rows.
Seconds chunk_time(std::int64_t rows) { return Seconds(0.005 + 1e-5 * static_cast<double>(rows)); }

void expect_converges_within_ten_chunks(std::int64_t initial) {
  ChunkSizer sizer(ChunkSizerConfig{}, initial);
  int chunks = 0;
  for (; chunks < 10; ++chunks) {
    if (std::abs(chunk_time(sizer.rows()).count() - 0.5) <= 0.05) break;
    sizer.observe(sizer.rows(), chunk_time(sizer.rows()));
  }
  EXPECT_LT(chunks, 10) << "from " << initial << ": " << sizer.rows() << " rows";
  EXPECT_NEAR(chunk_time(sizer.rows()).count(), 0.5, 0.05) << "from " << initial;
}

TEST(ChunkSizer, ConvergesTowardTheTargetChunkTimeWithinTenChunks) {
  expect_converges_within_ten_chunks(1000);
  expect_converges_within_ten_chunks(50000);
  expect_converges_within_ten_chunks(2'000'000);
}

TEST(ChunkSizer, GrowsBoundedCutsHardAndStaysWithinItsLimits) {
  ChunkSizer sizer(ChunkSizerConfig{}, 1000);
  sizer.observe(1000, Seconds(0.001));  // far under: at most x2
  EXPECT_EQ(sizer.rows(), 2000);
  sizer.observe(2000, Seconds(0.8));  // a little over: at most /2
  EXPECT_EQ(sizer.rows(), 1250);
  sizer.observe(1250, Seconds(12.5));  // far over: straight to the estimate
  EXPECT_EQ(sizer.rows(), 100);        // 50 rows estimated; the minimum is 100
  ChunkSizer big(ChunkSizerConfig{}, 1'500'000);
  big.observe(1'500'000, Seconds(0.01));
  EXPECT_EQ(big.rows(), 2'000'000);  // the maximum
  big.observe(0, Seconds(1));        // an empty chunk says nothing
  EXPECT_EQ(big.rows(), 2'000'000);
}

ThrottleOptions two_jobs() {
  ThrottleOptions o;
  o.jobs = 2;
  o.chunk_rows = 1000;
  return o;
}

TEST(Throttle, AdmitsUpToTheAllowedChunksInFlightThenWaits) {
  Throttle th(two_jobs(), t0);
  int polls = 0;
  auto never = [] { return false; };
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(th.admit(never));
  EXPECT_FALSE(th.admit([&] { return ++polls > 2; }));  // a fifth waits
  EXPECT_GT(polls, 2);
  th.finished(1000, Seconds(0.1));
  EXPECT_TRUE(th.admit(never));
  EXPECT_EQ(th.snapshot().in_flight, 4);
}

TEST(Throttle, ControlPausesAndResumesAndTheTimeIsAccountedToItsReason) {
  // admit() accounts by the real clock, so this test's times start now, not when the
  // process did (a loaded machine took more than 2 s to get here).
  const Clock::time_point start = Clock::steady().now();
  const Clock::time_point two = start + std::chrono::duration_cast<Clock::duration>(Seconds(2));
  Throttle th(two_jobs(), start);
  RuntimeControl pause;
  pause.paused = true;
  th.set_control(pause, start);
  int polls = 0;
  EXPECT_FALSE(th.admit([&] { return ++polls > 2; }));
  th.report(two, {});
  auto s = th.snapshot();
  EXPECT_EQ(s.state, ThrottleState::kPaused);
  EXPECT_EQ(s.reason, "paused by `backfill control`");
  EXPECT_NEAR(s.seconds_by_reason["paused by `backfill control`"], 2.0, 1e-6);
  EXPECT_NEAR(s.throttled_seconds, 2.0, 1e-6);
  th.set_control(RuntimeControl{}, two);
  EXPECT_TRUE(th.admit([] { return false; }));
  EXPECT_EQ(th.snapshot().state, ThrottleState::kRunning);
}

TEST(Throttle, ControlJobsCapsChunksInFlightAndChunkTimeTurnsOnSizing) {
  Throttle th(two_jobs(), t0);
  RuntimeControl c;
  c.jobs = 1;
  c.chunk_time_ms = 100;
  th.set_control(c, t0);
  EXPECT_EQ(th.snapshot().allowed, 2);  // two chunks in flight per job
  th.finished(1000, Seconds(0.05));     // a chunk under its 100 ms: grow
  EXPECT_EQ(th.chunk_rows(), 2000);
}

// The monitor's thread hung on a probe: no readings come, and the job holds as it would for
// an unreadable signal, until readings come again.
TEST(Throttle, NoReadingsForLongerThanThreeSecondsHoldTheJob) {
  const auto long_ago = Clock::steady().now() - std::chrono::seconds(10);
  Throttle th(two_jobs(), long_ago);
  th.report(long_ago, {});
  int polls = 0;
  EXPECT_FALSE(th.admit([&] { return ++polls > 2; }));
  auto s = th.snapshot();
  EXPECT_EQ(s.state, ThrottleState::kPaused);
  EXPECT_NE(s.reason.find("no load readings for"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("fail closed"), std::string::npos) << s.reason;
  th.report(Clock::steady().now(), {});
  EXPECT_TRUE(th.admit([] { return false; }));
}

// A set of tables shares one throttle: a pause holds every table, chunks in flight count
// across tables, and each table sizes its own chunks (a wide table's slow chunks do not shrink
// a narrow table's).
TEST(TableThrottle, ShareAdmissionAndPauseButSizeEachTablesChunksOnItsOwn) {
  ThrottleOptions o = two_jobs();
  ChunkSizerConfig sizer;
  sizer.target = Seconds(0.5);
  o.sizer = sizer;
  o.chunk_rows = 1000;
  Throttle shared(o, t0);
  TableThrottle narrow(shared, 1000), wide(shared, 1000);
  auto never = [] { return false; };

  ASSERT_TRUE(narrow.admit(never));
  ASSERT_TRUE(wide.admit(never));
  narrow.finished(1000, Seconds(0.1));  // fast: grows (at most x2 a chunk)
  wide.finished(1000, Seconds(2.0));    // far over: cut to the estimate
  EXPECT_EQ(narrow.next_chunk_rows(1), 2000);
  EXPECT_EQ(wide.next_chunk_rows(1), 250);
  EXPECT_EQ(shared.snapshot().chunks_finished, 2);
  EXPECT_EQ(shared.snapshot().rows_finished, 2000);
  EXPECT_EQ(wide.snapshot().chunk_rows, 250);

  // In flight across both: the shared limit holds the fifth chunk, whichever table asks.
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(narrow.admit(never));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(wide.admit(never));
  int polls = 0;
  EXPECT_FALSE(narrow.admit([&] { return ++polls > 2; }));
  for (int i = 0; i < 2; ++i) narrow.finished(1000, Seconds(0.5));
  for (int i = 0; i < 2; ++i) wide.finished(1000, Seconds(0.5));

  // `control` pauses the set: no table's chunk starts.
  RuntimeControl pause;
  pause.paused = true;
  shared.set_control(pause, t0);
  polls = 0;
  EXPECT_FALSE(wide.admit([&] { return ++polls > 2; }));
  EXPECT_EQ(narrow.snapshot().state, ThrottleState::kPaused);
  shared.set_control(RuntimeControl{}, t0);
  EXPECT_TRUE(wide.admit(never));

  // A fixed --chunk-rows (no sizer) stays fixed for every table.
  Throttle fixed(two_jobs(), t0);
  TableThrottle t(fixed, 1000);
  t.finished(1000, Seconds(0.01));
  EXPECT_EQ(t.next_chunk_rows(777), 777);
}

// Under --max-rate the chunks in flight count against the cap from the moment they start
// (no burst of every lane at the start or after a pause), and a chunk holds at most a tenth
// of a second's rows, so the cap holds over every second.
TEST(Throttle, ARateCapChargesAChunkWhenItStartsAndBoundsItsRows) {
  ThrottleOptions o = two_jobs();
  o.max_rate = 1000;
  o.chunk_rows = 5000;
  Throttle t(o, t0);
  EXPECT_EQ(t.chunk_rows(), 100);
  EXPECT_EQ(t.snapshot().chunk_rows, 100);
  TableThrottle table(t, 5000);
  EXPECT_EQ(table.next_chunk_rows(5000), 100);
  EXPECT_EQ(table.next_chunk_rows(40), 40);

  auto never = [] { return false; };
  std::int64_t charged = 0;
  ASSERT_TRUE(t.admit(never, 100, &charged));
  EXPECT_EQ(charged, 100);  // 0.1 s of the cap, charged before a row is read
  int polls = 0;
  // A second lane is free, but the cap is not: it waits for the first chunk's tenth of a
  // second (and gives up here at its first wake-up).
  EXPECT_FALSE(t.admit([&] { return ++polls > 1; }));
  t.finished(100, charged, Seconds(0.01));

  // Two tables of a set share the cap: what one table's chunk was charged holds the other's.
  Throttle set(o, t0);
  TableThrottle a(set, 5000), b(set, 5000);
  ASSERT_TRUE(a.admit(never, 100, &charged));
  polls = 0;
  std::int64_t other = 0;
  EXPECT_FALSE(b.admit([&] { return ++polls > 1; }, 100, &other));
  a.finished(100, charged, Seconds(0.01));

  // Lifting the cap lifts the bound on the rows.
  RuntimeControl off;
  off.max_rate = 0;
  t.set_control(off, t0);
  EXPECT_EQ(t.chunk_rows(), 5000);
  EXPECT_TRUE(t.admit(never));
}

// `control --as-started` clears what control set: the chunk time goes back to the command
// line's, or chunks to the fixed --chunk-rows when it gave no chunk time.
TEST(Throttle, ClearingTheControlsChunkTimeReturnsToTheCommandLines) {
  ThrottleOptions sized = two_jobs();
  ChunkSizerConfig c;
  c.target = Seconds(0.5);
  sized.sizer = c;
  Throttle t(sized, t0);
  RuntimeControl set;
  set.chunk_time_ms = 200;
  t.set_control(set, t0);
  EXPECT_EQ(t.chunk_target(), Seconds(0.2));
  t.set_control(RuntimeControl{}, t0);
  EXPECT_EQ(t.chunk_target(), Seconds(0.5));

  Throttle fixed(two_jobs(), t0);
  fixed.set_control(set, t0);
  EXPECT_EQ(fixed.chunk_target(), Seconds(0.2));
  fixed.set_control(RuntimeControl{}, t0);
  EXPECT_FALSE(fixed.chunk_target().has_value());
}

}  // namespace
}  // namespace backfill
