// ops/parallel: splitting one kernel across the helper threads. Every index of a split range
// is visited exactly once, whether the parts run on helpers or on the caller, while several
// callers split at once (as the engine's workers do), in quick succession (the helpers
// polling) and with pauses (the helpers asleep).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "check.h"
#include "ops/parallel.h"

namespace parallel = flowmod::ops::parallel;

namespace {

// Splits [0, n) into `parts` and checks every index was visited once.
void CheckCovers(int64_t n, int parts) {
  auto seen = std::make_unique<std::atomic<int>[]>(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) seen[i].store(0);
  parallel::For(n, parts, [&](int64_t lo, int64_t hi) {
    CHECK(0 <= lo && lo < hi && hi <= n);
    for (int64_t i = lo; i < hi; ++i) seen[i].fetch_add(1, std::memory_order_relaxed);
  });
  int wrong = 0;
  for (int64_t i = 0; i < n; ++i) wrong += seen[i].load() != 1;
  CHECK_EQ(wrong, 0);
}

}  // namespace

TEST(for_covers_every_index_once) {
  for (int64_t n : {0, 1, 2, 3, 7, 100, 1000})
    for (int parts : {1, 2, 3, 8, 64}) CheckCovers(n, parts);
}

TEST(run_calls_every_part_once_even_with_more_parts_than_threads) {
  for (int parts : {1, 2, 5, 32}) {
    std::vector<std::atomic<int>> calls(static_cast<size_t>(parts));
    parallel::Run(parts, [&](int i) { calls[static_cast<size_t>(i)].fetch_add(1); });
    for (auto& c : calls) CHECK_EQ(c.load(), 1);
  }
}

TEST(busy_counts_the_kernels_in_progress) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  {
    parallel::Busy first;
    CHECK_EQ(first.free_cores(), cores);
    parallel::Busy second;
    CHECK_EQ(second.free_cores(), std::max(1, cores - 1));
  }
  parallel::Busy again;
  CHECK_EQ(again.free_cores(), cores);
}

TEST(concurrent_callers_in_quick_succession_and_with_pauses) {
  constexpr int kCallers = 4, kRounds = 300;
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int r = 0; r < kRounds; ++r) {
        const parallel::Busy busy;
        CHECK(busy.free_cores() >= 1);
        const int64_t n = 50 + (r * 7 + c) % 200;
        std::atomic<int64_t> sum{0};
        parallel::For(n, busy.free_cores() + r % 3, [&](int64_t lo, int64_t hi) {
          int64_t s = 0;
          for (int64_t i = lo; i < hi; ++i) s += i;
          sum.fetch_add(s, std::memory_order_relaxed);
        });
        CHECK_EQ(sum.load(), n * (n - 1) / 2);
        total.fetch_add(1);
        // Now and then long enough for the helpers to stop polling and sleep.
        if (r % 50 == c) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  for (auto& t : callers) t.join();
  CHECK_EQ(total.load(), int64_t{kCallers} * kRounds);
}
