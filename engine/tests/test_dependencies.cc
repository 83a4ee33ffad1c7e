// Ordering rules: which operations wait for which, and which may run together.
//
// Ordering claims are checked on a global event clock (testutil::Tick) recorded inside the
// operations, never on elapsed time. Where an operation is held on a gate, the gate opens
// only after every operation the claim is about has been pushed, so that an engine which
// released one too early had the chance to run it early.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "test_util.h"

using namespace flowmod::engine;
using namespace testutil;
using check::Gate;
using check::Latch;

namespace {

// Long enough for a worker left free to pick up an operation released too early; the
// outcome of a correct engine never depends on it.
void ChanceWindow() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

struct Span {
  std::atomic<uint64_t> start{0}, end{0};
  void Begin() { start.store(Tick()); }
  void End() { end.store(Tick()); }
};

// The naive engine runs an operation inside Push, so nothing may wait there for a gate that
// the pushing thread opens later.
void OpenEarlyIfNaive(Engine& engine, Gate& gate) {
  if (engine.Type() == kNaive) gate.Open();
}

}  // namespace

TEST(read_runs_after_earlier_write) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* v = engine.NewVar();
    int value = 0;  // plain memory: the engine's ordering is what keeps this race-free
    Gate gate;
    OpenEarlyIfNaive(*engine, gate);
    Span w, r;
    int seen = -1;
    PushSync(*engine, [&] { w.Begin(); CHECK(gate.Wait()); value = 42; w.End(); }, {}, {v});
    PushSync(*engine, [&] { r.Begin(); seen = value; r.End(); }, {v}, {});
    ChanceWindow();
    gate.Open();
    engine->WaitForAll();
    CHECK_EQ(seen, 42);
    CHECK_LT(w.end.load(), r.start.load());
  }
}

TEST(write_waits_for_earlier_reads) {
  TestEngine engine(kThreaded, 4);
  Var* v = engine.NewVar();
  int value = 1;
  Gate gate;
  Latch started(2);
  Span r1, r2, w;
  int seen1 = 0, seen2 = 0;
  PushSync(*engine, [&] { r1.Begin(); started.Arrive(); CHECK(gate.Wait()); seen1 = value; r1.End(); }, {v}, {});
  PushSync(*engine, [&] { r2.Begin(); started.Arrive(); CHECK(gate.Wait()); seen2 = value; r2.End(); }, {v}, {});
  PushSync(*engine, [&] { w.Begin(); value = 2; w.End(); }, {}, {v});
  CHECK(started.Wait());
  ChanceWindow();
  gate.Open();
  engine->WaitForVar(v);
  CHECK_EQ(value, 2);
  CHECK_EQ(seen1, 1);
  CHECK_EQ(seen2, 1);
  CHECK_LT(r1.end.load(), w.start.load());
  CHECK_LT(r2.end.load(), w.start.load());
}

TEST(write_waits_for_earlier_write) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 4);
    Var* v = engine.NewVar();
    std::vector<int> history;
    Gate gate;
    OpenEarlyIfNaive(*engine, gate);
    Span w1, w2;
    PushSync(*engine, [&] { w1.Begin(); CHECK(gate.Wait()); history.push_back(1); w1.End(); }, {}, {v});
    PushSync(*engine, [&] { w2.Begin(); history.push_back(2); w2.End(); }, {}, {v});
    ChanceWindow();
    gate.Open();
    engine->WaitForVar(v);
    CHECK(history == std::vector<int>({1, 2}));
    CHECK_LT(w1.end.load(), w2.start.load());
    CHECK_EQ(Engine::VersionOf(v), 2u);
  }
}

TEST(reads_of_the_same_version_run_concurrently) {
  TestEngine engine(kThreaded, 2);
  Var* v = engine.NewVar();
  Gate gate;
  int value = 0;
  PushSync(*engine, [&] { CHECK(gate.Wait()); value = 7; }, {}, {v});
  // Each read waits inside its operation for the other to arrive: they can only both
  // finish if they run at the same time.
  Latch both(2);
  int seen1 = 0, seen2 = 0;
  PushSync(*engine, [&] { CHECK_MSG(both.ArriveAndWait(), "the other read never ran alongside"); seen1 = value; }, {v}, {});
  PushSync(*engine, [&] { CHECK_MSG(both.ArriveAndWait(), "the other read never ran alongside"); seen2 = value; }, {v}, {});
  gate.Open();
  engine->WaitForAll();
  CHECK_EQ(seen1, 7);
  CHECK_EQ(seen2, 7);
}

