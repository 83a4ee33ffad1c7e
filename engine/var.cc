#include "var.h"

#include <atomic>
#include <mutex>

namespace flowmod::engine {

namespace {
uint64_t NextVarId() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

Var::Var() : id_(NextVarId()) {}

uint64_t Var::version() const {
  std::lock_guard<SpinLock> lock(lock_);
  return version_;
}

std::shared_ptr<const ErrorInfo> Var::error() const {
  std::lock_guard<SpinLock> lock(lock_);
  return error_;
}

bool Var::WritesDone() const {
  std::lock_guard<SpinLock> lock(lock_);
  return !write_active_ && head_ == nullptr;
}

bool Var::AppendLocked(Dep* dep) {
  const bool now = dep->write ? (!write_active_ && active_reads_ == 0 && head_ == nullptr)
                              : (!write_active_ && head_ == nullptr);
  if (now) {
    if (dep->write) {
      write_active_ = true;
      writer_ = dep;
    } else {
      ++active_reads_;
    }
    return true;
  }
  dep->next = nullptr;
  if (tail_) tail_->next = dep;
  else head_ = dep;
  tail_ = dep;
  return false;
}

bool Var::CompleteRead(Dep** released) {
  std::lock_guard<SpinLock> lock(lock_);
  --active_reads_;
  if (active_reads_ == 0 && head_ != nullptr) {
    // The head is a write: it was waiting for the reads of the current version.
    Dep* w = head_;
    head_ = w->next;
    if (head_ == nullptr) tail_ = nullptr;
    write_active_ = true;
    writer_ = w;
    w->next = *released;
    *released = w;
    return false;
  }
  return delete_requested_ && IdleLocked();
}

bool Var::CompleteWrite(std::shared_ptr<const ErrorInfo> error, Dep** released) {
  std::lock_guard<SpinLock> lock(lock_);
  write_active_ = false;
  writer_ = nullptr;
  ++version_;
  error_ = std::move(error);
  // Release every read up to the next write; release that write only if no read was.
  while (head_ != nullptr && !head_->write) {
    Dep* r = head_;
    head_ = r->next;
    ++active_reads_;
    r->next = *released;
    *released = r;
  }
  if (head_ != nullptr && active_reads_ == 0) {
    Dep* w = head_;
    head_ = w->next;
    write_active_ = true;
    writer_ = w;
    w->next = *released;
    *released = w;
  }
  if (head_ == nullptr) tail_ = nullptr;
  return delete_requested_ && IdleLocked();
}

bool Var::RequestDelete() {
  std::lock_guard<SpinLock> lock(lock_);
  delete_requested_ = true;
  return IdleLocked();
}

}  // namespace flowmod::engine
