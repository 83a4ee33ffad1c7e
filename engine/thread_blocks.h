// Per-thread blocks of single-writer counters. Each thread that touches an owner gets its own
// block (found through a thread-local cache, no lock after the first use), so hot counters
// never share a cache line between threads; readers walk every block. Blocks outlive their
// threads, keeping what they counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace flowmod::engine {

// Adds one to a counter only this thread writes: no locked instruction needed.
inline void BumpOwned(std::atomic<uint64_t>& c, uint64_t by = 1) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_release);
}

inline uint64_t NextOwnerId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

template <typename Block>
class ThreadBlocks {
 public:
  ThreadBlocks() : id_(NextOwnerId()) {}
  ThreadBlocks(const ThreadBlocks&) = delete;
  ThreadBlocks& operator=(const ThreadBlocks&) = delete;

  Block& Local() {
    thread_local uint64_t owner = 0;
    thread_local Block* block = nullptr;
    if (owner != id_) {
      block = Register();
      owner = id_;
    }
    return *block;
  }

  // Calls fn(const Block&) for every block, under the registry lock.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& b : blocks_) fn(*b);
  }

 private:
  Block* Register() {
    // A thread that alternates between two owners comes here on every switch; only tests
    // juggle several engines.
    thread_local std::vector<std::pair<uint64_t, Block*>> mine;
    for (auto& [owner, block] : mine)
      if (owner == id_) return block;
    auto block = std::make_unique<Block>();
    Block* raw = block.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks_.push_back(std::move(block));
    }
    mine.emplace_back(id_, raw);
    return raw;
  }

  const uint64_t id_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

}  // namespace flowmod::engine
