// The default engine: operations run on their device's lane workers as soon as their
// dependencies allow.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include "callback_thread.h"
#include "device_pool.h"
#include "engine.h"
#include "profiler.h"
#include "op_block.h"
#include "thread_blocks.h"
#include "var.h"

namespace flowmod::engine {

class BlockingScope;

class ThreadedEngine final : public Engine, private OpRunner {
 public:
  ThreadedEngine();
  ~ThreadedEngine() override;

  Var* NewVar() override;
  void Push(Operation op, std::span<Var* const> reads, std::span<Var* const> writes,
            Placement where, OpName name) override;
  void DeleteVar(Var* var) override;
  void WaitForVar(Var* var) override;
  void WaitForAll() override;
  void OnComplete(Var* var, std::function<void(const ErrorInfo*)> callback) override;
  void Shutdown() override;
  std::string_view Type() const override { return "ThreadedEngine"; }
  int NumWorkers(DeviceId device, Lane lane) override;
  Profiler& profiler() { return profiler_; }

  // fork(): the parent drains and parks its threads before, and both sides start them again
  // on demand after. A fork from inside an operation cannot drain (it would wait for itself),
  // so the child of such a fork refuses work.
  void PrepareFork();
  void AfterForkParent();
  void AfterForkChild();

 private:
  // kShutDown: Shutdown is draining; kStopped: it has, and no engine thread is left.
  enum State : int { kRunning, kShutDown, kStopped, kUnusable };

  OpBlock* Prepare(Operation op, std::span<Var* const> reads, std::span<Var* const> writes,
                   Placement where, OpName name, uint8_t flags);
  void Submit(OpBlock* op);
  void CheckAccepting() const;
  // Blocks while `device` has max_inflight_ operations in flight (see Engine::Push).
  void AwaitRoom(DeviceId device);
  std::string CycleMessage(const OpBlock* self, const std::string& why) const;

  void RunFromWorker(OpBlock* op, Device* device, Lane lane) override;
  // Runs a synchronous operation or starts an asynchronous one. True when `op` is finished
  // (ran, threw or was skipped) and the caller must call Finish.
  bool Execute(OpBlock* op, const RunContext& ctx);
  // Counts a finished operation's latency and, while profiling, records it.
  void Observe(const OpBlock* op, uint64_t end_ns, bool async);
  void Trace(const OpBlock* op, uint64_t end_ns, bool async);
  // Releases `op`'s vars and frees it; the operations this made ready are linked through
  // Dep::next into `*ready`.
  void Finish(OpBlock* op, Dep** ready);
  // Queues (or runs, for inline operations) every operation in `ready`. A worker of
  // (`device`, `lane`) gets back one of them to run next itself, when one fits.
  OpBlock* Dispatch(Dep* ready, Device* device, Lane lane);
  void DispatchOne(OpBlock* op);
  static void AsyncDone(void* self, OpBlock* op, std::string* error);

  // Work (operations and OnComplete callbacks) is counted per thread in one of two epoch
  // buckets, so that WaitForAll can wait for what was pushed before it without waiting for
  // what other threads keep pushing. Begin returns the bucket to hand to Retire.
  uint8_t Begin();
  // `maybe_last` is false when the caller knows more work is queued behind it, sparing a
  // waiter in WaitForAll a pointless wake-up.
  void Retire(uint8_t bucket, bool maybe_last);
  bool Drained(uint8_t bucket) const;
  // With `scope`, checks it for interruptions while waiting.
  void WaitDrained(uint8_t bucket, const BlockingScope* scope);
  void DrainAll(const BlockingScope* scope);

  Profiler profiler_;
  DevicePool devices_;
  CallbackThread callbacks_;
  std::atomic<int> state_{kRunning};
  bool fork_from_worker_ = false;
  const int64_t max_inflight_;  // 0: no bound

  // Work begun and retired per epoch bucket, counted per thread: a shared counter would
  // bounce between the pushing thread and the workers on every operation.
  struct alignas(64) WorkCounts {
    std::atomic<uint64_t> begun[2] = {0, 0};
    std::atomic<uint64_t> retired[2] = {0, 0};
  };
  ThreadBlocks<WorkCounts> work_;
  std::atomic<uint32_t> epoch_{0};
  std::recursive_mutex epoch_mu_;  // one WaitForAll flips the epoch at a time
  std::atomic<int> all_waiters_{0};
  std::mutex all_mu_;
  std::condition_variable all_cv_;
};

}  // namespace flowmod::engine
