#include "engine/throttle/throttle_monitor.hpp"

#include <filesystem>

namespace backfill {

ThrottleMonitor::ThrottleMonitor(Throttle& throttle, std::vector<std::unique_ptr<LoadProbe>> probes,
                                 MonitorOptions options, Heartbeat heartbeat)
    : throttle_(throttle),
      probes_(std::move(probes)),
      options_(std::move(options)),
      heartbeat_(std::move(heartbeat)) {}

ThrottleMonitor::~ThrottleMonitor() { stop(); }

void ThrottleMonitor::start() {
  tick(true);
  thread_ = std::thread([this] { run(); });
}

void ThrottleMonitor::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ThrottleMonitor::tick(bool heartbeat) {
  std::vector<Reading> readings;
  for (auto& p : probes_) p->sample(&readings);
  if (!options_.pause_file.empty()) {
    Reading r;
    r.signal = "pause file " + options_.pause_file;
    std::error_code ec;
    r.value = std::filesystem::exists(options_.pause_file, ec) ? 1 : 0;
    r.critical = 0.5;
    r.unit = "flag";
    readings.push_back(std::move(r));
  }
  throttle_.report(options_.clock->now(), std::move(readings));
  if (heartbeat && heartbeat_) {
    if (auto control = heartbeat_(throttle_.snapshot())) throttle_.set_control(*control);
  }
}

void ThrottleMonitor::run() {
  auto next_heartbeat = options_.clock->now() + options_.heartbeat_every;
  std::unique_lock lk(mu_);
  while (!wake_.wait_for(lk, options_.interval, [this] { return stopping_; })) {
    lk.unlock();
    const bool beat = options_.clock->now() >= next_heartbeat;
    if (beat) next_heartbeat = options_.clock->now() + options_.heartbeat_every;
    tick(beat);
    lk.lock();
  }
}

}  // namespace backfill
