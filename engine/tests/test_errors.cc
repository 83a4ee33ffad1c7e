// Failure: what a failing operation leaves behind, how it spreads to readers, how it is
// reported and cleared. Every behaviour is checked on both engines unless noted.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "test_util.h"

using namespace flowmod::engine;
using namespace testutil;

namespace {

// Threads that finish asynchronous operations; joined before the engine they report to goes
// (declare after the engine).
class Completers {
 public:
  ~Completers() {
    // Under the lock: an operation may still be inside Run after its completion fired.
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : threads_) t.join();
  }
  void Run(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back(std::move(fn));
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

const LaneCounts* FindLane(const StatsSnapshot& snap, DeviceId device, Lane lane) {
  for (const auto& c : snap.lanes)
    if (c.device == device && c.lane == lane) return &c;
  return nullptr;
}

constexpr Placement kCounted{DeviceId::Cpu(1), Lane::kCompute, 0};

}  // namespace

TEST(failing_operation_marks_every_var_it_writes_failed) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    Var* y = engine.NewVar();
    Var* untouched = engine.NewVar();
    const OpName name = engine->stats().Intern("explode");
    PushSync(*engine, [] { throw std::runtime_error("boom"); }, {untouched}, {x, y}, {}, name);
    engine->WaitForAll();
    for (Var* v : {x, y}) {
      auto error = CatchOpError([&] { engine->WaitForVar(v); });
      if (!CHECK(error.has_value())) continue;
      CHECK_EQ(error->op_name, std::string("explode"));
      CHECK_EQ(error->message, std::string("boom"));
    }
    CHECK_NOTHROW(engine->WaitForVar(untouched));
    CHECK_EQ(Engine::VersionOf(x), 1u);
  }
}

TEST(wait_for_var_throws_op_error_naming_the_operation_and_message) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    const OpName name = engine->stats().Intern("parse_header");
    PushSync(*engine, [] { throw std::invalid_argument("bad magic 0x42"); }, {}, {x}, {}, name);
    std::string what;
    try {
      engine->WaitForVar(x);
      CHECK_MSG(false, "WaitForVar did not throw");
    } catch (const OpError& e) {
      what = e.what();
      CHECK_EQ(e.info().op_name, std::string("parse_header"));
      CHECK_EQ(e.info().message, std::string("bad magic 0x42"));
    }
    CHECK_EQ(what, std::string("operator 'parse_header' failed: bad magic 0x42"));
    // The failure stays until something rewrites the var.
    CHECK_THROWS(OpError, engine->WaitForVar(x));
  }
}

TEST(unnamed_operation_and_unknown_exception_are_reported_as_such) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    PushSync(*engine, [] { throw 17; }, {}, {x});
    auto error = CatchOpError([&] { engine->WaitForVar(x); });
    if (!CHECK(error.has_value())) continue;
    CHECK_EQ(error->op_name, std::string("unnamed"));
    CHECK_EQ(error->message, std::string("unknown exception"));
  }
}

TEST(error_propagates_along_a_chain_of_readers_which_are_skipped) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type, 2, 1, 2);
    Vars v = engine.NewVars(3);
    Var *x = v[0], *y = v[1], *z = v[2];
    std::atomic<bool> b_ran{false}, c_ran{false};
    const OpName a_name = engine->stats().Intern("A");
    const OpName b_name = engine->stats().Intern("B");
    PushSync(*engine, [] { throw std::runtime_error("A broke"); }, {}, {x}, kCounted, a_name);
    PushSync(*engine, [&] { b_ran = true; }, {x}, {y}, kCounted, b_name);
    PushSync(*engine, [&] { c_ran = true; }, {y}, {z}, kCounted);
    engine->WaitForAll();
    CHECK(!b_ran.load());
    CHECK(!c_ran.load());
    for (Var* var : {x, y, z}) {
      auto error = CatchOpError([&] { engine->WaitForVar(var); });
      if (!CHECK(error.has_value())) continue;
      // The error names the operation that failed, not the ones that were skipped.
      CHECK_EQ(error->op_name, std::string("A"));
      CHECK_EQ(error->message, std::string("A broke"));
    }
    const auto snap = engine->stats().Snapshot();
    const LaneCounts* lane = FindLane(snap, kCounted.device, kCounted.lane);
    if (!CHECK(lane != nullptr)) continue;
    CHECK_EQ(lane->pushed, 3u);
    CHECK_EQ(lane->failed, 1u);
    CHECK_EQ(lane->skipped, 2u);
    CHECK_EQ(lane->completed, 0u);
  }
}

