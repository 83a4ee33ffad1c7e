// The executor plan's passes (csrc/executor/plan.h), each checked on its own output for a
// small graph of three test operators registered here (no kernel library needed):
//   _test_neg(data) = -data     in place allowed; gradient -og
//   _test_add(lhs, rhs)         in place allowed on lhs; gradient og to both
//   _test_stop(data) = data     no gradient
// The training graph is  x (grad) --neg--> a --add(a, w)--> b  (head), w without a gradient.
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "executor/plan.h"
#include "ops/op_util.h"

namespace ex = flowmod::executor;
namespace ops = flowmod::ops;
using flowmod::DType;
using flowmod::NDArray;
using flowmod::Shape;
using ops::OpReq;

namespace {

const flowmod::engine::DeviceId kCpu = flowmod::engine::DeviceId::Cpu(0);

// Stores `v` into `dst` under `req`.
void Put(float& dst, float v, OpReq req) {
  if (req == OpReq::kWrite) dst = v;
  else if (req == OpReq::kAdd) dst += v;
}

ops::OpDef TestOp(const std::string& name, std::vector<std::string> inputs) {
  ops::OpDef def;
  def.name = name;
  def.inputs = std::move(inputs);
  def.parse = [](const ops::AttrMap&) { return std::make_shared<const ops::NoAttrs>(); };
  def.infer_shape = [name](const ops::OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ops::ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const ops::OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ops::ElemwiseType(name, in, out);
  };
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  ops::OpDef neg = TestOp("_test_neg", {"data"});
  neg.forward = [](const ops::OpContext&, const ops::OpAttrs&, std::span<const ops::TensorRef> in,
                   std::span<const ops::TensorRef> out) {
    for (int64_t i = 0; i < in[0].size(); ++i) out[0].ptr<float>()[i] = -in[0].ptr<float>()[i];
  };
  neg.backward = [](const ops::OpContext&, const ops::OpAttrs&, const ops::BackwardIO& io) {
    for (int64_t i = 0; i < io.in_grads[0].size(); ++i)
      Put(io.in_grads[0].ptr<float>()[i], -io.out_grads[0].ptr<float>()[i], io.req[0]);
  };
  ops::Registry::Add(std::move(neg));
  ops::OpDef add = TestOp("_test_add", {"lhs", "rhs"});
  add.forward = [](const ops::OpContext&, const ops::OpAttrs&, std::span<const ops::TensorRef> in,
                   std::span<const ops::TensorRef> out) {
    for (int64_t i = 0; i < out[0].size(); ++i)
      out[0].ptr<float>()[i] = in[0].ptr<float>()[i] + in[1].ptr<float>()[i];
  };
  add.backward = [](const ops::OpContext&, const ops::OpAttrs&, const ops::BackwardIO& io) {
    for (int k = 0; k < 2; ++k)
      if (io.req[k] != OpReq::kNull)
        for (int64_t i = 0; i < io.in_grads[k].size(); ++i)
          Put(io.in_grads[k].ptr<float>()[i], io.out_grads[0].ptr<float>()[i], io.req[k]);
  };
  ops::Registry::Add(std::move(add));
  ops::OpDef stop = TestOp("_test_stop", {"data"});
  stop.forward = [](const ops::OpContext&, const ops::OpAttrs&, std::span<const ops::TensorRef> in,
                    std::span<const ops::TensorRef> out) {
    for (int64_t i = 0; i < in[0].size(); ++i) out[0].ptr<float>()[i] = in[0].ptr<float>()[i];
  };
  ops::Registry::Add(std::move(stop));
  return true;
}();

ex::NodeSpec Var(const std::string& name) { return ex::NodeSpec{"", name, {}, {}}; }
ex::NodeSpec Op(const std::string& op, const std::string& name, std::vector<std::pair<int, int>> inputs) {
  return ex::NodeSpec{op, name, {}, std::move(inputs)};
}

ex::VarBinding Bound(const Shape& shape, OpReq req) {
  ex::VarBinding v;
  v.value = NDArray(shape, DType::kFloat32, kCpu);
  if (req != OpReq::kNull) v.grad = NDArray(shape, DType::kFloat32, kCpu);
  v.req = req;
  return v;
}

// A graph and the bindings it refers to, kept alive together.
struct TestGraph {
  std::vector<ex::NodeSpec> nodes;
  std::vector<std::pair<int, int>> heads;
  std::vector<ex::VarBinding> vars;
  ex::Graph graph() const { return ex::Graph{nodes, heads, vars, kCpu}; }
};

// x (grad_req x_req) -> a = neg(x) -> b = add(a, w) -> head b; w has no gradient.
TestGraph Training(OpReq x_req = OpReq::kWrite) {
  TestGraph t;
  t.nodes = {Var("x"), Var("w"), Op("_test_neg", "a", {{0, 0}}), Op("_test_add", "b", {{2, 0}, {1, 0}})};
  t.heads = {{3, 0}};
  t.vars.push_back(Bound({2, 3}, x_req));
  t.vars.push_back(Bound({2, 3}, OpReq::kNull));
  t.vars.push_back(ex::VarBinding{});
  t.vars.push_back(ex::VarBinding{});
  return t;
}

// x -> a = neg(x) -> b = neg(a) -> c = neg(b) -> head c, no gradients.
TestGraph Chain() {
  TestGraph t;
  t.nodes = {Var("x"), Op("_test_neg", "a", {{0, 0}}), Op("_test_neg", "b", {{1, 0}}), Op("_test_neg", "c", {{2, 0}})};
  t.heads = {{3, 0}};
  t.vars = {Bound({4}, OpReq::kNull), {}, {}, {}};
  return t;
}

std::vector<std::string> Labels(const std::vector<std::shared_ptr<const ex::Step>>& steps) {
  std::vector<std::string> out;
  for (const auto& s : steps) out.push_back(s->label);
  return out;
}

}  // namespace

