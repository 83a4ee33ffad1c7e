// The executor's plan: what GraphExecutor (graph_executor.h) runs, built once at bind by five
// passes, each a function in its own file here and each tested on a small graph in
// csrc/executor/tests/test_plan.cc:
//   InferShapes    infer_shapes.cc    resolves each node's operator, numbers the entries (node
//                                     outputs), infers their shapes and types
//   PruneBackward  prune_backward.cc  which entries need a gradient, which backward kernels run
//   Lifetimes      lifetimes.cc       the timeline: the arrays the plan places, the backward
//                                     sequence, and the steps each array is live
//   AssignStorage  assign_storage.cc  in-place outputs and the storage blocks arrays share,
//                                     then the blocks' memory (AllocateBlocks)
//   BuildSteps     build_steps.cc     arrays on the blocks and the operations pushed to the engine
// MakePlan (plan.cc) chains them in that order. The timeline and the gradient rules the passes
// follow are described in graph_executor.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine.h"
#include "ndarray/ndarray.h"
#include "ops/op_registry.h"

namespace flowmod::executor {

// ---- The graph a plan is made for ------------------------------------------------------

// One node of the graph: a variable (empty op) or an operator applied to earlier entries.
struct NodeSpec {
  std::string op;
  std::string name;
  ops::AttrMap attrs;
  std::vector<std::pair<int, int>> inputs;  // (node, output)
  // The CPU device whose workers run this operator (model parallelism); -1: the executor's.
  int device = -1;
};

// What a variable node is bound to.
struct VarBinding {
  std::optional<NDArray> value;  // required for every variable
  std::optional<NDArray> grad;   // required when req is not kNull
  ops::OpReq req = ops::OpReq::kNull;
};

// `nodes` in topological order (inputs refer to earlier nodes), `heads` the graph outputs as
// (node, output), `vars` one per node (read for variable nodes only), `device` where
// operators run unless their NodeSpec names another.
struct Graph {
  const std::vector<NodeSpec>& nodes;
  const std::vector<std::pair<int, int>>& heads;
  const std::vector<VarBinding>& vars;
  engine::DeviceId device;
};

// ---- InferShapes -----------------------------------------------------------------------

struct OpNode {
  const ops::OpDef* def = nullptr;  // null for a variable
  std::shared_ptr<const ops::OpAttrs> attrs;
  int num_args = 0, num_visible = 0;
  int step = -1;  // forward step
  bool needs_rng = false;
};

// Every node's outputs are entries, numbered node after node (a variable has one).
struct Entries {
  std::vector<OpNode> op;     // per node
  std::vector<int> base;      // per node, and one past the last: the node's first entry
  std::vector<int> node;      // per entry: the node it is an output of
  std::vector<Shape> shape;   // per entry
  std::vector<DType> dtype;   // per entry
  int n_ops = 0;              // operator nodes, which are forward steps 0 .. n_ops - 1