TEST(read_pushed_after_a_write_does_not_join_earlier_reads) {
  TestEngine engine(kThreaded, 4);
  Var* v = engine.NewVar();
  int value = 1;
  Gate gate;
  Latch started(1);
  Span r1, w, r2;
  int seen2 = 0;
  PushSync(*engine, [&] { r1.Begin(); started.Arrive(); CHECK(gate.Wait()); r1.End(); }, {v}, {});
  PushSync(*engine, [&] { w.Begin(); value = 2; w.End(); }, {}, {v});
  PushSync(*engine, [&] { r2.Begin(); seen2 = value; r2.End(); }, {v}, {});
  CHECK(started.Wait());
  ChanceWindow();
  gate.Open();
  engine->WaitForAll();
  CHECK_EQ(seen2, 2);
  CHECK_LT(r1.end.load(), w.start.load());
  CHECK_LT(w.end.load(), r2.start.load());
}

TEST(var_in_both_reads_and_writes_is_a_write) {
  TestEngine engine(kThreaded, 4);
  Var* v = engine.NewVar();
  int value = 10;
  Gate gate;
  Latch started(1);
  Span r1, x, r2;
  int seen_by_x = 0, seen_by_r2 = 0;
  PushSync(*engine, [&] { r1.Begin(); started.Arrive(); CHECK(gate.Wait()); r1.End(); }, {v}, {});
  PushSync(*engine, [&] { x.Begin(); seen_by_x = value; value += 1; x.End(); }, {v}, {v});
  PushSync(*engine, [&] { r2.Begin(); seen_by_r2 = value; r2.End(); }, {v}, {});
  CHECK(started.Wait());
  ChanceWindow();
  gate.Open();
  engine->WaitForAll();
  CHECK_EQ(seen_by_x, 10);
  CHECK_EQ(seen_by_r2, 11);
  CHECK_LT(r1.end.load(), x.start.load());
  CHECK_LT(x.end.load(), r2.start.load());
  CHECK_EQ(Engine::VersionOf(v), 1u);
}

TEST(duplicate_vars_are_harmless) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* a = engine.NewVar();
    Var* b = engine.NewVar();
    Var* c = engine.NewVar();
    Var* d = engine.NewVar();
    Var* e = engine.NewVar();
    std::atomic<int> runs{0};
    int cv = 0, dv = 0, ev = 5;
    PushSync(*engine, [&] { runs++; cv = 1; dv = 2; }, {a, a, b, b, a}, {c, c, d, c, d});
    PushSync(*engine, [&] { runs++; ev *= 3; }, {e, e}, {e, e, e});
    int seen = 0;
    PushSync(*engine, [&] { runs++; seen = cv + dv + ev; }, {c, d, c, e}, {});
    engine->WaitForAll();
    engine->WaitForVar(c);
    CHECK_EQ(runs.load(), 3);
    CHECK_EQ(seen, 1 + 2 + 15);
    CHECK_EQ(Engine::VersionOf(a), 0u);
    CHECK_EQ(Engine::VersionOf(b), 0u);
    CHECK_EQ(Engine::VersionOf(c), 1u);
    CHECK_EQ(Engine::VersionOf(d), 1u);
    CHECK_EQ(Engine::VersionOf(e), 1u);
  }
}

TEST(many_vars_in_one_operation_are_all_ordered) {
  // More vars than an operation keeps inline, some repeated, some in both lists.
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 4);
    Vars vars = engine.NewVars(12);
    std::vector<int> values(12, 0);
    for (int round = 0; round < 20; ++round) {
      Vars reads, writes;
      for (int i = 0; i < 12; ++i) {
        if ((i + round) % 3 == 0) writes.push_back(vars[i]);
        if ((i + round) % 2 == 0) reads.push_back(vars[i]);
      }
      writes.push_back(writes.front());
      PushSync(*engine, [&values, round] {
        for (int i = 0; i < 12; ++i)
          if ((i + round) % 3 == 0) values[i] = values[i] * 3 + round;
      }, reads, writes);
    }
    engine->WaitForAll();
    std::vector<int> expected(12, 0);
    for (int round = 0; round < 20; ++round)
      for (int i = 0; i < 12; ++i)
        if ((i + round) % 3 == 0) expected[i] = expected[i] * 3 + round;
    CHECK(values == expected);
  }
}

