#include "executor/graph_executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>

namespace flowmod::executor {

namespace eng = engine;
using ops::OpReq;
using ops::TensorRef;

struct GraphExecutor::Step {
  std::function<void(bool is_train)> run;
  std::vector<eng::Var*> reads, writes;
  eng::OpName name = 0;
  eng::DeviceId device;
  std::string label;  // the name, for measurements
};

namespace {

constexpr int kForever = std::numeric_limits<int>::max();

// A bind-time error about one node.
[[noreturn]] void NodeError(const NodeSpec& node, const std::string& what) {
  throw std::invalid_argument("node " + node.name + (node.op.empty() ? "" : " (" + node.op + ")") +
                              ": " + what);
}

std::string DeviceString(eng::DeviceId d) {
  return std::string(eng::DeviceTypeName(d.type)) + "(" + std::to_string(d.index) + ")";
}

TensorRef RefOf(const NDArray& a) { return TensorRef{a.data(), a.shape(), a.dtype()}; }

eng::OpName Intern(const std::string& name) { return eng::Engine::Get()->stats().Intern(name); }

// dst = src or dst += src, element by element (same shape and type).
void Accumulate(const TensorRef& src, const TensorRef& dst, OpReq req) {
  if (req == OpReq::kWrite) {
    if (src.data != dst.data) std::memmove(dst.data, src.data, src.size() * DTypeSize(src.dtype));
    return;
  }
  FLOWMOD_DTYPE_SWITCH(dst.dtype, T, {
    const T* s = src.ptr<T>();
    T* d = dst.ptr<T>();
    const int64_t n = dst.size();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] + s[i]);
  });
}

// An array the plan places: an operator output, a gradient buffer or a temporary.
struct Placed {
  Shape shape;
  DType dtype = DType::kFloat32;
  size_t bytes = 0;
  int start = 0, end = 0;  // first and last step that touch it
  bool pinned = false;     // a graph output: storage of its own, never reused
  int block = -1;
};

// Places entries into blocks by a scan over the steps: an entry takes a free block (the
// smallest that holds it, else the largest, grown), and its block is free again after its
// last step. `inplace[e]`, when set, is an entry whose block e takes over at its first step.
struct Planner {
  std::vector<Placed>& placed;
  std::vector<int> inplace;
  std::vector<size_t> block_bytes;
  std::vector<bool> block_pinned;
  int inplace_count = 0;

  explicit Planner(std::vector<Placed>& p) : placed(p), inplace(p.size(), -1) {}

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
        Placed& p = placed[e];
        if (p.pinned) {
          p.block = NewBlock(p.bytes, true);
          continue;
        }
        const int from = inplace[e];
        if (from >= 0 && !handed_over[from]) {
          handed_over[from] = true;
          p.block = placed[from].block;
          block_bytes[p.block] = std::max(block_bytes[p.block], p.bytes);
          ++inplace_count;
          continue;
        }
        p.block = Take(free_blocks, p.bytes);
      }
      for (int e : ending[t])
        if (!handed_over[e]) free_blocks.push_back(placed[e].block);
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
    const int block = free_blocks[i];
    free_blocks.erase(free_blocks.begin() + i);
    block_bytes[block] = std::max(block_bytes[block], bytes);
    return block;
  }
};

}  // namespace

