// A test-and-test-and-set lock for critical sections of a few instructions (a var's
// dependency queue), where a mutex's futex path would cost more than the work it guards.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FLOWMOD_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define FLOWMOD_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define FLOWMOD_CPU_RELAX() ((void)0)
#endif

namespace flowmod::engine {

class SpinLock {
 public:
  void lock() {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        // On an oversubscribed machine the holder may be descheduled: give it the core.
        if (++spins > 64) std::this_thread::yield();
        else FLOWMOD_CPU_RELAX();
      }
    }
  }
  bool try_lock() {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace flowmod::engine
