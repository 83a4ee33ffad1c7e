#include "threaded_engine.h"

#include "op_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "blocking.h"
#include "wait_cycle.h"

namespace flowmod::engine {

namespace {

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Fills `op->deps` with one Dep per distinct var, sorted by address (the lock order), a var
// that is both read and written counting as a write that reads its value.
void BuildDeps(OpBlock* op, std::span<Var* const> reads, std::span<Var* const> writes) {
  const size_t upper = reads.size() + writes.size();
  if (upper > OpBlock::kInlineDeps) {
    op->heap_deps.reset(new Dep[upper]);
    op->deps = op->heap_deps.get();
  }
  uint32_t n = 0;
  auto add = [&](Var* v, bool write) {
    for (uint32_t i = 0; i < n; ++i) {
      if (op->deps[i].var == v) {
        if (write) op->deps[i].write = true;
        else op->deps[i].reads_value = true;
        return;
      }
    }
    op->deps[n++] = Dep{v, op, nullptr, write, !write};
  };
  for (Var* v : writes) add(v, true);
  for (Var* v : reads) add(v, false);
  std::sort(op->deps, op->deps + n, [](const Dep& a, const Dep& b) { return a.var < b.var; });
  op->num_deps = n;
}

// The epoch bucket of the operation or callback this thread is running, if any. What it
// pushes counts in the same bucket, so WaitForAll covers work spawned by the work it waits
// for, as a user expects.
// `op` is the operation running (nullptr in a completion callback), for the waits it makes.
struct RunningWork {
  const void* engine = nullptr;
  uint8_t bucket = 0;
  const OpBlock* op = nullptr;
};
thread_local RunningWork running_work;

class ScopedRunningWork {
 public:
  ScopedRunningWork(const void* engine, uint8_t bucket, const OpBlock* op)
      : saved_(running_work) {
    running_work = RunningWork{engine, bucket, op};
  }
  ~ScopedRunningWork() { running_work = saved_; }

 private:
  RunningWork saved_;
};

std::shared_ptr<const ErrorInfo> MakeError(std::string op_name, std::string message) {
  return std::make_shared<const ErrorInfo>(ErrorInfo{std::move(op_name), std::move(message)});
}

int64_t MaxInflightFromEnv() {
  const char* name = "FLOWMOD_ENGINE_MAX_INFLIGHT";
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return kDefaultMaxInflight;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < 0 || n > (1LL << 40))
    throw std::invalid_argument(std::string(name) + "='" + v +
                                "': expected an integer >= 0 (0: no bound)");
  return n;
}

// Pushes this thread made; the in-flight bound is checked on every 64th.
thread_local uint32_t pushes_by_thread = 0;

// What a WaitForVar shares with the operation that ends it: the waiting thread may leave
// (interrupted, or a cycle found) before that operation runs.
struct VarWaiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  std::shared_ptr<const ErrorInfo> error;
  std::atomic<bool> ran{false};  // for CycleSearch, read without mu
};

}  // namespace

ThreadedEngine::ThreadedEngine()
    : devices_(stats_.get(), this), max_inflight_(MaxInflightFromEnv()) {}

std::string ThreadedEngine::CycleMessage(const OpBlock* self, const std::string& why) const {
  return "a wait inside operation '" + stats_->NameOf(self->name) +
         "' would never return: " + why;
}

ThreadedEngine::~ThreadedEngine() { Shutdown(); }

Var* ThreadedEngine::NewVar() { return new Var(); }

void ThreadedEngine::CheckAccepting() const {
  switch (state_.load(std::memory_order_acquire)) {
    case kRunning:
      return;
    case kShutDown:
      // What the operations being drained push (an operator written in Python assigning its
      // outputs) counts in their epoch bucket: it is part of what the drain waits for.
      if (running_work.engine == this) return;
      [[fallthrough]];
    case kStopped:
      throw EngineUnavailable("the engine has shut down: no more operations can be pushed");
    default:
      throw EngineUnavailable(
          "this process was forked from inside a running engine operation, so its engine "
          "cannot run anything; fork from outside operations (or use the 'spawn' start method)");
  }
}

OpBlock* ThreadedEngine::Prepare(Operation op, std::span<Var* const> reads,
                                 std::span<Var* const> writes, Placement where, OpName name,
                                 uint8_t flags) {
  CheckAccepting();
  Device* device = devices_.Get(where.device);  // throws for a device this build cannot drive
  OpBlock* block = OpPool::Get();
  block->op = std::move(op);
  block->where = where;
  block->device = device;
  block->slot = device->slot(where.lane);
  block->name = name;
  block->flags = flags;
  BuildDeps(block, reads, writes);
  return block;
}

