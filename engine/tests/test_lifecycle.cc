// Lifecycle: deleting vars, waiting, completion callbacks, shutdown, counters, fork.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "test_util.h"

using namespace flowmod::engine;
using namespace testutil;
using check::Gate;
using check::Latch;

// Which watched allocations have been freed. The engine frees a var with `delete` on
// whichever thread finishes its last use, so the global deallocation functions are replaced
// to see it happen. The watch list is a sorted array searched without allocating.
namespace freewatch {
std::atomic<const std::vector<void*>*> watched{nullptr};
std::unique_ptr<std::atomic<bool>[]> freed;
// Deallocations looking at the watch list right now: a Watch waits for them before it goes,
// since engine threads still free things after the work a test waited for has retired.
std::atomic<int> noting{0};

void Note(void* p) {
  noting.fetch_add(1);
  const std::vector<void*>* w = watched.load();
  if (w != nullptr && p != nullptr) {
    auto it = std::lower_bound(w->begin(), w->end(), p);
    if (it != w->end() && *it == p) freed[it - w->begin()].store(true, std::memory_order_release);
  }
  noting.fetch_sub(1);
}

// Watches `ptrs` for its lifetime; IsFreed(p) tells whether p was deleted since it began.
class Watch {
 public:
  explicit Watch(std::vector<void*> ptrs) : ptrs_(std::move(ptrs)) {
    std::sort(ptrs_.begin(), ptrs_.end());
    freed.reset(new std::atomic<bool>[ptrs_.size()]);
    for (size_t i = 0; i < ptrs_.size(); ++i) freed[i].store(false);
    watched.store(&ptrs_, std::memory_order_release);
  }
  ~Watch() {
    watched.store(nullptr);
    while (noting.load() != 0) std::this_thread::yield();
  }
  bool IsFreed(const void* p) const {
    auto it = std::lower_bound(ptrs_.begin(), ptrs_.end(), p);
    return it != ptrs_.end() && *it == p && freed[it - ptrs_.begin()].load(std::memory_order_acquire);
  }
  size_t CountFreed() const {
    size_t n = 0;
    for (size_t i = 0; i < ptrs_.size(); ++i) n += freed[i].load(std::memory_order_acquire);
    return n;
  }

 private:
  std::vector<void*> ptrs_;
};
}  // namespace freewatch

// GCC pairs the replaced operator new with free at every inlined call site and warns; the
// pairing is right here, both sides being these replacements.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void operator delete(void* p) noexcept {
  freewatch::Note(p);
  std::free(p);
}
void operator delete[](void* p) noexcept { ::operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { ::operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { ::operator delete(p); }

namespace {

const LaneCounts* FindLane(const StatsSnapshot& snap, DeviceId device, Lane lane) {
  for (const auto& c : snap.lanes)
    if (c.device == device && c.lane == lane) return &c;
  return nullptr;
}

const LatencyHistogram* FindHistogram(const StatsSnapshot& snap, const std::string& name) {
  for (const auto& h : snap.latency)
    if (h.op_name == name) return &h;
  return nullptr;
}

void CheckQuiescent(const StatsSnapshot& snap) {
  for (const auto& c : snap.lanes) {
    CHECK_EQ(c.pushed, c.completed + c.failed + c.skipped);
    CHECK_EQ(c.waiting, 0u);
    CHECK_EQ(c.ready, 0u);
    CHECK_EQ(c.running, 0u);
  }
  for (const auto& h : snap.latency) {
    uint64_t in_buckets = 0;
    for (uint64_t b : h.buckets) in_buckets += b;
    CHECK_EQ(in_buckets, h.count);
  }
}

}  // namespace

TEST(delete_var_waits_for_operations_using_it_then_frees_it) {
  TestEngine engine(kThreaded, 4);
  Var* v = engine.NewVar();
  freewatch::Watch watch({v});
  Gate gate;
  Latch started(1);
  std::atomic<int> ran{0};
  int value = 0;
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); value = 1; ran++; }, {}, {v});
  PushSync(*engine, [&] { CHECK_EQ(value, 1); ran++; }, {v}, {});
  PushSync(*engine, [&] { CHECK_EQ(value, 1); ran++; }, {v}, {});
  PushSync(*engine, [&] { value = 2; ran++; }, {v}, {v});
  PushSync(*engine, [&] { CHECK_EQ(value, 2); ran++; }, {v}, {});
  CHECK(started.Wait());
  engine.DeleteVar(v);
  CHECK_MSG(!watch.IsFreed(v), "the var was freed while operations still used it");
  gate.Open();
  engine->WaitForAll();
  CHECK_EQ(ran.load(), 5);
  CHECK_EQ(value, 2);
  CHECK_MSG(watch.IsFreed(v), "the var was not freed once its operations finished");
}

