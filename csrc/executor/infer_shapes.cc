// Pass 1 of the plan (plan.h): operators, entries, shapes.
#include <stdexcept>
#include <string>

#include "executor/plan.h"

namespace flowmod::executor {

namespace {

// Resolves the node's operator and attributes and checks its inputs; returns its number of
// outputs.
int ResolveNode(const Graph& g, int n, Entries& entries) {
  const NodeSpec& node = g.nodes[n];
  int outputs = 1;
  if (!node.op.empty()) {
    OpNode& o = entries.op[n];
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
    const int src_outputs = entries.base[src + 1] - entries.base[src];
    if (index < 0 || index >= src_outputs)
      NodeError(node, "input " + g.nodes[src].name + " output " + std::to_string(index) + " does not exist");
  }
  return outputs;
}

// A variable's entry takes the bound array's shape and type, once the binding is checked.
void BindVariable(const Graph& g, int n, Entries& entries) {
  const NodeSpec& node = g.nodes[n];
  const VarBinding& v = g.vars[n];
  if (!v.value) NodeError(node, "no array is bound to this input");
  if (v.value->device().type != g.device.type)
    NodeError(node, "the array is on " + DeviceString(v.value->device()) + ", expected a device like " +
                        DeviceString(g.device));
  if (v.req != ops::OpReq::kNull) {
    if (!v.grad) NodeError(node, "grad_req is not 'null' but no gradient array is bound");
    if (v.grad->shape() != v.value->shape() || v.grad->dtype() != v.value->dtype())
      NodeError(node, "the gradient array has shape " + ShapeString(v.grad->shape()) + " and type " +
                          DTypeName(v.grad->dtype()) + ", expected " + ShapeString(v.value->shape()) +
                          " and " + DTypeName(v.value->dtype()));
    if (v.grad->device().type != g.device.type)
      NodeError(node, "the gradient array is on " + DeviceString(v.grad->device()) +
                          ", expected a device like " + DeviceString(g.device));
  }
  entries.shape[entries.base[n]] = v.value->shape();
  entries.dtype[entries.base[n]] = v.value->dtype();
}

// An operator node's output shapes and types from its inputs'; it takes the next forward step.
void InferNode(const Graph& g, int n, Entries& entries) {
  const NodeSpec& node = g.nodes[n];
  OpNode& o = entries.op[n];
  o.step = entries.n_ops++;
  std::vector<Shape> in_shapes;
  std::vector<DType> in_types;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int e = entries.Of(node.inputs[i]);
    in_shapes.push_back(entries.shape[e]);
    in_types.push_back(entries.dtype[e]);
    if (static_cast<int>(i) >= o.num_args && !g.nodes[entries.node[e]].op.empty())
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
    entries.shape[entries.base[n] + i] = out_shapes[i];
    entries.dtype[entries.base[n] + i] = out_types[i];
  }
}

}  // namespace

Entries InferShapes(const Graph& g) {
  const int n_nodes = static_cast<int>(g.nodes.size());
  if (n_nodes == 0) throw std::invalid_argument("bind: the graph has no nodes");
  if (static_cast<int>(g.vars.size()) != n_nodes)
    throw std::invalid_argument("bind: " + std::to_string(g.vars.size()) + " variable bindings for " +
                                std::to_string(n_nodes) + " nodes");
  if (g.heads.empty()) throw std::invalid_argument("bind: the graph has no outputs");

  Entries entries;
  entries.op.resize(n_nodes);
  entries.base.assign(n_nodes + 1, 0);
  for (int n = 0; n < n_nodes; ++n) entries.base[n + 1] = entries.base[n] + ResolveNode(g, n, entries);
  entries.node.resize(entries.count());
  for (int n = 0; n < n_nodes; ++n)
    for (int e = entries.base[n]; e < entries.base[n + 1]; ++e) entries.node[e] = n;
  for (auto h : g.heads) {
    if (h.first < 0 || h.first >= n_nodes || h.second < 0 ||
        h.second >= (g.nodes[h.first].op.empty() ? 1 : entries.op[h.first].num_visible))
      throw std::invalid_argument("bind: output (" + std::to_string(h.first) + ", " +
                                  std::to_string(h.second) + ") is not a node's visible output");
  }

  entries.shape.resize(entries.count());
  entries.dtype.assign(entries.count(), DType::kUnknown);
  for (int n = 0; n < n_nodes; ++n) {
    if (g.nodes[n].op.empty()) BindVariable(g, n, entries);
    else InferNode(g, n, entries);
  }
  return entries;
}

}  // namespace flowmod::executor
