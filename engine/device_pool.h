// Devices, their lanes and workers, and the pool that creates them on first use.
//
// A Device owns one ReadyQueue and a set of worker threads per lane. Workers hand what they
// pop to an OpRunner (the engine). A CUDA device fits by overriding ContextFor (to hand each
// lane its stream) and OnWorkerStart (to bind the device to the thread); nothing else changes.
#pragma once

#include <array>
#include <atomic>
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

 protected:
  virtual void OnWorkerStart(Lane) {}

 private:
  void StartWorkers();
  void WorkerLoop(Lane lane);

  const DeviceId id_;
  const std::array<int, kNumLanes> workers_;
  const std::array<int, kNumLanes> slots_;
  OpRunner* const runner_;
  std::array<ReadyQueue, kNumLanes> queues_;
  std::atomic<bool> running_{false};
  std::mutex start_mu_;
  std::vector<std::thread> threads_;
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
// of cores) and FLOWMOD_CPU_COPY_NTHREADS (copy; default 1).
std::array<int, kNumLanes> CpuWorkerCounts();

}  // namespace flowmod::engine
