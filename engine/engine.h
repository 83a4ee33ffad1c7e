// The dependency engine: one small interface over a threaded and a naive implementation.
//
// An operation declares the vars it reads and the vars it writes. The engine runs it once
// every earlier operation it depends on has finished:
//   - a read runs after every earlier write of that var;
//   - a write runs after every earlier read and write of that var;
//   - reads of the same version run concurrently, and operations with no var in common run
//     in any order, in parallel.
// Each operation runs on a lane (compute or copy) of a device; every device has its own
// workers, so a copy never queues behind compute. This header is the whole public surface.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "device.h"
#include "operation.h"
#include "stats.h"

namespace flowmod::engine {

class Var;

// Raised by the waiting calls when the awaited var was written by an operation that failed
// (or was skipped because its own inputs had failed).
class OpError : public std::runtime_error {
 public:
  explicit OpError(std::shared_ptr<const ErrorInfo> info);
  const ErrorInfo& info() const { return *info_; }

 private:
  std::shared_ptr<const ErrorInfo> info_;
};

// Raised by Push when the engine cannot take work (it was shut down, or this is a process
// forked from inside a running operation, where no worker can be trusted).
class EngineUnavailable : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where and how an operation runs.
struct Placement {
  DeviceId device = DeviceId::Cpu(0);
  Lane lane = Lane::kCompute;
  int priority = 0;  // higher runs first among the ready operations of one lane
};

class Engine {
 public:
  virtual ~Engine() = default;

  // The process-wide engine. Its kind comes from FLOWMOD_ENGINE_TYPE at first use:
  // "ThreadedEngine" (default) or "NaiveEngine" (each operation runs at push, on the caller).
  static Engine* Get();

  // A new var: a versioned handle whose version grows by one with every completed write.
  virtual Var* NewVar() = 0;

  // Schedules `op`. `reads` and `writes` may overlap (a var in both is a write) and may hold
  // duplicates. `name` labels the operation in errors and in the latency histogram
  // (Stats::Intern). Returns at once in the threaded engine.
  virtual void Push(Operation op, std::span<Var* const> reads, std::span<Var* const> writes,
                    Placement where = {}, OpName name = {}) = 0;

  // Frees `var` once every operation pushed before this call that uses it has finished.
  // The handle must not be used afterwards.
  virtual void DeleteVar(Var* var) = 0;

  // Blocks until every write pushed before this call to `var` has finished. Throws OpError
  // if the last of them failed or was skipped.
  virtual void WaitForVar(Var* var) = 0;

  // Blocks until every operation pushed before this call has finished, failed or been
  // skipped, and every OnComplete callback registered before it has run.
  virtual void WaitForAll() = 0;

  // Calls `callback` once every write pushed before this call to `var` has finished, with
  // the error that left the var failed, or nullptr. Callbacks run one at a time on the
  // engine's callback thread (never on a compute worker), so they may block briefly (for
  // example to take Python's GIL) without stalling any device.
  virtual void OnComplete(Var* var, std::function<void(const ErrorInfo*)> callback) = 0;

  // Waits for all work, then stops every worker thread. Pushing afterwards throws
  // EngineUnavailable. Idempotent.
  virtual void Shutdown() = 0;

  // "ThreadedEngine" or "NaiveEngine".
  virtual std::string_view Type() const = 0;

  // Counters and latency histograms, read without stopping the engine.
  Stats& stats() { return *stats_; }

  // The number of workers a lane of `device` has (0 in the naive engine).
  virtual int NumWorkers(DeviceId device, Lane lane) = 0;

  // The version and failure of a var as of now, for tests and diagnostics.
  static uint64_t VersionOf(const Var* var);

 protected:
  Engine();
  std::unique_ptr<Stats> stats_;
};

// Builds an engine of the given kind; Engine::Get() builds the process-wide one with this.
std::unique_ptr<Engine> CreateEngine(std::string_view type);

}  // namespace flowmod::engine