// ---- InferShapes -----------------------------------------------------------------------

TEST(infer_shapes_numbers_entries_and_gives_each_operator_output_its_shape) {
  const TestGraph t = Training();
  const ex::Entries e = ex::InferShapes(t.graph());
  CHECK_EQ(e.count(), 4);
  CHECK(e.base == (std::vector<int>{0, 1, 2, 3, 4}));
  CHECK_EQ(e.n_ops, 2);
  CHECK_EQ(e.op[2].step, 0);
  CHECK_EQ(e.op[3].step, 1);
  CHECK_EQ(e.op[3].num_args, 2);
  CHECK(e.shape[3] == (Shape{2, 3}));
  CHECK(e.dtype[3] == DType::kFloat32);
  CHECK(e.IsVar(0) && e.IsVar(1) && !e.IsVar(2));
}

TEST(infer_shapes_rejects_an_unknown_operator_naming_the_node) {
  TestGraph t = Training();
  t.nodes[2].op = "_test_missing";
  try {
    ex::InferShapes(t.graph());
    CHECK_MSG(false, "no exception");
  } catch (const std::invalid_argument& err) {
    CHECK_EQ(std::string(err.what()), std::string("node a (_test_missing): no operator named '_test_missing'"));
  }
}

TEST(infer_shapes_rejects_a_variable_without_an_array) {
  TestGraph t = Training();
  t.vars[1].value.reset();
  CHECK_THROWS(std::invalid_argument, ex::InferShapes(t.graph()));
}

// ---- PruneBackward ---------------------------------------------------------------------

TEST(prune_backward_runs_the_kernels_between_the_head_and_an_argument_with_a_gradient) {
  const TestGraph t = Training();
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::GradientFlow f = ex::PruneBackward(t.graph(), e);
  CHECK(f.needs == (std::vector<bool>{true, false, true, true}));
  CHECK(f.receives == (std::vector<bool>{true, false, true, true}));
  CHECK(f.runs == (std::vector<bool>{false, false, true, true}));
}

TEST(prune_backward_runs_nothing_when_no_argument_has_a_gradient) {
  const TestGraph t = Training(OpReq::kNull);
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::GradientFlow f = ex::PruneBackward(t.graph(), e);
  CHECK(f.runs == (std::vector<bool>(4, false)));
}