TEST(operations_without_common_vars_run_in_parallel) {
  TestEngine engine(kThreaded, 2);
  Var* a = engine.NewVar();
  Var* b = engine.NewVar();
  Latch both(2);
  PushSync(*engine, [&] { CHECK_MSG(both.ArriveAndWait(), "the other operation never ran alongside"); }, {}, {a});
  PushSync(*engine, [&] { CHECK_MSG(both.ArriveAndWait(), "the other operation never ran alongside"); }, {}, {b});
  engine->WaitForAll();
}

TEST(each_completed_write_adds_one_to_the_version) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* v = engine.NewVar();
    Var* other = engine.NewVar();
    CHECK_EQ(Engine::VersionOf(v), 0u);
    for (int i = 0; i < 5; ++i) PushSync(*engine, [] {}, {}, {v});
    for (int i = 0; i < 3; ++i) PushSync(*engine, [] {}, {v}, {other});
    engine->WaitForAll();
    CHECK_EQ(Engine::VersionOf(v), 5u);
    CHECK_EQ(Engine::VersionOf(other), 3u);
  }
}

TEST(wait_for_var_returns_after_every_earlier_write) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 4);
    Var* v = engine.NewVar();
    int value = 0;
    for (int i = 1; i <= 10; ++i)
      PushSync(*engine, [&value, i] {
        std::this_thread::sleep_for(std::chrono::microseconds(100 * (i % 3)));
        value = value * 10 + i % 10;
      }, {}, {v});
    engine->WaitForVar(v);
    CHECK_EQ(value, 1234567890);
  }
}

TEST(higher_priority_runs_first_on_a_one_worker_lane) {
  TestEngine engine(kThreaded, 1);
  Gate gate;
  Latch started(1);
  // Holds the only worker while the others are queued.
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {}, {engine.NewVar()});
  CHECK(started.Wait());
  std::vector<int> order;  // appended only by the single worker
  const int priorities[] = {1, 5, -3, 9, 0, 7, 2};
  for (int p : priorities)
    PushSync(*engine, [&order, p] { order.push_back(p); }, {}, {engine.NewVar()},
             Placement{DeviceId::Cpu(0), Lane::kCompute, p});
  gate.Open();
  engine->WaitForAll();
  CHECK(order == std::vector<int>({9, 7, 5, 2, 1, 0, -3}));
}

TEST(equal_priorities_run_in_push_order_on_a_one_worker_lane) {
  TestEngine engine(kThreaded, 1);
  Gate gate;
  Latch started(1);
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {}, {engine.NewVar()});
  CHECK(started.Wait());
  std::vector<int> order;
  for (int i = 0; i < 8; ++i)
    PushSync(*engine, [&order, i] { order.push_back(i); }, {}, {engine.NewVar()},
             Placement{DeviceId::Cpu(0), Lane::kCompute, i % 2 == 0 ? 3 : 1});
  gate.Open();
  engine->WaitForAll();
  CHECK(order == std::vector<int>({0, 2, 4, 6, 1, 3, 5, 7}));
}

TEST(higher_priority_runs_first_among_operations_released_together) {
  // The operations become ready at once, when the write they all read finishes on the
  // lane's only worker.
  TestEngine engine(kThreaded, 1);
  Var* v = engine.NewVar();
  Gate gate;
  Latch started(1);
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {}, {v});
  CHECK(started.Wait());
  std::vector<int> order;
  const int priorities[] = {1, 5, 3, 8, 2};
  for (int p : priorities)
    PushSync(*engine, [&order, p] { order.push_back(p); }, {v}, {engine.NewVar()},
             Placement{DeviceId::Cpu(0), Lane::kCompute, p});
  gate.Open();
  engine->WaitForAll();
  CHECK(order == std::vector<int>({8, 5, 3, 2, 1}));
}

