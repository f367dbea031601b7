// I/O threads for the async stages of a flow graph: each thread owns one resource (a
// reader, a writer, a comparer, with its connection), takes work from a queue, runs it, and
// hands the item back to the graph through the async node's gateway. Blocking database
// calls run here, never on oneTBB's workers. submit() is thread-safe; shutdown() joins.
#pragma once

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/flow_graph.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace backfill {

template <typename Resource, typename Item>
class IoPool {
 public:
  using Work = std::shared_ptr<Item>;
  using Gateway = typename oneapi::tbb::flow::async_node<Work, Work>::gateway_type;
  using Fn = std::function<void(Resource&, Item&)>;

  IoPool(std::vector<std::unique_ptr<Resource>> resources, Fn fn) : fn_(std::move(fn)) {
    for (auto& r : resources) {
      threads_.emplace_back([this, res = std::move(r)]() mutable { loop(*res); });
    }
  }
  ~IoPool() { shutdown(); }
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  // The caller has called gateway->reserve_wait(); the pool releases it when done.
  void submit(Work w, Gateway* gw) { queue_.push(Task{std::move(w), gw}); }

  void shutdown() {
    for (std::size_t i = 0; i < threads_.size(); ++i) queue_.push(Task{});
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  struct Task {
    Work work;
    Gateway* gateway = nullptr;
  };

  void loop(Resource& res) {
    while (true) {
      Task t;
      queue_.pop(t);
      if (!t.work) return;
      fn_(res, *t.work);
      t.gateway->try_put(t.work);
      t.gateway->release_wait();
    }
  }

  Fn fn_;
  oneapi::tbb::concurrent_bounded_queue<Task> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace backfill