GraphExecutor::GraphExecutor(std::vector<NodeSpec> nodes, std::vector<std::pair<int, int>> heads,
                             std::vector<VarBinding> vars, eng::DeviceId device,
                             const GraphExecutor* shared)
    : device_(device), nodes_(std::move(nodes)), heads_(std::move(heads)) {
  const int n_nodes = static_cast<int>(nodes_.size());
  if (n_nodes == 0) throw std::invalid_argument("bind: the graph has no nodes");
  if (static_cast<int>(vars.size()) != n_nodes)
    throw std::invalid_argument("bind: " + std::to_string(vars.size()) + " variable bindings for " +
                                std::to_string(n_nodes) + " nodes");
  if (heads_.empty()) throw std::invalid_argument("bind: the graph has no outputs");

  // ---- operators, entries, shapes ----------------------------------------------------
  struct OpNode {
    const ops::OpDef* def = nullptr;
    std::shared_ptr<const ops::OpAttrs> attrs;
    int num_args = 0, num_visible = 0;
    int step = -1;  // forward step
    bool needs_rng = false;
  };
  std::vector<OpNode> op(n_nodes);
  std::vector<int> entry_base(n_nodes + 1, 0);
  for (int n = 0; n < n_nodes; ++n) {
    const NodeSpec& node = nodes_[n];
    int outputs = 1;
    if (!node.op.empty()) {
      OpNode& o = op[n];
      o.def = ops::Registry::Find(node.op);
      if (o.def == nullptr) NodeError(node, "no operator named '" + node.op + "'");
      try {
        o.attrs = o.def->parse(node.attrs);
      } catch (const std::exception& e) {
        NodeError(node, e.what());
      }
      o.num_args = static_cast<int>(o.def->Arguments(*o.attrs).size());
      o.num_visible = o.def->NumVisibleOutputs(*o.attrs);
      o.needs_rng = o.def->NeedsRng(*o.attrs);
      outputs = o.def->NumOutputs(*o.attrs);
      if (static_cast<int>(node.inputs.size()) != o.def->NumInputs(*o.attrs))
        NodeError(node, std::to_string(node.inputs.size()) + " inputs, expected " +
                            std::to_string(o.def->NumInputs(*o.attrs)));
    } else if (!node.inputs.empty()) {
      NodeError(node, "a variable has no inputs");
    }
    for (auto [src, index] : node.inputs) {
      if (src < 0 || src >= n) NodeError(node, "input from node " + std::to_string(src) + ", expected an earlier node");
      const int src_outputs = entry_base[src + 1] - entry_base[src];
      if (index < 0 || index >= src_outputs)
        NodeError(node, "input " + nodes_[src].name + " output " + std::to_string(index) + " does not exist");
    }
    entry_base[n + 1] = entry_base[n] + outputs;
  }
  const int n_entries = entry_base[n_nodes];
  auto node_device = [&](int n) {
    const int d = nodes_[n].device;
    if (d < -1) NodeError(nodes_[n], "device " + std::to_string(d) + ": expected an index >= 0");
    return d < 0 ? device : eng::DeviceId{device.type, d};
  };
  auto entry_of = [&](std::pair<int, int> in) { return entry_base[in.first] + in.second; };
  std::vector<int> entry_node(n_entries);
  for (int n = 0; n < n_nodes; ++n)
    for (int e = entry_base[n]; e < entry_base[n + 1]; ++e) entry_node[e] = n;
  for (auto h : heads_) {
    if (h.first < 0 || h.first >= n_nodes || h.second < 0 ||
        h.second >= (nodes_[h.first].op.empty() ? 1 : op[h.first].num_visible))
      throw std::invalid_argument("bind: output (" + std::to_string(h.first) + ", " +
                                  std::to_string(h.second) + ") is not a node's visible output");
  }

  std::vector<Shape> shape(n_entries);
  std::vector<DType> dtype(n_entries, DType::kUnknown);
  int n_ops = 0;
  for (int n = 0; n < n_nodes; ++n) {
    const NodeSpec& node = nodes_[n];
    if (node.op.empty()) {
      const VarBinding& v = vars[n];
      if (!v.value) NodeError(node, "no array is bound to this input");
      if (v.value->device().type != device.type)
        NodeError(node, "the array is on " + DeviceString(v.value->device()) + ", expected a device like " +
                            DeviceString(device));
      if (v.req != OpReq::kNull) {
        if (!v.grad) NodeError(node, "grad_req is not 'null' but no gradient array is bound");
        if (v.grad->shape() != v.value->shape() || v.grad->dtype() != v.value->dtype())
          NodeError(node, "the gradient array has shape " + ShapeString(v.grad->shape()) + " and type " +
                              DTypeName(v.grad->dtype()) + ", expected " + ShapeString(v.value->shape()) +
                              " and " + DTypeName(v.value->dtype()));
        if (v.grad->device().type != device.type)
          NodeError(node, "the gradient array is on " + DeviceString(v.grad->device()) +
                              ", expected a device like " + DeviceString(device));
      }
      shape[entry_base[n]] = v.value->shape();
      dtype[entry_base[n]] = v.value->dtype();
      continue;
    }
    OpNode& o = op[n];
    o.step = n_ops++;
    std::vector<Shape> in_shapes;
    std::vector<DType> in_types;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int e = entry_of(node.inputs[i]);
      in_shapes.push_back(shape[e]);
      in_types.push_back(dtype[e]);
      if (static_cast<int>(i) >= o.num_args && !nodes_[entry_node[e]].op.empty())
        NodeError(node, "auxiliary state " + std::to_string(i - o.num_args) +
                            " comes from an operator, expected a variable");
    }
    std::vector<Shape> out_shapes;
    std::vector<DType> out_types;
    try {
      ops::InferOutputs(*o.def, *o.attrs, in_shapes, in_types, &out_shapes, &out_types);
    } catch (const std::exception& e) {
      NodeError(node, e.what());
    }
    for (size_t i = 0; i < out_shapes.size(); ++i) {
      shape[entry_base[n] + i] = out_shapes[i];
      dtype[entry_base[n] + i] = out_types[i];
    }
  }
  auto is_var_entry = [&](int e) { return nodes_[entry_node[e]].op.empty(); };
  auto visible = [&](int e) {
    const int n = entry_node[e];
    return nodes_[n].op.empty() || e - entry_base[n] < op[n].num_visible;
  };

  // ---- which gradients flow ----------------------------------------------------------
  std::vector<bool> needs(n_entries, false);  // the entry depends on an argument with a gradient
  for (int n = 0; n < n_nodes; ++n) {
    if (nodes_[n].op.empty()) {
      needs[entry_base[n]] = vars[n].req != OpReq::kNull;
      continue;
    }
    bool any = false;
    for (int i = 0; i < op[n].num_args; ++i) any = any || needs[entry_of(nodes_[n].inputs[i])];
    for (int e = entry_base[n]; e < entry_base[n] + op[n].num_visible; ++e) needs[e] = any;
  }
  std::vector<bool> receives(n_entries, false);  // a gradient reaches the entry
  for (auto h : heads_)
    if (needs[entry_of(h)]) receives[entry_of(h)] = true;
  std::vector<bool> runs(n_nodes, false);  // the node's backward kernel runs
  for (int n = n_nodes - 1; n >= 0; --n) {
    if (nodes_[n].op.empty()) continue;
    bool reached = false;
    for (int e = entry_base[n]; e < entry_base[n] + op[n].num_visible; ++e) reached = reached || receives[e];
    if (!reached || !needs[entry_base[n]]) continue;
    if (!op[n].def->backward)
      NodeError(nodes_[n], "the operator has no gradient, and a gradient is requested through it "
                           "(bind the inputs that lead here with grad_req='null')");
    runs[n] = true;
    for (int i = 0; i < op[n].num_args; ++i) {
      const int e = entry_of(nodes_[n].inputs[i]);
      if (needs[e]) receives[e] = true;
    }
  }

  // ---- the timeline ------------------------------------------------------------------
  // Placed entries: forward outputs of operators, gradient buffers of operator outputs,
  // temporaries for inputs read twice by one node.
  std::vector<Placed> placed;
  std::vector<int> fwd_placed(n_entries, -1), grad_placed(n_entries, -1);
  std::vector<bool> is_head(n_entries, false);
  for (auto h : heads_) is_head[entry_of(h)] = true;
  for (int e = 0; e < n_entries; ++e) {
    if (is_var_entry(e)) continue;
    const int n = entry_node[e];
    fwd_placed[e] = static_cast<int>(placed.size());
    placed.push_back(Placed{shape[e], dtype[e], NumElements(shape[e]) * DTypeSize(dtype[e]),
                            op[n].step, op[n].step, is_head[e]});
  }
  const int head_step = n_ops;
  // Backward sequence.
  struct BwdItem {
    enum Kind { kZero, kNode, kAccumulate } kind;
    int node = -1;
    int entry = -1;                // kZero: entry whose gradient is zeroed; kAccumulate: destination
    int temp = -1;                 // kAccumulate: placed temporary
    std::vector<int> temp_slots;   // kNode: per argument slot, a placed temporary or -1
    std::vector<OpReq> req;        // kNode: per argument
  };
  std::vector<BwdItem> bwd;
  std::vector<int> contributions(n_entries, 0);
  auto grad_req_for = [&](int e) {
    // How the next contribution to e's gradient is stored.
    if (is_var_entry(e) && vars[entry_node[e]].req == OpReq::kAdd) return OpReq::kAdd;
    return contributions[e]++ == 0 ? OpReq::kWrite : OpReq::kAdd;
  };
  auto grad_entry = [&](int e, int step) {
    if (is_var_entry(e)) return;
    if (grad_placed[e] < 0) {
      grad_placed[e] = static_cast<int>(placed.size());
      placed.push_back(Placed{shape[e], dtype[e], NumElements(shape[e]) * DTypeSize(dtype[e]), step, step});
    }
    placed[grad_placed[e]].end = std::max(placed[grad_placed[e]].end, step);
  };
  head_grads_.resize(heads_.size());
  for (size_t k = 0; k < heads_.size(); ++k) {
    const int e = entry_of(heads_[k]);
    if (!needs[e]) continue;
    grad_entry(e, head_step);
    // A node whose backward never reads its outputs' gradients (a loss head) gets none from
    // here: the copy is skipped, and another reader of the output writes the buffer first.
    const int n = entry_node[e];
    if (!is_var_entry(e) && op[n].def->IgnoresOutGrad(*op[n].attrs)) continue;
    head_grads_[k].req = grad_req_for(e);
  }
  int step = head_step;
  for (int n = n_nodes - 1; n >= 0; --n) {
    if (!runs[n]) continue;
    const NodeSpec& node = nodes_[n];
    OpNode& o = op[n];
    for (int e = entry_base[n]; e < entry_base[n] + o.num_visible; ++e) {
      if (receives[e]) continue;
      bwd.push_back(BwdItem{BwdItem::kZero, n, e});
      grad_entry(e, ++step);
      contributions[e]++;
    }
    ++step;
    BwdItem item{BwdItem::kNode, n};
    item.temp_slots.assign(o.num_args, -1);
    item.req.assign(o.num_args, OpReq::kNull);
    std::vector<BwdItem> accumulations;
    for (int i = 0; i < o.num_args; ++i) {
      const int e = entry_of(node.inputs[i]);
      if (!needs[e]) continue;
      bool repeated = false;
      for (int j = 0; j < i; ++j) repeated = repeated || (entry_of(node.inputs[j]) == e);
      if (!repeated) {
        item.req[i] = grad_req_for(e);
        grad_entry(e, step);
        continue;
      }
      item.req[i] = OpReq::kWrite;
      item.temp_slots[i] = static_cast<int>(placed.size());
      placed.push_back(Placed{shape[e], dtype[e], NumElements(shape[e]) * DTypeSize(dtype[e]), step, step});
      accumulations.push_back(BwdItem{BwdItem::kAccumulate, n, e, item.temp_slots[i]});
    }
    // Forward entries this kernel reads stay live until it runs; so does each output gradient.
    for (auto in : node.inputs)
      if (!is_var_entry(entry_of(in))) placed[fwd_placed[entry_of(in)]].end = std::max(placed[fwd_placed[entry_of(in)]].end, step);
    for (int e = entry_base[n]; e < entry_base[n + 1]; ++e) {
      placed[fwd_placed[e]].end = std::max(placed[fwd_placed[e]].end, step);
      if (visible(e)) grad_entry(e, step);
    }
    bwd.push_back(std::move(item));
    for (auto& acc : accumulations) {
      ++step;
      placed[acc.temp].end = step;
      grad_entry(acc.entry, step);
      contributions[acc.entry]++;
      bwd.push_back(std::move(acc));
    }
  }
  const int last_step = step;
  // Forward readers.
  for (int n = 0; n < n_nodes; ++n) {
    if (nodes_[n].op.empty()) continue;
    for (auto in : nodes_[n].inputs) {
      const int e = entry_of(in);
      if (!is_var_entry(e)) placed[fwd_placed[e]].end = std::max(placed[fwd_placed[e]].end, op[n].step);
    }
  }
  has_backward_ = !bwd.empty();
  for (const auto& h : head_grads_) has_backward_ = has_backward_ || h.req != OpReq::kNull;

  // ---- storage -----------------------------------------------------------------------
  Planner planner(placed);
  for (int n = 0; n < n_nodes; ++n) {
    if (nodes_[n].op.empty()) continue;
    for (auto [i, o] : op[n].def->inplace) {
      if (i >= static_cast<int>(nodes_[n].inputs.size()) || o >= entry_base[n + 1] - entry_base[n]) continue;
      const int in = entry_of(nodes_[n].inputs[i]);
      const int out = entry_base[n] + o;
      if (is_var_entry(in) || is_head[in] || is_head[out]) continue;
      const Placed& src = placed[fwd_placed[in]];
      const Placed& dst = placed[fwd_placed[out]];
      if (src.end != op[n].step || src.bytes != dst.bytes || src.dtype != dst.dtype) continue;
      int uses = 0;
      for (auto other : nodes_[n].inputs) uses += entry_of(other) == in;
      if (uses == 1 && planner.inplace[fwd_placed[out]] < 0) planner.inplace[fwd_placed[out]] = fwd_placed[in];
    }
  }
  planner.Run(last_step);
  std::vector<std::shared_ptr<Chunk>> chunks(planner.block_bytes.size());
  std::vector<bool> lent;
  if (shared != nullptr) lent.assign(shared->pool_.size(), false);
  // Largest blocks first, each from the smallest lent block that holds it.
  std::vector<int> order(chunks.size());
  for (size_t b = 0; b < order.size(); ++b) order[b] = static_cast<int>(b);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return planner.block_bytes[a] > planner.block_bytes[b]; });
  for (int b : order) {
    const size_t bytes = planner.block_bytes[b];
    if (!planner.block_pinned[b] && shared != nullptr) {
      int best = -1;
      for (size_t c = 0; c < lent.size(); ++c)
        if (!lent[c] && shared->pool_[c]->bytes() >= bytes && shared->pool_[c]->device() == device &&
            (best < 0 || shared->pool_[c]->bytes() < shared->pool_[best]->bytes()))
          best = static_cast<int>(c);
      if (best >= 0) {
        lent[best] = true;
        chunks[b] = shared->pool_[best];
        ++stats_.shared_blocks;
        continue;
      }
    }
    chunks[b] = std::make_shared<Chunk>(bytes, device);
    stats_.planned_bytes += bytes;
  }
  for (size_t b = 0; b < chunks.size(); ++b)
    if (!planner.block_pinned[b]) pool_.push_back(chunks[b]);
  std::vector<NDArray> arrays;
  arrays.reserve(placed.size());
  for (const Placed& p : placed) {
    arrays.push_back(NDArray::OnChunk(chunks[p.block], p.shape, p.dtype));
    stats_.naive_bytes += p.bytes;
  }
  stats_.op_nodes = n_ops;
  stats_.entries = static_cast<int>(placed.size());
  stats_.blocks = static_cast<int>(chunks.size());
  stats_.inplace = planner.inplace_count;

  auto value_of = [&](int e) -> const NDArray& {
    return is_var_entry(e) ? *vars[entry_node[e]].value : arrays[fwd_placed[e]];
  };
  auto grad_of = [&](int e) -> const NDArray& {
    return is_var_entry(e) ? *vars[entry_node[e]].grad : arrays[grad_placed[e]];
  };

  // ---- steps -------------------------------------------------------------------------
  monitored_outputs_.resize(n_ops);
  monitored_inputs_.resize(n_ops);
  for (int n = 0; n < n_nodes; ++n) {
    if (nodes_[n].op.empty()) continue;
    const NodeSpec& node = nodes_[n];
    const OpNode& o = op[n];
    auto s = std::make_shared<Step>();
    std::vector<TensorRef> in, out;
    const auto arg_names = o.def->Arguments(*o.attrs);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const NDArray& a = value_of(entry_of(node.inputs[i]));
      in.push_back(RefOf(a));
      if (static_cast<int>(i) < o.num_args) s->reads.push_back(a.var());
      else s->writes.push_back(a.var());
      const std::string slot = static_cast<int>(i) < o.num_args ? arg_names[i] : o.def->aux[i - o.num_args];
      monitored_inputs_[o.step].emplace_back(node.name + "_" + slot, a);
    }
    const auto out_names = o.def->OutputNames(*o.attrs);
    for (int e = entry_base[n]; e < entry_base[n + 1]; ++e) {
      out.push_back(RefOf(value_of(e)));
      s->writes.push_back(value_of(e).var());
      if (visible(e)) monitored_outputs_[o.step].emplace_back(node.name + "_" + out_names[e - entry_base[n]], value_of(e));
    }
    std::mt19937_64* gen = nullptr;
    s->device = node_device(n);
    if (o.needs_rng) {
      ops::RandomResource r = ops::RandomFor(s->device);
      s->writes.push_back(r.var);
      gen = r.gen;
    }
    s->run = [def = o.def, attrs = o.attrs, in = std::move(in), out = std::move(out), gen](bool is_train) {
      def->forward(ops::OpContext{is_train, gen}, *attrs, in, out);
    };
    s->label = node.op;
    s->name = Intern(s->label);
    forward_.push_back(std::move(s));
  }
  for (const BwdItem& item : bwd) {
    auto s = std::make_shared<Step>();
    std::vector<MonitoredGrad> monitored;
    s->device = node_device(item.node);
    const NodeSpec& node = nodes_[item.node];
    const OpNode& o = op[item.node];
    if (item.kind == BwdItem::kZero) {
      const NDArray& g = grad_of(item.entry);
      s->writes.push_back(g.var());
      s->run = [ref = RefOf(g)](bool) { std::memset(ref.data, 0, ref.size() * DTypeSize(ref.dtype)); };
      s->label = "_zero_grad";
      s->name = Intern(s->label);
    } else if (item.kind == BwdItem::kAccumulate) {
      const NDArray& src = arrays[item.temp];
      const NDArray& dst = grad_of(item.entry);
      s->reads.push_back(src.var());
      s->writes.push_back(dst.var());
      s->run = [src = RefOf(src), dst = RefOf(dst)](bool) { Accumulate(src, dst, OpReq::kAdd); };
      s->label = "_grad_add";
      s->name = Intern(s->label);
    } else {
      std::vector<TensorRef> og, in, out, ig;
      for (int e = entry_base[item.node]; e < entry_base[item.node] + o.num_visible; ++e) {
        og.push_back(RefOf(grad_of(e)));
        s->reads.push_back(grad_of(e).var());
      }
      for (auto input : node.inputs) {
        in.push_back(RefOf(value_of(entry_of(input))));
        s->reads.push_back(value_of(entry_of(input)).var());
      }
      for (int e = entry_base[item.node]; e < entry_base[item.node + 1]; ++e) {
        out.push_back(RefOf(value_of(e)));
        s->reads.push_back(value_of(e).var());
      }
      for (int i = 0; i < o.num_args; ++i) {
        const int e = entry_of(node.inputs[i]);
        TensorRef ref = RefOf(value_of(e));
        ref.data = nullptr;
        if (item.req[i] != OpReq::kNull) {
          const NDArray& g = item.temp_slots[i] >= 0 ? arrays[item.temp_slots[i]] : grad_of(e);
          ref = RefOf(g);
          s->writes.push_back(g.var());
        }
        ig.push_back(ref);
      }
      s->run = [def = o.def, attrs = o.attrs, og = std::move(og), in = std::move(in), out = std::move(out),
                ig = std::move(ig), req = item.req](bool is_train) {
        def->backward(ops::OpContext{is_train, nullptr}, *attrs, ops::BackwardIO{og, in, out, ig, req});
      };
      s->label = "_backward_" + node.op;
      s->name = Intern(s->label);
      ++stats_.backward_nodes;
      // MXNet's monitor names: the node's input gradients are its backward node's outputs.
      for (int i = 0; i < o.num_args; ++i) {
        const std::string name = node.name + "_backward_output" + (o.num_args == 1 ? "" : std::to_string(i));
        const int e = entry_of(node.inputs[i]);
        if (item.req[i] == OpReq::kNull)
          monitored.emplace_back(MonitoredGrad{name, value_of(e), false});
        else
          monitored.emplace_back(
              MonitoredGrad{name, item.temp_slots[i] >= 0 ? arrays[item.temp_slots[i]] : grad_of(e), true});
      }
    }
    monitored_backward_.push_back(std::move(monitored));
    backward_.push_back(std::move(s));
  }
  for (size_t k = 0; k < heads_.size(); ++k) {
    const int e = entry_of(heads_[k]);
    outputs_.push_back(value_of(e));
    if (head_grads_[k].req != OpReq::kNull) head_grads_[k].grad = grad_of(e);
  }
}

