// Pass 5 of the plan (plan.h): steps. The placed arrays are put on their blocks, and every
// forward and backward operation is prepared with the arrays it touches and the engine vars
// it reads and writes, so that running the plan only pushes.
#include <cstring>
#include <random>

#include "executor/plan.h"
#include "profiler.h"

namespace flowmod::executor {

namespace {

using ops::OpReq;
using ops::TensorRef;

// "(32,784) (128,784) (128,) -> (32,128)": what the trace shows of a node's step.
std::string ShapesDetail(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) {
  std::string d;
  auto add = [&d](const std::vector<TensorRef>& refs) {
    for (const TensorRef& r : refs) {
      if (!d.empty() && d.back() != ' ') d += ' ';
      d += '(';
      for (size_t i = 0; i < r.shape.size(); ++i) d += (i ? "," : "") + std::to_string(r.shape[i]);
      d += r.shape.size() == 1 ? ",)" : ")";
    }
  };
  add(in);
  d += " ->";
  add(out);
  return d;
}

// The step's engine name: the node's own label for the trace, its operator for errors and
// the latency histogram.
engine::OpName NodeName(const std::string& label, const std::string& kind, std::string detail) {
  return engine::ProfilerOf(engine::Engine::Get()).Label(Intern(kind), label, std::move(detail));
}

class StepBuilder {
 public:
  StepBuilder(const Graph& g, const Entries& entries, const Timeline& timeline, std::vector<NDArray> arrays,
              PlanStats& stats)
      : g_(g), entries_(entries), t_(timeline), arrays_(std::move(arrays)), stats_(stats) {}

  Steps Build() {
    s_.monitored_outputs.resize(entries_.n_ops);
    s_.monitored_inputs.resize(entries_.n_ops);
    for (int n = 0; n < static_cast<int>(g_.nodes.size()); ++n)
      if (!g_.nodes[n].op.empty()) s_.forward.push_back(ForwardStep(n));
    for (const BackwardItem& item : t_.backward) s_.backward.push_back(BackwardStep(item));
    Heads();
    return std::move(s_);
  }

 private:
  const NDArray& ValueOf(int e) const {
    return entries_.IsVar(e) ? *g_.vars[entries_.node[e]].value : arrays_[t_.fwd_placed[e]];
  }
  const NDArray& GradOf(int e) const {
    return entries_.IsVar(e) ? *g_.vars[entries_.node[e]].grad : arrays_[t_.grad_placed[e]];
  }

  engine::DeviceId NodeDevice(int n) const {
    const int d = g_.nodes[n].device;
    if (d < -1) NodeError(g_.nodes[n], "device " + std::to_string(d) + ": expected an index >= 0");
    return d < 0 ? g_.device : engine::DeviceId{g_.device.type, d};
  }

  // Reads the arguments, writes the outputs and the auxiliary states (and the device's random
  // generator when the operator draws numbers).
  std::shared_ptr<const Step> ForwardStep(int n) {
    const NodeSpec& node = g_.nodes[n];
    const OpNode& o = entries_.op[n];
    auto s = std::make_shared<Step>();
    std::vector<TensorRef> in, out;
    const auto arg_names = o.def->Arguments(*o.attrs);
    const auto aux_names = o.def->AuxStates(*o.attrs);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const NDArray& a = ValueOf(entries_.Of(node.inputs[i]));
      in.push_back(RefOf(a));
      if (static_cast<int>(i) < o.num_args && !o.def->WritesArgument(*o.attrs, static_cast<int>(i)))
        s->reads.push_back(a.var());
      else s->writes.push_back(a.var());
      const std::string slot = static_cast<int>(i) < o.num_args ? arg_names[i] : aux_names[i - o.num_args];
      s_.monitored_inputs[o.step].emplace_back(node.name + "_" + slot, a);
    }
    const auto out_names = o.def->OutputNames(*o.attrs);
    const int base = entries_.base[n];
    for (int e = base; e < entries_.base[n + 1]; ++e) {
      out.push_back(RefOf(ValueOf(e)));
      s->writes.push_back(ValueOf(e).var());
      if (entries_.Visible(e))
        s_.monitored_outputs[o.step].emplace_back(node.name + "_" + out_names[e - base], ValueOf(e));
    }
    const std::string detail = ShapesDetail(in, out);
    std::mt19937_64* gen = nullptr;
    s->device = NodeDevice(n);
    if (o.needs_rng) {
      ops::RandomResource r = ops::RandomFor(s->device);
      s->writes.push_back(r.var);
      gen = r.gen;
    }
    if (o.def->forward_async) {
      s->lane = o.def->lane;
      s->run_async = [def = o.def, attrs = o.attrs, in = std::move(in), out = std::move(out),
                      device = s->device](bool is_train, engine::Completion done) {
        def->forward_async(ops::OpContext{is_train, nullptr, device}, *attrs, in, out, std::move(done));
      };
    } else {
      s->run = [def = o.def, attrs = o.attrs, in = std::move(in), out = std::move(out), gen](bool is_train) {
        def->forward(ops::OpContext{is_train, gen}, *attrs, in, out);
      };
    }
    s->label = node.op;
    s->name = NodeName(node.name + "_forward", s->label, std::move(detail));
    return s;
  }

