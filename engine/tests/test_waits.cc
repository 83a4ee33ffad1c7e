// Waits made where they could hang: inside operations (nested waits, which must not run the
// lane out of workers, and cycles, which must be refused), interrupted by the embedding, and
// pushes held back by the in-flight bound.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "stats.h"
#include "test_util.h"

using namespace flowmod::engine;
using namespace testutil;

namespace {

// Catches what a wait inside an operation throws, for the test to look at afterwards.
struct Caught {
  std::mutex mu;
  std::vector<std::string> cycles;
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    cycles.push_back(what);
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return cycles.size();
  }
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Waits for all work from a helper thread, so that a hang fails the test instead of it.
bool DrainsWithin(Engine& engine, std::chrono::seconds bound) {
  check::Gate drained;
  std::thread t([&] {
    engine.WaitForAll();
    drained.Open();
  });
  const bool ok = drained.Wait(bound);
  if (ok) t.join();
  else t.detach();  // the engine hangs: the test fails, and the process exits after it
  return ok;
}

}  // namespace

TEST(nested_waits_on_every_worker_and_one_more_all_finish) {
  constexpr int kWorkers = 2;
  TestEngine engine(kThreaded, kWorkers, 1, 1);
  Var* v = engine.NewVar();
  std::atomic<int> finished{0};
  // Every worker takes a waiting operation before the write they wait for is even queued.
  for (int i = 0; i < kWorkers + 1; ++i)
    PushSync(*engine, [&] {
      engine->WaitForVar(v);
      finished.fetch_add(1);
    }, {}, {});
  PushSync(*engine, [] { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }, {}, {v});
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK_EQ(finished.load(), kWorkers + 1);
}

TEST(nested_wait_sees_the_write_pushed_before_it) {
  TestEngine engine(kThreaded, 1, 1, 1);
  Var* data = engine.NewVar();
  Var* done = engine.NewVar();
  int value = 0;
  int seen = -1;
  // One worker: the waiting operation holds it, and the write can only run on a thread the
  // waiting worker lends its place to.
  PushSync(*engine, [&] {
    engine->WaitForVar(data);
    seen = value;
  }, {}, {done});
  PushSync(*engine, [&] { value = 42; }, {}, {data});
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  engine->WaitForVar(done);
  CHECK_EQ(seen, 42);
}