void GraphExecutor::Push(const std::shared_ptr<const Step>& step, bool is_train) {
  eng::Engine::Get()->Push(
      eng::Operation::Sync([step, is_train](const eng::RunContext&) { step->run(is_train); }), step->reads,
      step->writes, eng::Placement{step->device}, step->name);
}

std::vector<std::pair<std::string, NDArray>> GraphExecutor::Forward(bool is_train, bool monitor,
                                                                    bool monitor_inputs) {
  std::vector<std::pair<std::string, NDArray>> copies;
  for (size_t t = 0; t < forward_.size(); ++t) {
    Push(forward_[t], is_train);
    if (!monitor) continue;
    auto copy_all = [&](const std::vector<std::pair<std::string, NDArray>>& arrays) {
      for (const auto& [name, a] : arrays) {
        NDArray c(a.shape(), a.dtype(), a.device());
        Copy(a, c);
        copies.emplace_back(name, std::move(c));
      }
    };
    if (monitor_inputs) copy_all(monitored_inputs_[t]);
    copy_all(monitored_outputs_[t]);
  }
  return copies;
}

std::vector<std::pair<std::string, double>> GraphExecutor::MeasureKernels(bool is_train, int reps) {
  eng::Engine::Get()->WaitForAll();
  // `reps` passes in order, back to back (caches see what they see in a real run), and each
  // kernel's mean over them: the statistic a timed run of the executor gives, so that the two
  // compare like for like (the fastest single pass would be a floor no run reaches).
  std::vector<std::pair<std::string, double>> mean;
  for (const auto* steps : {&forward_, &backward_})
    for (const auto& s : *steps) mean.emplace_back(s->label, 0.0);
  for (int r = 0; r < std::max(reps, 1); ++r) {
    size_t i = 0;
    for (const auto* steps : {&forward_, &backward_})
      for (const auto& s : *steps) {
        const auto t0 = std::chrono::steady_clock::now();
        s->run(is_train);
        mean[i++].second += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
  }
  for (auto& m : mean) m.second /= std::max(reps, 1);
  return mean;
}

std::vector<std::pair<std::string, NDArray>> GraphExecutor::Backward(
    const std::vector<std::optional<NDArray>>& head_grads, bool is_train, bool monitor) {
  // As in MXNet, an executor without gradients (grad_req 'null' everywhere) has nothing to do.
  if (!has_backward_) return {};
  if (!head_grads.empty() && head_grads.size() != heads_.size())
    throw std::invalid_argument("backward: out_grads has " + std::to_string(head_grads.size()) +
                                " arrays, expected one per output (" + std::to_string(heads_.size()) + ")");
  for (size_t k = 0; k < head_grads.size(); ++k) {
    if (!head_grads[k]) continue;
    const NDArray& g = *head_grads[k];
    if (g.shape() != outputs_[k].shape() || g.dtype() != outputs_[k].dtype())
      throw std::invalid_argument("backward: out_grads[" + std::to_string(k) + "] has shape " +
                                  ShapeString(g.shape()) + " and type " + DTypeName(g.dtype()) + ", expected " +
                                  ShapeString(outputs_[k].shape()) + " and " + DTypeName(outputs_[k].dtype()));
    if (g.device().type != device_.type)
      throw std::invalid_argument("backward: out_grads[" + std::to_string(k) + "] is on " +
                                  DeviceString(g.device()) + ", expected " + DeviceString(device_));
  }
  // MXNet's rule and message: an output whose gradient flows back (not a loss head) needs one.
  for (size_t k = 0; k < heads_.size(); ++k)
    if (head_grads_[k].req != OpReq::kNull && (k >= head_grads.size() || !head_grads[k]))
      throw std::invalid_argument(
          "backward: output " + std::to_string(k) + " is not a loss head, so its gradient is "
          "required (pass out_grads, one per output). Because the last operator is not Loss "
          "function, head_gradient is required when calling backward. If you are attempting to "
          "minimize the output as an objective, please modify your network and pass it "
          "through the make_loss symbol.");
  static const eng::OpName head_name = Intern("_head_grad");
  for (size_t k = 0; k < heads_.size(); ++k) {
    const HeadGrad& h = head_grads_[k];
    if (h.req == OpReq::kNull) continue;
    const NDArray& src = *head_grads[k];
    eng::Var* reads[] = {src.var()};
    eng::Var* writes[] = {h.grad->var()};
    eng::Engine::Get()->Push(
        eng::Operation::Sync([s = RefOf(src), d = RefOf(*h.grad), req = h.req](const eng::RunContext&) {
          Accumulate(s, d, req);
        }),
        reads, writes, eng::Placement{device_}, head_name);
  }
  std::vector<std::pair<std::string, NDArray>> copies;
  for (size_t t = 0; t < backward_.size(); ++t) {
    Push(backward_[t], is_train);
    if (!monitor) continue;
    for (const auto& m : monitored_backward_[t]) {
      NDArray c(m.array.shape(), m.array.dtype(), m.array.device());
      if (m.computed)
        Copy(m.array, c);
      else
        Fill(c, 0.0);
      copies.emplace_back(m.name, std::move(c));
    }
  }
  return copies;
}

}  // namespace flowmod::executor
