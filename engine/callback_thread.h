// The thread that runs OnComplete callbacks, one at a time and never on a device's worker,
// so that a callback waiting for a lock (Python's GIL) cannot stall compute.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <atomic>
#include <mutex>
#include <thread>

namespace flowmod::engine {

class CallbackThread {
 public:
  ~CallbackThread() { Stop(); }

  // Queues `fn`; the thread is started on first use (and again after Stop).
  void Post(std::function<void()> fn);

  // Runs what is queued, then joins the thread.
  void Stop();

  bool IsCurrentThread() const { return std::this_thread::get_id() == thread_id_.load(); }

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
};

}  // namespace flowmod::engine
