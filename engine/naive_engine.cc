#include "naive_engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>

#include "device_pool.h"
#include "op_block.h"
#include "var.h"

namespace flowmod::engine {

namespace {
uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// What an asynchronous operation's Completion reports back to the pushing thread.
struct AsyncWait {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::string error;
  bool failed = false;
};
}  // namespace

NaiveEngine::NaiveEngine() = default;

Var* NaiveEngine::NewVar() { return new Var(); }

int NaiveEngine::SlotFor(DeviceId device, Lane lane) {
  CheckDrivable(device);
  const int slot = stats_->SlotFor(device, lane);
  if (slot < 0) throw std::invalid_argument("too many devices");
  return slot;
}

void NaiveEngine::AsyncDone(void* self, OpBlock* op, std::string* error) {
  auto* wait = static_cast<AsyncWait*>(self);
  (void)op;
  std::lock_guard<std::mutex> lock(wait->mu);
  if (error) {
    wait->failed = true;
    wait->error = std::move(*error);
  }
  wait->done = true;
  wait->cv.notify_one();
}

void NaiveEngine::Push(Operation op, std::span<Var* const> reads, std::span<Var* const> writes,
                       Placement where, OpName name) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (shut_down_) throw EngineUnavailable("the engine has shut down: no more operations can be pushed");
  const int slot = SlotFor(where.device, where.lane);
  stats_->Count(slot, Stage::kPushed);
  stats_->Count(slot, Stage::kReady);
  stats_->Count(slot, Stage::kStarted);

  std::shared_ptr<const ErrorInfo> error;
  Stage outcome = Stage::kCompleted;
  for (Var* v : reads)
    if (v->error_) {
      error = v->error_;
      outcome = Stage::kSkipped;
      break;
    }
  if (!error) {
    const RunContext ctx{where.device, where.lane, nullptr};
    const uint64_t start = NowNs();
    std::string message;
    bool failed = false;
    try {
      if (op.is_async()) {
        AsyncWait wait;
        op.async_fn()(ctx, Completion(&wait, nullptr, &NaiveEngine::AsyncDone));
        std::unique_lock<std::mutex> wl(wait.mu);
        wait.cv.wait(wl, [&] { return wait.done; });
        failed = wait.failed;
        message = std::move(wait.error);
      } else {
        op.sync_fn()(ctx);
      }
    } catch (const std::exception& e) {
      failed = true;
      message = e.what();
    } catch (...) {
      failed = true;
      message = "unknown exception";
    }
    const uint64_t end = NowNs();
    stats_->RecordLatency(name, end - start);
    if (profiler_.running()) Trace(name, slot, start, end, failed, reads, writes);
    if (failed) {
      error = std::make_shared<const ErrorInfo>(ErrorInfo{stats_->NameOf(name), message});
      outcome = Stage::kFailed;
    }
  }
  for (size_t i = 0; i < writes.size(); ++i) {
    Var* v = writes[i];
    if (std::find(writes.begin(), writes.begin() + i, v) != writes.begin() + i) continue;
    std::lock_guard<SpinLock> vl(v->lock_);
    ++v->version_;
    v->error_ = error;
  }
  stats_->Count(slot, outcome);
  FreeDeferred();
}

void NaiveEngine::Trace(OpName name, int slot, uint64_t start, uint64_t end, bool failed,
                        std::span<Var* const> reads, std::span<Var* const> writes) {
  // One entry per distinct var, a var both read and written counting as a write; versions
  // as of the start (the writes have not been counted yet).
  std::vector<TraceDep> deps;
  auto add = [&](Var* v, bool write) {
    for (const TraceDep& d : deps)
      if (d.var == v->id()) return;
    deps.push_back(TraceDep{v->id(), v->version(), write});
  };
  for (Var* v : writes) add(v, true);
  for (Var* v : reads) add(v, false);
  profiler_.Record(name, slot, start, end, failed ? Profiler::kFailed : 0,
                    static_cast<uint32_t>(deps.size()), [&](uint32_t i) { return deps[i]; });
}

void NaiveEngine::DeleteVar(Var* var) {
  std::unique_lock<std::recursive_mutex> lock(mu_, std::try_to_lock);
  if (lock.owns_lock()) {
    delete var;  // every operation pushed before this call has run
    return;
  }
  std::lock_guard<std::mutex> deferred(deferred_mu_);
  deferred_.push_back(var);
}

void NaiveEngine::FreeDeferred() {
  std::vector<Var*> vars;
  {
    std::lock_guard<std::mutex> deferred(deferred_mu_);
    vars.swap(deferred_);
  }
  for (Var* v : vars) delete v;
}

void NaiveEngine::WaitForVar(Var* var) {
  if (auto error = var->error()) throw OpError(std::move(error));
}

void NaiveEngine::OnComplete(Var* var, std::function<void(const ErrorInfo*)> callback) {
  auto error = var->error();
  callback(error.get());
}

void NaiveEngine::Shutdown() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  shut_down_ = true;
}

}  // namespace flowmod::engine