TEST(prune_backward_rejects_a_gradient_through_an_operator_without_one) {
  TestGraph t = Training();
  t.nodes[2].op = "_test_stop";
  const ex::Entries e = ex::InferShapes(t.graph());
  CHECK_THROWS(std::invalid_argument, ex::PruneBackward(t.graph(), e));
}

// ---- Lifetimes -------------------------------------------------------------------------

TEST(lifetimes_keep_activations_until_their_backward_kernel) {
  const TestGraph t = Training();
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::Timeline tl = ex::Lifetimes(t.graph(), e, ex::PruneBackward(t.graph(), e));
  // Steps: 0 neg, 1 add, 2 head gradient, 3 add's backward, 4 neg's backward.
  CHECK_EQ(tl.last_step, 4);
  CHECK_EQ(tl.placed.size(), 4u);  // a, b, b's gradient, a's gradient (x's is bound)
  const ex::Placed& a = tl.placed[tl.fwd_placed[2]];
  const ex::Placed& b = tl.placed[tl.fwd_placed[3]];
  CHECK_EQ(a.start, 0);
  CHECK_EQ(a.end, 4);
  CHECK_EQ(b.start, 1);
  CHECK_EQ(b.end, 3);
  CHECK(b.pinned && !a.pinned);
  CHECK_EQ(tl.placed[tl.grad_placed[3]].start, 2);
  CHECK_EQ(tl.placed[tl.grad_placed[2]].start, 3);
  CHECK_EQ(tl.grad_placed[0], -1);
  CHECK_EQ(tl.backward.size(), 2u);
  CHECK_EQ(tl.backward[0].node, 3);
  CHECK(tl.backward[0].req == (std::vector<OpReq>{OpReq::kWrite, OpReq::kNull}));
  CHECK_EQ(tl.backward[1].node, 2);
  CHECK(tl.head_req == std::vector<OpReq>{OpReq::kWrite});
}

TEST(lifetimes_give_an_input_read_twice_a_temporary_and_an_addition) {
  TestGraph t = Training();
  t.nodes[3].inputs = {{2, 0}, {2, 0}};  // b = add(a, a)
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::Timeline tl = ex::Lifetimes(t.graph(), e, ex::PruneBackward(t.graph(), e));
  CHECK_EQ(tl.backward.size(), 3u);
  CHECK(tl.backward[0].req == (std::vector<OpReq>{OpReq::kWrite, OpReq::kWrite}));
  CHECK_EQ(tl.backward[0].temp_slots[1], tl.backward[1].temp);
  CHECK(tl.backward[1].kind == ex::BackwardItem::kAccumulate);
  CHECK_EQ(tl.backward[1].entry, 2);
  CHECK_EQ(tl.placed[tl.backward[1].temp].end, 4);
}

TEST(lifetimes_of_an_inference_graph_end_at_the_last_forward_reader) {
  const TestGraph t = Chain();
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::Timeline tl = ex::Lifetimes(t.graph(), e, ex::PruneBackward(t.graph(), e));
  CHECK_EQ(tl.placed.size(), 3u);
  for (int k = 0; k < 2; ++k) {
    CHECK_EQ(tl.placed[k].start, k);
    CHECK_EQ(tl.placed[k].end, k + 1);
  }
  CHECK(tl.backward.empty());
  CHECK(tl.head_req == std::vector<OpReq>{OpReq::kNull});
}

// ---- AssignStorage ---------------------------------------------------------------------

TEST(assign_storage_writes_an_output_over_an_input_at_its_last_use) {
  const TestGraph t = Chain();
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::Timeline tl = ex::Lifetimes(t.graph(), e, ex::PruneBackward(t.graph(), e));
  const ex::Storage s = ex::AssignStorage(t.graph(), e, tl);
  // b over a; c is the head, pinned in a block of its own.
  CHECK_EQ(s.inplace, 1);
  CHECK_EQ(s.block_bytes.size(), 2u);
  CHECK_EQ(s.block[0], s.block[1]);
  CHECK_NE(s.block[2], s.block[0]);
  CHECK(s.block_pinned[s.block[2]]);
  CHECK_EQ(s.block_bytes[s.block[0]], 16u);
}

