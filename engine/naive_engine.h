// The debugging engine: every operation runs at push, on the pushing thread, one at a time,
// with the same error semantics as the threaded engine. FLOWMOD_ENGINE_TYPE=NaiveEngine.
#pragma once

#include <mutex>
#include <vector>

#include "engine.h"
#include "profiler.h"

namespace flowmod::engine {

class NaiveEngine final : public Engine {
 public:
  NaiveEngine();
  Var* NewVar() override;
  void Push(Operation op, std::span<Var* const> reads, std::span<Var* const> writes,
            Placement where, OpName name) override;
  void DeleteVar(Var* var) override;
  void WaitForVar(Var* var) override;
  void WaitForAll() override {}
  void OnComplete(Var* var, std::function<void(const ErrorInfo*)> callback) override;
  void Shutdown() override;
  std::string_view Type() const override { return "NaiveEngine"; }
  int NumWorkers(DeviceId, Lane) override { return 0; }
  Profiler& profiler() { return profiler_; }

 private:
  int SlotFor(DeviceId device, Lane lane);
  static void AsyncDone(void* self, OpBlock* op, std::string* error);

  // Recursive: an operation may push (it then runs at once, nested).
  std::recursive_mutex mu_;
  Profiler profiler_;
  bool shut_down_ = false;
  // Vars whose deletion came while another thread's operation was running: freed when that
  // push ends. DeleteVar never waits for mu_, since its caller may hold a lock (Python's
  // GIL) that the running operation needs.
  std::mutex deferred_mu_;
  std::vector<Var*> deferred_;
  void FreeDeferred();
  void Trace(OpName name, int slot, uint64_t start, uint64_t end, bool failed,
             std::span<Var* const> reads, std::span<Var* const> writes);
};

}  // namespace flowmod::engine