void ThreadedEngine::Submit(OpBlock* op) {
  op->epoch_bucket = Begin();
  stats_->Count(op->slot, Stage::kPushed);
  const uint32_t n = op->num_deps;
  op->wait.store(static_cast<int32_t>(n) + 1, std::memory_order_relaxed);
  // Every var of the operation is locked before it is queued on any, so that concurrent
  // pushes sharing vars are ordered alike on all of them (no cycle, no deadlock).
  for (uint32_t i = 0; i < n; ++i) op->deps[i].var->lock_.lock();
  int32_t granted = 0;
  for (uint32_t i = 0; i < n; ++i) granted += op->deps[i].var->AppendLocked(&op->deps[i]);
  for (uint32_t i = n; i-- > 0;) op->deps[i].var->lock_.unlock();
  // The extra count held until here keeps the operation from being dispatched by a
  // completing writer while it is still being queued on its other vars.
  if (op->wait.fetch_sub(granted + 1, std::memory_order_acq_rel) == granted + 1) DispatchOne(op);
}

void ThreadedEngine::Push(Operation op, std::span<Var* const> reads,
                          std::span<Var* const> writes, Placement where, OpName name) {
  if (max_inflight_ > 0 && (++pushes_by_thread & 63) == 0) AwaitRoom(where.device);
  Submit(Prepare(std::move(op), reads, writes, where, name, 0));
}

void ThreadedEngine::AwaitRoom(DeviceId id) {
  // Inside engine work the operations in flight may be waiting for this very push.
  if (running_work.engine == this || CurrentWorker().device != nullptr ||
      callbacks_.IsCurrentThread())
    return;
  Device* device = devices_.Get(id);
  auto in_flight = [&] {
    uint64_t n = 0;
    for (int l = 0; l < kNumLanes; ++l) n += stats_->InFlight(device->slot(static_cast<Lane>(l)));
    return n;
  };
  if (in_flight() < static_cast<uint64_t>(max_inflight_)) return;
  // Resume once a quarter has drained, so that the pusher wakes once per batch.
  const uint64_t resume = static_cast<uint64_t>(max_inflight_ - max_inflight_ / 4);
  BlockingScope scope;
  using Clock = std::chrono::steady_clock;
  auto next_check = Clock::now() + std::chrono::milliseconds(kWaitSliceMs);
  while (in_flight() > resume) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    if (Clock::now() >= next_check) {
      scope.CheckInterrupted();
      next_check = Clock::now() + std::chrono::milliseconds(kWaitSliceMs);
    }
  }
}

void ThreadedEngine::DeleteVar(Var* var) {
  switch (state_.load(std::memory_order_acquire)) {
    case kRunning:
      break;
    case kStopped:
      delete var;  // everything has run and no thread of the engine is left
      return;
    default:
      return;  // shutting down, or a child forked mid-operation: leaking is what is safe
  }
  Var* writes[] = {var};
  // The deleting operation is the var's last writer; when it finishes and the var is idle,
  // Finish frees the var.
  Submit(Prepare(Operation::Sync([var](const RunContext&) { var->RequestDelete(); }), {},
                 writes, Placement{}, 0, OpBlock::kAlwaysRun | OpBlock::kInline));
}

