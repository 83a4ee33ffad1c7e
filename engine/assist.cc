#include "assist.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <vector>

#include "ready_queue.h"
#include "spin_lock.h"  // FLOWMOD_CPU_RELAX

namespace flowmod::engine::assist {

namespace {

// One split operation. It lives on its caller's stack: the caller returns only once no
// worker holds it (users == 0, under mu).
struct Call {
  Call(const std::function<void(int)>& fn, int n) : part(fn), parts(n) {}
  const std::function<void(int)>& part;
  const int parts;
  std::atomic<int> next{1};      // the next part to claim; part 0 is the caller's
  std::atomic<int> finished{0};  // parts done
  int users = 0;                 // workers holding this call; guarded by mu
  std::exception_ptr error;      // the first part's exception; guarded by mu
  std::condition_variable done;  // notified under mu when the last user leaves
};

// Never destroyed, as the engine is not: workers may still run while static destructors do.
struct State {
  std::mutex mu;
  std::vector<Call*> calls;         // guarded by mu: calls with parts left to claim
  std::vector<ReadyQueue*> queues;  // guarded by mu: queues whose workers take parts
};
State& S() {
  static State* state = new State;
  return *state;
}
std::atomic<int> pending{0};  // calls.size(), read without mu
thread_local bool in_part = false;

void RemoveLocked(Call* c) {
  std::vector<Call*>& calls = S().calls;
  auto it = std::find(calls.begin(), calls.end(), c);
  if (it == calls.end()) return;
  calls.erase(it);
  pending.store(static_cast<int>(calls.size()), std::memory_order_seq_cst);
}

// Claims and runs parts of `c` until none is left; returns the first exception, if any.
std::exception_ptr RunClaimed(Call* c) {
  std::exception_ptr error;
  const bool outer = in_part;
  in_part = true;
  for (int i; (i = c->next.fetch_add(1, std::memory_order_relaxed)) < c->parts;) {
    try {
      c->part(i);
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    c->finished.fetch_add(1, std::memory_order_release);
  }
  in_part = outer;
  return error;
}

}  // namespace

bool Pending() { return pending.load(std::memory_order_seq_cst) > 0; }

void Listen(ReadyQueue* queue) {
  std::lock_guard<std::mutex> lock(S().mu);
  S().queues.push_back(queue);
}

void Unlisten(ReadyQueue* queue) {
  std::lock_guard<std::mutex> lock(S().mu);
  std::vector<ReadyQueue*>& queues = S().queues;
  queues.erase(std::remove(queues.begin(), queues.end(), queue), queues.end());
}

bool RunPending() {
  Call* c;
  {
    std::lock_guard<std::mutex> lock(S().mu);
    if (S().calls.empty()) return false;
    c = S().calls.front();
    ++c->users;
  }
  std::exception_ptr error = RunClaimed(c);
  std::lock_guard<std::mutex> lock(S().mu);
  RemoveLocked(c);  // every part is claimed now
  if (error && !c->error) c->error = std::move(error);
  // Dropped under the lock: once users is 0 the caller may rethrow and free the exception, and
  // this thread must have let go of it by then.
  error = nullptr;
  if (--c->users == 0) c->done.notify_all();
  return true;
}

void Run(int parts, const std::function<void(int)>& part) {
  if (parts <= 0) return;
  if (parts == 1 && !in_part) {
    part(0);  // free to split whatever it runs
    return;
  }
  Call c(part, parts);
  if (in_part) {
    c.next.store(0, std::memory_order_relaxed);  // every part on this thread, part 0 included
    if (std::exception_ptr e = RunClaimed(&c)) std::rethrow_exception(e);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(S().mu);
    S().calls.push_back(&c);
    pending.store(static_cast<int>(S().calls.size()), std::memory_order_seq_cst);
    // Wake as many waiting workers as there are parts to offer (the spinning ones need none).
    int wanted = parts - 1;
    for (ReadyQueue* q : S().queues) {
      if (wanted <= 0) break;
      wanted -= q->WakeForAssist(wanted);
    }
  }
  in_part = true;
  std::exception_ptr error;
  try {
    part(0);
  } catch (...) {
    error = std::current_exception();
  }
  in_part = false;
  c.finished.fetch_add(1, std::memory_order_release);
  if (std::exception_ptr e = RunClaimed(&c); e && !error) error = e;
  // Every part is claimed; those on workers are short (a block of one product), so poll
  // for them briefly before sleeping, as a futex wake-up costs about as much as a part.
  using Clock = std::chrono::steady_clock;
  const auto spin_until = Clock::now() + std::chrono::microseconds(100);
  while (c.finished.load(std::memory_order_acquire) < parts && Clock::now() < spin_until)
    FLOWMOD_CPU_RELAX();
  {
    std::unique_lock<std::mutex> lock(S().mu);
    RemoveLocked(&c);
    c.done.wait(lock, [&] { return c.users == 0; });
    if (!error) error = c.error;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace flowmod::engine::assist