TEST(delete_var_frees_a_var_with_no_pending_operations) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* used = engine.NewVar();
    Var* unused = engine.NewVar();
    freewatch::Watch watch({used, unused});
    PushSync(*engine, [] {}, {}, {used});
    engine->WaitForAll();
    engine.DeleteVar(used);
    engine.DeleteVar(unused);
    engine->WaitForAll();
    CHECK(watch.IsFreed(used));
    CHECK(watch.IsFreed(unused));
  }
}

TEST(deleting_ten_thousand_vars_after_their_operations_frees_them_all) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2);
    constexpr int kVars = 10000;
    Vars vars = engine.NewVars(kVars);
    freewatch::Watch watch(std::vector<void*>(vars.begin(), vars.end()));
    std::vector<uint32_t> values(kVars, 0);
    // A chain through all the vars, plus a reader of each pair.
    for (int i = 0; i < kVars; ++i) {
      if (i == 0) PushSync(*engine, [&values] { values[0] = 1; }, {}, {vars[0]});
      else PushSync(*engine, [&values, i] { values[i] = values[i - 1] * 3 + 1; }, {vars[i - 1]}, {vars[i]});
    }
    std::atomic<uint64_t> sum{0};
    for (int i = 0; i + 1 < kVars; i += 2)
      PushSync(*engine, [&values, &sum, i] { sum += values[i] ^ values[i + 1]; }, {vars[i], vars[i + 1]}, {});
    for (Var* v : vars) engine.DeleteVar(v);
    engine->WaitForAll();
    std::vector<uint32_t> expected(kVars);
    uint64_t expected_sum = 0;
    expected[0] = 1;
    for (int i = 1; i < kVars; ++i) expected[i] = expected[i - 1] * 3 + 1;
    for (int i = 0; i + 1 < kVars; i += 2) expected_sum += expected[i] ^ expected[i + 1];
    CHECK(values == expected);
    CHECK_EQ(sum.load(), expected_sum);
    CHECK_EQ(watch.CountFreed(), static_cast<size_t>(kVars));
  }
}

TEST(wait_for_var_never_written_returns_at_once) {
  // Every worker is held, so a wait that needed one would never return.
  TestEngine engine(kThreaded, 2);
  Gate gate;
  Latch started(2);
  Var* busy1 = engine.NewVar();
  Var* busy2 = engine.NewVar();
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {}, {busy1});
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {}, {busy2});
  CHECK(started.Wait());
  Var* fresh = engine.NewVar();
  CHECK_NOTHROW(engine->WaitForVar(fresh));
  CHECK_EQ(Engine::VersionOf(fresh), 0u);
  gate.Open();
  engine->WaitForAll();
}

TEST(wait_for_var_does_not_wait_for_reads) {
  TestEngine engine(kThreaded, 2);
  Var* v = engine.NewVar();
  PushSync(*engine, [] {}, {}, {v});
  engine->WaitForVar(v);
  Gate gate;
  Latch started(1);
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {v}, {});
  CHECK(started.Wait());
  CHECK_NOTHROW(engine->WaitForVar(v));  // the reader still holds v
  gate.Open();
  engine->WaitForAll();
}

TEST(on_complete_sees_earlier_writes_and_does_not_wait_for_later_ones) {
  TestEngine engine(kThreaded, 2);
  Var* v = engine.NewVar();
  int value = 0;
  PushSync(*engine, [&] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); value = 1; }, {}, {v});
  Gate callback_ran;
  int seen = -1;
  engine->OnComplete(v, [&](const ErrorInfo* e) {
    CHECK(e == nullptr);
    seen = value;
    callback_ran.Open();
  });
  // A later write that can only finish after the callback ran: a callback waiting for it
  // would never run.
  PushSync(*engine, [&] { CHECK_MSG(callback_ran.Wait(), "callback waited for a later write"); value = 2; }, {}, {v});
  engine->WaitForAll();
  CHECK_EQ(seen, 1);
  CHECK_EQ(value, 2);
}