void ThreadedEngine::WaitForVar(Var* var) {
  if (var->WritesDone()) {
    if (auto error = var->error()) throw OpError(std::move(error));
    return;
  }
  // Inside an operation, a wait for what can only run after it returns would never end.
  const OpBlock* self = running_work.engine == this ? running_work.op : nullptr;
  if (self != nullptr) {
    const std::string why = CycleSearch::OwnVar(self, var);
    if (!why.empty()) throw WaitCycle(CycleMessage(self, why));
  }
  auto waiter = std::make_shared<VarWaiter>();
  Var* reads[] = {var};
  OpBlock* wait_op = Prepare(Operation::Sync([waiter, var](const RunContext&) {
                               waiter->ran.store(true, std::memory_order_release);
                               std::lock_guard<std::mutex> lock(waiter->mu);
                               waiter->error = var->error_;
                               waiter->done = true;
                               waiter->cv.notify_one();
                             }),
                             reads, {}, Placement{}, 0, OpBlock::kAlwaysRun | OpBlock::kInline);
  const Dep* wait_dep = &wait_op->deps[0];
  Submit(wait_op);
  // One search that meets no contended lock is final: what the wait is blocked by was fixed
  // when it was queued, and a chain through `self` cannot drain while `self` runs.
  bool search = self != nullptr;
  auto search_once = [&] {
    if (!search) return;
    const std::optional<bool> blocked = CycleSearch::BlockedBy(self, var, wait_dep, waiter->ran);
    if (!blocked) return;
    search = false;
    if (*blocked)
      throw WaitCycle(CycleMessage(self,
                                   "the pending writes of the var it waits for wait, through "
                                   "operations queued behind it, for it to finish"));
  };
  search_once();
  BlockingScope scope;
  std::unique_lock<std::mutex> lock(waiter->mu);
  WaitInSlices(lock, waiter->cv, scope, [&] { return waiter->done; }, search_once, search);
  if (waiter->error) throw OpError(std::move(waiter->error));
}

void ThreadedEngine::OnComplete(Var* var, std::function<void(const ErrorInfo*)> callback) {
  CheckAccepting();
  // The callback is pending work too: WaitForAll returns only after it has run.
  const uint8_t bucket = Begin();
  auto post = [this, bucket](std::function<void(const ErrorInfo*)> cb,
                             std::shared_ptr<const ErrorInfo> error) {
    callbacks_.Post([this, bucket, cb = std::move(cb), error = std::move(error)] {
      {
        ScopedRunningWork running(this, bucket, nullptr);
        cb(error.get());
      }
      Retire(bucket, true);
    });
  };
  if (var->WritesDone()) {
    post(std::move(callback), var->error());
    return;
  }
  Var* reads[] = {var};
  Submit(Prepare(Operation::Sync([post, var, cb = std::move(callback)](const RunContext&) {
                   post(cb, var->error_);
                 }),
                 reads, {}, Placement{}, 0, OpBlock::kAlwaysRun | OpBlock::kInline));
}

uint8_t ThreadedEngine::Begin() {
  const uint8_t bucket = running_work.engine == this
                             ? running_work.bucket
                             : static_cast<uint8_t>(epoch_.load(std::memory_order_acquire) & 1);
  BumpOwned(work_.Local().begun[bucket]);
  return bucket;
}

void ThreadedEngine::Retire(uint8_t bucket, bool maybe_last) {
  auto& retired = work_.Local().retired[bucket];
  const uint64_t count = retired.load(std::memory_order_relaxed) + 1;
  if (!maybe_last) {
    retired.store(count, std::memory_order_release);
    return;
  }
  // Sequentially consistent, like the waiter's registration and its reads of the counters:
  // either the waiter sees this retirement, or this thread sees the waiter and wakes it.
  retired.store(count, std::memory_order_seq_cst);
  if (all_waiters_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(all_mu_);
    all_cv_.notify_all();
  }
}

bool ThreadedEngine::Drained(uint8_t bucket) const {
  // Retirements are summed before beginnings: both only grow and work retires after it
  // begins, so equal sums mean that everything begun in the bucket before the second sum
  // has retired.
  uint64_t retired = 0, begun = 0;
  work_.ForEach([&](const WorkCounts& c) {
    retired += c.retired[bucket].load(std::memory_order_seq_cst);
  });
  work_.ForEach([&](const WorkCounts& c) {
    begun += c.begun[bucket].load(std::memory_order_acquire);
  });
  return retired == begun;
}

void ThreadedEngine::WaitDrained(uint8_t bucket, const BlockingScope* scope) {
  if (Drained(bucket)) return;
  std::unique_lock<std::mutex> lock(all_mu_);
  all_waiters_.fetch_add(1, std::memory_order_seq_cst);
  struct Unregister {
    std::atomic<int>& waiters;
    ~Unregister() { waiters.fetch_sub(1, std::memory_order_seq_cst); }
  } unregister{all_waiters_};
  // Wake-ups come from a worker whose lane ran dry; the timeout bounds the wait for work
  // that finished while its lane was still busy with later operations.
  for (int slice = 1; !Drained(bucket); ++slice) {
    all_cv_.wait_for(lock, std::chrono::milliseconds(1));
    if (scope != nullptr && slice % kWaitSliceMs == 0) {
      lock.unlock();
      scope->CheckInterrupted();
      lock.lock();
    }
  }
}

