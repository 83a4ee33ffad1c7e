// Whether a wait made inside an operation could ever end: the operation holds its vars until
// it returns, so a wait for work queued behind them is a cycle.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "op_block.h"

namespace flowmod::engine {

class CycleSearch {
 public:
  // Why waiting inside the running operation `self` for the pending writes of `var` could
  // never end, or "" when it could: `var` is one of `self`'s own vars (it writes it, or reads
  // it and a later push writes it).
  static std::string OwnVar(const OpBlock* self, Var* var);

  // Whether the wait operation queued on `var` through `waiter` (whose `done` turns true once
  // it has run) is blocked, through a chain of queued operations, by a var that `self` holds.
  // nullopt when a var of the chain was locked by another thread: try again later. The
  // search holds the locks of the chain it follows, which keeps each operation on it queued
  // (and its memory valid) while it reads the operation's other vars.
  static std::optional<bool> BlockedBy(const OpBlock* self, Var* var, const Dep* waiter,
                                       const std::atomic<bool>& done);

 private:
  static bool QueuedAhead(const Var* var, const Dep* dep, std::vector<const Dep*>* ahead);
};

}  // namespace flowmod::engine
