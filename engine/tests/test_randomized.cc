// Randomized dependency graphs checked against sequential execution.
//
// A run has K vars, each holding an integer, and N operations with random read and write
// sets (overlapping, with duplicates). An operation computes a fixed function of the values
// it reads (in its declared order) and stores a result in each var it writes; some fail,
// some are asynchronous (finished inline or later from another thread), and all take a
// random short time. The operations are pushed from several threads in one of two ways that
// still define a sequential order:
//   - disjoint: each thread owns a subset of the vars and pushes only operations on them, so
//     each var's operations have the push order of their one thread;
//   - serialized: threads take turns through a global counter under a lock, so the whole run
//     has one push order.
// The engine's final values and errors must equal those of running the same operations one
// by one in that order, the operations it skipped must be those whose inputs had failed, and
// every pair of conflicting operations must have run in push order (a happens-before log).
// The values are plain memory: under ThreadSanitizer, the engine's ordering is also what
// keeps every access race-free.
//
// FLOWMOD_TEST_SEEDS (default 24) sets the runs per engine and mode; FLOWMOD_TEST_SEED_BASE
// shifts the seeds, to reproduce a reported failure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "test_util.h"

using namespace flowmod::engine;
using namespace testutil;

namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

enum class Kind { kSync, kAsyncInline, kAsyncDeferred, kAsyncThrows };

struct OpSpec {
  int id = 0;
  int owner = 0;  // the pushing thread, in disjoint mode
  std::vector<int> reads, writes;
  int sleep_us = 0;
  Kind kind = Kind::kSync;
  bool fails = false;
  Placement where;
};

// What one operation does to the values: the same code runs inside the engine and in the
// sequential reference.
void Compute(const OpSpec& op, std::vector<uint64_t>& values) {
  uint64_t h = Mix(static_cast<uint64_t>(op.id) * 0x100000001b3ull);
  for (int r : op.reads) h = Mix(h ^ values[r]);
  for (int w : op.writes) values[w] = Mix(h + static_cast<uint64_t>(w));
}

std::string FailureMessage(int id) { return "op " + std::to_string(id) + " failed"; }

// Sequential semantics. A var's error is kept as the set of operations it may name: an
// operation with several failed inputs passes on the error of one of them.
struct Reference {
  std::vector<uint64_t> values;
  std::vector<std::set<int>> errors;
  explicit Reference(int k) : values(k), errors(k) {
    for (int i = 0; i < k; ++i) values[i] = Mix(1000 + i);
  }
  // Returns whether `op` runs (rather than being skipped).
  bool Apply(const OpSpec& op) {
    std::set<int> inherited;
    for (int r : op.reads) inherited.insert(errors[r].begin(), errors[r].end());
    if (!inherited.empty()) {
      for (int w : op.writes) errors[w] = inherited;
      return false;
    }
    if (op.fails) {
      for (int w : op.writes) errors[w] = {op.id};
      return true;
    }
    Compute(op, values);
    for (int w : op.writes) errors[w].clear();
    return true;
  }
};