TEST(lane_returns_to_its_worker_count_after_nested_waits) {
  constexpr int kWorkers = 2;
  TestEngine engine(kThreaded, kWorkers, 1, 1);
  Var* v = engine.NewVar();
  for (int i = 0; i < 6; ++i) PushSync(*engine, [&] { engine->WaitForVar(v); }, {}, {});
  PushSync(*engine, [] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); }, {}, {v});
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  // Afterwards no more than kWorkers operations run at once.
  std::atomic<int> running{0}, most{0};
  for (int i = 0; i < 40; ++i)
    PushSync(*engine, [&] {
      const int now = running.fetch_add(1) + 1;
      int m = most.load();
      while (now > m && !most.compare_exchange_weak(m, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      running.fetch_sub(1);
    }, {}, {});
  engine->WaitForAll();
  CHECK_LE(most.load(), kWorkers);
}

TEST(wait_for_own_output_inside_an_operation_is_refused) {
  TestEngine engine(kThreaded, 2, 1, 1);
  Var* v = engine.NewVar();
  Caught caught;
  const OpName name = engine->stats().Intern("waits_for_itself");
  PushSync(*engine, [&] {
    try {
      engine->WaitForVar(v);
    } catch (const WaitCycle& e) {
      caught.Add(e.what());
    }
  }, {}, {v}, Placement{}, name);
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK_EQ(caught.size(), size_t{1});
  if (caught.size() == 1) {
    CHECK_MSG(Contains(caught.cycles[0], "waits_for_itself"), caught.cycles[0]);
    CHECK_MSG(Contains(caught.cycles[0], "writes itself"), caught.cycles[0]);
  }
}

TEST(uncaught_cycle_fails_the_operation_and_its_outputs) {
  TestEngine engine(kThreaded, 2, 1, 1);
  Var* v = engine.NewVar();
  const OpName name = engine->stats().Intern("cyclic");
  PushSync(*engine, [&] { engine->WaitForVar(v); }, {}, {v}, Placement{}, name);
  auto error = CatchOpError([&] { engine->WaitForVar(v); });
  CHECK(error.has_value());
  if (error) {
    CHECK_EQ(error->op_name, std::string("cyclic"));
    CHECK_MSG(Contains(error->message, "would never return"), error->message);
  }
  // The engine goes on.
  PushSync(*engine, [] {}, {}, {v});
  CHECK_NOTHROW(engine->WaitForVar(v));
}

TEST(wait_for_a_read_var_written_later_inside_an_operation_is_refused) {
  TestEngine engine(kThreaded, 2, 1, 1);
  Var* v = engine.NewVar();
  check::Gate pushed;
  Caught caught;
  PushSync(*engine, [&] {
    CHECK(pushed.Wait());
    try {
      engine->WaitForVar(v);
    } catch (const WaitCycle& e) {
      caught.Add(e.what());
    }
  }, {v}, {});
  PushSync(*engine, [] {}, {}, {v});  // waits for the read above
  pushed.Open();
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK_EQ(caught.size(), size_t{1});
}

TEST(wait_for_a_var_written_behind_the_operation_is_refused) {
  TestEngine engine(kThreaded, 2, 1, 1);
  Var* y = engine.NewVar();
  Var* mid = engine.NewVar();
  Var* x = engine.NewVar();
  check::Gate pushed;
  Caught caught;
  // A writes y; B reads y and writes mid; C reads mid and writes x: x's write waits for A.
  PushSync(*engine, [&] {
    CHECK(pushed.Wait());
    try {
      engine->WaitForVar(x);
    } catch (const WaitCycle& e) {
      caught.Add(e.what());
    }
  }, {}, {y});
  PushSync(*engine, [] {}, {y}, {mid});
  PushSync(*engine, [] {}, {mid}, {x});
  pushed.Open();
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK_EQ(caught.size(), size_t{1});
  if (caught.size() == 1) CHECK_MSG(Contains(caught.cycles[0], "queued behind"), caught.cycles[0]);
}

TEST(wait_for_a_var_written_by_unrelated_queued_work_is_not_a_cycle) {
  TestEngine engine(kThreaded, 1, 1, 1);
  Var* y = engine.NewVar();
  Var* x = engine.NewVar();
  Var* other = engine.NewVar();
  check::Gate pushed;
  std::atomic<bool> waited{false};
  PushSync(*engine, [&] {
    CHECK(pushed.Wait());
    CHECK_NOTHROW(engine->WaitForVar(x));
    waited = true;
  }, {}, {y});
  PushSync(*engine, [] {}, {other}, {x});  // queued on the lane, not behind y
  PushSync(*engine, [] {}, {y}, {other});  // behind y, but pushed after x's write
  pushed.Open();
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK(waited.load());
}

TEST(wait_all_inside_an_operation_or_a_callback_is_refused) {
  TestEngine engine(kThreaded, 2, 1, 1);
  Var* v = engine.NewVar();
  std::atomic<int> refused{0};
  PushSync(*engine, [&] {
    try {
      engine->WaitForAll();
    } catch (const WaitCycle&) {
      refused.fetch_add(1);
    }
  }, {}, {v});
  engine->OnComplete(v, [&](const ErrorInfo*) {
    try {
      engine->WaitForAll();
    } catch (const WaitCycle&) {
      refused.fetch_add(1);
    }
  });
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK_EQ(refused.load(), 2);
}

// Random operations on K counters, each adding what it reads to what it writes, with waits
// inside them for vars of an independent chain (which may be queued behind them on the lane):
// the counters must end as a sequential run leaves them.
TEST(randomized_nested_waits_match_sequential_execution) {
  constexpr int kVars = 6, kSide = 3, kOps = 300;
  for (uint32_t seed = 1; seed <= 4; ++seed) {
    TestEngine engine(kThreaded, 2, 1, 1);
    std::mt19937 rng(seed);
    Vars vars = engine.NewVars(kVars), side = engine.NewVars(kSide);
    std::vector<int64_t> value(kVars, 1), expected(kVars, 1);
    std::vector<int> side_count(kSide, 0);
    for (int i = 0; i < kOps; ++i) {
      if (rng() % 3 == 0) {
        const int s = static_cast<int>(rng() % kSide);
        PushSync(*engine, [&side_count, s] { ++side_count[s]; }, {}, {side[s]});
        continue;
      }
      const int r = static_cast<int>(rng() % kVars), w = static_cast<int>(rng() % kVars);
      const int s = static_cast<int>(rng() % kSide);
      const bool waits = rng() % 2 == 0;
      PushSync(*engine, [&, r, w, s, waits] {
        if (waits) engine->WaitForVar(side[s]);
        value[w] += value[r] + 1;
      }, {vars[r]}, {vars[w]});
      expected[w] += expected[r] + 1;
    }
    CHECK(DrainsWithin(*engine, std::chrono::seconds(120)));
    for (int k = 0; k < kVars; ++k) CHECK_EQ(value[k], expected[k]);
  }
}

TEST(interrupted_wait_leaves_the_work_queued) {
  static std::atomic<bool> interrupt{false};
  WaitHooks hooks;
  hooks.interrupted = [] { return interrupt.load(); };
  SetWaitHooks(hooks);
  {
    TestEngine engine(kThreaded, 1, 1, 1);
    Var* v = engine.NewVar();
    check::Gate release;
    PushSync(*engine, [&] { CHECK(release.Wait()); }, {}, {v});
    interrupt = true;
    CHECK_THROWS(WaitInterrupted, engine->WaitForVar(v));
    CHECK_THROWS(WaitInterrupted, engine->WaitForAll());
    CHECK_EQ(Engine::VersionOf(v), uint64_t{0});
    interrupt = false;
    release.Open();
    CHECK_NOTHROW(engine->WaitForVar(v));
    CHECK_EQ(Engine::VersionOf(v), uint64_t{1});
  }
  SetWaitHooks(WaitHooks{});
}

TEST(pushes_beyond_the_bound_wait_and_keep_in_flight_bounded) {
  constexpr int kBound = 64;
  ScopedEnv bound("FLOWMOD_ENGINE_MAX_INFLIGHT", std::to_string(kBound));
  TestEngine engine(kThreaded, 2, 1, 1);
  Var* v = engine.NewVar();
  const int slot = engine->stats().SlotFor(DeviceId::Cpu(0), Lane::kCompute);
  uint64_t most = 0;
  for (int i = 0; i < 3000; ++i) {
    PushSync(*engine, [] { std::this_thread::sleep_for(std::chrono::microseconds(20)); }, {v}, {v});
    most = std::max(most, engine->stats().InFlight(slot));
  }
  engine->WaitForAll();
  // Checked every 64 pushes: at most that many more than the bound.
  CHECK_LE(most, uint64_t{kBound + 64});
  CHECK_EQ(Engine::VersionOf(v), uint64_t{3000});
}

TEST(pushes_inside_operations_and_callbacks_pass_the_bound) {
  constexpr int kBound = 16;
  ScopedEnv bound("FLOWMOD_ENGINE_MAX_INFLIGHT", std::to_string(kBound));
  TestEngine engine(kThreaded, 1, 1, 1);
  Var* v = engine.NewVar();
  Var* gate_var = engine.NewVar();
  // The operation pushes far past the bound while it holds the lane's only worker: if its
  // pushes waited for room they would wait for themselves.
  PushSync(*engine, [&] {
    for (int i = 0; i < 1000; ++i) PushSync(*engine, [] {}, {}, {v});
  }, {}, {gate_var});
  engine->OnComplete(gate_var, [&](const ErrorInfo*) {
    for (int i = 0; i < 1000; ++i) PushSync(*engine, [] {}, {}, {v});
  });
  CHECK(DrainsWithin(*engine, std::chrono::seconds(60)));
  CHECK_EQ(Engine::VersionOf(v), uint64_t{2000});
}

TEST(interrupted_push_at_the_bound_pushes_nothing) {
  static std::atomic<bool> interrupt{false};
  constexpr int kBound = 16;
  ScopedEnv bound("FLOWMOD_ENGINE_MAX_INFLIGHT", std::to_string(kBound));
  WaitHooks hooks;
  hooks.interrupted = [] { return interrupt.load(); };
  SetWaitHooks(hooks);
  {
    TestEngine engine(kThreaded, 1, 1, 1);
    Var* v = engine.NewVar();
    check::Gate release;
    PushSync(*engine, [&] { CHECK(release.Wait()); }, {}, {v});
    interrupt = true;
    int pushed = 1;
    bool interrupted = false;
    for (int i = 0; i < 1000 && !interrupted; ++i) {
      try {
        PushSync(*engine, [] {}, {}, {v});
        ++pushed;
      } catch (const WaitInterrupted&) {
        interrupted = true;
      }
    }
    CHECK(interrupted);
    interrupt = false;
    release.Open();
    engine->WaitForAll();
    CHECK_EQ(Engine::VersionOf(v), static_cast<uint64_t>(pushed));
  }
  SetWaitHooks(WaitHooks{});
}
