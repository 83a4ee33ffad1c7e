// Host memory for arrays: 64-byte aligned blocks, recycled by size class so that a
// create-compute-drop loop reuses the same few blocks instead of going back to malloc.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

namespace flowmod::storage {

class HostPool {
 public:
  static constexpr size_t kAlignment = 64;

  // The process-wide pool (never destroyed: blocks may be returned while exiting).
  static HostPool& Get();

  // A block of at least `bytes` bytes (a zero-byte request still returns a unique block).
  // Throws std::bad_alloc when the system has no memory left.
  void* Alloc(size_t bytes);
  // Returns a block from Alloc(bytes) for reuse.
  void Free(void* ptr, size_t bytes);
  // Gives every pooled block back to the system.
  void ReleaseAll();

  size_t bytes_in_use() const { return in_use_.load(std::memory_order_relaxed); }
  size_t bytes_pooled() const { return pooled_.load(std::memory_order_relaxed); }

 private:
  // Size classes: powers of two up to 1 MiB, then multiples of 1 MiB. The pool keeps at
  // most kMaxPooledPerClass blocks of a class below 1 MiB; of the larger classes at most
  // kMaxPooledLarge blocks each and kMaxPooledLargeBytes in all, so that neither a one-off
  // huge array (an initializer's temporary) nor a burst of batches in flight is hoarded.
  static size_t ClassBytes(size_t bytes);
  static size_t ClassIndex(size_t class_bytes);
  static constexpr size_t kMaxPooledPerClass = 64;
  static constexpr size_t kMaxPooledLarge = 8;
  static constexpr size_t kMaxPooledLargeBytes = size_t{256} << 20;

  std::mutex mu_;
  std::vector<std::vector<void*>> free_;  // by class index
  size_t pooled_large_ = 0;               // bytes of blocks of 1 MiB and more in free_ (mu_)
  std::atomic<size_t> in_use_{0};
  std::atomic<size_t> pooled_{0};
};

}  // namespace flowmod::storage
