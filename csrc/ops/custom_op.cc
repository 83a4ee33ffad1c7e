#include "ops/custom_op.h"

#include <mutex>

#include "engine.h"
#include "var.h"

namespace flowmod::ops {

namespace {

struct CustomAttrs : OpAttrs {
  std::shared_ptr<CustomProp> prop;
};

std::mutex factory_mu;
CustomPropFactory& Factory() {
  static auto* factory = new CustomPropFactory();
  return *factory;
}

bool IsGraphAttribute(const std::string& key) {
  return key.size() > 4 && key.compare(0, 2, "__") == 0 && key.compare(key.size() - 2, 2, "__") == 0;
}

std::shared_ptr<const OpAttrs> Parse(const AttrMap& attrs) {
  // Graph attributes (__lr_mult__, __init__) belong to the graph, not to the prop.
  AttrMap kwargs;
  for (const auto& [key, value] : attrs)
    if (!IsGraphAttribute(key)) kwargs.emplace(key, value);
  auto it = kwargs.find("op_type");
  if (it == kwargs.end()) {
    // Every other attribute goes to a prop's __init__: without op_type no prop can take it.
    if (!kwargs.empty())
      throw OpArgumentError("Custom", kwargs.begin()->first, "'" + kwargs.begin()->second + "'",
                            "op_type among the attributes, naming the operator registered with "
                            "mx.operator.register whose prop takes the others");
    throw OpArgumentError("Custom", "op_type", "(not given)",
                          "the name of an operator registered with mx.operator.register");
  }
  if (it->second.empty())
    throw OpArgumentError("Custom", "op_type", "''", "the name of an operator registered with mx.operator.register");
  const std::string op_type = it->second;
  kwargs.erase(it);
  CustomPropFactory factory;
  {
    std::lock_guard<std::mutex> lock(factory_mu);
    factory = Factory();
  }
  if (!factory)
    throw OpArgumentError("Custom", "op_type", op_type, "an embedding that registers custom operators");
  auto parsed = std::make_shared<CustomAttrs>();
  parsed->prop = factory(op_type, kwargs);
  return parsed;
}

const CustomProp& PropOf(const OpAttrs& a) { return *static_cast<const CustomAttrs&>(a).prop; }
CustomProp& MutablePropOf(const OpAttrs& a) { return *static_cast<const CustomAttrs&>(a).prop; }

// What the Python code sees of one call: arrays over the operation's storage under vars of
// their own, and the arrays themselves, for the operation that finishes the call.
class CallArrays {
 public:
  explicit CallArrays(engine::DeviceId device) : device_(device) {}

  std::vector<NDArray> Borrow(std::span<const TensorRef> refs) {
    std::vector<NDArray> arrays;
    for (const TensorRef& t : refs) arrays.push_back(Borrow(t));
    return arrays;
  }
  NDArray Borrow(const TensorRef& t) {
    auto chunk = std::make_shared<Chunk>(Chunk::Borrowed{}, t.data, static_cast<size_t>(t.size()) * DTypeSize(t.dtype),
                                         device_);
    chunks_.push_back(chunk);
    return NDArray::OnChunk(std::move(chunk), t.shape, t.dtype);
  }
  // The arrays `refs` are outputs the Python code must write (req 'write'), named `names`.
  std::vector<NDArray> BorrowOutputs(std::span<const TensorRef> refs, const std::vector<std::string>& names) {
    std::vector<NDArray> arrays;
    for (size_t i = 0; i < refs.size(); ++i) {
      must_write_.emplace_back(chunks_.size(), i < names.size() ? names[i] : std::to_string(i));
      arrays.push_back(Borrow(refs[i]));
    }
    return arrays;
  }
  // An array of its own for a gradient nobody asked for (req 'null'), which the Python code
  // may still be handed and write.
  NDArray Scratch(const TensorRef& t) {
    NDArray a(t.shape, t.dtype, device_);
    chunks_.push_back(a.chunk());
    return a;
  }

  // Pushes the operation that ends the call: it writes every array's var, so it runs after
  // everything the Python code pushed on them, then finishes the Custom operation, failed if
  // the Python code raised (`error`) or an operation it pushed failed.
  void Finish(const std::string& op_type, const char* what, std::string error, engine::Completion done) {
    std::vector<engine::Var*> writes;
    for (const auto& c : chunks_) writes.push_back(c->var());
    static const engine::OpName name = engine::Engine::Get()->stats().Intern("_custom_finish");
    engine::Engine::Get()->Push(
        engine::Operation::Sync([chunks = std::move(chunks_), must_write = std::move(must_write_), op_type, what,
                                 error = std::move(error), done](const engine::RunContext&) {
          if (!error.empty()) return done.Fail("custom operator '" + op_type + "' failed in " + what + ": " + error);
          for (const auto& c : chunks)
            if (auto e = c->var()->error())
              return done.Fail("custom operator '" + op_type + "': an operation its " + what + " pushed failed: " +
                               e->What());
          // Every write of an array goes through the engine, so one never written has version 0.
          for (const auto& [index, name] : must_write)
            if (chunks[index]->var()->version() == 0)
              return done.Fail("custom operator '" + op_type + "': " + what + " returned without assigning output '" +
                               name + "' (req 'write'): assign it, e.g. self.assign(out_data[i], req[i], value)");
          done();
        }),
        {}, writes, engine::Placement{device_}, name);
  }