  std::shared_ptr<const Step> BackwardStep(const BackwardItem& item) {
    auto s = std::make_shared<Step>();
    s->device = NodeDevice(item.node);
    if (item.kind == BackwardItem::kZero) {
      const NDArray& g = GradOf(item.entry);
      s->writes.push_back(g.var());
      s->run = [ref = RefOf(g)](bool) { std::memset(ref.data, 0, ref.size() * DTypeSize(ref.dtype)); };
      s->label = "_zero_grad";
    } else if (item.kind == BackwardItem::kAccumulate) {
      const NDArray& src = arrays_[item.temp];
      const NDArray& dst = GradOf(item.entry);
      s->reads.push_back(src.var());
      s->writes.push_back(dst.var());
      s->run = [src = RefOf(src), dst = RefOf(dst)](bool) { Accumulate(src, dst, OpReq::kAdd); };
      s->label = "_grad_add";
    } else {
      KernelBackward(item, *s);
      ++stats_.backward_nodes;
    }
    s_.monitored_backward.push_back(MonitoredGrads(item));
    if (item.kind != BackwardItem::kNode) s->name = Intern(s->label);
    return s;
  }

  // A node's gradient kernel reads its output gradients, inputs and outputs, and writes the
  // gradient of each argument it computes (a temporary for an argument read twice).
  void KernelBackward(const BackwardItem& item, Step& s) {
    const NodeSpec& node = g_.nodes[item.node];
    const OpNode& o = entries_.op[item.node];
    const int base = entries_.base[item.node];
    std::vector<TensorRef> og, in, out, ig;
    for (int e = base; e < base + o.num_visible; ++e) {
      og.push_back(RefOf(GradOf(e)));
      s.reads.push_back(GradOf(e).var());
    }
    for (auto input : node.inputs) {
      in.push_back(RefOf(ValueOf(entries_.Of(input))));
      s.reads.push_back(ValueOf(entries_.Of(input)).var());
    }
    for (int e = base; e < entries_.base[item.node + 1]; ++e) {
      out.push_back(RefOf(ValueOf(e)));
      s.reads.push_back(ValueOf(e).var());
    }
    for (int i = 0; i < o.num_args; ++i) {
      const int e = entries_.Of(node.inputs[i]);
      TensorRef ref = RefOf(ValueOf(e));
      ref.data = nullptr;
      if (item.req[i] != OpReq::kNull) {
        const NDArray& g = item.temp_slots[i] >= 0 ? arrays_[item.temp_slots[i]] : GradOf(e);
        ref = RefOf(g);
        s.writes.push_back(g.var());
      }
      ig.push_back(ref);
    }
    std::string detail = ShapesDetail(og, ig);
    if (o.def->backward_async) {
      s.lane = o.def->lane;
      s.run_async = [def = o.def, attrs = o.attrs, og = std::move(og), in = std::move(in), out = std::move(out),
                     ig = std::move(ig), req = item.req, device = s.device](bool is_train, engine::Completion done) {
        def->backward_async(ops::OpContext{is_train, nullptr, device}, *attrs, ops::BackwardIO{og, in, out, ig, req},
                            std::move(done));
      };
    } else {
      s.run = [def = o.def, attrs = o.attrs, og = std::move(og), in = std::move(in), out = std::move(out),
               ig = std::move(ig), req = item.req](bool is_train) {
        def->backward(ops::OpContext{is_train, nullptr}, *attrs, ops::BackwardIO{og, in, out, ig, req});
      };
    }
    s.label = "_backward_" + node.op;
    s.name = NodeName(node.name + "_backward", s.label, std::move(detail));
  }

  // What a monitor sees of a gradient kernel: the node's input gradients are its backward
  // node's outputs (`<node>_backward_output[i]`); other backward steps show nothing.
  std::vector<Steps::MonitoredGrad> MonitoredGrads(const BackwardItem& item) {
    std::vector<Steps::MonitoredGrad> monitored;
    if (item.kind != BackwardItem::kNode) return monitored;
    const NodeSpec& node = g_.nodes[item.node];
    const OpNode& o = entries_.op[item.node];
    for (int i = 0; i < o.num_args; ++i) {
      const std::string name = node.name + "_backward_output" + (o.num_args == 1 ? "" : std::to_string(i));
      const int e = entries_.Of(node.inputs[i]);
      if (item.req[i] == OpReq::kNull)
        monitored.push_back({name, ValueOf(e), false});
      else
        monitored.push_back({name, item.temp_slots[i] >= 0 ? arrays_[item.temp_slots[i]] : GradOf(e), true});
    }
    return monitored;
  }

  // Each head's output array and gradient buffer.
  void Heads() {
    s_.head_grads.resize(g_.heads.size());
    for (size_t k = 0; k < g_.heads.size(); ++k) {
      const int e = entries_.Of(g_.heads[k]);
      s_.outputs.push_back(ValueOf(e));
      s_.head_grads[k].req = t_.head_req[k];
      if (t_.head_req[k] != OpReq::kNull) s_.head_grads[k].grad = GradOf(e);
    }
  }

  const Graph& g_;
  const Entries& entries_;
  const Timeline& t_;
  const std::vector<NDArray> arrays_;  // per placed array
  PlanStats& stats_;
  Steps s_;
};

}  // namespace

Steps BuildSteps(const Graph& g, const Entries& entries, const Timeline& timeline, const Storage& storage,
                 const std::vector<std::shared_ptr<Chunk>>& chunks, PlanStats& stats) {
  std::vector<NDArray> arrays;
  arrays.reserve(timeline.placed.size());
  for (size_t p = 0; p < timeline.placed.size(); ++p) {
    const Placed& placed = timeline.placed[p];
    arrays.push_back(NDArray::OnChunk(chunks[storage.block[p]], placed.shape, placed.dtype));
    stats.naive_bytes += placed.bytes;
  }
  return StepBuilder(g, entries, timeline, std::move(arrays), stats).Build();
}

}  // namespace flowmod::executor
