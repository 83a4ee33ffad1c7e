#include "storage/host_pool.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace flowmod::storage {

namespace {

constexpr size_t kMiB = size_t{1} << 20;

// Blocks of 1 MiB and more are mapped pages of their own, so that releasing one gives its
// memory back to the system at once. From malloc, freed large blocks would stay in its heap
// (glibc raises its mmap threshold after each large free), and a burst of batches in flight
// would leave the process that much larger for good.
void* SystemAlloc(size_t cls) {
  if (cls < kMiB) return std::aligned_alloc(HostPool::kAlignment, cls);
  void* p = mmap(nullptr, cls, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void SystemFree(void* p, size_t cls) {
  if (cls < kMiB) std::free(p);
  else munmap(p, cls);
}

}  // namespace

HostPool& HostPool::Get() {
  static auto* pool = new HostPool();
  return *pool;
}

size_t HostPool::ClassBytes(size_t bytes) {
  if (bytes <= kAlignment) return kAlignment;
  if (bytes <= kMiB) return size_t{1} << (64 - __builtin_clzll(bytes - 1));
  return (bytes + kMiB - 1) / kMiB * kMiB;
}

size_t HostPool::ClassIndex(size_t class_bytes) {
  if (class_bytes <= kMiB) return static_cast<size_t>(__builtin_ctzll(class_bytes)) - 6;  // 64 B -> 0
  return 14 + class_bytes / kMiB;  // 1 MiB is index 14 above; larger ones follow
}

void* HostPool::Alloc(size_t bytes) {
  const size_t cls = ClassBytes(bytes);
  const size_t idx = ClassIndex(cls);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idx < free_.size() && !free_[idx].empty()) {
      void* p = free_[idx].back();
      free_[idx].pop_back();
      if (cls >= kMiB) pooled_large_ -= cls;
      pooled_.fetch_sub(cls, std::memory_order_relaxed);
      in_use_.fetch_add(cls, std::memory_order_relaxed);
      return p;
    }
  }
  void* p = SystemAlloc(cls);
  if (p == nullptr) {
    ReleaseAll();  // pooled blocks of other sizes may be what the system needs back
    p = SystemAlloc(cls);
    if (p == nullptr) throw std::bad_alloc();
  }
  in_use_.fetch_add(cls, std::memory_order_relaxed);
  return p;
}

void HostPool::Free(void* ptr, size_t bytes) {
  if (ptr == nullptr) return;
  const size_t cls = ClassBytes(bytes);
  const size_t idx = ClassIndex(cls);
  in_use_.fetch_sub(cls, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idx >= free_.size()) free_.resize(idx + 1);
    const bool keep = cls < kMiB ? free_[idx].size() < kMaxPooledPerClass
                                 : free_[idx].size() < kMaxPooledLarge &&
                                       pooled_large_ + cls <= kMaxPooledLargeBytes;
    if (keep) {
      free_[idx].push_back(ptr);
      if (cls >= kMiB) pooled_large_ += cls;
      pooled_.fetch_add(cls, std::memory_order_relaxed);
      return;
    }
  }
  SystemFree(ptr, cls);
}

void HostPool::ReleaseAll() {
  std::vector<std::vector<void*>> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocks.swap(free_);
    pooled_large_ = 0;
    pooled_.store(0, std::memory_order_relaxed);
  }
  for (size_t idx = 0; idx < blocks.size(); ++idx) {
    const size_t cls = idx <= 14 ? size_t{64} << idx : (idx - 14) * kMiB;  // ClassIndex inverted
    for (void* p : blocks[idx]) SystemFree(p, cls);
  }
}

}  // namespace flowmod::storage