TEST(callbacks_of_successive_writes_run_in_write_order) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 4);
    Var* v = engine.NewVar();
    std::mutex mu;
    std::vector<int> order;
    int value = 0;
    for (int i = 1; i <= 20; ++i) {
      PushSync(*engine, [&value, i] { value = i; }, {}, {v});
      engine->OnComplete(v, [&, i](const ErrorInfo*) {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      });
    }
    engine->WaitForAll();
    std::vector<int> expected;
    for (int i = 1; i <= 20; ++i) expected.push_back(i);
    std::lock_guard<std::mutex> lock(mu);
    CHECK(order == expected);
  }
}

TEST(callbacks_run_one_at_a_time_on_one_thread_that_is_not_the_caller) {
  TestEngine engine(kThreaded, 4);
  Vars vars = engine.NewVars(16);
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::thread::id> ids;
  for (Var* v : vars) {
    PushSync(*engine, [] { std::this_thread::sleep_for(std::chrono::microseconds(200)); }, {}, {v});
    engine->OnComplete(v, [&](const ErrorInfo*) {
      const int now = ++inside;
      int seen = max_inside.load();
      while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {}
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      {
        std::lock_guard<std::mutex> lock(mu);
        ids.push_back(std::this_thread::get_id());
      }
      --inside;
      ++calls;
    });
  }
  engine->WaitForAll();
  CHECK_EQ(calls.load(), 16);
  CHECK_EQ(max_inside.load(), 1);
  std::lock_guard<std::mutex> lock(mu);
  for (auto id : ids) {
    CHECK(id == ids.front());
    CHECK(id != std::this_thread::get_id());
  }
}

TEST(blocking_callback_does_not_stall_the_workers) {
  // One compute worker; the callback waits for an operation that needs that worker.
  TestEngine engine(kThreaded, 1);
  Var* v = engine.NewVar();
  Var* w = engine.NewVar();
  PushSync(*engine, [] {}, {}, {v});
  Gate op_ran;
  bool callback_saw_op = false;
  engine->OnComplete(v, [&](const ErrorInfo*) { callback_saw_op = op_ran.Wait(); });
  PushSync(*engine, [&] { op_ran.Open(); }, {}, {w});
  engine->WaitForAll();
  CHECK(callback_saw_op);
}

TEST(wait_for_all_includes_callbacks) {
  TestEngine engine(kThreaded, 2);
  Var* v = engine.NewVar();
  PushSync(*engine, [] {}, {}, {v});
  std::atomic<int> done{0};
  for (int i = 0; i < 3; ++i)
    engine->OnComplete(v, [&](const ErrorInfo*) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      done++;
    });
  engine->WaitForAll();
  CHECK_EQ(done.load(), 3);
}

TEST(wait_for_all_waits_for_every_operation) {
  TestEngine engine(kThreaded, 2, 1, 2);
  Vars vars = engine.NewVars(10);
  std::atomic<int> done{0};
  std::vector<std::thread> completers;
  std::mutex completers_mu;
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const int us = static_cast<int>(rng() % 300);
    const Placement where{DeviceId::Cpu(static_cast<int>(rng() % 2)), rng() % 2 ? Lane::kCopy : Lane::kCompute, 0};
    Var* v = vars[rng() % vars.size()];
    if (i % 5 == 0) {
      engine->Push(Operation::Async([&, us](const RunContext&, Completion c) {
                     std::lock_guard<std::mutex> lock(completers_mu);
                     completers.emplace_back([&done, c, us] {
                       std::this_thread::sleep_for(std::chrono::microseconds(us));
                       done++;
                       c();
                     });
                   }),
                   {}, Vars{v}, where);
    } else {
      PushSync(*engine, [&done, us] { std::this_thread::sleep_for(std::chrono::microseconds(us)); done++; }, {v}, {}, where);
    }
  }
  engine->WaitForAll();
  CHECK_EQ(done.load(), 200);
  // Every completer was started under the lock before its operation could retire.
  std::lock_guard<std::mutex> lock(completers_mu);
  for (auto& t : completers) t.join();
}