void ThreadedEngine::WaitForAll() {
  if (running_work.engine == this)
    throw WaitCycle(running_work.op != nullptr
                        ? CycleMessage(running_work.op,
                                       "wait_all waits for every operation pushed before it, "
                                       "this one included")
                        : std::string("wait_all inside a completion callback would never "
                                      "return: it waits for every callback registered before "
                                      "it, this one included"));
  BlockingScope scope;
  DrainAll(&scope);
}

void ThreadedEngine::DrainAll(const BlockingScope* scope) {
  // Recursive: an interruption check may run a signal handler that waits too.
  std::lock_guard<std::recursive_mutex> serial(epoch_mu_);
  const uint8_t current = epoch_.load(std::memory_order_relaxed) & 1;
  // A push that read the previous epoch just before the last flip may have counted itself
  // in the other bucket after the last waiter looked: wait for those first. Nothing new
  // goes there until the flip below, so this ends.
  WaitDrained(current ^ 1, scope);
  // New work now counts in the other bucket; this bucket holds exactly what came before.
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  WaitDrained(current, scope);
}

bool ThreadedEngine::Execute(OpBlock* op, const RunContext& ctx) {
  stats_->Count(op->slot, Stage::kStarted);
  if (!(op->flags & OpBlock::kAlwaysRun)) {
    // A var this operation reads has no valid value: skip, and pass the error on. (Reading
    // error_ without the lock is safe: its writer finished before this op was released, and
    // no writer runs while this op holds the var.)
    for (uint32_t i = 0; i < op->num_deps; ++i) {
      const Dep& d = op->deps[i];
      if (d.reads_value && d.var->error_) {
        op->error = d.var->error_;
        op->outcome = Stage::kSkipped;
        return true;
      }
    }
  }
  op->start_ns = NowNs();
  if (op->op.is_async()) {
    // The Completion may finish and recycle `op` (from another thread, at once) while the
    // function is still running, so the function and its captures must not live in `op`.
    Operation running = std::move(op->op);
    ScopedRunningWork work(this, op->epoch_bucket, op);
    try {
      running.async_fn()(ctx, Completion(this, op, &ThreadedEngine::AsyncDone));
      return false;
    } catch (const std::exception& e) {
      op->error = MakeError(stats_->NameOf(op->name), e.what());
    } catch (...) {
      op->error = MakeError(stats_->NameOf(op->name), "unknown exception");
    }
  } else {
    ScopedRunningWork work(this, op->epoch_bucket, op);
    try {
      op->op.sync_fn()(ctx);
    } catch (const std::exception& e) {
      op->error = MakeError(stats_->NameOf(op->name), e.what());
    } catch (...) {
      op->error = MakeError(stats_->NameOf(op->name), "unknown exception");
    }
  }
  if (op->error) op->outcome = Stage::kFailed;
  if (!(op->flags & OpBlock::kInline)) Observe(op, NowNs(), false);
  return true;
}

void ThreadedEngine::Observe(const OpBlock* op, uint64_t end_ns, bool async) {
  stats_->RecordLatency(op->name, end_ns - op->start_ns);
  if (profiler_.running()) Trace(op, end_ns, async);
}

[[gnu::noinline]] void ThreadedEngine::Trace(const OpBlock* op, uint64_t end_ns, bool async) {
  // Before Finish: every var still holds the version the operation started with.
  const uint8_t flags = (op->outcome == Stage::kFailed ? Profiler::kFailed : 0) |
                        (async ? Profiler::kAsync : 0);
  profiler_.Record(op->name, op->slot, op->start_ns, end_ns, flags, op->num_deps,
                    [op](uint32_t i) {
                      const Dep& d = op->deps[i];
                      return TraceDep{d.var->id(), d.var->version(), d.write};
                    });
}

void ThreadedEngine::AsyncDone(void* self, OpBlock* op, std::string* error) {
  auto* engine = static_cast<ThreadedEngine*>(self);
  if (error != nullptr) {
    op->error = MakeError(engine->stats_->NameOf(op->name), std::move(*error));
    op->outcome = Stage::kFailed;
  }
  engine->Observe(op, NowNs(), true);
  Dep* ready = nullptr;
  engine->Finish(op, &ready);
  engine->Dispatch(ready, nullptr, Lane::kCompute);
}

