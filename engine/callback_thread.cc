#include "callback_thread.h"

namespace flowmod::engine {

void CallbackThread::Post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(fn));
  if (!thread_.joinable()) {
    stopping_ = false;
    thread_ = std::thread([this] { Loop(); });
    thread_id_ = thread_.get_id();
  }
  cv_.notify_one();
}

void CallbackThread::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    t = std::move(thread_);
  }
  cv_.notify_one();
  t.join();
}

void CallbackThread::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued has run
    auto fn = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    fn();
    fn = nullptr;  // destroy captured state outside the lock too
    lock.lock();
  }
}

}  // namespace flowmod::engine
