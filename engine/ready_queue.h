// The operations of one lane whose dependencies are met, best priority first, then FIFO.
#pragma once

#include <atomic>
#include <climits>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace flowmod::engine {

class OpBlock;

class ReadyQueue {
 public:
  ReadyQueue() = default;
  ~ReadyQueue();
  ReadyQueue(const ReadyQueue&) = delete;
  ReadyQueue& operator=(const ReadyQueue&) = delete;

  // From now on the workers waiting in Pop run the parts of split operations (assist.h):
  // for the compute lanes of CPU devices. Call before any worker pops.
  void EnableAssist();

  void Push(OpBlock* op, int priority);

  // Blocks until an operation is ready or Stop() was called (then returns nullptr); with
  // EnableAssist, runs the parts of split operations meanwhile. One worker at a time spins
  // for a few microseconds before it sleeps: pushes come in bursts, and a futex wake costs
  // more than the operations the engine is built to run.
  OpBlock* Pop();

  // Wakes up to `wanted` workers waiting here to take parts (assist.cc, which calls it when
  // it queues parts); returns how many will look: the spinning one, if any, and those woken.
  int WakeForAssist(int wanted);

  // Wakes and releases every blocked Pop; later Pops return nullptr until Restart().
  void Stop();
  void Restart();

  // The best priority waiting (INT_MIN when empty); read without the lock, so approximate.
  int TopPriority() const { return top_priority_.load(std::memory_order_relaxed); }
  size_t Size() const { return size_.load(std::memory_order_relaxed); }

 private:
  struct Bucket {
    int priority;
    std::deque<OpBlock*> ops;
  };
  OpBlock* TakeLocked();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Bucket> buckets_;  // by priority, highest first; empty buckets are kept
  int sleepers_ = 0;
  std::atomic<int> spinners_{0};
  bool stopped_ = false;
  bool assist_ = false;
  std::atomic<size_t> size_{0};
  std::atomic<int> top_priority_{INT_MIN};
};

}  // namespace flowmod::engine