TEST(assign_storage_never_shares_a_block_between_arrays_live_at_once) {
  const TestGraph t = Training();
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::Timeline tl = ex::Lifetimes(t.graph(), e, ex::PruneBackward(t.graph(), e));
  const ex::Storage s = ex::AssignStorage(t.graph(), e, tl);
  CHECK_EQ(s.inplace, 0);
  for (size_t i = 0; i < tl.placed.size(); ++i)
    for (size_t j = i + 1; j < tl.placed.size(); ++j) {
      const bool overlap = tl.placed[i].start <= tl.placed[j].end && tl.placed[j].start <= tl.placed[i].end;
      if (overlap) CHECK_NE(s.block[i], s.block[j]);
    }
}

TEST(allocate_blocks_borrows_a_lendable_chunk_large_enough) {
  const TestGraph t = Chain();
  const ex::Entries e = ex::InferShapes(t.graph());
  const ex::Timeline tl = ex::Lifetimes(t.graph(), e, ex::PruneBackward(t.graph(), e));
  const ex::Storage s = ex::AssignStorage(t.graph(), e, tl);
  const std::vector<std::shared_ptr<flowmod::Chunk>> lendable = {std::make_shared<flowmod::Chunk>(8, kCpu),
                                                                  std::make_shared<flowmod::Chunk>(64, kCpu)};
  ex::PlanStats stats;
  const auto chunks = ex::AllocateBlocks(s, &lendable, kCpu, stats);
  CHECK(chunks[s.block[0]] == lendable[1]);  // the 8-byte chunk is too small
  CHECK(chunks[s.block[2]] != lendable[0] && chunks[s.block[2]] != lendable[1]);  // pinned: new
  CHECK_EQ(stats.shared_blocks, 1);
  CHECK_EQ(stats.planned_bytes, 16u);
}

// ---- BuildSteps and the whole plan -------------------------------------------------------

TEST(build_steps_prepares_forward_and_backward_operations_in_order) {
  const TestGraph t = Training();
  const ex::Plan plan = ex::MakePlan(t.graph(), nullptr);
  CHECK(Labels(plan.steps.forward) == (std::vector<std::string>{"_test_neg", "_test_add"}));
  CHECK(Labels(plan.steps.backward) == (std::vector<std::string>{"_backward__test_add", "_backward__test_neg"}));
  // add reads a and w and writes b.
  CHECK_EQ(plan.steps.forward[1]->reads.size(), 2u);
  CHECK(plan.steps.forward[1]->reads[1] == t.vars[1].value->var());
  CHECK(plan.steps.forward[1]->writes == std::vector<flowmod::engine::Var*>{plan.steps.outputs[0].var()});
  CHECK_EQ(plan.steps.monitored_outputs[0].size(), 1u);
  CHECK_EQ(plan.steps.monitored_outputs[0][0].first, std::string("a_output"));
  CHECK_EQ(plan.stats.backward_nodes, 2);
  CHECK_EQ(plan.stats.op_nodes, 2);
  CHECK(plan.has_backward);
}

TEST(a_plan_run_step_by_step_computes_the_values_and_gradient) {
  const TestGraph t = Training();
  const ex::Plan plan = ex::MakePlan(t.graph(), nullptr);
  flowmod::engine::Engine::Get()->WaitForAll();  // the ones and the bound arrays exist
  float* x = static_cast<float*>(t.vars[0].value->data());
  float* w = static_cast<float*>(t.vars[1].value->data());
  for (int i = 0; i < 6; ++i) {
    x[i] = static_cast<float>(i);
    w[i] = 10.0f;
  }
  for (const auto& s : plan.steps.forward) s->run(true);
  const ex::HeadGrad& h = plan.steps.head_grads[0];
  ex::Accumulate(ex::RefOf(plan.steps.ones[0]), ex::RefOf(*h.grad), h.req);
  for (const auto& s : plan.steps.backward) s->run(true);
  const float* b = static_cast<const float*>(plan.steps.outputs[0].data());
  const float* gx = static_cast<const float*>(t.vars[0].grad->data());
  for (int i = 0; i < 6; ++i) {
    CHECK_EQ(b[i], 10.0f - static_cast<float>(i));
    CHECK_EQ(gx[i], -1.0f);
  }
}
