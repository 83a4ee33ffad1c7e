#include "storage/host_pool.h"

#include <cstdlib>
#include <new>

namespace flowmod::storage {

HostPool& HostPool::Get() {
  static auto* pool = new HostPool();
  return *pool;
}

size_t HostPool::ClassBytes(size_t bytes) {
  constexpr size_t kMiB = size_t{1} << 20;
  if (bytes <= kAlignment) return kAlignment;
  if (bytes <= kMiB) return size_t{1} << (64 - __builtin_clzll(bytes - 1));
  return (bytes + kMiB - 1) / kMiB * kMiB;
}

size_t HostPool::ClassIndex(size_t class_bytes) {
  constexpr size_t kMiB = size_t{1} << 20;
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
      pooled_.fetch_sub(cls, std::memory_order_relaxed);
      in_use_.fetch_add(cls, std::memory_order_relaxed);
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, cls);
  if (p == nullptr) {
    ReleaseAll();  // pooled blocks of other sizes may be what the system needs back
    p = std::aligned_alloc(kAlignment, cls);
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
    if (free_[idx].size() < kMaxPooledPerClass) {
      free_[idx].push_back(ptr);
      pooled_.fetch_add(cls, std::memory_order_relaxed);
      return;
    }
  }
  std::free(ptr);
}

void HostPool::ReleaseAll() {
  std::vector<std::vector<void*>> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocks.swap(free_);
    pooled_.store(0, std::memory_order_relaxed);
  }
  for (auto& cls : blocks)
    for (void* p : cls) std::free(p);
}

}  // namespace flowmod::storage