TEST(wait_for_all_returns_while_another_thread_keeps_pushing) {
  // The other thread pushes a chain of operations in which each one ends only after the
  // next has started, so the engine is never idle until that thread stops: WaitForAll must
  // wait for what was pushed before it, not for a moment of quiet.
  TestEngine engine(kThreaded, 3);
  Vars theirs = engine.NewVars(8);
  Var* mine = engine.NewVar();
  struct Link {
    Gate started, next_started;
  };
  std::deque<Link> links;  // grows at the back only: its elements never move
  std::atomic<bool> stop{false}, gave_up{false};
  std::atomic<uint64_t> pushed{0};
  std::thread other([&] {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    Link* prev = nullptr;
    for (uint64_t i = 0; !stop.load(); ++i) {
      if (std::chrono::steady_clock::now() > give_up) {
        gave_up = true;
        break;
      }
      Link* cur = &links.emplace_back();
      PushSync(*engine, [prev, cur] {
        cur->started.Open();
        if (prev) prev->next_started.Open();
        CHECK(cur->next_started.Wait());
      }, {}, {theirs[i % theirs.size()]});
      // One link at a time, so the chain never holds every worker.
      CHECK(cur->started.Wait());
      prev = cur;
      pushed++;
    }
    // On no var of the chain: the last link may hold any of them until this runs.
    if (prev) PushSync(*engine, [prev] { prev->next_started.Open(); }, {}, {});
  });
  while (pushed.load() < 16) std::this_thread::yield();
  int value = 0;
  PushSync(*engine, [&] { value = 1; }, {}, {mine});
  engine->WaitForAll();
  CHECK_EQ(value, 1);
  CHECK_MSG(!gave_up.load(), "WaitForAll returned only once the other thread stopped pushing");
  stop = true;
  other.join();
  engine->WaitForAll();
}

TEST(async_operation_may_complete_before_its_function_returns) {
  // The completion fires, and the engine moves on, while the function is still running: the
  // function's own state (its captures) must stay alive until it returns.
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2);
    Var* v = engine.NewVar();
    Gate next_ran, returned;
    std::thread completer;
    auto label = std::make_shared<std::string>("still here");
    std::string seen;
    const bool threaded = engine->Type() == kThreaded;
    engine->Push(Operation::Async([&, label, threaded](const RunContext&, Completion c) {
                   completer = std::thread([c] { c(); });
                   // In the threaded engine, wait until the operation after this one ran,
                   // which proves the engine finished this one.
                   if (threaded) CHECK(next_ran.Wait());
                   seen = *label;
                   returned.Open();
                 }),
                 {}, Vars{v});
    label.reset();
    PushSync(*engine, [&] { next_ran.Open(); }, {v}, {});
    engine->WaitForAll();
    CHECK(returned.Wait());
    completer.join();
    CHECK_EQ(seen, std::string("still here"));
  }
}

TEST(shutdown_finishes_pending_work_then_refuses_more) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2);
    Var* chain = engine.NewVar();
    freewatch::Watch watch({chain});
    int value = 0;
    for (int i = 0; i < 50; ++i)
      PushSync(*engine, [&value] { std::this_thread::sleep_for(std::chrono::microseconds(100)); value++; }, {}, {chain});
    std::atomic<bool> callback_ran{false};
    engine->OnComplete(chain, [&](const ErrorInfo*) { callback_ran = true; });
    engine.DeleteVar(chain);
    engine->Shutdown();
    CHECK_EQ(value, 50);
    CHECK(callback_ran.load());
    CHECK(watch.IsFreed(chain));
    CHECK_THROWS(EngineUnavailable, PushSync(*engine, [] {}, {}, {}));
    CHECK_NOTHROW(engine->Shutdown());
    CHECK_NOTHROW(engine->WaitForAll());
  }
}

TEST(var_deleted_after_shutdown_is_freed_at_once) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2);
    Var* late = engine->NewVar();
    PushSync(*engine, [] {}, {}, {late});
    engine->Shutdown();
    freewatch::Watch watch({late});
    engine->DeleteVar(late);
    CHECK_MSG(watch.IsFreed(late), "a var deleted after Shutdown was not freed");
  }
}

