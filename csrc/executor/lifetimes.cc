// Pass 3 of the plan (plan.h): the timeline. Step t < F is the t-th operator's forward, step
// F takes the heads' gradients, and the backward sequence follows in reverse topological
// order; each placed array is live from the step that writes it to the last step that reads it.
#include <algorithm>

#include "executor/plan.h"

namespace flowmod::executor {

namespace {

using ops::OpReq;

class TimelineBuilder {
 public:
  TimelineBuilder(const Graph& g, const Entries& entries, const GradientFlow& flow)
      : g_(g), entries_(entries), flow_(flow), contributions_(entries.count(), 0) {}

  Timeline Build() {
    PlaceForward();
    const int head_step = entries_.n_ops;
    HeadGradients(head_step);
    int step = head_step;
    for (int n = static_cast<int>(g_.nodes.size()) - 1; n >= 0; --n)
      if (flow_.runs[n]) NodeBackward(n, step);
    t_.last_step = step;
    ForwardReaders();
    return std::move(t_);
  }

 private:
  int Place(int e, int start, int end, bool pinned = false) {
    t_.placed.push_back(Placed{entries_.shape[e], entries_.dtype[e],
                               NumElements(entries_.shape[e]) * DTypeSize(entries_.dtype[e]), start, end, pinned});
    return static_cast<int>(t_.placed.size()) - 1;
  }

  void LiveUntil(int placed, int step) { t_.placed[placed].end = std::max(t_.placed[placed].end, step); }

  // Forward outputs of operators, each written at its node's step; a head is pinned.
  void PlaceForward() {
    const int n_entries = entries_.count();
    t_.fwd_placed.assign(n_entries, -1);
    t_.grad_placed.assign(n_entries, -1);
    t_.is_head.assign(n_entries, false);
    for (auto h : g_.heads) t_.is_head[entries_.Of(h)] = true;
    for (int e = 0; e < n_entries; ++e) {
      if (entries_.IsVar(e)) continue;
      const int step = entries_.op[entries_.node[e]].step;
      t_.fwd_placed[e] = Place(e, step, step, t_.is_head[e]);
    }
  }

  // How the next contribution to e's gradient is stored.
  OpReq GradReqFor(int e) {
    if (entries_.IsVar(e) && g_.vars[entries_.node[e]].req == OpReq::kAdd) return OpReq::kAdd;
    return contributions_[e]++ == 0 ? OpReq::kWrite : OpReq::kAdd;
  }

  // e's gradient buffer (a variable's is bound, not placed) is touched at `step`.
  void GradEntry(int e, int step) {
    if (entries_.IsVar(e)) return;
    if (t_.grad_placed[e] < 0) t_.grad_placed[e] = Place(e, step, step);
    LiveUntil(t_.grad_placed[e], step);
  }

  void HeadGradients(int head_step) {
    t_.head_req.assign(g_.heads.size(), OpReq::kNull);
    for (size_t k = 0; k < g_.heads.size(); ++k) {
      const int e = entries_.Of(g_.heads[k]);
      if (!flow_.needs[e]) continue;
      GradEntry(e, head_step);
      // A node whose backward never reads its outputs' gradients (a loss head) gets none from
      // here: the copy is skipped, and another reader of the output writes the buffer first.
      const OpNode& o = entries_.op[entries_.node[e]];
      if (!entries_.IsVar(e) && o.def->IgnoresOutGrad(*o.attrs)) continue;
      t_.head_req[k] = GradReqFor(e);
    }
  }

  // Node n's backward items: zero fills of output gradients nothing contributes to, its
  // kernel, then additions for inputs it reads more than once (each written to a temporary).
  void NodeBackward(int n, int& step) {
    const NodeSpec& node = g_.nodes[n];
    const OpNode& o = entries_.op[n];
    const int base = entries_.base[n];
    for (int e = base; e < base + o.num_visible; ++e) {
      if (flow_.receives[e]) continue;
      t_.backward.push_back(BackwardItem{BackwardItem::kZero, n, e, -1, {}, {}});
      GradEntry(e, ++step);
      contributions_[e]++;
    }
    ++step;
    BackwardItem item{BackwardItem::kNode, n, -1, -1, {}, {}};
    item.temp_slots.assign(o.num_args, -1);
    item.req.assign(o.num_args, OpReq::kNull);
    std::vector<BackwardItem> accumulations;
    for (int i = 0; i < o.num_args; ++i) {
      const int e = entries_.Of(node.inputs[i]);
      if (!flow_.needs[e]) continue;
      bool repeated = false;
      for (int j = 0; j < i; ++j) repeated = repeated || (entries_.Of(node.inputs[j]) == e);
      if (!repeated) {
        item.req[i] = GradReqFor(e);
        GradEntry(e, step);
        continue;
      }
      item.req[i] = OpReq::kWrite;
      item.temp_slots[i] = Place(e, step, step);
      accumulations.push_back(BackwardItem{BackwardItem::kAccumulate, n, e, item.temp_slots[i], {}, {}});
    }
    // Forward entries this kernel reads stay live until it runs; so does each output gradient.
    for (auto in : node.inputs)
      if (!entries_.IsVar(entries_.Of(in))) LiveUntil(t_.fwd_placed[entries_.Of(in)], step);
    for (int e = base; e < entries_.base[n + 1]; ++e) {
      LiveUntil(t_.fwd_placed[e], step);
      if (entries_.Visible(e)) GradEntry(e, step);
    }
    t_.backward.push_back(std::move(item));
    for (auto& acc : accumulations) {
      ++step;
      t_.placed[acc.temp].end = step;
      GradEntry(acc.entry, step);
      contributions_[acc.entry]++;
      t_.backward.push_back(std::move(acc));
    }
  }

  // A forward output is live until the last operator that reads it.
  void ForwardReaders() {
    for (int n = 0; n < static_cast<int>(g_.nodes.size()); ++n) {
      if (g_.nodes[n].op.empty()) continue;
      for (auto in : g_.nodes[n].inputs) {
        const int e = entries_.Of(in);
        if (!entries_.IsVar(e)) LiveUntil(t_.fwd_placed[e], entries_.op[n].step);
      }
    }
  }

  const Graph& g_;
  const Entries& entries_;
  const GradientFlow& flow_;
  std::vector<int> contributions_;  // per entry: gradient contributions so far
  Timeline t_;
};

}  // namespace

Timeline Lifetimes(const Graph& g, const Entries& entries, const GradientFlow& flow) {
  return TimelineBuilder(g, entries, flow).Build();
}

}  // namespace flowmod::executor
