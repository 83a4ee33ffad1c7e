#include "ready_queue.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "assist.h"
#include "spin_lock.h"

namespace flowmod::engine {

ReadyQueue::~ReadyQueue() {
  if (assist_) assist::Unlisten(this);
}

void ReadyQueue::EnableAssist() {
  if (assist_) return;
  assist_ = true;
  assist::Listen(this);
}

int ReadyQueue::WakeForAssist(int wanted) {
  int spinning, woken;
  bool all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return 0;
    spinning = spinners_.load(std::memory_order_relaxed);
    woken = std::min(wanted - spinning, sleepers_);
    if (woken <= 0) return spinning;
    all = woken == sleepers_;
  }
  if (all) cv_.notify_all();
  else
    for (int i = 0; i < woken; ++i) cv_.notify_one();
  return spinning + woken;
}

void ReadyQueue::Push(OpBlock* op, int priority) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = buckets_.begin();
    while (it != buckets_.end() && it->priority > priority) ++it;
    if (it == buckets_.end() || it->priority != priority) it = buckets_.insert(it, Bucket{priority, {}});
    it->ops.push_back(op);
    // Written only under mu_: a plain store, read without the lock by spinning workers.
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (priority > top_priority_.load(std::memory_order_relaxed))
      top_priority_.store(priority, std::memory_order_relaxed);
    // A spinning worker will take it; a sleeper is woken only when there is more than it.
    wake = sleepers_ > 0 && (spinners_.load(std::memory_order_relaxed) == 0 ||
                             size_.load(std::memory_order_relaxed) > 1);
  }
  if (wake) cv_.notify_one();
}

OpBlock* ReadyQueue::TakeLocked() {
  for (auto& b : buckets_) {
    if (b.ops.empty()) continue;
    OpBlock* op = b.ops.front();
    b.ops.pop_front();
    size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    int top = INT_MIN;
    for (auto& c : buckets_)
      if (!c.ops.empty()) {
        top = c.priority;
        break;
      }
    top_priority_.store(top, std::memory_order_relaxed);
    // More is queued than this worker takes: hand it to a sleeping one.
    if (top != INT_MIN && sleepers_ > 0) cv_.notify_one();
    return op;
  }
  return nullptr;
}

OpBlock* ReadyQueue::Pop() {
  using Clock = std::chrono::steady_clock;
  // Parts of a running operation come before ready operations: the operation is already
  // under way and holds a worker until its parts are done.
  auto parts_pending = [this] { return assist_ && assist::Pending(); };
  for (;;) {
    if (parts_pending()) {
      assist::RunPending();
      continue;
    }
    // At most one worker of a lane spins for work; the others sleep. On a machine with few
    // cores, several spinners would take turns on the core the pushing thread needs.
    int idle = 0;
    if (spinners_.compare_exchange_strong(idle, 1, std::memory_order_acq_rel)) {
      const auto spin_until = Clock::now() + std::chrono::microseconds(50);
      for (int i = 1; size_.load(std::memory_order_relaxed) == 0 && !parts_pending(); ++i) {
        if ((i & 63) == 0 && Clock::now() > spin_until) break;
        if ((i & 15) == 0) std::this_thread::yield();
        else FLOWMOD_CPU_RELAX();
      }
      spinners_.store(0, std::memory_order_release);
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (stopped_) return nullptr;
    if (OpBlock* op = TakeLocked()) return op;
    if (parts_pending()) continue;
    ++sleepers_;
    cv_.wait(lock, [&] {
      return stopped_ || size_.load(std::memory_order_relaxed) > 0 || parts_pending();
    });
    --sleepers_;
    if (stopped_) return nullptr;
    if (OpBlock* op = TakeLocked()) return op;
  }
}

void ReadyQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

void ReadyQueue::Restart() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = false;
}

}  // namespace flowmod::engine
