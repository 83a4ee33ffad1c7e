// Operations: the C++ callables the engine runs, and what it records when one fails.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "device.h"

namespace flowmod::engine {

// Why a var holds no valid value: the operation that failed and what it said.
struct ErrorInfo {
  std::string op_name;
  std::string message;
  std::string What() const;  // "operator 'name' failed: message"
};

class OpBlock;

// Handed to an asynchronous operation; calling it (from any thread, exactly once) marks the
// operation finished. Fail(message) marks it failed instead.
class Completion {
 public:
  Completion() = default;
  void operator()() const { Finish(nullptr); }
  void Fail(std::string message) const;

 private:
  friend class ThreadedEngine;
  friend class NaiveEngine;
  using FinishFn = void (*)(void* owner, OpBlock* op, std::string* error);
  Completion(void* owner, OpBlock* op, FinishFn fn) : owner_(owner), op_(op), finish_(fn) {}
  void Finish(std::string* error) const;

  void* owner_ = nullptr;
  OpBlock* op_ = nullptr;
  FinishFn finish_ = nullptr;
};

// A synchronous operation is finished when its function returns; one that throws has failed
// with the exception's message. An asynchronous operation is finished when it calls the
// Completion it was given, which it may do later from any thread (as a CUDA event callback
// or an I/O completion would).
class Operation {
 public:
  using SyncFn = std::function<void(const RunContext&)>;
  using AsyncFn = std::function<void(const RunContext&, Completion)>;

  Operation() = default;
  static Operation Sync(SyncFn fn) {
    Operation op;
    op.sync_ = std::move(fn);
    return op;
  }
  static Operation Async(AsyncFn fn) {
    Operation op;
    op.async_ = std::move(fn);
    return op;
  }

  bool is_async() const { return static_cast<bool>(async_); }
  const SyncFn& sync_fn() const { return sync_; }
  const AsyncFn& async_fn() const { return async_; }
  explicit operator bool() const { return sync_ || async_; }

 private:
  SyncFn sync_;
  AsyncFn async_;
};

}  // namespace flowmod::engine
