#include "wait_cycle.h"

#include <mutex>
#include <unordered_set>
#include <vector>

#include "var.h"

namespace flowmod::engine {

namespace {

bool Holds(const OpBlock* self, const Var* var) {
  for (uint32_t i = 0; i < self->num_deps; ++i)
    if (self->deps[i].var == var) return true;
  return false;
}

}  // namespace

// What a dep queued on a var waits for there: the write holding the var, if any (its operation
// may itself wait for other vars), and every dep ahead of it when it is a write; for a read,
// those up to the last write ahead of it (reads after that write run with it). False when
// `dep` is not queued on the var (it holds it already, or has finished). With the lock.
bool CycleSearch::QueuedAhead(const Var* var, const Dep* dep, std::vector<const Dep*>* ahead) {
  const Dep* head = var->head_;
  ahead->clear();
  if (var->writer_ != nullptr) ahead->push_back(var->writer_);
  size_t up_to_last_write = ahead->size();
  for (const Dep* d = head; d != nullptr; d = d->next) {
    if (d == dep) {
      if (!dep->write) ahead->resize(up_to_last_write);
      return true;
    }
    ahead->push_back(d);
    if (d->write) up_to_last_write = ahead->size();
  }
  return false;
}

std::string CycleSearch::OwnVar(const OpBlock* self, Var* var) {
  for (uint32_t i = 0; i < self->num_deps; ++i) {
    const Dep& d = self->deps[i];
    if (d.var != var) continue;
    if (d.write) return "it waits for a var it writes itself";
    // The operation holds a read of the var, so its pending write was pushed later and waits
    // for that read to end.
    std::lock_guard<SpinLock> lock(var->lock_);
    if (var->head_ != nullptr)
      return "it waits for a var it reads, whose pending write was pushed after it and waits "
             "for it to finish";
    return "";
  }
  return "";
}

std::optional<bool> CycleSearch::BlockedBy(const OpBlock* self, Var* var, const Dep* waiter,
                                           const std::atomic<bool>& done) {
  struct Frame {
    Var* var;
    bool locked_here;               // false when an outer frame holds the same var's lock
    std::vector<const Dep*> ahead;  // the deps this frame's entry waits for on `var`
    size_t next = 0;                // the one being expanded
    uint32_t dep_index = 0;         // its next dep to look at
  };
  std::vector<Frame> path;
  auto unlock_path = [&] {
    for (auto it = path.rbegin(); it != path.rend(); ++it)
      if (it->locked_here) it->var->lock_.unlock();
    path.clear();
  };
  auto on_path = [&](const Var* v) {
    for (const Frame& f : path)
      if (f.var == v) return true;
    return false;
  };

  var->lock_.lock();
  Frame root{var, true, {}};
  // Found queued and not yet run: `waiter` is the wait's own dep (a block is reused only
  // after its operation ran, which sets `done` first).
  if (!QueuedAhead(var, waiter, &root.ahead) || done.load(std::memory_order_acquire)) {
    var->lock_.unlock();
    return false;
  }
  if (Holds(self, var)) {
    var->lock_.unlock();
    return true;
  }
  path.push_back(std::move(root));
  // Operations already expanded: every var they wait on was looked at then.
  std::unordered_set<const OpBlock*> expanded;
  while (!path.empty()) {
    Frame& f = path.back();
    if (f.next == f.ahead.size()) {
      if (f.locked_here) f.var->lock_.unlock();
      path.pop_back();
      continue;
    }
    const Dep* through = f.ahead[f.next];
    // Queued on f.var, or holding its write: f.var's lock keeps it there either way.
    const OpBlock* op = through->op;
    if (f.dep_index == 0 && !expanded.insert(op).second) {
      ++f.next;
      continue;
    }
    if (f.dep_index == op->num_deps) {
      f.dep_index = 0;
      ++f.next;
      continue;
    }
    const Dep* dep = &op->deps[f.dep_index++];
    if (dep == through) continue;  // what it waits for on f.var is in f.ahead already
    Var* v = dep->var;
    const bool held = on_path(v);
    if (!held && !v->lock_.try_lock()) {
      // Taking it in any order could deadlock with a push locking vars in address order.
      unlock_path();
      return std::nullopt;
    }
    Frame inner{v, !held, {}};
    if (!QueuedAhead(v, dep, &inner.ahead)) {
      if (!held) v->lock_.unlock();
      continue;
    }
    // Queued on a var `self` holds: the head of that queue is a write waiting for `self`.
    if (Holds(self, v)) {
      if (!held) v->lock_.unlock();
      unlock_path();
      return true;
    }
    path.push_back(std::move(inner));
  }
  return false;
}

}  // namespace flowmod::engine
