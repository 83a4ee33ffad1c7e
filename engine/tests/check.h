// A minimal test harness: TEST(name) registers a test, CHECK* record failures (from any
// thread, without stopping the test), and the main defined here runs every registered test
// in order, one line each, then "N passed, M failed". Exits non-zero when anything failed.
//
// Usage: ./test_x [substring]   runs only the tests whose name contains the substring.
// The header defines main unless CHECK_NO_MAIN is defined.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace check {

struct TestCase {
  const char* name;
  void (*fn)();
};

inline std::vector<TestCase>& Registry() {
  static std::vector<TestCase> tests;
  return tests;
}

// Failures of the running test. Atomic: operations check from worker threads.
inline std::atomic<int>& Failures() {
  static std::atomic<int> failures{0};
  return failures;
}

inline std::mutex& OutputMutex() {
  static std::mutex mu;
  return mu;
}

struct Registrar {
  Registrar(const char* name, void (*fn)()) { Registry().push_back({name, fn}); }
};

inline void Fail(const char* file, int line, const std::string& what) {
  Failures().fetch_add(1);
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what.c_str());
  std::fflush(stderr);
}

// Printing values in failure messages: streams what can be streamed.
template <typename T, typename = void>
struct Streamable : std::false_type {};
template <typename T>
struct Streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

template <typename T>
std::string Show(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_enum_v<T>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (Streamable<T>::value) {
    std::ostringstream os;
    os << v;
    return os.str();
  } else {
    return "<unprintable>";
  }
}

template <typename A, typename B>
bool CheckEq(const A& a, const B& b, const char* as, const char* bs, const char* file, int line) {
  if (a == b) return true;
  Fail(file, line, std::string(as) + " == " + bs + "  (" + Show(a) + " vs " + Show(b) + ")");
  return false;
}

template <typename A, typename B>
bool CheckNe(const A& a, const B& b, const char* as, const char* bs, const char* file, int line) {
  if (!(a == b)) return true;
  Fail(file, line, std::string(as) + " != " + bs + "  (both " + Show(a) + ")");
  return false;
}

template <typename A, typename B>
bool CheckLt(const A& a, const B& b, const char* as, const char* bs, const char* file, int line) {
  if (a < b) return true;
  Fail(file, line, std::string(as) + " < " + bs + "  (" + Show(a) + " vs " + Show(b) + ")");
  return false;
}

template <typename A, typename B>
bool CheckLe(const A& a, const B& b, const char* as, const char* bs, const char* file, int line) {
  if (a <= b) return true;
  Fail(file, line, std::string(as) + " <= " + bs + "  (" + Show(a) + " vs " + Show(b) + ")");
  return false;
}

// Tells the reader why a check did not run in this build (for example under a sanitizer
// that cannot support it), so a skipped check is never mistaken for a passing one.
inline void Skip(const char* file, int line, const std::string& reason) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fprintf(stderr, "%s:%d: check skipped: %s\n", file, line, reason.c_str());
  std::fflush(stderr);
}

inline int RunAll(int argc, char** argv) {
  const std::string_view filter = argc > 1 ? argv[1] : "";
  int passed = 0, failed = 0;
  for (const TestCase& t : Registry()) {
    if (!filter.empty() && std::string_view(t.name).find(filter) == std::string_view::npos)
      continue;
    Failures().store(0);
    const auto start = std::chrono::steady_clock::now();
    try {
      t.fn();
    } catch (const std::exception& e) {
      Fail(t.name, 0, std::string("unexpected exception: ") + e.what());
    } catch (...) {
      Fail(t.name, 0, "unexpected non-standard exception");
    }
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start).count();
    const bool ok = Failures().load() == 0;
    (ok ? passed : failed)++;
    std::lock_guard<std::mutex> lock(OutputMutex());
    std::printf("[%s] %s (%.0f ms)\n", ok ? "PASS" : "FAIL", t.name, ms);
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed == 0 && passed > 0 ? 0 : 1;
}

// Blocks until Open(); a wait gives up (returning false) after a long bound so that a broken
// engine fails a test instead of hanging it. The bound is never what a test asserts on.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds bound = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return open_; });
  }
  bool IsOpen() {
    std::lock_guard<std::mutex> lock(mu_);
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts arrivals; Wait returns once `expected` have arrived (false if the bound ran out).
class Latch {
 public:
  explicit Latch(int expected) : remaining_(expected) {}
  void Arrive() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--remaining_ <= 0) cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds bound = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return remaining_ <= 0; });
  }
  // Arrive, then wait for everyone else: a rendezvous.
  bool ArriveAndWait(std::chrono::milliseconds bound = std::chrono::seconds(60)) {
    Arrive();
    return Wait(bound);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int remaining_;
};

}  // namespace check

#define CHECK_CONCAT_INNER(a, b) a##b
#define CHECK_CONCAT(a, b) CHECK_CONCAT_INNER(a, b)

#define TEST(name)                                                               \
  static void name();                                                            \
  static ::check::Registrar CHECK_CONCAT(check_registrar_, name)(#name, &name);  \
  static void name()

#define CHECK(cond) \
  ((cond) ? true : (::check::Fail(__FILE__, __LINE__, #cond), false))
#define CHECK_EQ(a, b) ::check::CheckEq((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_NE(a, b) ::check::CheckNe((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_LT(a, b) ::check::CheckLt((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_LE(a, b) ::check::CheckLe((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_MSG(cond, msg) \
  ((cond) ? true : (::check::Fail(__FILE__, __LINE__, std::string(#cond) + ": " + (msg)), false))
#define SKIP_CHECK(reason) ::check::Skip(__FILE__, __LINE__, (reason))

// Evaluates `stmt`, which must throw `type`; binds the exception to `var` for `then`.
#define CHECK_THROWS(type, stmt)                                                        \
  do {                                                                                  \
    bool check_thrown_ = false;                                                         \
    try {                                                                               \
      stmt;                                                                             \
    } catch (const type&) {                                                             \
      check_thrown_ = true;                                                             \
    } catch (const std::exception& check_e_) {                                          \
      ::check::Fail(__FILE__, __LINE__,                                                 \
                    std::string(#stmt " threw another exception: ") + check_e_.what()); \
      check_thrown_ = true;                                                             \
    }                                                                                   \
    if (!check_thrown_) ::check::Fail(__FILE__, __LINE__, #stmt " did not throw " #type); \
  } while (0)

#define CHECK_NOTHROW(stmt)                                                                  \
  do {                                                                                       \
    try {                                                                                    \
      stmt;                                                                                  \
    } catch (const std::exception& check_e_) {                                               \
      ::check::Fail(__FILE__, __LINE__, std::string(#stmt " threw: ") + check_e_.what());    \
    } catch (...) {                                                                          \
      ::check::Fail(__FILE__, __LINE__, #stmt " threw a non-standard exception");            \
    }                                                                                        \
  } while (0)

// The runner. A test executable made of several files defines CHECK_NO_MAIN in all but one.
#ifndef CHECK_NO_MAIN
int main(int argc, char** argv) { return ::check::RunAll(argc, argv); }
#endif