void ThreadedEngine::Finish(OpBlock* op, Dep** ready) {
  Dep* released = nullptr;
  for (uint32_t i = 0; i < op->num_deps; ++i) {
    Dep& d = op->deps[i];
    const bool idle_and_deleted =
        d.write ? d.var->CompleteWrite(op->error, &released) : d.var->CompleteRead(&released);
    if (idle_and_deleted) delete d.var;
  }
  stats_->Count(op->slot, op->outcome);
  const bool maybe_last =
      op->flags & OpBlock::kInline || op->device->queue(op->where.lane).Size() == 0;
  const uint8_t bucket = op->epoch_bucket;
  OpPool::Put(op);
  while (released != nullptr) {
    Dep* d = released;
    released = d->next;
    if (d->op->Release()) {
      d->next = *ready;
      *ready = d;
    }
  }
  Retire(bucket, maybe_last);
}

void ThreadedEngine::DispatchOne(OpBlock* op) {
  if (op->flags & OpBlock::kInline) {
    // Every inline operation uses one var; its Dep serves as the one-element ready list.
    op->deps[0].next = nullptr;
    Dispatch(&op->deps[0], nullptr, Lane::kCompute);
    return;
  }
  stats_->Count(op->slot, Stage::kReady);
  op->device->Enqueue(op, op->where.lane, op->where.priority);
}

OpBlock* ThreadedEngine::Dispatch(Dep* ready, Device* device, Lane lane) {
  OpBlock* next = nullptr;
  while (ready != nullptr) {
    OpBlock* op = ready->op;
    ready = ready->next;
    if (op->flags & OpBlock::kInline) {
      // A wait, callback or delete: a few instructions, run here rather than queued behind
      // compute. What it releases joins this loop instead of recursing.
      stats_->Count(op->slot, Stage::kReady);
      Execute(op, op->device->ContextFor(op->where.lane));
      Dep* more = nullptr;
      Finish(op, &more);
      while (more != nullptr) {
        Dep* d = more;
        more = d->next;
        d->next = ready;
        ready = d;
      }
      continue;
    }
    // The worker that released an operation of its own lane runs it next itself (no queue
    // round trip), unless something better is already waiting there.
    if (next == nullptr && device != nullptr && op->device == device &&
        op->where.lane == lane && op->where.priority >= device->queue(lane).TopPriority()) {
      next = op;
      continue;
    }
    DispatchOne(op);
  }
  if (next != nullptr) {
    // An operation released in the same batch, after `next` was picked, may outrank it.
    if (next->where.priority < device->queue(lane).TopPriority()) {
      DispatchOne(next);
      return nullptr;
    }
    stats_->Count(next->slot, Stage::kReady);
  }
  return next;
}

void ThreadedEngine::RunFromWorker(OpBlock* op, Device* device, Lane lane) {
  const RunContext ctx = device->ContextFor(lane);
  while (op != nullptr) {
    if (!Execute(op, ctx)) return;  // asynchronous: its Completion finishes it
    Dep* ready = nullptr;
    Finish(op, &ready);
    op = Dispatch(ready, device, lane);
    if (op != nullptr && device->Oversubscribed(lane)) {
      // A worker that lent its place came back: leave the next operation to the lane.
      device->Enqueue(op, lane, op->where.priority);
      return;
    }
  }
}

int ThreadedEngine::NumWorkers(DeviceId device, Lane lane) {
  return devices_.Get(device)->num_workers(lane);
}

void ThreadedEngine::Shutdown() {
  int before = kRunning;
  // In a child forked from inside an operation none of the engine's threads exist.
  if (!state_.compare_exchange_strong(before, kShutDown)) return;
  // Not interruptible: the workers must be idle before the embedding goes away.
  DrainAll(nullptr);
  devices_.StopAll();
  callbacks_.Stop();
  state_.store(kStopped, std::memory_order_release);
}

void ThreadedEngine::PrepareFork() {
  fork_from_worker_ = CurrentWorker().device != nullptr || callbacks_.IsCurrentThread();
  if (fork_from_worker_ || state_.load() != kRunning) return;
  DrainAll(nullptr);  // inside fork(): no hook may run (Python holds its locks for the fork)
  devices_.StopAll();
  callbacks_.Stop();
}

void ThreadedEngine::AfterForkParent() {
  // Work another thread pushed while the fork was being prepared is still queued.
  if (!fork_from_worker_) devices_.ResumeIfQueued();
  fork_from_worker_ = false;
}

void ThreadedEngine::AfterForkChild() {
  if (fork_from_worker_) state_.store(kUnusable);
}

}  // namespace flowmod::engine