TEST(reader_of_a_failed_var_is_skipped_even_when_it_also_writes_it) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    const OpName name = engine->stats().Intern("first");
    PushSync(*engine, [] { throw std::runtime_error("no"); }, {}, {x}, {}, name);
    std::atomic<bool> ran{false};
    PushSync(*engine, [&] { ran = true; }, {x}, {x});
    auto error = CatchOpError([&] { engine->WaitForVar(x); });
    CHECK(!ran.load());
    if (CHECK(error.has_value())) CHECK_EQ(error->op_name, std::string("first"));
  }
}

TEST(failed_read_only_operation_leaves_its_inputs_valid) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    PushSync(*engine, [] {}, {}, {x});
    PushSync(*engine, [] { throw std::runtime_error("reader broke"); }, {x}, {});
    engine->WaitForAll();
    CHECK_NOTHROW(engine->WaitForVar(x));
    std::atomic<bool> ran{false};
    PushSync(*engine, [&] { ran = true; }, {x}, {});
    engine->WaitForAll();
    CHECK(ran.load());
  }
}

TEST(pure_write_to_a_failed_var_runs_and_clears_the_error) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    Var* y = engine.NewVar();
    int value = 0;
    PushSync(*engine, [] { throw std::runtime_error("gone"); }, {}, {x});
    std::atomic<bool> rewrite_ran{false};
    PushSync(*engine, [&] { rewrite_ran = true; value = 5; }, {}, {x});
    int seen = 0;
    PushSync(*engine, [&] { seen = value; }, {x}, {y});
    engine->WaitForAll();
    CHECK(rewrite_ran.load());
    CHECK_NOTHROW(engine->WaitForVar(x));
    CHECK_NOTHROW(engine->WaitForVar(y));
    CHECK_EQ(seen, 5);
    CHECK_EQ(Engine::VersionOf(x), 2u);
  }
}

TEST(skipped_writer_keeps_its_outputs_failed_until_rewritten) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    Var* y = engine.NewVar();
    PushSync(*engine, [] {}, {}, {y});  // y valid at first
    PushSync(*engine, [] { throw std::runtime_error("x failed"); }, {}, {x});
    PushSync(*engine, [] {}, {x}, {y});  // skipped: y takes x's error
    CHECK_THROWS(OpError, engine->WaitForVar(y));
    PushSync(*engine, [] {}, {}, {x});  // clears x, not y
    CHECK_NOTHROW(engine->WaitForVar(x));
    CHECK_THROWS(OpError, engine->WaitForVar(y));
    PushSync(*engine, [] {}, {x}, {y});  // x is valid again, so this runs and clears y
    CHECK_NOTHROW(engine->WaitForVar(y));
  }
}

TEST(engine_keeps_running_after_failures) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Vars vars = engine.NewVars(8);
    std::atomic<int> ran{0};
    for (int round = 0; round < 50; ++round) {
      Var* v = vars[round % 8];
      if (round % 3 == 0) {
        PushSync(*engine, [] { throw std::runtime_error("periodic"); }, {}, {v});
      } else {
        PushSync(*engine, [&] { ran++; }, {}, {v});
      }
    }
    engine->WaitForAll();
    CHECK_EQ(ran.load(), 50 - 17);
    Var* fresh = engine.NewVar();
    PushSync(*engine, [&] { ran++; }, {}, {fresh});
    CHECK_NOTHROW(engine->WaitForVar(fresh));
    CHECK_EQ(ran.load(), 50 - 17 + 1);
  }
}

TEST(async_completion_fail_marks_the_outputs_failed) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Completers completers;
    Var* x = engine.NewVar();
    const OpName name = engine->stats().Intern("fetch");
    engine->Push(Operation::Async([&](const RunContext&, Completion done) {
                   completers.Run([done] { done.Fail("connection reset"); });
                 }),
                 {}, Vars{x}, {}, name);
    auto error = CatchOpError([&] { engine->WaitForVar(x); });
    if (CHECK(error.has_value())) {
      CHECK_EQ(error->op_name, std::string("fetch"));
      CHECK_EQ(error->message, std::string("connection reset"));
    }
    // Its readers are skipped like those of a synchronous failure.
    std::atomic<bool> ran{false};
    Var* y = engine.NewVar();
    PushSync(*engine, [&] { ran = true; }, {x}, {y});
    CHECK_THROWS(OpError, engine->WaitForVar(y));
    CHECK(!ran.load());
  }
}

