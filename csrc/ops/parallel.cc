#include "ops/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "spin_lock.h"  // FLOWMOD_CPU_RELAX

namespace flowmod::ops::parallel {

namespace {

// Threads that take parts of a large kernel when the engine's other workers leave their cores
// idle. A caller that finds its parts still queued runs them itself, so a kernel never waits
// on a busy helper.
//
// Products often come in quick succession (an RNN's steps: a 32 x 800 x 200 product, tens of
// microseconds a half, then a few microseconds of cell arithmetic, then the next), where
// sleeping on a condition variable between them would cost a futex wake-up and a reschedule
// per half, as much as the half itself. So a helper that runs out of parts, and a caller
// waiting for its parts, poll for a short while (kSpin) before they sleep.
class Helpers {
 public:
  static Helpers& Get() {
    static auto* helpers = new Helpers();  // never destroyed: threads outlive static teardown
    return *helpers;
  }

  // Runs part(0) .. part(parts - 1), part 0 on the caller; returns when all are done.
  void Run(int parts, const std::function<void(int)>& part) {
    std::atomic<int> remaining{parts - 1};
    std::mutex done_mu;
    std::condition_variable done_cv;
    // Under the lock, so that the caller cannot return (ending these locals) while a helper
    // is still inside finish().
    auto finish = [&] {
      std::lock_guard<std::mutex> lock(done_mu);
      if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv.notify_all();
    };
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 1; i < parts; ++i) jobs_.push_back([&part, &finish, i] { part(i); finish(); });
      queued_.store(static_cast<int>(jobs_.size()), std::memory_order_release);
      // A helper that is not asleep sees queued_ before it would sleep (it checks the queue
      // under mu_ first), so only sleepers need the notification.
      wake = sleeping_ > 0;
    }
    if (wake) cv_.notify_all();
    part(0);
    // Run whatever no helper has taken yet, then wait for the parts in progress.
    const auto spin_until = Clock::now() + kSpin;
    while (remaining.load(std::memory_order_acquire) > 0) {
      if (std::function<void()> job = TryTake()) {
        job();
        continue;
      }
      if (Clock::now() < spin_until) {
        FLOWMOD_CPU_RELAX();
        continue;
      }
      std::unique_lock<std::mutex> lock(done_mu);
      done_cv.wait(lock, [&] { return remaining.load(std::memory_order_acquire) == 0; });
    }
    std::lock_guard<std::mutex> last(done_mu);  // the last finish() has left
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr auto kSpin = std::chrono::microseconds(100);

  Helpers() {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < cores; ++i) std::thread([this] { Loop(); }).detach();
  }

  std::function<void()> TryTake() {
    std::function<void()> job;
    if (queued_.load(std::memory_order_acquire) == 0) return job;
    std::lock_guard<std::mutex> lock(mu_);
    if (!jobs_.empty()) {
      job = std::move(jobs_.front());
      jobs_.pop_front();
      queued_.store(static_cast<int>(jobs_.size()), std::memory_order_release);
    }
    return job;
  }

  void Loop() {
    for (;;) {
      std::function<void()> job = TryTake();
      for (auto spin_until = Clock::now() + kSpin; !job && Clock::now() < spin_until;) {
        FLOWMOD_CPU_RELAX();
        job = TryTake();
      }
      if (!job) {
        std::unique_lock<std::mutex> lock(mu_);
        ++sleeping_;
        cv_.wait(lock, [this] { return !jobs_.empty(); });
        --sleeping_;
        job = std::move(jobs_.front());
        jobs_.pop_front();
        queued_.store(static_cast<int>(jobs_.size()), std::memory_order_release);
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  std::atomic<int> queued_{0};              // jobs_.size(), for polling without mu_
  int sleeping_ = 0;                        // helpers waiting on cv_; guarded by mu_
};

// Kernels holding a Busy right now, across the engine's workers.
std::atomic<int> busy_kernels{0};

}  // namespace

Busy::Busy() {
  // The helpers (one per core beyond the caller's) start with the first split, not here:
  // a process whose kernels never split runs no helper threads.
  static const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int others = busy_kernels.fetch_add(1, std::memory_order_acq_rel);
  free_cores_ = std::max(1, cores - others);
}

Busy::~Busy() { busy_kernels.fetch_sub(1, std::memory_order_acq_rel); }

void Run(int parts, const std::function<void(int)>& part) {
  if (parts <= 1) {
    part(0);
    return;
  }
  Helpers::Get().Run(parts, part);
}

void For(int64_t n, int parts, const std::function<void(int64_t, int64_t)>& fn) {
  parts = static_cast<int>(std::clamp<int64_t>(n, 1, std::max(parts, 1)));
  Run(parts, [&](int i) {
    const int64_t lo = n * i / parts, hi = n * (i + 1) / parts;
    if (lo < hi) fn(lo, hi);
  });
}

}  // namespace flowmod::ops::parallel
