// The thread that keeps a Throttle informed: every probe sampled and the pause file checked
// a few times a second, and about once a second a heartbeat that publishes the throttle's
// state (for `backfill status`) and brings back the job's runtime control (`backfill
// control`). Owns its probes; start() takes one sample before returning, so the first chunk
// already sees real readings. Not copyable; stop() (or the destructor) joins the thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/throttle/throttle.hpp"

namespace backfill {

struct MonitorOptions {
  Seconds interval{0.25};
  Seconds heartbeat_every{1.0};
  std::string pause_file;                 // empty: none
  const Clock* clock = &Clock::steady();  // stamps the readings and schedules heartbeats
};

// Publishes a snapshot; returns the control read back, or nullopt to keep the last one.
using Heartbeat = std::function<std::optional<RuntimeControl>(const ThrottleSnapshot&)>;

class ThrottleMonitor {
 public:
  ThrottleMonitor(Throttle& throttle, std::vector<std::unique_ptr<LoadProbe>> probes,
                  MonitorOptions options, Heartbeat heartbeat);
  ~ThrottleMonitor();
  ThrottleMonitor(const ThrottleMonitor&) = delete;
  ThrottleMonitor& operator=(const ThrottleMonitor&) = delete;

  void start();
  void stop();

 private:
  void tick(bool heartbeat);
  void run();

  Throttle& throttle_;
  std::vector<std::unique_ptr<LoadProbe>> probes_;
  MonitorOptions options_;
  Heartbeat heartbeat_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace backfill