TEST(async_completion_success_from_another_thread_leaves_the_outputs_valid) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Completers completers;
    Var* x = engine.NewVar();
    int value = 0;
    engine->Push(Operation::Async([&](const RunContext&, Completion done) {
                   completers.Run([done, &value] { value = 3; done(); });
                 }),
                 {}, Vars{x});
    CHECK_NOTHROW(engine->WaitForVar(x));
    CHECK_EQ(value, 3);
  }
}

TEST(async_operation_that_throws_before_completing_fails) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    engine->Push(Operation::Async([](const RunContext&, Completion) {
                   throw std::runtime_error("could not start");
                 }),
                 {}, Vars{x});
    auto error = CatchOpError([&] { engine->WaitForVar(x); });
    if (CHECK(error.has_value())) CHECK_EQ(error->message, std::string("could not start"));
  }
}

TEST(on_complete_receives_the_error_of_a_failed_var) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Var* bad = engine.NewVar();
    Var* good = engine.NewVar();
    const OpName name = engine->stats().Intern("decode");
    PushSync(*engine, [] { throw std::runtime_error("truncated"); }, {}, {bad}, {}, name);
    PushSync(*engine, [] {}, {}, {good});
    std::mutex mu;
    std::optional<ErrorInfo> bad_seen;
    bool bad_called = false, good_called = false, good_had_error = true;
    engine->OnComplete(bad, [&](const ErrorInfo* e) {
      std::lock_guard<std::mutex> lock(mu);
      bad_called = true;
      if (e) bad_seen = *e;
    });
    engine->OnComplete(good, [&](const ErrorInfo* e) {
      std::lock_guard<std::mutex> lock(mu);
      good_called = true;
      good_had_error = e != nullptr;
    });
    engine->WaitForAll();
    std::lock_guard<std::mutex> lock(mu);
    CHECK(bad_called);
    CHECK(good_called);
    CHECK(!good_had_error);
    if (CHECK(bad_seen.has_value())) {
      CHECK_EQ(bad_seen->op_name, std::string("decode"));
      CHECK_EQ(bad_seen->message, std::string("truncated"));
    }
  }
}

TEST(on_complete_receives_the_error_of_a_skipped_writer) {
  // Registered while the failure is still ahead, so the callback waits for it.
  auto body = [](const char* type, bool gate_first) {
    TestEngine engine(type);
    Var* x = engine.NewVar();
    Var* y = engine.NewVar();
    check::Gate gate;
    if (!gate_first) gate.Open();
    const OpName name = engine->stats().Intern("root");
    PushSync(*engine, [&] { CHECK(gate.Wait()); throw std::runtime_error("root cause"); }, {}, {x}, {}, name);
    PushSync(*engine, [] {}, {x}, {y});
    std::mutex mu;
    std::string seen;
    engine->OnComplete(y, [&](const ErrorInfo* e) {
      std::lock_guard<std::mutex> lock(mu);
      seen = e ? e->What() : "no error";
    });
    gate.Open();
    engine->WaitForAll();
    std::lock_guard<std::mutex> lock(mu);
    CHECK_EQ(seen, std::string("operator 'root' failed: root cause"));
  };
  body(kThreaded, true);
  body(kNaive, false);
}

TEST(error_of_one_input_among_several_is_passed_on) {
  for (const char* type : kBothEngines) {
    TestEngine engine(type);
    Vars in = engine.NewVars(6);
    Var* out = engine.NewVar();
    for (Var* v : in) PushSync(*engine, [] {}, {}, {v});
    const OpName name = engine->stats().Intern("middle");
    PushSync(*engine, [] { throw std::runtime_error("only this one"); }, {}, {in[3]}, {}, name);
    std::atomic<bool> ran{false};
    PushSync(*engine, [&] { ran = true; }, in, {out});
    auto error = CatchOpError([&] { engine->WaitForVar(out); });
    CHECK(!ran.load());
    if (CHECK(error.has_value())) CHECK_EQ(error->op_name, std::string("middle"));
  }
}