  int count() const { return base.back(); }
  int Of(std::pair<int, int> in) const { return base[in.first] + in.second; }
  bool IsVar(int e) const { return op[node[e]].def == nullptr; }
  // An output the graph shows (not an operator's hidden extra output).
  bool Visible(int e) const { return IsVar(e) || e - base[node[e]] < op[node[e]].num_visible; }
};

// Resolves and checks every node (operator, arity, inputs, bound arrays) and infers the
// entries' shapes and types in topological order. Throws std::invalid_argument naming the
// node when the graph cannot be planned.
Entries InferShapes(const Graph& g);

// ---- PruneBackward ---------------------------------------------------------------------

struct GradientFlow {
  std::vector<bool> needs;     // per entry: it depends on an argument bound with a gradient
  std::vector<bool> receives;  // per entry: a gradient reaches it from a head
  std::vector<bool> runs;      // per node: its backward kernel runs
};

// Throws when a gradient is requested through an operator that has none.
GradientFlow PruneBackward(const Graph& g, const Entries& entries);

// ---- Lifetimes -------------------------------------------------------------------------

// An array the plan places: an operator output, a gradient buffer or a temporary.
struct Placed {
  Shape shape;
  DType dtype = DType::kFloat32;
  size_t bytes = 0;
  int start = 0, end = 0;  // first and last step that touch it
  bool pinned = false;     // a graph output: storage of its own, never reused
};

// One item of the backward sequence, in the order the backward pass pushes them.
struct BackwardItem {
  enum Kind { kZero, kNode, kAccumulate } kind;
  int node = -1;
  int entry = -1;               // kZero: entry whose gradient is zeroed; kAccumulate: destination
  int temp = -1;                // kAccumulate: placed temporary
  std::vector<int> temp_slots;  // kNode: per argument slot, a placed temporary or -1
  std::vector<ops::OpReq> req;  // kNode: per argument
};

struct Timeline {
  std::vector<Placed> placed;
  std::vector<int> fwd_placed;   // per entry: its placed value, -1 for a variable's
  std::vector<int> grad_placed;  // per entry: its placed gradient buffer, or -1
  std::vector<bool> is_head;     // per entry
  std::vector<BackwardItem> backward;
  std::vector<ops::OpReq> head_req;  // per head: how its gradient is stored (kNull: none flows)
  int last_step = 0;
};

Timeline Lifetimes(const Graph& g, const Entries& entries, const GradientFlow& flow);

// ---- AssignStorage ---------------------------------------------------------------------

struct Storage {
  std::vector<int> block;  // per placed array
  std::vector<size_t> block_bytes;
  std::vector<bool> block_pinned;  // holds a graph output
  int inplace = 0;                 // outputs written over an input no longer needed
};

// Places the timeline's arrays into blocks: arrays live at the same time never share one; an
// operator output may take over the block of an input whose last use it is (OpDef::inplace).
Storage AssignStorage(const Graph& g, const Entries& entries, const Timeline& timeline);

struct PlanStats {
  int op_nodes = 0;        // operator nodes run by forward
  int backward_nodes = 0;  // gradient kernels run by backward
  int entries = 0;         // arrays the plan places: operator outputs and gradient buffers
  int blocks = 0;          // storage blocks they were placed in (outputs of the graph included)
  int inplace = 0;         // outputs written over an input that was no longer needed
  int shared_blocks = 0;   // blocks taken from the shared executor's pool
  size_t planned_bytes = 0;  // bytes of the blocks this executor allocated
  size_t naive_bytes = 0;    // bytes if every entry had its own storage
};

// The memory of each block: largest blocks first, each from the smallest chunk of `lendable`
// (another executor's pool, on `device`) that holds it and is not lent yet, else new. Pinned
// blocks are always new. Counts shared_blocks and planned_bytes in `stats`.
std::vector<std::shared_ptr<Chunk>> AllocateBlocks(const Storage& storage,
                                                   const std::vector<std::shared_ptr<Chunk>>* lendable,
                                                   engine::DeviceId device, PlanStats& stats);

// ---- BuildSteps ------------------------------------------------------------------------

// One pushed operation, prepared at bind.
struct Step {
  std::function<void(bool is_train)> run;
  // Set instead of `run` for an asynchronous kernel (an operator written in Python), pushed
  // on `lane`: it finishes when it calls the Completion.
  std::function<void(bool is_train, engine::Completion done)> run_async;
  engine::Lane lane = engine::Lane::kCompute;
  std::vector<engine::Var*> reads, writes;
  engine::OpName name = 0;
  engine::DeviceId device;
  std::string label;  // the name, for measurements
};

// A head's gradient buffer and how the head's gradient is stored there (the first
// contribution writes).
struct HeadGrad {
  std::optional<NDArray> grad;
  ops::OpReq req = ops::OpReq::kNull;
};

struct Steps {
  std::vector<std::shared_ptr<const Step>> forward, backward;
  std::vector<HeadGrad> head_grads;  // per head
  std::vector<NDArray> outputs;      // per head
  // Per forward step: the names and arrays a monitor copies.
  std::vector<std::vector<std::pair<std::string, NDArray>>> monitored_outputs, monitored_inputs;
  // Per backward step: the input gradients a monitor copies, named as MXNet's monitor names a
  // backward node's outputs (`computed` false: grad_req 'null', reported as zeros of the shape).
  struct MonitoredGrad {
    std::string name;
    NDArray array;
    bool computed;
  };
  std::vector<std::vector<MonitoredGrad>> monitored_backward;
};

// Puts the placed arrays on `chunks` (one per block) and prepares every forward and backward
// operation with its arrays and engine vars. Counts backward_nodes and naive_bytes in `stats`.
Steps BuildSteps(const Graph& g, const Entries& entries, const Timeline& timeline, const Storage& storage,
                 const std::vector<std::shared_ptr<Chunk>>& chunks, PlanStats& stats);

// ---- The plan --------------------------------------------------------------------------

struct Plan {
  Steps steps;
  std::vector<std::shared_ptr<Chunk>> pool;  // the plan's storage blocks other plans may borrow
  PlanStats stats;
  bool has_backward = false;
};

// Runs the five passes. `lendable`, when given, is another plan's pool whose blocks this plan
// may use (plans of one model with different shapes, run one at a time).
Plan MakePlan(const Graph& g, const std::vector<std::shared_ptr<Chunk>>* lendable);

// ---- Shared by the passes and the executor ---------------------------------------------

// A bind-time error about one node (std::invalid_argument).
[[noreturn]] void NodeError(const NodeSpec& node, const std::string& what);
std::string DeviceString(engine::DeviceId d);
inline ops::TensorRef RefOf(const NDArray& a) { return ops::TensorRef{a.data(), a.shape(), a.dtype()}; }
engine::OpName Intern(const std::string& name);
// dst = src (kWrite) or dst += src (kAdd), element by element (same shape and type).
void Accumulate(const ops::TensorRef& src, const ops::TensorRef& dst, ops::OpReq req);

}  // namespace flowmod::executor
