// Counters and latency histograms, kept apart from the scheduler and read from outside.
//
// Every thread that pushes or runs operations owns a block of counters that only it writes
// (a relaxed load and a release store, no locked instruction, no shared cache line), so the
// hot path never contends. A snapshot sums the blocks of all threads, reading later stages
// before earlier ones so that the gauges derived from differences are never negative.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "device.h"
#include "thread_blocks.h"

namespace flowmod::engine {

// An interned operation name; 0 is "unnamed".
using OpName = uint32_t;

// The stages an operation passes through, each counted once per operation.
enum class Stage : uint8_t {
  kPushed = 0,   // accepted by Push
  kReady,        // every dependency met; queued on its lane (or run at once)
  kStarted,      // taken by a worker
  kCompleted,    // finished without error
  kFailed,       // threw, or reported failure through its Completion
  kSkipped,      // not run because a var it reads had failed
};
inline constexpr int kNumStages = 6;

// Latency buckets: upper bounds of 2^i microseconds, i = 0 .. kLatencyBuckets-2, then +Inf.
inline constexpr int kLatencyBuckets = 26;
double LatencyBucketBound(int i);  // seconds; +inf for the last

struct LaneCounts {
  DeviceId device;
  Lane lane = Lane::kCompute;
  uint64_t pushed = 0, completed = 0, failed = 0, skipped = 0;
  uint64_t waiting = 0;  // pushed, dependencies not yet met
  uint64_t ready = 0;    // dependencies met, waiting for a worker
  uint64_t running = 0;
};

struct LatencyHistogram {
  std::string op_name;
  std::array<uint64_t, kLatencyBuckets> buckets{};  // per bucket, not cumulative
  uint64_t count = 0;
  double sum_seconds = 0;
};

struct StatsSnapshot {
  std::vector<LaneCounts> lanes;
  std::vector<LatencyHistogram> latency;
};

class Stats {
 public:
  static constexpr int kMaxSlots = 64 * kNumLanes;  // device lanes
  static constexpr int kMaxNames = 4096;  // latency histograms
  static constexpr OpName kOtherHistogram = kMaxNames - 1;

  Stats();
  Stats(const Stats&) = delete;
  Stats& operator=(const Stats&) = delete;

  // Interns `name` (a mutex; call once per kind of operation, not per push). Every name is
  // kept for errors; past kMaxNames - 1 distinct names, new ones share the "other"
  // histogram, so that the histograms' labels stay bounded.
  OpName Intern(std::string_view name);
  std::string NameOf(OpName name) const;

  // The counter slot of a device lane, registered on first use.
  int SlotFor(DeviceId device, Lane lane);

  // Hot path: count one operation reaching `stage` on `slot`.
  void Count(int slot, Stage stage) {
    BumpOwned(blocks_.Local().counts[slot][static_cast<int>(stage)]);
  }
  void RecordLatency(OpName name, uint64_t nanoseconds);

  StatsSnapshot Snapshot() const;

  // Operations counted on `slot` that have not finished (pushed, not completed, failed or
  // skipped): one pass over the threads' blocks, for the in-flight bound.
  uint64_t InFlight(int slot) const;

 private:
  struct Histogram {
    std::array<std::atomic<uint64_t>, kLatencyBuckets> buckets{};
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_ns{0};
  };
  struct ThreadBlock {
    std::array<std::array<std::atomic<uint64_t>, kNumStages>, kMaxSlots> counts{};
    std::array<std::atomic<Histogram*>, kMaxNames> latency{};
    ~ThreadBlock();
  };

  ThreadBlocks<ThreadBlock> blocks_;
  mutable std::mutex mu_;  // guards the registries below
  std::vector<std::string> names_;
  std::unordered_map<std::string, OpName> name_ids_;
  std::vector<std::pair<DeviceId, Lane>> slots_;
};

}  // namespace flowmod::engine