 private:
  engine::DeviceId device_;
  std::vector<std::shared_ptr<Chunk>> chunks_;
  std::vector<std::pair<size_t, std::string>> must_write_;  // (index in chunks_, output name)
};

void Forward(const OpContext& ctx, const OpAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
             engine::Completion done) {
  CustomProp& prop = MutablePropOf(a);
  const size_t n_args = prop.arguments().size();
  CallArrays arrays(ctx.device);
  CustomCall call{ctx.device, ctx.is_train, std::vector<OpReq>(out.size(), OpReq::kWrite), {}};
  call.groups.push_back(arrays.Borrow(in.first(n_args)));
  call.groups.push_back(arrays.BorrowOutputs(out, prop.outputs()));
  call.groups.push_back(arrays.Borrow(in.subspan(n_args)));
  std::string error = prop.Forward(call);
  call.groups.clear();
  arrays.Finish(prop.op_type(), "forward", std::move(error), std::move(done));
}

void Backward(const OpContext& ctx, const OpAttrs& a, const BackwardIO& io, engine::Completion done) {
  CustomProp& prop = MutablePropOf(a);
  const size_t n_args = prop.arguments().size();
  CallArrays arrays(ctx.device);
  CustomCall call{ctx.device, ctx.is_train, {io.req.begin(), io.req.end()}, {}};
  call.groups.push_back(arrays.Borrow(io.out_grads));
  call.groups.push_back(arrays.Borrow(io.inputs.first(n_args)));
  call.groups.push_back(arrays.Borrow(io.outputs));
  std::vector<NDArray> in_grad;
  for (size_t i = 0; i < io.in_grads.size(); ++i)
    in_grad.push_back(io.req[i] == OpReq::kNull ? arrays.Scratch(io.inputs[i]) : arrays.Borrow(io.in_grads[i]));
  call.groups.push_back(std::move(in_grad));
  call.groups.push_back(arrays.Borrow(io.inputs.subspan(n_args)));
  std::string error = prop.Backward(call);
  call.groups.clear();
  arrays.Finish(prop.op_type(), "backward", std::move(error), std::move(done));
}

OpDef MakeCustomDef() {
  OpDef def;
  def.name = "Custom";
  def.parse = Parse;
  def.list_inputs = [](const OpAttrs& a) { return PropOf(a).arguments(); };
  def.list_aux = [](const OpAttrs& a) { return PropOf(a).aux_states(); };
  def.list_outputs = [](const OpAttrs& a) { return PropOf(a).outputs(); };
  def.count_outputs = [](const OpAttrs& a) { return static_cast<int>(PropOf(a).outputs().size()); };
  def.infer_shape = [](const OpAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    PropOf(a).InferShape(in, out);
  };
  def.infer_type = [](const OpAttrs& a, std::vector<DType>& in, std::vector<DType>& out) {
    PropOf(a).InferType(in, out);
  };
  def.forward_async = Forward;
  def.backward_async = Backward;
  def.lane = engine::Lane::kPython;
  // A loss written in Python (need_top_grad=False) takes no gradient from above, as MXNet's.
  def.ignores_out_grad_if = [](const OpAttrs& a) { return !PropOf(a).need_top_grad(); };
  return Described(std::move(def),
                   "Apply a custom operator implemented in a frontend language (like Python): a class "
                   "derived from mx.operator.CustomOp, with its CustomOpProp registered by "
                   "mx.operator.register(op_type). Its inputs, outputs, auxiliary states, shapes, types "
                   "and gradient are the ones that class declares.",
                   {{"data", "Input data for the custom operator."}},
                   {Undocumented("op_type", "string",
                                 "Name of the custom operator: the name its CustomOpProp was registered "
                                 "under. Every other keyword argument is passed to the prop's __init__ "
                                 "as a string.")});
}

}  // namespace

void SetCustomPropFactory(CustomPropFactory factory) {
  std::lock_guard<std::mutex> lock(factory_mu);
  Factory() = std::move(factory);
}

FLOWMOD_REGISTER_OP(MakeCustomDef());

}  // namespace flowmod::ops
