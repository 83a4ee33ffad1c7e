// How a thread blocks inside the engine: the embedding's hooks around it, the slices that
// let a wait be interrupted, and the worker a blocked worker lends its lane.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "engine.h"

namespace flowmod::engine {

class Device;

const WaitHooks& CurrentWaitHooks();

// For the lifetime of one blocking call on the calling thread: runs the embedding's
// before_block / after_block around it, and, on a device's worker, has another thread take
// the worker's place on its lane meanwhile (Device::BeginBlocked).
class BlockingScope {
 public:
  BlockingScope();
  ~BlockingScope();
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

  // Throws WaitInterrupted if the embedding reports an interruption. Call without engine
  // locks held: the check may run the embedding's signal handlers.
  void CheckInterrupted() const;
  // Whether CheckInterrupted can ever throw (an embedding installed a check).
  bool interruptible() const { return hooks_.interrupted != nullptr; }

 private:
  const WaitHooks& hooks_;
  void* state_ = nullptr;
  Device* lent_ = nullptr;
  Lane lane_ = Lane::kCompute;
};

// Waits on `cv` (with `lock` held) until `done()`, checking `scope` for interruptions between
// slices of kWaitSliceMs, with `lock` released meanwhile. `every_slice` runs after each slice
// that did not end the wait, with `lock` released too.
template <typename Done, typename EverySlice>
void WaitInSlices(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                  const BlockingScope& scope, Done done, EverySlice every_slice,
                  bool slice_anyway) {
  if (!scope.interruptible() && !slice_anyway) {
    cv.wait(lock, done);
    return;
  }
  while (!done()) {
    if (cv.wait_for(lock, std::chrono::milliseconds(kWaitSliceMs), done)) return;
    lock.unlock();
    try {
      scope.CheckInterrupted();
      every_slice();
    } catch (...) {
      lock.lock();
      throw;
    }
    lock.lock();
  }
}

}  // namespace flowmod::engine
