#include "blocking.h"

#include "device_pool.h"

namespace flowmod::engine {

namespace {
// Set once, before the engine runs anything; read on every blocking call.
WaitHooks hooks_storage;
}  // namespace

void SetWaitHooks(const WaitHooks& hooks) { hooks_storage = hooks; }

const WaitHooks& CurrentWaitHooks() { return hooks_storage; }

BlockingScope::BlockingScope() : hooks_(CurrentWaitHooks()) {
  const WorkerIdentity& worker = CurrentWorker();
  if (worker.device != nullptr) {
    lent_ = worker.device;
    lane_ = worker.lane;
    lent_->BeginBlocked(lane_);
  }
  if (hooks_.before_block != nullptr) state_ = hooks_.before_block();
}

BlockingScope::~BlockingScope() {
  if (hooks_.after_block != nullptr) hooks_.after_block(state_);
  if (lent_ != nullptr) lent_->EndBlocked(lane_);
}

void BlockingScope::CheckInterrupted() const {
  if (hooks_.interrupted != nullptr && hooks_.interrupted())
    throw WaitInterrupted("the wait was interrupted; the work it waited for is still queued");
}

}  // namespace flowmod::engine
