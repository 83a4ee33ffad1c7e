// Pass 4 of the plan (plan.h): storage. Arrays are placed into blocks by a scan over the
// timeline's steps, then the blocks get memory, borrowed from another plan's pool when it can
// lend a chunk large enough.
#include <algorithm>

#include "executor/plan.h"

namespace flowmod::executor {

namespace {

// Places arrays into blocks by a scan over the steps: an array takes a free block (the
// smallest that holds it, else the largest, grown), and its block is free again after its
// last step. `inplace[p]`, when set, is an array whose block p takes over at its first step.
struct Planner {
  const std::vector<Placed>& placed;
  std::vector<int> inplace;
  std::vector<int> block;
  std::vector<size_t> block_bytes;
  std::vector<bool> block_pinned;
  int inplace_count = 0;

  explicit Planner(const std::vector<Placed>& p) : placed(p), inplace(p.size(), -1), block(p.size(), -1) {}

  void Run(int last_step) {
    std::vector<std::vector<int>> starting(last_step + 1), ending(last_step + 1);
    for (size_t e = 0; e < placed.size(); ++e) {
      starting[placed[e].start].push_back(static_cast<int>(e));
      if (!placed[e].pinned) ending[placed[e].end].push_back(static_cast<int>(e));
    }
    std::vector<int> free_blocks;
    std::vector<bool> handed_over(placed.size(), false);
    for (int t = 0; t <= last_step; ++t) {
      for (int e : starting[t]) {
        const Placed& p = placed[e];
        if (p.pinned) {
          block[e] = NewBlock(p.bytes, true);
          continue;
        }
        const int from = inplace[e];
        if (from >= 0 && !handed_over[from]) {
          handed_over[from] = true;
          block[e] = block[from];
          block_bytes[block[e]] = std::max(block_bytes[block[e]], p.bytes);
          ++inplace_count;
          continue;
        }
        block[e] = Take(free_blocks, p.bytes);
      }
      for (int e : ending[t])
        if (!handed_over[e]) free_blocks.push_back(block[e]);
    }
  }

  int NewBlock(size_t bytes, bool pinned) {
    block_bytes.push_back(bytes);
    block_pinned.push_back(pinned);
    return static_cast<int>(block_bytes.size()) - 1;
  }

  int Take(std::vector<int>& free_blocks, size_t bytes) {
    if (free_blocks.empty()) return NewBlock(bytes, false);
    int best = -1, largest = -1;
    for (size_t i = 0; i < free_blocks.size(); ++i) {
      const size_t b = block_bytes[free_blocks[i]];
      if (b >= bytes && (best < 0 || b < block_bytes[free_blocks[best]])) best = static_cast<int>(i);
      if (largest < 0 || b > block_bytes[free_blocks[largest]]) largest = static_cast<int>(i);
    }
    const int i = best >= 0 ? best : largest;
    const int taken = free_blocks[i];
    free_blocks.erase(free_blocks.begin() + i);
    block_bytes[taken] = std::max(block_bytes[taken], bytes);
    return taken;
  }
};

// An operator output may take over an input's block when this node is the input's last
// reader, reads it once, and the two have the same size and type (graph outputs and
// variables never hand over).
void MarkInplace(const Graph& g, const Entries& entries, const Timeline& t, Planner& planner) {
  for (int n = 0; n < static_cast<int>(g.nodes.size()); ++n) {
    if (g.nodes[n].op.empty()) continue;
    const OpNode& op = entries.op[n];
    for (auto [i, o] : op.def->inplace) {
      if (i >= static_cast<int>(g.nodes[n].inputs.size()) || o >= entries.base[n + 1] - entries.base[n]) continue;
      const int in = entries.Of(g.nodes[n].inputs[i]);
      const int out = entries.base[n] + o;
      if (entries.IsVar(in) || t.is_head[in] || t.is_head[out]) continue;
      const Placed& src = t.placed[t.fwd_placed[in]];
      const Placed& dst = t.placed[t.fwd_placed[out]];
      if (src.end != op.step || src.bytes != dst.bytes || src.dtype != dst.dtype) continue;
      int uses = 0;
      for (auto other : g.nodes[n].inputs) uses += entries.Of(other) == in;
      if (uses == 1 && planner.inplace[t.fwd_placed[out]] < 0) planner.inplace[t.fwd_placed[out]] = t.fwd_placed[in];
    }
  }
}

}  // namespace

Storage AssignStorage(const Graph& g, const Entries& entries, const Timeline& timeline) {
  Planner planner(timeline.placed);
  MarkInplace(g, entries, timeline, planner);
  planner.Run(timeline.last_step);
  return Storage{std::move(planner.block), std::move(planner.block_bytes), std::move(planner.block_pinned),
                 planner.inplace_count};
}

std::vector<std::shared_ptr<Chunk>> AllocateBlocks(const Storage& storage,
                                                   const std::vector<std::shared_ptr<Chunk>>* lendable,
                                                   engine::DeviceId device, PlanStats& stats) {
  std::vector<std::shared_ptr<Chunk>> chunks(storage.block_bytes.size());
  std::vector<bool> lent;
  if (lendable != nullptr) lent.assign(lendable->size(), false);
  // Largest blocks first, each from the smallest lent block that holds it.
  std::vector<int> order(chunks.size());
  for (size_t b = 0; b < order.size(); ++b) order[b] = static_cast<int>(b);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return storage.block_bytes[a] > storage.block_bytes[b]; });
  for (int b : order) {
    const size_t bytes = storage.block_bytes[b];
    if (!storage.block_pinned[b] && lendable != nullptr) {
      const auto& pool = *lendable;
      int best = -1;
      for (size_t c = 0; c < lent.size(); ++c)
        if (!lent[c] && pool[c]->bytes() >= bytes && pool[c]->device() == device &&
            (best < 0 || pool[c]->bytes() < pool[best]->bytes()))
          best = static_cast<int>(c);
      if (best >= 0) {
        lent[best] = true;
        chunks[b] = pool[best];
        ++stats.shared_blocks;
        continue;
      }
    }
    chunks[b] = std::make_shared<Chunk>(bytes, device);
    stats.planned_bytes += bytes;
  }
  return chunks;
}

}  // namespace flowmod::executor
