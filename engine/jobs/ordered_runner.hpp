// Runs the tables of a set (or any tasks) in dependency order, several at once: a task starts
// once every task it waits for has succeeded, and at most `parallel` run at a time. Among
// tasks free to start, the lowest index goes first. After a task fails no other starts;
// the running ones finish. Each task runs on a thread of its own (they block on I/O).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "engine/util/status.hpp"

namespace backfill {

// What each task came to: its status, or nullopt when it never started (a failure before it,
// or a task it waits for that failed).
std::vector<std::optional<Status>> run_in_dependency_order(
    std::size_t n, const std::vector<std::vector<std::size_t>>& waits_for, int parallel,
    const std::function<Status(std::size_t)>& run);

}  // namespace backfill