// Finishes deferred asynchronous operations, in order, after their duration.
class Completer {
 public:
  Completer() : thread_([this] { Loop(); }) {}
  ~Completer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  // Notifies under the lock: the operation calling this counts as finished as soon as the
  // posted function runs, so the Completer may be destroyed right after the lock is released.
  void Post(int sleep_us, std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.emplace_back(sleep_us, std::move(fn));
    cv_.notify_one();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto [us, fn] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
      fn();
      fn = nullptr;
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int, std::function<void()>>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

struct Record {
  bool ran = false;  // written by the operation, read after WaitForAll
  uint64_t start = 0, end = 0;
};

struct Run {
  uint64_t seed;
  bool disjoint;
  int threads;
  int k;
  std::vector<OpSpec> ops;  // in push order for each thread (disjoint) or overall (serialized)
};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

Run Generate(uint64_t seed, bool disjoint) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](int lo, int hi) { return static_cast<int>(lo + rng() % (hi - lo + 1)); };
  Run run;
  run.seed = seed;
  run.disjoint = disjoint;
  run.threads = uniform(2, 4);
  run.k = uniform(run.threads * 2, 16);
  const int n = uniform(150, 300);
  for (int i = 0; i < n; ++i) {
    OpSpec op;
    op.id = i;
    op.owner = uniform(0, run.threads - 1);
    // In disjoint mode the vars of thread t are those with index % threads == t.
    auto pick = [&] {
      if (!disjoint) return uniform(0, run.k - 1);
      const int per = (run.k - op.owner + run.threads - 1) / run.threads;
      return op.owner + run.threads * uniform(0, per - 1);
    };
    const int nreads = uniform(0, 4), nwrites = uniform(0, 3);
    for (int j = 0; j < nreads; ++j) op.reads.push_back(pick());
    for (int j = 0; j < nwrites; ++j) op.writes.push_back(pick());
    // Overlaps and duplicates, more often than chance alone would give them.
    if (!op.reads.empty() && rng() % 4 == 0) op.writes.push_back(op.reads[rng() % op.reads.size()]);
    if (!op.writes.empty() && rng() % 6 == 0) op.writes.push_back(op.writes.front());
    if (!op.reads.empty() && rng() % 6 == 0) op.reads.push_back(op.reads.back());
    op.sleep_us = rng() % 5 < 3 ? 0 : uniform(1, 150);
    const int kind = uniform(0, 19);
    op.kind = kind < 13 ? Kind::kSync : kind < 16 ? Kind::kAsyncInline : Kind::kAsyncDeferred;
    op.fails = rng() % 25 == 0;
    if (op.fails && rng() % 3 == 0) op.kind = Kind::kAsyncThrows;
    op.where = Placement{DeviceId::Cpu(uniform(0, 1)), rng() % 3 == 0 ? Lane::kCopy : Lane::kCompute,
                         uniform(-2, 2)};
    run.ops.push_back(std::move(op));
  }
  return run;
}

class Runner {
 public:
  Runner(const Run& run, const char* engine_type)
      : run_(run),
        engine_(engine_type, 3, 2, 2),
        vars_(engine_.NewVars(run.k)),
        values_(Reference(run.k).values),
        records_(run.ops.size()) {
    context_ = std::string(engine_type) + (run.disjoint ? " disjoint" : " serialized") +
               " seed " + std::to_string(run.seed);
  }

  void Execute() {
    std::vector<std::thread> pushers;
    if (run_.disjoint) {
      for (int t = 0; t < run_.threads; ++t) pushers.emplace_back([this, t] { PushOwned(t); });
    } else {
      for (int t = 0; t < run_.threads; ++t) pushers.emplace_back([this, t] { PushInTurn(t); });
    }
    for (auto& p : pushers) p.join();
    engine_->WaitForAll();
    Verify();
  }

 private:
  // Disjoint mode: this thread's operations, in order, checked now and then against its own
  // sequential reference (which no other thread's operations affect).
  void PushOwned(int t) {
    Reference ref(run_.k);
    std::mt19937 rng(static_cast<uint32_t>(run_.seed * 31 + t));
    std::vector<int> mine;
    for (int v = t; v < run_.k; v += run_.threads) mine.push_back(v);
    for (const OpSpec& op : run_.ops) {
      if (op.owner != t) continue;
      ref.Apply(op);
      Push(op);
      if (rng() % 20 == 0) CheckNow(mine[rng() % mine.size()], ref);
    }
  }

  // Serialized mode: whoever holds the lock pushes the next operation.
  void PushInTurn(int t) {
    std::mt19937 rng(static_cast<uint32_t>(run_.seed * 37 + t));
    for (;;) {
      std::lock_guard<std::mutex> lock(turn_mu_);
      if (next_ == run_.ops.size()) return;
      const OpSpec& op = run_.ops[next_++];
      if (!shared_ref_) shared_ref_ = std::make_unique<Reference>(run_.k);
      shared_ref_->Apply(op);
      Push(op);
      if (rng() % 25 == 0) CheckNow(static_cast<int>(rng() % run_.k), *shared_ref_);
    }
  }

