// MakePlan: the five passes of plan.h in order, and the helpers they share.
#include "executor/plan.h"

#include <cstring>
#include <stdexcept>

namespace flowmod::executor {

Plan MakePlan(const Graph& g, const std::vector<std::shared_ptr<Chunk>>* lendable) {
  const Entries entries = InferShapes(g);
  const GradientFlow flow = PruneBackward(g, entries);
  const Timeline timeline = Lifetimes(g, entries, flow);
  const Storage storage = AssignStorage(g, entries, timeline);
  Plan plan;
  const auto chunks = AllocateBlocks(storage, lendable, g.device, plan.stats);
  for (size_t b = 0; b < chunks.size(); ++b)
    if (!storage.block_pinned[b]) plan.pool.push_back(chunks[b]);
  plan.stats.op_nodes = entries.n_ops;
  plan.stats.entries = static_cast<int>(timeline.placed.size());
  plan.stats.blocks = static_cast<int>(chunks.size());
  plan.stats.inplace = storage.inplace;
  plan.steps = BuildSteps(g, entries, timeline, storage, chunks, plan.stats);
  plan.has_backward = !timeline.backward.empty();
  for (ops::OpReq req : timeline.head_req) plan.has_backward = plan.has_backward || req != ops::OpReq::kNull;
  return plan;
}

void NodeError(const NodeSpec& node, const std::string& what) {
  throw std::invalid_argument("node " + node.name + (node.op.empty() ? "" : " (" + node.op + ")") +
                              ": " + what);
}

std::string DeviceString(engine::DeviceId d) {
  return std::string(engine::DeviceTypeName(d.type)) + "(" + std::to_string(d.index) + ")";
}

engine::OpName Intern(const std::string& name) { return engine::Engine::Get()->stats().Intern(name); }

void Accumulate(const ops::TensorRef& src, const ops::TensorRef& dst, ops::OpReq req) {
  if (req == ops::OpReq::kWrite) {
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

}  // namespace flowmod::executor