TEST(stats_are_consistent_after_wait_for_all) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2, 1, 2);
    const Placement copy1{DeviceId::Cpu(1), Lane::kCopy, 0};
    const Placement compute1{DeviceId::Cpu(1), Lane::kCompute, 0};
    const OpName ok = engine->stats().Intern("ok_op");
    const OpName bad = engine->stats().Intern("bad_op");
    CHECK_EQ(engine->stats().Intern("ok_op"), ok);
    CHECK_EQ(engine->stats().NameOf(bad), std::string("bad_op"));
    Var* failed = engine.NewVar();
    Var* skipped_out = engine.NewVar();
    Vars vars = engine.NewVars(4);
    for (int i = 0; i < 5; ++i) PushSync(*engine, [] {}, {}, {vars[i % 4]}, copy1, ok);
    for (int i = 0; i < 2; ++i)
      PushSync(*engine, [] { throw std::runtime_error("x"); }, {}, {failed}, copy1, bad);
    for (int i = 0; i < 3; ++i) PushSync(*engine, [] {}, {failed}, {skipped_out}, copy1, ok);  // skipped
    for (int i = 0; i < 4; ++i) PushSync(*engine, [] {}, {vars[i]}, {}, compute1, ok);
    engine->WaitForAll();
    CHECK_THROWS(OpError, engine->WaitForVar(failed));  // its wait counts on cpu(0)
    engine->WaitForAll();
    const auto snap = engine->stats().Snapshot();
    CheckQuiescent(snap);
    const LaneCounts* c = FindLane(snap, copy1.device, copy1.lane);
    if (CHECK(c != nullptr)) {
      CHECK_EQ(c->pushed, 10u);
      CHECK_EQ(c->completed, 5u);
      CHECK_EQ(c->failed, 2u);
      CHECK_EQ(c->skipped, 3u);
    }
    const LaneCounts* k = FindLane(snap, compute1.device, compute1.lane);
    if (CHECK(k != nullptr)) {
      CHECK_EQ(k->pushed, 4u);
      CHECK_EQ(k->completed, 4u);
    }
    // Latency is recorded for every operation that ran (completed or failed), not skipped.
    const LatencyHistogram* ok_h = FindHistogram(snap, "ok_op");
    const LatencyHistogram* bad_h = FindHistogram(snap, "bad_op");
    if (CHECK(ok_h != nullptr)) CHECK_EQ(ok_h->count, 9u);
    if (CHECK(bad_h != nullptr)) CHECK_EQ(bad_h->count, 2u);
  }
}

TEST(stats_gauges_count_waiting_ready_and_running_operations) {
  TestEngine engine(kThreaded, 1, 1, 2);
  const Placement lane{DeviceId::Cpu(1), Lane::kCompute, 0};
  Var* held = engine.NewVar();
  Var* free_var = engine.NewVar();
  Gate gate;
  Latch started(1);
  PushSync(*engine, [&] { started.Arrive(); CHECK(gate.Wait()); }, {}, {held}, lane);  // running
  CHECK(started.Wait());
  PushSync(*engine, [] {}, {}, {free_var}, lane);  // ready: the lane's only worker is busy
  PushSync(*engine, [] {}, {held}, {}, lane);      // waiting for the running one
  const auto snap = engine->stats().Snapshot();
  const LaneCounts* c = FindLane(snap, lane.device, lane.lane);
  if (CHECK(c != nullptr)) {
    CHECK_EQ(c->pushed, 3u);
    CHECK_EQ(c->running, 1u);
    CHECK_EQ(c->ready, 1u);
    CHECK_EQ(c->waiting, 1u);
    CHECK_EQ(c->completed, 0u);
  }
  gate.Open();
  engine->WaitForAll();
  CheckQuiescent(engine->stats().Snapshot());
}