  // After WaitForVar, every write pushed so far is done and no later one has been pushed:
  // reading the value here races with nothing.
  void CheckNow(int var, const Reference& ref) {
    auto error = CatchOpError([&] { engine_->WaitForVar(vars_[var]); });
    CHECK_MSG(error.has_value() == !ref.errors[var].empty(), context_ + ": var " + std::to_string(var) + " failure state mid-run");
    CHECK_MSG(values_[var] == ref.values[var], context_ + ": var " + std::to_string(var) + " value mid-run");
  }

  void Push(const OpSpec& op) {
    Vars reads, writes;
    for (int r : op.reads) reads.push_back(vars_[r]);
    for (int w : op.writes) writes.push_back(vars_[w]);
    Record* rec = &records_[op.id];
    std::vector<uint64_t>* values = &values_;
    const OpSpec* spec = &op;
    auto sleep = [](int us) {
      if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
    };
    switch (op.kind) {
      case Kind::kSync:
        engine_->Push(Operation::Sync([=](const RunContext&) {
                        rec->ran = true;
                        rec->start = Tick();
                        sleep(spec->sleep_us);
                        rec->end = Tick();
                        if (spec->fails) throw std::runtime_error(FailureMessage(spec->id));
                        Compute(*spec, *values);
                      }),
                      reads, writes, op.where);
        break;
      case Kind::kAsyncInline:
        engine_->Push(Operation::Async([=](const RunContext&, Completion done) {
                        rec->ran = true;
                        rec->start = Tick();
                        sleep(spec->sleep_us);
                        rec->end = Tick();
                        if (spec->fails) {
                          done.Fail(FailureMessage(spec->id));
                          return;
                        }
                        Compute(*spec, *values);
                        done();
                      }),
                      reads, writes, op.where);
        break;
      case Kind::kAsyncDeferred: {
        Completer* completer = &completer_;
        engine_->Push(Operation::Async([=](const RunContext&, Completion done) {
                        rec->ran = true;
                        rec->start = Tick();
                        completer->Post(spec->sleep_us, [=] {
                          rec->end = Tick();
                          if (spec->fails) {
                            done.Fail(FailureMessage(spec->id));
                            return;
                          }
                          Compute(*spec, *values);
                          done();
                        });
                      }),
                      reads, writes, op.where);
        break;
      }
      case Kind::kAsyncThrows:
        engine_->Push(Operation::Async([=](const RunContext&, Completion) {
                        rec->ran = true;
                        rec->start = Tick();
                        rec->end = Tick();
                        throw std::runtime_error(FailureMessage(spec->id));
                      }),
                      reads, writes, op.where);
        break;
    }
  }

