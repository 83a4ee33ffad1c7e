#include "ops/op_registry.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "engine.h"

namespace flowmod::ops {

namespace {

struct Table {
  std::mutex mu;
  std::unordered_map<std::string, std::unique_ptr<OpDef>> ops;
  std::vector<std::string> conflicts;  // names registered twice (the first definition stays)
};

Table& TheTable() {
  static auto* table = new Table();
  return *table;
}

engine::OpName NameOf(const OpDef* def, const char* suffix = "") {
  static std::mutex mu;
  static std::map<std::pair<const OpDef*, std::string>, engine::OpName> names;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_pair(def, std::string(suffix));
  auto it = names.find(key);
  if (it == names.end())
    it = names.emplace(key, engine::Engine::Get()->stats().Intern(suffix + def->name)).first;
  return it->second;
}

std::string DeviceString(engine::DeviceId d) {
  return std::string(engine::DeviceTypeName(d.type)) + "(" + std::to_string(d.index) + ")";
}

void CheckSameDevice(const OpDef& op, engine::DeviceId device, const std::vector<NDArray>& arrays,
                     const char* what) {
  for (const auto& a : arrays)
    if (!(a.device() == device))
      throw OpArgumentError(op.name, what, "an array on " + DeviceString(a.device()),
                            "every array on the first input's device, " + DeviceString(device));
}

std::vector<TensorRef> Refs(const std::vector<NDArray>& arrays) {
  // Used by backward only; forward goes through PreparedOp.
  std::vector<TensorRef> refs;
  refs.reserve(arrays.size());
  for (const auto& a : arrays) refs.push_back(TensorRef{a.data(), a.shape(), a.dtype()});
  return refs;
}

// Per-device random generators, each ordered by its own engine var.
struct RandomState {
  std::mutex mu;
  std::map<engine::DeviceId, std::unique_ptr<std::mt19937_64>> gens;
  std::map<engine::DeviceId, engine::Var*> vars;
  uint64_t base_seed = 0;  // devices created later derive their seed from this
};

RandomState& Random() {
  static auto* state = new RandomState();
  return *state;
}

uint64_t DeviceSeed(uint64_t seed, engine::DeviceId d) {
  // Distinct, reproducible streams per device from one seed (splitmix64 of seed and device).
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (1 + static_cast<uint64_t>(d.type) * 1024 + d.index);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::string> OpDef::OutputNames(const OpAttrs& a) const {
  if (list_outputs) return list_outputs(a);
  const int n = NumVisibleOutputs(a);
  if (n == 1) return {"output"};
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("output" + std::to_string(i));
  return names;
}

std::string OpParam::TypeString() const {
  const char* sep = !type.empty() && type.back() == '}' ? "," : ", ";
  if (required()) return type + ", required";
  if (default_value->empty()) return type;  // Undocumented: MXNet gives the type alone
  return type + sep + "optional, default=" + *default_value;
}

const OpParam* OpDef::FindParam(const std::string& key) const {
  for (const auto& p : params)
    if (p.name == key) return &p;
  return nullptr;
}

void Registry::Add(OpDef def) {
  auto& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  std::string name = def.name;
  if (t.ops.count(name) != 0) {
    t.conflicts.push_back(name);
    return;
  }
  t.ops[name] = std::make_unique<OpDef>(std::move(def));
}

std::vector<std::string> Registry::Conflicts() {
  auto& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.conflicts;
}

const OpDef* Registry::Find(const std::string& name) {
  auto& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.ops.find(name);
  return it == t.ops.end() ? nullptr : it->second.get();
}

std::vector<std::string> Registry::Names() {
  auto& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<std::string> names;
  for (auto& [name, def] : t.ops) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

void InferOutputs(const OpDef& op, const OpAttrs& attrs, const std::vector<Shape>& in_shapes,
                  const std::vector<DType>& in_types, std::vector<Shape>* out_shapes,
                  std::vector<DType>* out_types) {
  const int n_in = op.NumInputs(attrs);
  if (static_cast<int>(in_shapes.size()) != n_in) {
    std::string names;
    for (const auto& n : op.Arguments(attrs)) names += (names.empty() ? "" : ", ") + n;
    for (const auto& n : op.AuxStates(attrs)) names += (names.empty() ? "" : ", ") + n;
    throw OpArgumentError(op.name, "inputs", std::to_string(in_shapes.size()) + " arrays",
                          std::to_string(n_in) + " (" + names + ")");
  }
  std::vector<Shape> shapes = in_shapes;
  std::vector<DType> types = in_types;
  const int n_out = op.NumOutputs(attrs);
  out_shapes->assign(n_out, kUnknownShape);
  out_types->assign(n_out, DType::kUnknown);
  op.infer_shape(attrs, shapes, *out_shapes);
  op.infer_type(attrs, types, *out_types);
  const auto args = op.Arguments(attrs);
  const auto aux = op.AuxStates(attrs);
  for (int i = 0; i < n_in; ++i) {
    const std::string arg = i < static_cast<int>(args.size()) ? args[i] : aux[i - args.size()];
    if (shapes[i] != in_shapes[i])
      throw OpArgumentError(op.name, arg, "an array of shape " + ShapeString(in_shapes[i]),
                            "shape " + ShapeString(shapes[i]));
    if (types[i] != in_types[i])
      throw OpArgumentError(op.name, arg, std::string("an array of type ") + DTypeName(in_types[i]),
                            DTypeName(types[i]));
  }
  for (int i = 0; i < n_out; ++i)
    if (!IsKnown((*out_shapes)[i]) || (*out_types)[i] == DType::kUnknown)
      throw OpArgumentError(op.name, "inputs", "arrays from which output " + std::to_string(i) +
                                                   " cannot be inferred",
                            "inputs that determine every output");
}

PreparedOp::PreparedOp(const OpDef& op, const AttrMap& attrs)
    : def_(&op), attrs_(op.parse(attrs)), name_(NameOf(&op)) {
  num_args_ = static_cast<int>(op.Arguments(*attrs_).size());
  num_inputs_ = op.NumInputs(*attrs_);
  num_outputs_ = op.NumOutputs(*attrs_);
  num_visible_ = op.NumVisibleOutputs(*attrs_);
  needs_rng_ = op.NeedsRng(*attrs_);
}

const PreparedOp::Plan& PreparedOp::PlanFor(std::span<const NDArray* const> inputs) {
  if (plan_ && plan_->in.size() == inputs.size()) {
    bool same = true;
    for (size_t i = 0; same && i < inputs.size(); ++i)
      same = plan_->in[i].dtype == inputs[i]->dtype() && plan_->in[i].shape == inputs[i]->shape();
    if (same) return *plan_;
  }
  std::vector<Shape> in_shapes;
  std::vector<DType> in_types;
  for (const NDArray* a : inputs) {
    in_shapes.push_back(a->shape());
    in_types.push_back(a->dtype());
  }
  std::vector<Shape> out_shapes;
  std::vector<DType> out_types;
  InferOutputs(*def_, *attrs_, in_shapes, in_types, &out_shapes, &out_types);
  auto plan = std::make_shared<Plan>();
  for (size_t i = 0; i < inputs.size(); ++i) plan->in.push_back(TensorRef{nullptr, in_shapes[i], in_types[i]});
  for (size_t i = 0; i < out_shapes.size(); ++i) plan->out.push_back(TensorRef{nullptr, out_shapes[i], out_types[i]});
  plan_ = std::move(plan);
  return *plan_;
}

void PreparedOp::Push(std::span<const NDArray* const> inputs, std::span<const NDArray* const> outputs,
                      bool is_train, std::vector<NDArray>* allocated) {
  const OpDef& op = *def_;
  const Plan& plan = PlanFor(inputs);
  // Operators without inputs (random samplers) run on the device of `out`.
  const engine::DeviceId device = !inputs.empty()    ? inputs[0]->device()
                                  : !outputs.empty() ? outputs[0]->device()
                                                     : engine::DeviceId::Cpu(0);
  for (const NDArray* a : inputs)
    if (!(a->device() == device))
      throw OpArgumentError(op.name, "inputs", "an array on " + DeviceString(a->device()),
                            "every array on the first input's device, " + DeviceString(device));
  if (!outputs.empty() && outputs.size() != static_cast<size_t>(num_visible_) &&
      outputs.size() != static_cast<size_t>(num_outputs_))
    throw OpArgumentError(op.name, "out", std::to_string(outputs.size()) + " arrays",
                          std::to_string(num_visible_));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const NDArray& o = *outputs[i];
    if (!(o.device() == device))
      throw OpArgumentError(op.name, "out", "an array on " + DeviceString(o.device()),
                            "an array on the inputs' device, " + DeviceString(device));
    if (o.shape() != plan.out[i].shape)
      throw OpArgumentError(op.name, "out", "an array of shape " + ShapeString(o.shape()),
                            "shape " + ShapeString(plan.out[i].shape));
    if (o.dtype() != plan.out[i].dtype)
      throw OpArgumentError(op.name, "out", std::string("an array of type ") + DTypeName(o.dtype()),
                            DTypeName(plan.out[i].dtype));
  }
  const size_t first_new = allocated->size();
  for (size_t i = outputs.size(); i < plan.out.size(); ++i)
    allocated->emplace_back(plan.out[i].shape, plan.out[i].dtype, device);

  constexpr size_t kInline = 8;
  engine::Var* var_buf[3 * kInline + 1];
  std::vector<engine::Var*> var_heap;
  // Reads come first, then writes from inputs.size() on: arguments may be written too
  // (writes_argument), so either part may take up to every input.
  const size_t n_vars = 2 * inputs.size() + plan.out.size() + 1;
  engine::Var** vars = var_buf;
  if (n_vars > std::size(var_buf)) {
    var_heap.resize(n_vars);
    vars = var_heap.data();
  }
  // Arguments are read; auxiliary states and outputs are written.
  size_t n_reads = 0, n_writes = 0;
  engine::Var** writes = vars + inputs.size();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (static_cast<int>(i) < num_args_ && !op.WritesArgument(*attrs_, static_cast<int>(i)))
      vars[n_reads++] = inputs[i]->var();
    else writes[n_writes++] = inputs[i]->var();
  }
  std::vector<void*> data;
  data.reserve(inputs.size() + plan.out.size());
  for (const NDArray* a : inputs) data.push_back(a->data());
  for (size_t i = 0; i < plan.out.size(); ++i) {
    const NDArray& o = i < outputs.size() ? *outputs[i] : (*allocated)[first_new + i - outputs.size()];
    writes[n_writes++] = o.var();
    data.push_back(o.data());
  }
  std::mt19937_64* gen = nullptr;
  if (needs_rng_) {
    RandomResource r = RandomFor(device);
    writes[n_writes++] = r.var;
    gen = r.gen;
  }
  // Storage stays alive until the kernel has run: freeing is itself an operation, ordered
  // after this one on the same vars.
  if (op.forward_async) {
    engine::Engine::Get()->Push(
        engine::Operation::Async([def = def_, attrs = attrs_, plan = plan_, data = std::move(data), is_train,
                                  device](const engine::RunContext&, engine::Completion done) {
          std::vector<TensorRef> in = plan->in, out = plan->out;
          for (size_t i = 0; i < in.size(); ++i) in[i].data = data[i];
          for (size_t i = 0; i < out.size(); ++i) out[i].data = data[in.size() + i];
          def->forward_async(OpContext{is_train, nullptr, device}, *attrs, in, out, std::move(done));
        }),
        std::span<engine::Var* const>(vars, n_reads), std::span<engine::Var* const>(writes, n_writes),
        engine::Placement{device, op.lane}, name_);
    return;
  }
  engine::Engine::Get()->Push(
      engine::Operation::Sync([def = def_, attrs = attrs_, plan = plan_, data = std::move(data),
                               is_train, gen](const engine::RunContext&) {
        std::vector<TensorRef> in = plan->in, out = plan->out;
        for (size_t i = 0; i < in.size(); ++i) in[i].data = data[i];
        for (size_t i = 0; i < out.size(); ++i) out[i].data = data[in.size() + i];
        def->forward(OpContext{is_train, gen}, *attrs, in, out);
      }),
      std::span<engine::Var* const>(vars, n_reads), std::span<engine::Var* const>(writes, n_writes),
      engine::Placement{device}, name_);
}

std::vector<NDArray> Invoke(const OpDef& op, const std::vector<NDArray>& inputs,
                            const AttrMap& attrs, std::vector<NDArray> outputs, bool is_train) {
  PreparedOp prepared(op, attrs);
  std::vector<const NDArray*> in, out;
  for (const auto& a : inputs) in.push_back(&a);
  for (const auto& a : outputs) out.push_back(&a);
  std::vector<NDArray> allocated;
  prepared.Push(in, out, is_train, &allocated);
  for (auto& a : allocated) outputs.push_back(std::move(a));
  return outputs;
}

void InvokeBackward(const OpDef& op, const AttrMap& attrs, const std::vector<NDArray>& out_grads,
                    const std::vector<NDArray>& inputs, const std::vector<NDArray>& outputs,
                    const std::vector<NDArray>& in_grads, const std::vector<OpReq>& req,
                    bool is_train) {
  if (!op.HasBackward()) throw OpArgumentError(op.name, "backward", "requested", "an operator with a gradient");
  auto parsed = op.parse(attrs);
  std::vector<Shape> in_shapes, out_shapes;
  std::vector<DType> in_types, out_types;
  for (const auto& a : inputs) {
    in_shapes.push_back(a.shape());
    in_types.push_back(a.dtype());
  }
  InferOutputs(op, *parsed, in_shapes, in_types, &out_shapes, &out_types);
  const size_t n_args = op.Arguments(*parsed).size();
  const size_t n_visible = op.NumVisibleOutputs(*parsed);
  if (outputs.size() != out_shapes.size())
    throw OpArgumentError(op.name, "outputs", std::to_string(outputs.size()) + " arrays",
                          std::to_string(out_shapes.size()));
  if (out_grads.size() != n_visible)
    throw OpArgumentError(op.name, "out_grads", std::to_string(out_grads.size()) + " arrays",
                          std::to_string(n_visible));
  if (in_grads.size() != n_args || req.size() != n_args)
    throw OpArgumentError(op.name, "in_grads", std::to_string(in_grads.size()) + " arrays",
                          std::to_string(n_args));
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].shape() != out_shapes[i])
      throw OpArgumentError(op.name, "outputs", "an array of shape " + ShapeString(outputs[i].shape()),
                            "shape " + ShapeString(out_shapes[i]));
  for (size_t i = 0; i < n_visible; ++i)
    if (out_grads[i].shape() != out_shapes[i] || out_grads[i].dtype() != out_types[i])
      throw OpArgumentError(op.name, "out_grads", "an array of shape " + ShapeString(out_grads[i].shape()),
                            "shape " + ShapeString(out_shapes[i]) + " and type " + DTypeName(out_types[i]));
  for (size_t i = 0; i < n_args; ++i)
    if (req[i] != OpReq::kNull &&
        (in_grads[i].shape() != inputs[i].shape() || in_grads[i].dtype() != inputs[i].dtype()))
      throw OpArgumentError(op.name, "in_grads", "an array of shape " + ShapeString(in_grads[i].shape()),
                            "shape " + ShapeString(inputs[i].shape()) + " and type " + DTypeName(inputs[i].dtype()));
  const engine::DeviceId device = inputs.empty() ? engine::DeviceId::Cpu(0) : inputs[0].device();
  CheckSameDevice(op, device, inputs, "inputs");
  CheckSameDevice(op, device, out_grads, "out_grads");
  CheckSameDevice(op, device, outputs, "outputs");
  std::vector<engine::Var*> reads, writes;
  for (const auto* list : {&out_grads, &inputs, &outputs})
    for (const auto& a : *list) reads.push_back(a.var());
  std::vector<NDArray> grads;
  for (size_t i = 0; i < n_args; ++i) {
    if (req[i] == OpReq::kNull) {
      grads.push_back(inputs[i]);  // a placeholder the kernel must not touch
      continue;
    }
    if (!(in_grads[i].device() == device))
      throw OpArgumentError(op.name, "in_grads", "an array on " + DeviceString(in_grads[i].device()),
                            "every array on " + DeviceString(device));
    grads.push_back(in_grads[i]);
    writes.push_back(in_grads[i].var());
  }
  std::vector<TensorRef> grad_refs = Refs(grads);
  for (size_t i = 0; i < n_args; ++i)
    if (req[i] == OpReq::kNull) grad_refs[i].data = nullptr;
  const OpDef* def = &op;
  if (op.backward_async) {
    engine::Engine::Get()->Push(
        engine::Operation::Async([def, parsed, og = Refs(out_grads), in = Refs(inputs), out = Refs(outputs),
                                  ig = std::move(grad_refs), req, is_train,
                                  device](const engine::RunContext&, engine::Completion done) {
          def->backward_async(OpContext{is_train, nullptr, device}, *parsed, BackwardIO{og, in, out, ig, req},
                              std::move(done));
        }),
        reads, writes, engine::Placement{device, op.lane}, NameOf(def, "_backward_"));
    return;
  }
  engine::Engine::Get()->Push(
      engine::Operation::Sync([def, parsed, og = Refs(out_grads), in = Refs(inputs),
                               out = Refs(outputs), ig = std::move(grad_refs), req, is_train](
                                  const engine::RunContext&) {
        def->backward(OpContext{is_train, nullptr}, *parsed, BackwardIO{og, in, out, ig, req});
      }),
      reads, writes, engine::Placement{device}, NameOf(def, "_backward_"));
}

