// The graph executor behind Symbol.bind: a symbolic graph planned once (topological order,
// shapes, which nodes run backward, storage shared between entries whose lifetimes do not
// overlap, in-place outputs) and run by pushing every node to the engine with its read and
// write vars. Forward and Backward are one call each; they return as soon as the work is
// pushed. The plan is built by the passes of plan.h, one file each in this folder; this class
// only runs it.
//
// Timeline the plan is made on: step t < F is the t-th operator node's forward (topological
// order); step F takes the heads' gradients; the steps after it are the backward pass in
// reverse topological order (each node's gradient kernel, preceded by zero fills of output
// gradients nothing contributes to and followed by additions for inputs it reads twice).
// An entry (an operator output or a gradient buffer) is live from the step that writes it to
// the last step that reads it; entries live at the same time never share storage. Forward
// entries read by a backward kernel stay live until that kernel, so a training executor keeps
// its activations and reuses gradient buffers; an inference executor reuses activations.
//
// Gradients: every contribution to an entry's gradient writes the gradient buffer directly,
// the first with OpReq::kWrite and later ones with kAdd (an argument bound with grad_req
// "add" gets kAdd throughout), so a value read by several nodes needs no separate sum.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine.h"
#include "executor/plan.h"
#include "ndarray/ndarray.h"

namespace flowmod::executor {

class GraphExecutor {
 public:
  // `nodes` in topological order (inputs refer to earlier nodes), `heads` the graph outputs,
  // `vars` one per node (used for variable nodes only). Operators run on `device` unless
  // their NodeSpec names another device of its type; host devices share memory, so arrays
  // may be on any of them and the engine's vars order the accesses across devices.
  // `shared`, when given, lends its storage blocks to this executor's plan (executors of one
  // model with different shapes, used one at a time). Throws ops::OpArgumentError naming the
  // node when the graph cannot be planned.
  GraphExecutor(std::vector<NodeSpec> nodes, std::vector<std::pair<int, int>> heads,
                std::vector<VarBinding> vars, engine::DeviceId device,
                const GraphExecutor* shared = nullptr);

  // Pushes every operator node's forward kernel. With `monitor`, also pushes a copy of each
  // operator's outputs (and inputs, with `monitor_inputs`) right after it and returns
  // (name, copy) pairs in execution order.
  std::vector<std::pair<std::string, NDArray>> Forward(bool is_train, bool monitor = false,
                                                       bool monitor_inputs = false);
  // Pushes the backward pass. `head_grads` has one entry per head: the gradient of that output,
  // or nullopt for ones (a loss head ignores it). Throws if the executor was bound without
  // gradients or a head gradient has the wrong shape.
  void Backward(const std::vector<std::optional<NDArray>>& head_grads, bool is_train = true);

  // Waits for all pushed work, then runs the pass (every forward and backward kernel, in
  // order) `reps` times on the calling thread without the engine, timing each kernel. Returns
  // the kernels' names and mean times in seconds per pass: what a pass costs in kernels alone,
  // for measuring the engine's overhead.
  std::vector<std::pair<std::string, double>> MeasureKernels(bool is_train, int reps);

  const std::vector<NDArray>& outputs() const { return plan_.steps.outputs; }
  const PlanStats& stats() const { return plan_.stats; }
  bool has_backward() const { return plan_.has_backward; }

 private:
  void Push(const std::shared_ptr<const Step>& step, bool is_train);

  engine::DeviceId device_;
  Plan plan_;
};

}  // namespace flowmod::executor
