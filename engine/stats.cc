#include "stats.h"

#include "profiler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>

namespace flowmod::engine {

namespace {

int LatencyBucket(uint64_t ns) {
  const uint64_t us = ns / 1000;
  if (us <= 1) return 0;
  const int bucket = 64 - __builtin_clzll(us - 1);  // smallest i with 2^i >= us
  return bucket < kLatencyBuckets - 1 ? bucket : kLatencyBuckets - 1;
}
}  // namespace

double LatencyBucketBound(int i) {
  if (i >= kLatencyBuckets - 1) return std::numeric_limits<double>::infinity();
  return std::ldexp(1e-6, i);
}

Stats::Stats() { names_.push_back("unnamed"); }

Stats::ThreadBlock::~ThreadBlock() {
  for (auto& h : latency) delete h.load(std::memory_order_relaxed);
}

OpName Stats::Intern(std::string_view name) {
  if (name.empty()) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = name_ids_.find(std::string(name));
  if (it != name_ids_.end()) return it->second;
  // Ids use the low kKindBits bits only; the profiler's labels use the others.
  if (names_.size() > KindOf(~OpName{0})) return 0;
  const OpName id = static_cast<OpName>(names_.size());
  names_.emplace_back(name);
  name_ids_.emplace(std::string(name), id);
  return id;
}

std::string Stats::NameOf(OpName name) const {
  std::lock_guard<std::mutex> lock(mu_);
  name = KindOf(name);
  return name < names_.size() ? names_[name] : std::string("unnamed");
}

int Stats::SlotFor(DeviceId device, Lane lane) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].first == device && slots_[i].second == lane) return static_cast<int>(i);
  if (slots_.size() >= kMaxSlots) return -1;
  slots_.emplace_back(device, lane);
  return static_cast<int>(slots_.size() - 1);
}

void Stats::RecordLatency(OpName name, uint64_t ns) {
  auto& slot = blocks_.Local().latency[std::min<OpName>(KindOf(name), kOtherHistogram)];
  Histogram* h = slot.load(std::memory_order_relaxed);
  if (h == nullptr) {
    h = new Histogram();
    slot.store(h, std::memory_order_release);
  }
  BumpOwned(h->buckets[LatencyBucket(ns)]);
  BumpOwned(h->sum_ns, ns);
  // Published last: a reader that sees the count sees the bucket it stands for.
  BumpOwned(h->count);
}

uint64_t Stats::InFlight(int slot) const {
  // Finished before pushed: both only grow and an operation finishes after it is pushed, so
  // the difference never goes below what is really in flight at the second read.
  uint64_t finished = 0, pushed = 0;
  blocks_.ForEach([&](const ThreadBlock& b) {
    for (Stage st : {Stage::kCompleted, Stage::kFailed, Stage::kSkipped})
      finished += b.counts[slot][static_cast<int>(st)].load(std::memory_order_acquire);
  });
  blocks_.ForEach([&](const ThreadBlock& b) {
    pushed += b.counts[slot][static_cast<int>(Stage::kPushed)].load(std::memory_order_acquire);
  });
  return pushed - finished;
}

StatsSnapshot Stats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t nslots = slots_.size();
  // totals[slot][stage]; later stages are read first, so every derived gauge is >= 0.
  std::vector<std::array<uint64_t, kNumStages>> totals(nslots);
  for (int stage = kNumStages - 1; stage >= 0; --stage)
    blocks_.ForEach([&](const ThreadBlock& b) {
      for (size_t s = 0; s < nslots; ++s)
        totals[s][stage] += b.counts[s][stage].load(std::memory_order_acquire);
    });

  StatsSnapshot snap;
  for (size_t s = 0; s < nslots; ++s) {
    const auto& t = totals[s];
    auto at = [&](Stage st) { return t[static_cast<int>(st)]; };
    LaneCounts c;
    c.device = slots_[s].first;
    c.lane = slots_[s].second;
    c.pushed = at(Stage::kPushed);
    c.completed = at(Stage::kCompleted);
    c.failed = at(Stage::kFailed);
    c.skipped = at(Stage::kSkipped);
    c.waiting = at(Stage::kPushed) - at(Stage::kReady);
    c.ready = at(Stage::kReady) - at(Stage::kStarted);
    c.running = at(Stage::kStarted) - c.completed - c.failed - c.skipped;
    snap.lanes.push_back(c);
  }
  for (size_t n = 0; n < std::min<size_t>(names_.size(), kMaxNames); ++n) {
    LatencyHistogram merged;
    merged.op_name = n == kOtherHistogram ? "other" : names_[n];
    uint64_t sum_ns = 0;
    blocks_.ForEach([&](const ThreadBlock& b) {
      const Histogram* h = b.latency[n].load(std::memory_order_acquire);
      if (h == nullptr) return;
      const uint64_t count = h->count.load(std::memory_order_acquire);
      uint64_t in_buckets = 0;
      std::array<uint64_t, kLatencyBuckets> buckets{};
      for (int i = 0; i < kLatencyBuckets; ++i) {
        buckets[i] = h->buckets[i].load(std::memory_order_relaxed);
        in_buckets += buckets[i];
      }
      // Buckets may run ahead of the count by the record being written; trim to the count
      // so that the histogram stays self-consistent.
      for (int i = kLatencyBuckets - 1; i >= 0 && in_buckets > count; --i) {
        const uint64_t cut = std::min(buckets[i], in_buckets - count);
        buckets[i] -= cut;
        in_buckets -= cut;
      }
      for (int i = 0; i < kLatencyBuckets; ++i) merged.buckets[i] += buckets[i];
      merged.count += in_buckets;
      sum_ns += h->sum_ns.load(std::memory_order_relaxed);
    });
    if (merged.count == 0) continue;
    merged.sum_seconds = static_cast<double>(sum_ns) * 1e-9;
    snap.latency.push_back(std::move(merged));
  }
  return snap;
}

}  // namespace flowmod::engine
