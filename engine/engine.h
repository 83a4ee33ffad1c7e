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

// Raised by a blocking call (WaitForVar, WaitForAll, or a Push held by the in-flight bound)
// when the embedding's WaitHooks::interrupted reported an interruption (Ctrl-C in Python).
// The awaited work stays queued and the engine stays usable; an interrupted Push pushed
// nothing.
class WaitInterrupted : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Raised by a wait that could never return: one made inside an operation for a var whose
// pending writes cannot finish before that operation does (the operation's own output, a var
// it reads that a later push writes, or a var written by operations queued behind it), or a
// WaitForAll inside an operation or completion callback, which would wait for itself.
class WaitCycle : public std::logic_error {
  using std::logic_error::logic_error;
};

// How an embedding takes part in the engine's blocking calls, on the blocking thread. Python
// releases its GIL in before_block (so that the operations being waited for can take it) and
// checks for signals in interrupted.
struct WaitHooks {
  // Called before the thread blocks; its result is handed to after_block once it stops.
  void* (*before_block)() = nullptr;
  void (*after_block)(void* state) = nullptr;
  // Polled about every kWaitSliceMs while blocked, outside every engine lock; true ends the
  // blocking call with WaitInterrupted.
  bool (*interrupted)() = nullptr;
};
inline constexpr int kWaitSliceMs = 20;
// Installs `hooks` for every engine of the process. Call before the engine is first used.
void SetWaitHooks(const WaitHooks& hooks);

// The default bound on operations in flight (pushed, not yet finished) per device; see Push.
inline constexpr int64_t kDefaultMaxInflight = 4096;

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
  // (Stats::Intern). Returns at once in the threaded engine, unless `where.device` already has
  // FLOWMOD_ENGINE_MAX_INFLIGHT operations in flight (default kDefaultMaxInflight; 0 for no
  // bound): then it blocks (interruptibly, with WaitHooks::before_block called) until a
  // quarter of them have finished, so that a loop pushing faster than the workers run keeps
  // its memory flat. The bound is checked every 64 pushes of a thread, so a device may hold a
  // few dozen more per pushing thread. A push from inside an operation or a completion
  // callback never blocks: what it would wait for may be waiting for it.
  virtual void Push(Operation op, std::span<Var* const> reads, std::span<Var* const> writes,
                    Placement where = {}, OpName name = {}) = 0;

  // Frees `var` once every operation pushed before this call that uses it has finished.
  // The handle must not be used afterwards.
  virtual void DeleteVar(Var* var) = 0;

  // Blocks until every write pushed before this call to `var` has finished. Throws OpError
  // if the last of them failed or was skipped, WaitInterrupted if interrupted, WaitCycle if
  // called inside an operation that those writes wait for. Inside an operation, the worker
  // lends its place on the lane to another thread while it waits, so that the work it waits
  // for runs even when every worker of the lane is waiting.
  virtual void WaitForVar(Var* var) = 0;

  // Blocks until every operation pushed before this call has finished, failed or been
  // skipped, and every OnComplete callback registered before it has run. Throws
  // WaitInterrupted if interrupted, WaitCycle inside an operation or callback.
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
