// The skeleton of a job whose chunk is one piece of blocking work (a verify's comparison,
// an update's statement): chunks claimed on the calling thread (ClaimLoop, throttled), each
// run on one of the pool's I/O threads through an async node, then tallied serially in the
// same oneTBB flow graph. At most `max_in_flight` chunks are between claim and tally.
//
// run_chunk_graph() blocks until the claim loop ends and every claimed chunk is tallied, then
// shuts the pool down. `Item` is the job's per-chunk record and needs
// `Chunk chunk` and `Clock::time_point started`; run_chunk_graph fills both. The tally hook
// runs serially; the chunk's slot is freed and `in_flight` counted down after it.
#pragma once

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <semaphore>
#include <thread>

#include "engine/pipeline/claim_loop.hpp"
#include "engine/pipeline/io_pool.hpp"
#include "engine/pipeline/job_options.hpp"

namespace backfill {

template <typename Item>
struct ChunkGraphHooks {
  std::function<bool()> stop;        // asked before each claim: stop claiming
  std::function<void(Item&)> tally;  // serial, once per chunk the pool has run
  std::function<void(const Status&)> on_retry;
  std::function<void(const LedgerProgress&)> on_progress;  // the ledger's totals, each second
};

// A chunk whose work failed for good: the job keeps the first error (naming the chunk),
// stops claiming (`failing`) and stops retrying elsewhere (`give_up`), and the chunk goes
// back to the ledger for the next run. Called from a tally, under the job's lock.
inline void fail_chunk(const Status& st, const Chunk& chunk, Ledger& ledger, Status* first_error,
                       std::atomic<bool>& failing, std::atomic<bool>& give_up) {
  if (first_error->is_ok()) *first_error = st.with_context("chunk " + std::to_string(chunk.id));
  failing = give_up = true;
  (void)ledger.release(chunk);
}

template <typename Resource, typename Item>
Status run_chunk_graph(IoPool<Resource, Item>& pool, Ledger& ledger, KeyWalker& walker,
                       const ChunkJobOptions& options, int plan_ahead, int max_in_flight,
                       std::atomic<int>& in_flight, const ChunkGraphHooks<Item>& hooks) {
  namespace flow = oneapi::tbb::flow;
  using Work = std::shared_ptr<Item>;
  std::counting_semaphore<> tokens(max_in_flight);
  // The graph's own work is light (the tally); the arena keeps it off the caller's thread,
  // which claims.
  const int cores = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  oneapi::tbb::task_arena arena(cores);
  std::unique_ptr<flow::graph> g;
  std::unique_ptr<flow::async_node<Work, Work>> work_node;
  std::unique_ptr<flow::function_node<Work, flow::continue_msg>> tally_node;
  arena.execute([&] {
    g = std::make_unique<flow::graph>();
    work_node = std::make_unique<flow::async_node<Work, Work>>(
        *g, flow::unlimited, [&](const Work& w, typename IoPool<Resource, Item>::Gateway& gw) {
          gw.reserve_wait();
          pool.submit(w, &gw);
        });
    tally_node = std::make_unique<flow::function_node<Work, flow::continue_msg>>(
        *g, flow::serial, [&](const Work& w) {
          hooks.tally(*w);
          --in_flight;
          tokens.release();
          return flow::continue_msg{};
        });
    flow::make_edge(*work_node, *tally_node);
  });

  ClaimLoop loop{ledger,     walker,          options.chunk_rows,
                 plan_ahead, options.retry,   options.interrupt,
                 tokens,     options.throttle};
  Status claimed = loop.run(
      hooks.stop,
      [&](Chunk c) {
        auto w = std::make_shared<Item>();
        w->chunk = std::move(c);
        w->started = Clock::now();
        ++in_flight;
        arena.execute([&] { work_node->try_put(w); });
      },
      hooks.on_retry, hooks.on_progress);
  arena.execute([&] { g->wait_for_all(); });
  pool.shutdown();
  return claimed;
}

}  // namespace backfill