RandomResource RandomFor(engine::DeviceId device) {
  auto& r = Random();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.gens.find(device);
  if (it == r.gens.end()) {
    it = r.gens.emplace(device, std::make_unique<std::mt19937_64>(DeviceSeed(r.base_seed, device))).first;
    r.vars[device] = engine::Engine::Get()->NewVar();
  }
  return RandomResource{r.vars[device], it->second.get()};
}

void SeedDevice(engine::DeviceId device, uint64_t seed) {
  RandomResource res = RandomFor(device);
  engine::Var* writes[] = {res.var};
  static const engine::OpName name = engine::Engine::Get()->stats().Intern("random_seed");
  engine::Engine::Get()->Push(engine::Operation::Sync([gen = res.gen, s = DeviceSeed(seed, device)](
                                                          const engine::RunContext&) { gen->seed(s); }),
                              {}, writes, engine::Placement{device}, name);
}

void SeedAll(uint64_t seed) {
  std::vector<engine::DeviceId> devices;
  {
    auto& r = Random();
    std::lock_guard<std::mutex> lock(r.mu);
    r.base_seed = seed;
    for (auto& [d, g] : r.gens) devices.push_back(d);
  }
  for (auto d : devices) SeedDevice(d, seed);
}

}  // namespace flowmod::ops
