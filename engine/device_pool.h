// Devices, their lanes and workers, and the pool that creates them on first use.
//
// A Device owns one ReadyQueue and a set of worker threads per lane. Workers hand what they
// pop to an OpRunner (the engine). A CUDA device fits by overriding ContextFor (to hand each
// lane its stream) and OnWorkerStart (to bind the device to the thread); nothing else changes.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "device.h"
#include "ready_queue.h"

namespace flowmod::engine {

class Device;
class OpBlock;
class Stats;

class OpRunner {
 public:
  virtual ~OpRunner() = default;
  // Runs `op`, which a worker of `lane` on `device` just took from the lane's queue.
  virtual void RunFromWorker(OpBlock* op, Device* device, Lane lane) = 0;
};

class Device {
 public:
  Device(DeviceId id, std::array<int, kNumLanes> workers, std::array<int, kNumLanes> slots,
         OpRunner* runner);
  virtual ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  DeviceId id() const { return id_; }
  int slot(Lane lane) const { return slots_[static_cast<int>(lane)]; }
  int num_workers(Lane lane) const { return workers_[static_cast<int>(lane)]; }
  ReadyQueue& queue(Lane lane) { return queues_[static_cast<int>(lane)]; }

  // Queues `op` (whose dependencies are met) on its lane, starting the workers if needed.
  void Enqueue(OpBlock* op, Lane lane, int priority);

  // Joins every worker; they start again at the next Enqueue, or at EnsureRunning.
  void StopWorkers();
  // Starts the workers if any lane has queued work (after a fork, which parks them even when
  // another thread had just pushed).
  void ResumeIfQueued();

  virtual RunContext ContextFor(Lane lane) const { return RunContext{id_, lane, nullptr}; }

  // A worker of `lane` is about to block inside an operation (a wait): a parked thread, or a
  // new one, takes its place until EndBlocked, so that the lane keeps as many threads running
  // operations as it has workers, and work queued behind the blocked ones still runs.
  void BeginBlocked(Lane lane);
  void EndBlocked(Lane lane);
  // More threads of `lane` run operations than it has workers (a blocked one came back):
  // the caller, a worker between operations, should step aside.
  bool Oversubscribed(Lane lane) const {
    return lanes_[static_cast<int>(lane)].excess.load(std::memory_order_relaxed) > 0;
  }

 protected:
  virtual void OnWorkerStart(Lane) {}

 private:
  void StartWorkers();
  void WorkerLoop(Lane lane);
  // Parks the calling worker while its lane is oversubscribed; false when the workers stop.
  bool StepAside(Lane lane);

  // The threads of one lane beyond the queue: guarded by lanes_mu_.
  struct LaneThreads {
    int threads = 0;  // started and not parked or blocked count as running
    int parked = 0;
    int blocked = 0;
    int wakes = 0;  // parked threads asked to run again
    std::atomic<int> excess{0};  // threads - parked - blocked - workers, when positive
    std::condition_variable parked_cv;
    std::vector<std::thread> extra;  // threads started for blocked workers
  };
  void UpdateExcessLocked(int lane);

  const DeviceId id_;
  const std::array<int, kNumLanes> workers_;
  const std::array<int, kNumLanes> slots_;
  OpRunner* const runner_;
  std::array<ReadyQueue, kNumLanes> queues_;
  std::atomic<bool> running_{false};
  std::mutex start_mu_;
  std::vector<std::thread> threads_;
  std::mutex lanes_mu_;
  bool stopping_ = false;  // guarded by lanes_mu_
  std::array<LaneThreads, kNumLanes> lanes_;
};

// The worker the calling thread is, if it is one.
struct WorkerIdentity {
  Device* device = nullptr;
  Lane lane = Lane::kCompute;
};
const WorkerIdentity& CurrentWorker();

class DevicePool {
 public:
  DevicePool(Stats* stats, OpRunner* runner);
  ~DevicePool();

  // The device for `id`, created on first use. Throws std::invalid_argument for a device
  // this build cannot drive (a GPU without CUDA, a negative index).
  Device* Get(DeviceId id);

  std::vector<Device*> All();
  void StopAll();
  void ResumeIfQueued();

 private:
  Device* Create(DeviceId id);

  static constexpr int kFastCpu = 64;
  Stats* const stats_;
  OpRunner* const runner_;
  std::array<std::atomic<Device*>, kFastCpu> cpu_fast_{};
  std::mutex mu_;
  std::vector<std::unique_ptr<Device>> devices_;
};

// Throws std::invalid_argument unless this build can drive `id` (a CPU with an index >= 0).
void CheckDrivable(DeviceId id);

// Worker counts for CPU devices: FLOWMOD_CPU_WORKER_NTHREADS (compute; default: the number
// of cores), FLOWMOD_CPU_COPY_NTHREADS (copy; default 1) and FLOWMOD_CPU_PYTHON_NTHREADS
// (Python; default 1: they take turns at the interpreter's lock anyway, and a worker that
// waits inside an operation lends its place on the lane).
std::array<int, kNumLanes> CpuWorkerCounts();

}  // namespace flowmod::engine
