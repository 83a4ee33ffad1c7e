// The timeline recorder: what it keeps of each operation (lane, times, vars and versions),
// that it keeps nothing while stopped, and that collecting while workers record loses and
// duplicates nothing (the TSan build checks that its buffers need no lock).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "check.h"
#include "profiler.h"
#include "test_util.h"
#include "var.h"

using namespace flowmod::engine;
using namespace testutil;

namespace {

std::vector<TraceOp> Drain(Engine* engine) {
  std::vector<TraceOp> ops;
  for (auto& t : ProfilerOf(engine).Collect())
    for (auto& op : t.ops) ops.push_back(std::move(op));
  std::sort(ops.begin(), ops.end(),
            [](const TraceOp& a, const TraceOp& b) { return a.start_ns < b.start_ns; });
  return ops;
}

const TraceDep* DepOn(const TraceOp& op, const Var* v) {
  for (const TraceDep& d : op.deps)
    if (d.var == v->id()) return &d;
  return nullptr;
}

}  // namespace

TEST(stopped_profiler_records_nothing) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* v = engine.NewVar();
    PushSync(*engine, [] {}, {}, {v});
    engine->WaitForAll();
    CHECK(!ProfilerOf(engine.get()).running());
    CHECK_EQ(Drain(engine.get()).size(), 0u);
  }
}

TEST(records_name_lane_times_and_the_versions_each_op_used) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Profiler& profiler = ProfilerOf(engine.get());
    const OpName kind = engine->stats().Intern("FullyConnected");
    const OpName label = profiler.Label(kind, "fc1_forward", "(2,3) -> (2,4)");
    CHECK_EQ(engine->stats().NameOf(label), "FullyConnected");
    CHECK_EQ(profiler.LabelOf(label), "fc1_forward");
    CHECK_EQ(profiler.DetailOf(label), "(2,3) -> (2,4)");
    CHECK_EQ(profiler.LabelOf(kind), "");

    Var* a = engine.NewVar();
    Var* b = engine.NewVar();
    profiler.Start();
    PushSync(*engine, [] {}, {}, {a}, {}, label);                               // a: 0 -> 1
    PushSync(*engine, [] {}, {a}, {b}, Placement{DeviceId::Cpu(0), Lane::kCopy}, kind);
    PushSync(*engine, [] {}, {a, b}, {a}, {}, kind);                           // a: 1 -> 2
    engine->WaitForAll();
    profiler.Stop();
    PushSync(*engine, [] {}, {}, {a}, {}, kind);  // not recorded
    engine->WaitForAll();

    const auto ops = Drain(engine.get());
    CHECK_EQ(ops.size(), 3u);
    if (ops.size() != 3) continue;
    CHECK_EQ(ops[0].name, label);
    CHECK_EQ(ops[1].name, kind);
    for (const TraceOp& op : ops) {
      CHECK_LE(op.start_ns, op.end_ns);
      CHECK(!op.failed);
    }
    // Each starts after the one it depends on ended.
    CHECK_LE(ops[0].end_ns, ops[1].start_ns);
    CHECK_LE(ops[1].end_ns, ops[2].start_ns);
    const int copy_slot = engine->stats().SlotFor(DeviceId::Cpu(0), Lane::kCopy);
    CHECK_EQ(ops[1].slot, copy_slot);
    CHECK(ops[0].slot != copy_slot);

    const TraceDep* w0 = DepOn(ops[0], a);
    const TraceDep* r1 = DepOn(ops[1], a);
    const TraceDep* w1 = DepOn(ops[1], b);
    const TraceDep* rw2 = DepOn(ops[2], a);
    const TraceDep* r2 = DepOn(ops[2], b);
    CHECK(w0 && r1 && w1 && rw2 && r2);
    if (!(w0 && r1 && w1 && rw2 && r2)) continue;
    CHECK(w0->write && !r1->write && w1->write && rw2->write && !r2->write);
    CHECK_EQ(ops[2].deps.size(), 2u);  // a read and written counts once, as a write
    CHECK_EQ(w0->version, 0u);         // the version it replaced
    CHECK_EQ(r1->version, 1u);         // the version it read: the first write's
    CHECK_EQ(rw2->version, 1u);
    CHECK_EQ(r2->version, 1u);
    CHECK_EQ(Engine::VersionOf(a), 3u);
  }
}

TEST(failed_operations_are_marked) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* v = engine.NewVar();
    ProfilerOf(engine.get()).Start();
    PushSync(*engine, [] { throw std::runtime_error("boom"); }, {}, {v});
    engine->WaitForAll();
    ProfilerOf(engine.get()).Stop();
    const auto ops = Drain(engine.get());
    CHECK_EQ(ops.size(), 1u);
    if (!ops.empty()) CHECK(ops[0].failed);
  }
}

TEST(asynchronous_operations_are_recorded_when_they_complete) {
  TestEngine engine(kThreaded);
  Var* v = engine.NewVar();
  ProfilerOf(engine.get()).Start();
  // The operation hands its Completion over; this thread finishes it later.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Completion> handed;
  engine->Push(Operation::Async([&](const RunContext&, Completion done) {
                 std::lock_guard<std::mutex> lock(mu);
                 handed = done;
                 cv.notify_one();
               }),
               {}, std::vector<Var*>{v});
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return handed.has_value(); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  (*handed)();
  engine->WaitForVar(v);
  ProfilerOf(engine.get()).Stop();
  const auto ops = Drain(engine.get());
  CHECK_EQ(ops.size(), 1u);
  if (!ops.empty()) {
    CHECK(ops[0].async);
    CHECK_LE(1000000u, ops[0].end_ns - ops[0].start_ns);
  }
}

// Many workers record while another thread collects: every operation comes out once, with
// its vars, across chunk boundaries, and a var's versions come out in order of their writes.
TEST(collecting_while_recording_loses_and_duplicates_nothing) {
  TestEngine engine(kThreaded, 4, 1, 1);
  Profiler& profiler = ProfilerOf(engine.get());
  const int kVars = 8, kOps = 6000;
  Vars vars = engine.NewVars(kVars);
  std::atomic<bool> done{false};
  std::vector<TraceOp> seen;
  std::thread collector([&] {
    while (!done.load()) {
      for (auto& t : profiler.Collect())
        for (auto& op : t.ops) seen.push_back(std::move(op));
      std::this_thread::yield();
    }
  });
  profiler.Start();
  for (int i = 0; i < kOps; ++i) {
    Vars reads{vars[(i + 1) % kVars], vars[(i + 2) % kVars], vars[(i + 3) % kVars]};
    PushSync(*engine, [] {}, reads, {vars[i % kVars]}, {}, static_cast<OpName>(1 + i % 5));
  }
  engine->WaitForAll();
  profiler.Stop();
  done.store(true);
  collector.join();
  for (auto& t : profiler.Collect())
    for (auto& op : t.ops) seen.push_back(std::move(op));

  CHECK_EQ(seen.size(), static_cast<size_t>(kOps));
  std::map<uint64_t, std::set<uint64_t>> written;  // var -> versions replaced
  size_t writes = 0;
  for (const TraceOp& op : seen) {
    CHECK_EQ(op.deps.size(), 4u);
    for (const TraceDep& d : op.deps)
      if (d.write) {
        ++writes;
        CHECK(written[d.var].insert(d.version).second);  // each version replaced once
      }
  }
  CHECK_EQ(writes, static_cast<size_t>(kOps));
  for (const auto& [var, versions] : written) {
    // 0, 1, 2, ...: no write lost.
    CHECK_EQ(*versions.rbegin() + 1, versions.size());
  }
}