TEST(stats_gauges_never_go_negative_while_operations_run) {
  TestEngine engine(kThreaded, 2, 1, 2);
  Vars vars = engine.NewVars(6);
  std::atomic<bool> stop{false};
  std::atomic<int> snapshots{0};
  std::thread reader([&] {
    while (!stop.load()) {
      const auto snap = engine->stats().Snapshot();
      for (const auto& c : snap.lanes) {
        // The counters are unsigned: a gauge that went below zero shows as a huge number.
        CHECK_LE(c.completed + c.failed + c.skipped, c.pushed);
        CHECK_LE(c.waiting, c.pushed);
        CHECK_LE(c.ready, c.pushed);
        CHECK_LE(c.running, c.pushed);
        CHECK_LE(c.waiting + c.ready + c.running + c.completed + c.failed + c.skipped, c.pushed);
      }
      snapshots++;
    }
  });
  std::mt19937 rng(11);
  for (int round = 0; round < 30; ++round) {
    for (int i = 0; i < 40; ++i) {
      Var* a = vars[rng() % vars.size()];
      Var* b = vars[rng() % vars.size()];
      const Placement where{DeviceId::Cpu(static_cast<int>(rng() % 2)), rng() % 3 == 0 ? Lane::kCopy : Lane::kCompute, 0};
      const bool fail = rng() % 10 == 0;
      PushSync(*engine, [fail] { if (fail) throw std::runtime_error("f"); }, {a}, {b}, where);
    }
    engine->WaitForAll();
  }
  stop = true;
  reader.join();
  CHECK_LT(0, snapshots.load());
  CheckQuiescent(engine->stats().Snapshot());
}

TEST(naive_delete_var_does_not_wait_for_another_threads_operation) {
  // The deleting thread may hold a lock the running operation needs (Python's GIL), so
  // DeleteVar must not wait for it; the var goes once that operation's push ends.
  TestEngine engine(kNaive);
  Var* v = engine.NewVar();
  freewatch::Watch watch({v});
  Gate in_op, deleted;
  std::thread pusher([&] {
    PushSync(*engine, [&] {
      in_op.Open();
      CHECK_MSG(deleted.Wait(), "DeleteVar waited for the running operation");
    }, {}, {engine.NewVar()});
  });
  CHECK(in_op.Wait());
  engine.DeleteVar(v);
  deleted.Open();
  pusher.join();
  CHECK(watch.IsFreed(v));
}

// fork(): both tests use the process-wide engine, the one with fork handlers.

TEST(forked_child_of_a_fork_outside_operations_gets_a_working_engine) {
  Engine* engine = Engine::Get();
  Var* v = engine->NewVar();
  Var* w = engine->NewVar();
  int value = 0;
  for (int i = 0; i < 20; ++i)
    PushSync(*engine, [&value] { std::this_thread::sleep_for(std::chrono::microseconds(200)); value++; }, {}, {v});
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (!CHECK(pid >= 0)) return;
  if (pid == 0) {
    // The work pushed before the fork was finished by it.
    bool ok = value == 20;
    PushSync(*engine, [&value] { value += 100; }, {v}, {w});
    try {
      engine->WaitForVar(w);
    } catch (...) {
      ok = false;
    }
    ok = ok && value == 120;
    engine->WaitForAll();
    std::_Exit(ok ? 0 : 1);
  }
  int status = 0;
  CHECK_EQ(waitpid(pid, &status, 0), pid);
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 0);
  // The parent goes on working too.
  PushSync(*engine, [&value] { value += 1; }, {}, {v});
  CHECK_NOTHROW(engine->WaitForVar(v));
  CHECK_EQ(value, 21);
  engine->DeleteVar(v);
  engine->DeleteVar(w);
  engine->WaitForAll();
}

TEST(forked_child_of_a_fork_inside_an_operation_refuses_work) {
  Engine* engine = Engine::Get();
  Var* v = engine->NewVar();
  std::atomic<int> child_status{-1};
  std::fflush(nullptr);
  PushSync(*engine, [&] {
    const pid_t pid = fork();
    if (pid == 0) {
      // Nothing else was running in here: no worker can be trusted, so Push must refuse.
      int code = 1;
      try {
        PushSync(*engine, [] {}, {}, {});
      } catch (const EngineUnavailable&) {
        code = 0;
      } catch (...) {
        code = 2;
      }
      std::_Exit(code);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
      child_status = WEXITSTATUS(status);
  }, {}, {v});
  CHECK_NOTHROW(engine->WaitForVar(v));
  CHECK_EQ(child_status.load(), 0);
  // The parent's engine is unaffected.
  std::atomic<bool> ran{false};
  PushSync(*engine, [&] { ran = true; }, {v}, {});
  engine->WaitForAll();
  CHECK(ran.load());
  engine->DeleteVar(v);
  engine->WaitForAll();
}
