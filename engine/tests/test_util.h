// Helpers shared by the engine tests: engines with a known number of workers, terse pushes,
// and a global sequence for happens-before logs.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "engine.h"

namespace testutil {

using namespace flowmod::engine;

inline constexpr const char* kThreaded = "ThreadedEngine";
inline constexpr const char* kNaive = "NaiveEngine";
inline constexpr const char* kBothEngines[] = {kThreaded, kNaive};

// Sets an environment variable for its lifetime. Only used while no engine thread of the
// test is alive, since getenv and setenv race.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_, old_->c_str(), 1);
    else unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

using Vars = std::vector<Var*>;

// A fresh engine whose devices cpu(0) .. cpu(devices-1) have `compute` compute workers and
// `copy` copy workers, and which deletes the vars made through it before it goes (so that a
// leak checker sees only the engine's own leaks). A device reads its worker counts from the
// environment when it is first used, so the devices are created here, while they are set.
class TestEngine {
 public:
  explicit TestEngine(const char* type, int compute = 4, int copy = 1, int devices = 2) {
    ScopedEnv c("FLOWMOD_CPU_WORKER_NTHREADS", std::to_string(compute));
    ScopedEnv k("FLOWMOD_CPU_COPY_NTHREADS", std::to_string(copy));
    engine_ = CreateEngine(type);
    if (engine_->Type() == kThreaded) {
      for (int d = 0; d < devices; ++d) {
        CHECK_EQ(engine_->NumWorkers(DeviceId::Cpu(d), Lane::kCompute), compute);
        CHECK_EQ(engine_->NumWorkers(DeviceId::Cpu(d), Lane::kCopy), copy);
      }
    }
  }
  ~TestEngine() {
    for (Var* v : vars_) engine_->DeleteVar(v);
    engine_->Shutdown();
  }
  TestEngine(const TestEngine&) = delete;
  TestEngine& operator=(const TestEngine&) = delete;

  Engine* operator->() const { return engine_.get(); }
  Engine& operator*() const { return *engine_; }
  Engine* get() const { return engine_.get(); }

  Var* NewVar() {
    Var* v = engine_->NewVar();
    std::lock_guard<std::mutex> lock(mu_);
    vars_.push_back(v);
    return v;
  }
  Vars NewVars(int n) {
    Vars vars;
    for (int i = 0; i < n; ++i) vars.push_back(NewVar());
    return vars;
  }
  // Deletes through the engine a var made by NewVar.
  void DeleteVar(Var* v) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      vars_.erase(std::find(vars_.begin(), vars_.end(), v));
    }
    engine_->DeleteVar(v);
  }

 private:
  std::unique_ptr<Engine> engine_;
  std::mutex mu_;
  std::vector<Var*> vars_;
};


template <typename Fn>
void PushSync(Engine& engine, Fn fn, const Vars& reads, const Vars& writes, Placement where = {},
              OpName name = 0) {
  engine.Push(Operation::Sync([fn = std::move(fn)](const RunContext&) mutable { fn(); }), reads,
              writes, where, name);
}

// A global order of events observed inside operations. An event that happens-before another
// gets a smaller number, so an ordering the engine must guarantee shows in the numbers.
inline std::atomic<uint64_t>& Clock() {
  static std::atomic<uint64_t> clock{1};
  return clock;
}
inline uint64_t Tick() { return Clock().fetch_add(1, std::memory_order_seq_cst); }

// Whether `fn` throws OpError; returns its ErrorInfo (empty when it did not throw).
template <typename Fn>
std::optional<ErrorInfo> CatchOpError(Fn&& fn) {
  try {
    fn();
  } catch (const OpError& e) {
    return e.info();
  }
  return std::nullopt;
}

}  // namespace testutil
