// The timeline recorder: every operation's start, end, lane and vars, kept while profiling.
//
// Like stats.h it is read from outside and costs the scheduler as little as it can: stopped,
// one relaxed load per operation (running()); running, the thread that finished an operation
// appends one record to a buffer only it writes. Each thread's buffer is a chain of
// fixed-size chunks, a single-producer single-consumer queue: the owner publishes what it
// wrote with a release store of the chunk's size, and Collect (one reader at a time) reads up
// to that size, then frees each chunk the owner has moved past. No lock is taken, and nothing
// is shared between two recording threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stats.h"
#include "thread_blocks.h"

namespace flowmod::engine {

class Engine;

// An OpName's low kKindBits bits are what Stats::Intern returned: the kind of operation, which
// errors and the latency histogram see (Stats reads only those bits). The bits above, when
// set, number a label the profiler gave one use of that kind (Profiler::Label: a graph
// node's "fc1_forward", of kind "FullyConnected"), which the trace shows. Stats::Intern gives
// names past 2^kKindBits - 1 distinct ones the id 0 ("unnamed").
inline constexpr int kKindBits = 16;
inline constexpr OpName KindOf(OpName name) { return name & ((OpName{1} << kKindBits) - 1); }

// One var an operation used, as of its start: `version` is the version it read (a read) or
// the version its write replaced (a write; the write produces version + 1).
struct TraceDep {
  uint64_t var = 0;  // Var::id(), unique for the process's life
  uint64_t version = 0;
  bool write = false;
};

// One operation run.
struct TraceOp {
  uint64_t start_ns = 0, end_ns = 0;  // steady_clock (CLOCK_MONOTONIC on Linux)
  OpName name = 0;
  int slot = -1;       // Stats' counter slot: the device and lane
  bool failed = false;
  // Finished through its Completion: recorded by the thread that completed it, after its
  // worker may have moved on to other operations.
  bool async = false;
  std::vector<TraceDep> deps;
};

// What one recording thread has appended since the last Collect.
struct ThreadTrace {
  uint32_t thread = 0;  // 1, 2, ... in the order threads first recorded
  std::vector<TraceOp> ops;
};

class Profiler {
 public:
  Profiler() = default;
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  void Start() { running_.store(true, std::memory_order_relaxed); }
  void Stop() { running_.store(false, std::memory_order_relaxed); }
  // Hot path: whether operations finishing now are recorded.
  bool running() const { return running_.load(std::memory_order_relaxed); }

  // Appends one operation to this thread's buffer. `dep_at(i)` gives its i-th TraceDep,
  // i < num_deps. Call only while running() (the caller checks, so that a stopped profiler
  // costs nothing more).
  enum Flags : uint8_t { kFailed = 1, kAsync = 2 };
  template <typename DepAt>
  void Record(OpName name, int slot, uint64_t start_ns, uint64_t end_ns, uint8_t flags,
              uint32_t num_deps, DepAt&& dep_at);

  // A name for one use of `kind` (see kKindBits), shown in the trace as `label` with
  // `detail` (an executor node's shapes; the latest given for that label and kind). Off the
  // hot path: call it where the operation is prepared, not per push. Past 2^16 - 1 labels,
  // returns `kind` itself.
  OpName Label(OpName kind, std::string_view label, std::string detail = {});
  // The label and detail of `name`; empty for a name without a label.
  std::string LabelOf(OpName name) const;
  std::string DetailOf(OpName name) const;

  // Takes every record appended so far, from every thread (what is still being appended is
  // left for the next call). Safe to call while operations run.
  std::vector<ThreadTrace> Collect();

 private:
  // 32 bytes: an operation's header, or two of its vars.
  struct OpSlot {
    uint64_t start_ns, end_ns;
    OpName name;
    uint32_t num_deps;
    int16_t slot;
    uint8_t flags;
  };
  struct DepSlot {
    uint64_t var;
    uint64_t version_and_write;  // version << 1 | write
  };
  union Slot {
    OpSlot op;
    DepSlot dep[2];
  };
  static constexpr uint32_t kChunkSlots = 2048;
  // Vars past this are left out of an operation's record (and its header says how many it
  // kept), so that every record fits one chunk.
  static constexpr uint32_t kMaxDeps = 2 * (kChunkSlots - 1);
  struct Chunk {
    std::atomic<uint32_t> size{0};  // slots published
    std::atomic<Chunk*> next{nullptr};
    Slot slots[kChunkSlots];
  };
  struct Buffer {
    Buffer();
    ~Buffer();
    Chunk* tail;       // the owner's: where it appends
    Chunk* head;       // the reader's (under collect_mu_): the oldest chunk not freed
    uint32_t read = 0; // the reader's: slots of `head` already taken
    const uint32_t thread;  // set before the reader can see the buffer
  };

  Slot* Reserve(Buffer& b, uint32_t slots, uint32_t* at);
  static void Take(Buffer& b, ThreadTrace* out);

  std::atomic<bool> running_{false};
  ThreadBlocks<Buffer> buffers_;
  std::mutex collect_mu_;
  mutable std::mutex label_mu_;  // guards the labels
  struct LabelInfo {
    std::string label, detail;
  };
  std::vector<LabelInfo> labels_;  // by OpName >> kKindBits, from 1
  std::unordered_map<std::string, OpName> label_ids_;
};

// The recorder of `engine` (a ThreadedEngine's or a NaiveEngine's).
Profiler& ProfilerOf(Engine* engine);

template <typename DepAt>
void Profiler::Record(OpName name, int slot, uint64_t start_ns, uint64_t end_ns, uint8_t flags,
                      uint32_t num_deps, DepAt&& dep_at) {
  Buffer& b = buffers_.Local();
  const uint32_t kept = num_deps < kMaxDeps ? num_deps : kMaxDeps;
  uint32_t at = 0;
  Slot* s = Reserve(b, 1 + (kept + 1) / 2, &at);
  s[0].op = OpSlot{start_ns, end_ns, name, kept, static_cast<int16_t>(slot), flags};
  for (uint32_t i = 0; i < kept; ++i) {
    const TraceDep d = dep_at(i);
    s[1 + i / 2].dep[i % 2] = DepSlot{d.var, d.version << 1 | (d.write ? 1u : 0u)};
  }
  b.tail->size.store(at + 1 + (kept + 1) / 2, std::memory_order_release);
}

}  // namespace flowmod::engine
