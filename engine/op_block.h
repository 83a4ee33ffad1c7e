// The engine's record of one pushed operation and of each var it waits on.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "engine.h"

namespace flowmod::engine {

class Device;

// One var an operation uses. Deps of operations waiting on a var are chained in the var's
// queue through `next`, so queueing allocates nothing.
struct Dep {
  Var* var = nullptr;
  OpBlock* op = nullptr;
  Dep* next = nullptr;
  bool write = false;
  bool reads_value = false;  // declared as a read (also true for a var read and written)
};

class OpBlock {
 public:
  static constexpr int kInlineDeps = 4;
  enum Flags : uint8_t {
    kAlwaysRun = 1,  // runs even when an input failed (waits and callbacks must see errors)
    kInline = 2,     // runs on the thread that releases it; for a few instructions of work
  };

  Operation op;
  Dep* deps = inline_deps;  // one per distinct var, sorted by var address
  uint32_t num_deps = 0;
  std::atomic<int32_t> wait{0};  // unmet dependencies, plus one held by Push until it ends
  Placement where;
  Device* device = nullptr;
  int slot = -1;  // counter slot of (device, lane)
  OpName name = 0;
  uint8_t flags = 0;
  uint8_t epoch_bucket = 0;  // where the engine counted it, for WaitForAll
  Stage outcome = Stage::kCompleted;
  uint64_t start_ns = 0;
  std::shared_ptr<const ErrorInfo> error;

  Dep inline_deps[kInlineDeps];
  std::unique_ptr<Dep[]> heap_deps;

  // Releases one dependency; true when this was the last.
  bool Release() { return wait.fetch_sub(1, std::memory_order_acq_rel) == 1; }
};

}  // namespace flowmod::engine
