#include "op_pool.h"

namespace flowmod::engine {

namespace {

constexpr size_t kBatch = 128;

struct SharedBatches {
  std::mutex mu;
  std::vector<std::vector<OpBlock*>> batches;
};

// Never destroyed: worker threads may return blocks while static destructors run at exit.
SharedBatches& Shared() {
  static auto* shared = new SharedBatches();
  return *shared;
}

struct LocalCache {
  std::vector<OpBlock*> free;
  ~LocalCache() {
    // A thread that ends hands its blocks on rather than leaking them.
    if (free.empty()) return;
    auto& shared = Shared();
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.batches.push_back(std::move(free));
  }
};

thread_local LocalCache local;

}  // namespace

OpBlock* OpPool::Get() {
  if (local.free.empty()) {
    auto& shared = Shared();
    std::unique_lock<std::mutex> lock(shared.mu);
    if (shared.batches.empty()) {
      lock.unlock();
      return new OpBlock();
    }
    local.free = std::move(shared.batches.back());
    shared.batches.pop_back();
  }
  OpBlock* op = local.free.back();
  local.free.pop_back();
  return op;
}

void OpPool::Put(OpBlock* op) {
  op->op = Operation();
  op->error.reset();
  if (op->heap_deps) {
    op->heap_deps.reset();
    op->deps = op->inline_deps;
  }
  op->flags = 0;
  op->outcome = Stage::kCompleted;
  local.free.push_back(op);
  if (local.free.size() >= 2 * kBatch) {
    std::vector<OpBlock*> batch(local.free.end() - kBatch, local.free.end());
    local.free.resize(local.free.size() - kBatch);
    auto& shared = Shared();
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.batches.push_back(std::move(batch));
  }
}

}  // namespace flowmod::engine
