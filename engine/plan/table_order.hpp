// The order in which the tables of a set are filled: a table after every table it references
// (its foreign keys' targets), so that each row's references exist when it lands. Tables
// that reference each other, directly or through others (a cycle), or a table that
// references itself, have no such order: `cycles` names them, and the caller either refuses
// the set or writes with the target's foreign-key triggers off.
#pragma once

#include <cstddef>
#include <vector>

namespace backfill {

struct TableReference {
  std::size_t from = 0;  // the referencing table (it has the foreign key)
  std::size_t to = 0;    // the referenced table
};

struct TableOrder {
  // Every table once: each after the tables it references, cycles aside; among tables free
  // to go, the lowest index first, so the order is stable.
  std::vector<std::size_t> order;
  // For each table, the tables it waits for (what it references, itself and its cycle's
  // members left out), so that independent tables can run at once.
  std::vector<std::vector<std::size_t>> waits_for;
  // Groups of tables in a cycle, each in index order; a self-reference is a group of one.
  std::vector<std::vector<std::size_t>> cycles;
};

// Orders `n` tables by `references` between them (indexes below n; duplicates allowed).
TableOrder order_by_references(std::size_t n, const std::vector<TableReference>& references);

}  // namespace backfill
