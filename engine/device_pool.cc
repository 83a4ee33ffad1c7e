#include "device_pool.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "stats.h"

namespace flowmod::engine {

namespace {
thread_local WorkerIdentity current_worker;

int EnvInt(const char* name, int fallback, int min_value) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < min_value || n > 1024)
    throw std::invalid_argument(std::string(name) + "='" + v + "': expected an integer in [" +
                                std::to_string(min_value) + ", 1024]");
  return static_cast<int>(n);
}
}  // namespace

const char* LaneName(Lane lane) {
  switch (lane) {
    case Lane::kCopy: return "copy";
    case Lane::kPython: return "python";
    default: return "compute";
  }
}
const char* DeviceTypeName(DeviceType type) { return type == DeviceType::kGPU ? "gpu" : "cpu"; }

const WorkerIdentity& CurrentWorker() { return current_worker; }

std::array<int, kNumLanes> CpuWorkerCounts() {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  return {EnvInt("FLOWMOD_CPU_WORKER_NTHREADS", cores, 1),
          EnvInt("FLOWMOD_CPU_COPY_NTHREADS", 1, 1),
          EnvInt("FLOWMOD_CPU_PYTHON_NTHREADS", 1, 1)};
}

Device::Device(DeviceId id, std::array<int, kNumLanes> workers, std::array<int, kNumLanes> slots,
               OpRunner* runner)
    : id_(id), workers_(workers), slots_(slots), runner_(runner) {
  // The compute workers of a CPU device take the parts of split operations while they wait.
  if (id.type == DeviceType::kCPU) queue(Lane::kCompute).EnableAssist();
}

Device::~Device() { StopWorkers(); }

void Device::Enqueue(OpBlock* op, Lane lane, int priority) {
  if (!running_.load(std::memory_order_acquire)) StartWorkers();
  queues_[static_cast<int>(lane)].Push(op, priority);
}

void Device::StartWorkers() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (running_.load(std::memory_order_relaxed)) return;
  {
    std::lock_guard<std::mutex> lanes(lanes_mu_);
    stopping_ = false;
    for (int l = 0; l < kNumLanes; ++l) {
      LaneThreads& t = lanes_[l];
      t.threads = workers_[l];
      t.parked = t.blocked = t.wakes = 0;
      t.excess.store(0, std::memory_order_relaxed);
    }
  }
  for (int l = 0; l < kNumLanes; ++l) {
    queues_[l].Restart();
    for (int i = 0; i < workers_[l]; ++i)
      threads_.emplace_back([this, l] { WorkerLoop(static_cast<Lane>(l)); });
  }
  running_.store(true, std::memory_order_release);
}

void Device::StopWorkers() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (!running_.load(std::memory_order_relaxed)) return;
  for (auto& q : queues_) q.Stop();
  std::vector<std::thread> extra;
  {
    std::lock_guard<std::mutex> lanes(lanes_mu_);
    stopping_ = true;
    for (auto& t : lanes_) {
      t.parked_cv.notify_all();
      for (auto& th : t.extra) extra.push_back(std::move(th));
      t.extra.clear();
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  // Every operation has finished (the engine drains before it stops workers), so no
  // blocked worker is left to start another thread.
  for (auto& t : extra) t.join();
  running_.store(false, std::memory_order_release);
}

void Device::ResumeIfQueued() {
  for (auto& q : queues_)
    if (q.Size() > 0) return StartWorkers();
}

void Device::WorkerLoop(Lane lane) {
  current_worker = WorkerIdentity{this, lane};
  OnWorkerStart(lane);
  ReadyQueue& q = queue(lane);
  for (;;) {
    if (Oversubscribed(lane) && !StepAside(lane)) break;
    OpBlock* op = q.Pop();
    if (op == nullptr) break;
    runner_->RunFromWorker(op, this, lane);
  }
  current_worker = WorkerIdentity{};
}

void Device::UpdateExcessLocked(int lane) {
  LaneThreads& t = lanes_[lane];
  t.excess.store(std::max(0, t.threads - t.parked - t.blocked - workers_[lane]),
                 std::memory_order_relaxed);
}

void Device::BeginBlocked(Lane lane) {
  const int l = static_cast<int>(lane);
  std::lock_guard<std::mutex> lock(lanes_mu_);
  LaneThreads& t = lanes_[l];
  ++t.blocked;
  if (!stopping_ && t.threads - t.parked - t.blocked < workers_[l]) {
    if (t.parked > 0) {
      --t.parked;
      ++t.wakes;
      t.parked_cv.notify_one();
    } else {
      ++t.threads;
      t.extra.emplace_back([this, lane] { WorkerLoop(lane); });
    }
  }
  UpdateExcessLocked(l);
}

void Device::EndBlocked(Lane lane) {
  const int l = static_cast<int>(lane);
  std::lock_guard<std::mutex> lock(lanes_mu_);
  --lanes_[l].blocked;
  UpdateExcessLocked(l);
}

bool Device::StepAside(Lane lane) {
  const int l = static_cast<int>(lane);
  std::unique_lock<std::mutex> lock(lanes_mu_);
  LaneThreads& t = lanes_[l];
  if (stopping_) return false;
  if (t.threads - t.parked - t.blocked <= workers_[l]) return true;  // another stepped aside
  ++t.parked;
  UpdateExcessLocked(l);
  t.parked_cv.wait(lock, [&] { return stopping_ || t.wakes > 0; });
  if (stopping_) return false;
  --t.wakes;  // BeginBlocked counted this thread as running again
  return true;
}

DevicePool::DevicePool(Stats* stats, OpRunner* runner) : stats_(stats), runner_(runner) {}

DevicePool::~DevicePool() { StopAll(); }

Device* DevicePool::Get(DeviceId id) {
  if (id.type == DeviceType::kCPU && id.index >= 0 && id.index < kFastCpu) {
    if (Device* d = cpu_fast_[id.index].load(std::memory_order_acquire)) return d;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& d : devices_)
    if (d->id() == id) return d.get();
  return Create(id);
}

void CheckDrivable(DeviceId id) {
  if (id.index < 0)
    throw std::invalid_argument("device index " + std::to_string(id.index) +
                                " is negative: expected an index >= 0");
  if (id.type != DeviceType::kCPU)
    throw std::invalid_argument(std::string(DeviceTypeName(id.type)) + "(" +
                                std::to_string(id.index) +
                                ") is not available: this build of flowmod drives CPUs only");
}

Device* DevicePool::Create(DeviceId id) {
  CheckDrivable(id);
  std::array<int, kNumLanes> slots{};
  for (int l = 0; l < kNumLanes; ++l) {
    slots[l] = stats_->SlotFor(id, static_cast<Lane>(l));
    if (slots[l] < 0)
      throw std::invalid_argument("too many devices: at most " +
                                  std::to_string(Stats::kMaxSlots / kNumLanes) + " are counted");
  }
  devices_.push_back(std::make_unique<Device>(id, CpuWorkerCounts(), slots, runner_));
  Device* d = devices_.back().get();
  if (id.index < kFastCpu) cpu_fast_[id.index].store(d, std::memory_order_release);
  return d;
}

std::vector<Device*> DevicePool::All() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Device*> out;
  for (auto& d : devices_) out.push_back(d.get());
  return out;
}

void DevicePool::StopAll() {
  for (Device* d : All()) d->StopWorkers();
}

void DevicePool::ResumeIfQueued() {
  for (Device* d : All()) d->ResumeIfQueued();
}

}  // namespace flowmod::engine