TEST(copy_lane_runs_while_compute_lane_is_busy) {
  TestEngine engine(kThreaded, 1, 1);
  Gate copied;
  // The compute lane's only worker waits for the copy: a copy queued behind compute would
  // never run.
  PushSync(*engine, [&] { CHECK_MSG(copied.Wait(), "the copy never ran"); }, {}, {engine.NewVar()});
  Lane seen = Lane::kCompute;
  engine->Push(Operation::Sync([&](const RunContext& ctx) { seen = ctx.lane; copied.Open(); }), {},
               Vars{engine.NewVar()}, Placement{DeviceId::Cpu(0), Lane::kCopy, 0});
  engine->WaitForAll();
  CHECK(seen == Lane::kCopy);
}

TEST(devices_have_independent_workers) {
  TestEngine engine(kThreaded, 1, 1, 2);
  Gate other_ran;
  PushSync(*engine, [&] { CHECK_MSG(other_ran.Wait(), "cpu(1) never ran"); }, {}, {engine.NewVar()},
           Placement{DeviceId::Cpu(0), Lane::kCompute, 0});
  PushSync(*engine, [&] { other_ran.Open(); }, {}, {engine.NewVar()},
           Placement{DeviceId::Cpu(1), Lane::kCompute, 0});
  engine->WaitForAll();
}

TEST(dependencies_hold_across_devices_and_lanes) {
  TestEngine engine(kThreaded, 2, 1, 2);
  Var* v = engine.NewVar();
  std::vector<int> history;
  const Placement places[] = {{DeviceId::Cpu(0), Lane::kCompute, 0},
                              {DeviceId::Cpu(1), Lane::kCopy, 0},
                              {DeviceId::Cpu(1), Lane::kCompute, 0},
                              {DeviceId::Cpu(0), Lane::kCopy, 0}};
  for (int i = 0; i < 40; ++i)
    PushSync(*engine, [&history, i] { history.push_back(i); }, {}, {v}, places[i % 4]);
  engine->WaitForVar(v);
  std::vector<int> expected(40);
  for (int i = 0; i < 40; ++i) expected[i] = i;
  CHECK(history == expected);
}

TEST(run_context_names_the_device_and_lane) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2, 1, 2);
    RunContext seen{};
    engine->Push(Operation::Sync([&](const RunContext& ctx) { seen = ctx; }), {}, Vars{engine.NewVar()},
                 Placement{DeviceId::Cpu(1), Lane::kCopy, 0});
    engine->WaitForAll();
    CHECK(seen.device == DeviceId::Cpu(1));
    CHECK(seen.lane == Lane::kCopy);
    CHECK(seen.stream == nullptr);
  }
}

TEST(push_to_a_device_that_cannot_run_throws_and_the_engine_keeps_working) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* v = engine.NewVar();
    bool ran = false;
    CHECK_THROWS(std::invalid_argument,
                 PushSync(*engine, [&] { ran = true; }, {}, {v}, Placement{DeviceId::Gpu(0), Lane::kCompute, 0}));
    CHECK_THROWS(std::invalid_argument,
                 PushSync(*engine, [&] { ran = true; }, {}, {v}, Placement{DeviceId::Cpu(-1), Lane::kCompute, 0}));
    PushSync(*engine, [] {}, {}, {v});
    engine->WaitForVar(v);
    CHECK(!ran);
    CHECK_EQ(Engine::VersionOf(v), 1u);
  }
}

TEST(operation_pushed_from_an_operation_waits_for_it) {
  TestEngine engine(kThreaded, 4);
  Var* v = engine.NewVar();
  int value = 0;
  int seen = 0;
  Engine* e = engine.get();
  PushSync(*engine, [&] {
    // Pushed while this operation still holds v for writing: it must wait for the rest.
    PushSync(*e, [&] { seen = value; }, {v}, {});
    ChanceWindow();
    value = 99;
  }, {}, {v});
  engine->WaitForAll();
  CHECK_EQ(seen, 99);
}

TEST(naive_engine_runs_each_operation_inside_push_on_the_calling_thread) {
  TestEngine engine(kNaive);
  Var* v = engine.NewVar();
  std::thread::id ran_on;
  int value = 0;
  PushSync(*engine, [&] { ran_on = std::this_thread::get_id(); value = 1; }, {}, {v});
  CHECK_EQ(value, 1);
  CHECK(ran_on == std::this_thread::get_id());
  CHECK_EQ(Engine::VersionOf(v), 1u);
}
