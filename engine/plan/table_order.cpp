#include "engine/plan/table_order.hpp"

#include <algorithm>
#include <functional>
#include <queue>
#include <set>

namespace backfill {

TableOrder order_by_references(std::size_t n, const std::vector<TableReference>& references) {
  std::vector<std::set<std::size_t>> refs(n);
  std::vector<bool> self(n, false);
  for (const TableReference& r : references) {
    if (r.from == r.to) {
      self[r.from] = true;
    } else {
      refs[r.from].insert(r.to);
    }
  }

  // Tarjan's strongly connected components: a component of more than one table is a cycle.
  std::vector<int> index(n, -1), low(n, 0), component(n, -1);
  std::vector<bool> on_stack(n, false);
  std::vector<std::size_t> stack;
  std::vector<std::vector<std::size_t>> components;
  int next = 0;
  std::function<void(std::size_t)> visit = [&](std::size_t v) {
    index[v] = low[v] = next++;
    stack.push_back(v);
    on_stack[v] = true;
    for (std::size_t w : refs[v]) {
      if (index[w] < 0) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (on_stack[w]) {
        low[v] = std::min(low[v], index[w]);
      }
    }
    if (low[v] != index[v]) return;
    std::vector<std::size_t> members;
    std::size_t w;
    do {
      w = stack.back();
      stack.pop_back();
      on_stack[w] = false;
      component[w] = static_cast<int>(components.size());
      members.push_back(w);
    } while (w != v);
    std::sort(members.begin(), members.end());
    components.push_back(std::move(members));
  };
  for (std::size_t v = 0; v < n; ++v) {
    if (index[v] < 0) visit(v);
  }

  TableOrder out;
  out.waits_for.resize(n);
  // Kahn's algorithm over the components, the lowest table index first.
  const std::size_t nc = components.size();
  std::vector<std::set<std::size_t>> parents(nc), children(nc);
  for (std::size_t v = 0; v < n; ++v) {
    for (std::size_t w : refs[v]) {
      const auto cv = static_cast<std::size_t>(component[v]);
      const auto cw = static_cast<std::size_t>(component[w]);
      if (cv == cw) continue;
      out.waits_for[v].push_back(w);
      parents[cv].insert(cw);
      children[cw].insert(cv);
    }
  }
  std::vector<std::size_t> pending(nc);
  using Item = std::pair<std::size_t, std::size_t>;  // (lowest table, component)
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> ready;
  for (std::size_t c = 0; c < nc; ++c) {
    pending[c] = parents[c].size();
    if (pending[c] == 0) ready.push({components[c].front(), c});
  }
  while (!ready.empty()) {
    const std::size_t c = ready.top().second;
    ready.pop();
    out.order.insert(out.order.end(), components[c].begin(), components[c].end());
    for (std::size_t child : children[c]) {
      if (--pending[child] == 0) ready.push({components[child].front(), child});
    }
  }
  for (const auto& members : components) {
    if (members.size() > 1 || self[members.front()]) out.cycles.push_back(members);
  }
  std::sort(out.cycles.begin(), out.cycles.end());
  return out;
}

}  // namespace backfill