  void Verify() {
    // The sequential reference over the whole run. In disjoint mode the threads' operations
    // touch disjoint vars, so their interleaving in `ops` does not matter.
    Reference ref(run_.k);
    std::vector<bool> runs(run_.ops.size());
    for (const OpSpec& op : run_.ops) runs[op.id] = ref.Apply(op);

    int mismatches = 0;
    auto report = [&](bool ok, const std::string& what) {
      if (!ok && mismatches++ < 5) CHECK_MSG(ok, context_ + ": " + what);
    };

    std::vector<int> callback_failed(run_.k, -1);
    std::mutex cb_mu;
    for (int v = 0; v < run_.k; ++v)
      engine_->OnComplete(vars_[v], [&, v](const ErrorInfo* e) {
        std::lock_guard<std::mutex> lock(cb_mu);
        callback_failed[v] = e != nullptr;
      });

    for (int v = 0; v < run_.k; ++v) {
      const std::string var = "var " + std::to_string(v);
      report(values_[v] == ref.values[v], var + " final value differs from sequential execution");
      std::optional<ErrorInfo> error = CatchOpError([&] { engine_->WaitForVar(vars_[v]); });
      report(error.has_value() == !ref.errors[v].empty(),
             var + (error ? " failed (" + error->message + ")" : " is valid") + ", sequentially it " +
                 (ref.errors[v].empty() ? "is valid" : "failed"));
      if (error && !ref.errors[v].empty()) {
        int origin = -1;
        std::sscanf(error->message.c_str(), "op %d failed", &origin);
        report(ref.errors[v].count(origin) == 1, var + " names " + error->message + ", not one of its failed inputs");
      }
    }
    for (const OpSpec& op : run_.ops)
      report(records_[op.id].ran == runs[op.id],
             "op " + std::to_string(op.id) + (records_[op.id].ran ? " ran" : " was skipped") +
                 ", sequentially it " + (runs[op.id] ? "runs" : "is skipped"));

    // Happens-before: per var, in push order, a read starts after the end of the last write
    // before it, and a write after the end of every earlier read and write. Operations that
    // did not run are left out: the order through them is implied by the ones around them.
    for (int v = 0; v < run_.k; ++v) {
      uint64_t last_write_end = 0, reads_end = 0;
      int last_writer = -1;
      for (const OpSpec& op : run_.ops) {
        const bool writes = std::count(op.writes.begin(), op.writes.end(), v) > 0;
        const bool reads = std::count(op.reads.begin(), op.reads.end(), v) > 0;
        if (!reads && !writes) continue;
        const Record& r = records_[op.id];
        if (!r.ran) continue;
        report(r.start > last_write_end, "op " + std::to_string(op.id) + " started before op " +
                                             std::to_string(last_writer) + " finished writing var " + std::to_string(v));
        if (writes) {
          report(r.start > reads_end, "op " + std::to_string(op.id) + " wrote var " + std::to_string(v) +
                                          " while an earlier read of it was running");
          last_write_end = r.end;
          last_writer = op.id;
          reads_end = 0;
        } else {
          reads_end = std::max(reads_end, r.end);
        }
      }
    }

    engine_->WaitForAll();  // the callbacks too
    {
      std::lock_guard<std::mutex> lock(cb_mu);
      for (int v = 0; v < run_.k; ++v)
        report(callback_failed[v] == (ref.errors[v].empty() ? 0 : 1),
               "OnComplete for var " + std::to_string(v) + " disagrees with the sequential failure state");
    }
    for (const auto& c : engine_->stats().Snapshot().lanes)
      report(c.pushed == c.completed + c.failed + c.skipped && c.waiting == 0 && c.ready == 0 && c.running == 0,
             "stats of a lane do not add up after WaitForAll");
  }

  const Run& run_;
  TestEngine engine_;
  Completer completer_;  // after the engine: gone before it
  Vars vars_;
  std::vector<uint64_t> values_;
  std::vector<Record> records_;
  std::string context_;
  std::mutex turn_mu_;
  size_t next_ = 0;
  std::unique_ptr<Reference> shared_ref_;
};

void RunMany(const char* engine_type, bool disjoint) {
  const int seeds = EnvInt("FLOWMOD_TEST_SEEDS", 24);
  const uint64_t base = static_cast<uint64_t>(EnvInt("FLOWMOD_TEST_SEED_BASE", 1));
  for (int s = 0; s < seeds; ++s) {
    const Run run = Generate(base + static_cast<uint64_t>(s) * 7919 + (disjoint ? 1 : 0), disjoint);
    Runner(run, engine_type).Execute();
  }
}

}  // namespace

TEST(threaded_engine_matches_sequential_order_with_disjoint_pushers) { RunMany(kThreaded, true); }
TEST(threaded_engine_matches_sequential_order_with_serialized_pushers) { RunMany(kThreaded, false); }
TEST(naive_engine_matches_sequential_order_with_disjoint_pushers) { RunMany(kNaive, true); }
TEST(naive_engine_matches_sequential_order_with_serialized_pushers) { RunMany(kNaive, false); }
