// Splitting one operation across idle compute workers (engine/assist.h, through ops/parallel).
// Every part runs exactly once, whether an idle worker or the caller runs it; a part is taken
// by an idle worker while the caller is still in its own, and woken from sleep for it; with no
// idle worker the caller runs every part; errors reach the caller after all parts ran; and
// several operations split at once, in quick succession (workers polling) and with pauses
// (workers asleep).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "ops/parallel.h"
#include "test_util.h"

namespace parallel = flowmod::ops::parallel;
using namespace testutil;

namespace {

const int kCores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

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

// Runs fn on a compute worker of cpu(0) and waits for it.
template <typename Fn>
void OnWorker(TestEngine& engine, Fn fn) {
  Var* v = engine.NewVar();
  PushSync(*engine, fn, {}, {v});
  engine->WaitForVar(v);
}

}  // namespace

TEST(for_covers_every_index_once_without_workers) {
  for (int64_t n : {0, 1, 2, 3, 7, 100, 1000})
    for (int parts : {1, 2, 3, 8, 64}) CheckCovers(n, parts);
}

TEST(run_calls_every_part_once_on_the_caller_without_workers) {
  const auto me = std::this_thread::get_id();
  for (int parts : {1, 2, 5, 32}) {
    std::vector<std::atomic<int>> calls(static_cast<size_t>(parts));
    parallel::Run(parts, [&](int i) {
      CHECK(std::this_thread::get_id() == me);
      calls[static_cast<size_t>(i)].fetch_add(1);
    });
    for (auto& c : calls) CHECK_EQ(c.load(), 1);
  }
}

TEST(an_idle_worker_takes_a_part_while_the_caller_runs_its_own) {
  TestEngine engine(kThreaded, /*compute=*/2, /*copy=*/1, /*devices=*/1);
  OnWorker(engine, [] {});
  // Long enough for the other worker to stop polling and sleep: it must be woken for the part.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::atomic<bool> started{false};
  std::thread::id caller, helper;
  OnWorker(engine, [&] {
    caller = std::this_thread::get_id();
    parallel::Run(2, [&](int i) {
      if (i == 1) {
        helper = std::this_thread::get_id();
        started.store(true);
        return;
      }
      // Part 0 waits for part 1 to start: only another thread can start it meanwhile.
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!started.load() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    });
  });
  CHECK(started.load());
  CHECK(helper != caller);
}

TEST(with_no_idle_worker_the_caller_runs_every_part) {
  TestEngine engine(kThreaded, /*compute=*/1, /*copy=*/1, /*devices=*/1);
  OnWorker(engine, [&] {
    const auto me = std::this_thread::get_id();
    std::atomic<int> calls{0};
    parallel::Run(4, [&](int) {
      CHECK(std::this_thread::get_id() == me);
      calls.fetch_add(1);
    });
    CHECK_EQ(calls.load(), 4);
  });
}

TEST(a_failing_part_reaches_the_caller_after_every_part_ran) {
  TestEngine engine(kThreaded, /*compute=*/3, /*copy=*/1, /*devices=*/1);
  for (int round = 0; round < 50; ++round) {
    OnWorker(engine, [&] {
      std::vector<std::atomic<int>> calls(6);
      bool caught = false;
      try {
        parallel::Run(6, [&](int i) {
          calls[static_cast<size_t>(i)].fetch_add(1);
          if (i == round % 6) throw std::runtime_error("part failed");
        });
      } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "part failed";
      }
      CHECK(caught);
      for (auto& c : calls) CHECK_EQ(c.load(), 1);
    });
  }
}

TEST(a_part_that_splits_runs_its_parts_itself) {
  TestEngine engine(kThreaded, /*compute=*/3, /*copy=*/1, /*devices=*/1);
  OnWorker(engine, [&] {
    std::atomic<int> inner{0};
    parallel::Run(3, [&](int) {
      const auto me = std::this_thread::get_id();
      parallel::Run(4, [&](int) {
        CHECK(std::this_thread::get_id() == me);
        inner.fetch_add(1);
      });
    });
    CHECK_EQ(inner.load(), 12);
    // Inline, as on workers: a failing part does not stop the others.
    std::atomic<int> ran{0};
    bool caught = false;
    try {
      parallel::Run(3, [&](int) {
        parallel::Run(4, [&](int i) {
          ran.fetch_add(1);
          if (i == 0) throw std::runtime_error("inner part failed");
        });
      });
    } catch (const std::runtime_error&) {
      caught = true;
    }
    CHECK(caught);
    CHECK_EQ(ran.load(), 12);
  });
}

TEST(concurrent_operations_split_in_quick_succession_and_with_pauses) {
  for (const int workers : {2, 4}) {
    TestEngine engine(kThreaded, workers, /*copy=*/1, /*devices=*/2);
    constexpr int kOps = 400;
    std::atomic<int64_t> wrong{0}, ran{0};
    Vars vars = engine.NewVars(8);
    for (int r = 0; r < kOps; ++r) {
      const int64_t n = 50 + (r * 7) % 200;
      const int parts = 1 + r % 5;
      // Ops on different vars run at once on both devices; each splits.
      PushSync(*engine, [&, n, parts, r] {
        std::atomic<int64_t> sum{0};
        parallel::For(n, parts, [&](int64_t lo, int64_t hi) {
          int64_t s = 0;
          for (int64_t i = lo; i < hi; ++i) s += i;
          sum.fetch_add(s, std::memory_order_relaxed);
        });
        if (sum.load() != n * (n - 1) / 2) wrong.fetch_add(1);
        ran.fetch_add(1);
        // Now and then long enough for the idle workers to stop polling and sleep.
        if (r % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }, {}, {vars[static_cast<size_t>(r) % vars.size()]},
               Placement{DeviceId::Cpu(r % 2), Lane::kCompute, 0});
    }
    engine->WaitForAll();
    CHECK_EQ(wrong.load(), 0);
    CHECK_EQ(ran.load(), kOps);
  }
}
