// A var: a versioned handle with the queue of operations waiting to use it.
//
// The queue keeps MXNet's discipline: reads run together, a write runs alone, and each use
// runs in push order relative to the writes. The var's head, if any, is always a write (a read
// at the head could have run already). Methods return the Deps they release; the engine
// decrements their operations' wait counts outside the lock.
#pragma once

#include <cstdint>
#include <memory>

#include "op_block.h"
#include "spin_lock.h"

namespace flowmod::engine {

class Var {
 public:
  Var();
  // Unique among the vars of the process's life (an address may be reused): the trace names
  // vars by it.
  uint64_t id() const { return id_; }
  uint64_t version() const;
  std::shared_ptr<const ErrorInfo> error() const;

  // Whether every write pushed so far has finished (reads may still run). With the lock.
  bool WritesDone() const;

 private:
  friend class ThreadedEngine;
  friend class NaiveEngine;
  friend class CycleSearch;

  // Appends `dep` to the queue; true when its operation may use the var now. The caller
  // holds lock_: Push locks every var of an operation (in address order) before appending to
  // any, so that two pushes sharing vars queue in the same order on all of them.
  bool AppendLocked(Dep* dep);

  // One read / the running write finished. Released deps are linked through `next` into
  // `*released`. Returns true when the var was asked to be deleted and is now idle.
  bool CompleteRead(Dep** released);
  bool CompleteWrite(std::shared_ptr<const ErrorInfo> error, Dep** released);

  // Asks for deletion once idle; true when idle already (the caller deletes).
  bool RequestDelete();

  bool IdleLocked() const { return active_reads_ == 0 && !write_active_ && head_ == nullptr; }

  const uint64_t id_;
  mutable SpinLock lock_;
  int32_t active_reads_ = 0;
  bool write_active_ = false;
  // The dep of the write holding the var (write_active_), which may still wait for other vars
  // of its operation: for CycleSearch.
  const Dep* writer_ = nullptr;
  bool delete_requested_ = false;
  Dep* head_ = nullptr;
  Dep* tail_ = nullptr;
  uint64_t version_ = 0;
  std::shared_ptr<const ErrorInfo> error_;
};

}  // namespace flowmod::engine
