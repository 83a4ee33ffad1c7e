#include "ready_queue.h"

#include <chrono>
#include <thread>

#include "spin_lock.h"

namespace flowmod::engine {

void ReadyQueue::Push(OpBlock* op, int priority) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = buckets_.begin();
    while (it != buckets_.end() && it->priority > priority) ++it;
    if (it == buckets_.end() || it->priority != priority) it = buckets_.insert(it, Bucket{priority, {}});
    it->ops.push_back(op);
    size_.fetch_add(1, std::memory_order_relaxed);
    if (priority > top_priority_.load(std::memory_order_relaxed))
      top_priority_.store(priority, std::memory_order_relaxed);
    wake = sleepers_ > 0;
  }
  if (wake) cv_.notify_one();
}

OpBlock* ReadyQueue::TakeLocked() {
  for (auto& b : buckets_) {
    if (b.ops.empty()) continue;
    OpBlock* op = b.ops.front();
    b.ops.pop_front();
    size_.fetch_sub(1, std::memory_order_relaxed);
    int top = INT_MIN;
    for (auto& c : buckets_)
      if (!c.ops.empty()) {
        top = c.priority;
        break;
      }
    top_priority_.store(top, std::memory_order_relaxed);
    return op;
  }
  return nullptr;
}

OpBlock* ReadyQueue::Pop() {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    const auto spin_until = Clock::now() + std::chrono::microseconds(50);
    for (int i = 1; size_.load(std::memory_order_relaxed) == 0; ++i) {
      if ((i & 63) == 0 && Clock::now() > spin_until) break;
      if ((i & 15) == 0) std::this_thread::yield();
      else FLOWMOD_CPU_RELAX();
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (stopped_) return nullptr;
    if (OpBlock* op = TakeLocked()) return op;
    ++sleepers_;
    cv_.wait(lock, [&] { return stopped_ || size_.load(std::memory_order_relaxed) > 0; });
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
