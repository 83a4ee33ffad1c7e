// Pass 2 of the plan (plan.h): which gradients flow. Forward, an entry needs a gradient when
// an argument it depends on has one; backward from the heads, a node's kernel runs when a
// gradient reaches one of its outputs and its inputs need one.
#include "executor/plan.h"

namespace flowmod::executor {

GradientFlow PruneBackward(const Graph& g, const Entries& entries) {
  const int n_nodes = static_cast<int>(g.nodes.size());
  const auto& op = entries.op;
  const auto& base = entries.base;
  GradientFlow flow;
  flow.needs.assign(entries.count(), false);
  for (int n = 0; n < n_nodes; ++n) {
    if (g.nodes[n].op.empty()) {
      flow.needs[base[n]] = g.vars[n].req != ops::OpReq::kNull;
      continue;
    }
    bool any = false;
    for (int i = 0; i < op[n].num_args; ++i) any = any || flow.needs[entries.Of(g.nodes[n].inputs[i])];
    for (int e = base[n]; e < base[n] + op[n].num_visible; ++e) flow.needs[e] = any;
  }
  flow.receives.assign(entries.count(), false);
  for (auto h : g.heads)
    if (flow.needs[entries.Of(h)]) flow.receives[entries.Of(h)] = true;
  flow.runs.assign(n_nodes, false);
  for (int n = n_nodes - 1; n >= 0; --n) {
    if (g.nodes[n].op.empty()) continue;
    bool reached = false;
    for (int e = base[n]; e < base[n] + op[n].num_visible; ++e) reached = reached || flow.receives[e];
    if (!reached || !flow.needs[base[n]]) continue;
    if (!op[n].def->HasBackward())
      NodeError(g.nodes[n], "the operator has no gradient, and a gradient is requested through it "
                            "(bind the inputs that lead here with grad_req='null')");
    flow.runs[n] = true;
    for (int i = 0; i < op[n].num_args; ++i) {
      const int e = entries.Of(g.nodes[n].inputs[i]);
      if (flow.needs[e]) flow.receives[e] = true;
    }
  }
  return flow;
}

}  // namespace flowmod::executor
