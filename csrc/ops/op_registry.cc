#include "ops/op_registry.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "engine.h"

namespace flowmod::ops {

namespace {

struct Table {
  std::mutex mu;
  std::unordered_map<std::string, std::unique_ptr<OpDef>> ops;
};

Table& TheTable() {
  static auto* table = new Table();
  return *table;
}

}  // namespace

void Registry::Add(OpDef def) {
  auto& t = TheTable();
  std::lock_guard<std::mutex> lock(t.mu);
  std::string name = def.name;
  t.ops[name] = std::make_unique<OpDef>(std::move(def));
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

double ParseFloat(const std::string& op, const AttrMap& attrs, const std::string& key) {
  auto it = attrs.find(key);
  if (it == attrs.end()) throw OpArgumentError(op, key, "(missing)", "a number");
  const char* s = it->second.c_str();
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0') throw OpArgumentError(op, key, "'" + it->second + "'", "a number");
  return v;
}

std::vector<NDArray> Invoke(const OpDef& op, const std::vector<NDArray>& inputs,
                            const AttrMap& attrs, std::vector<NDArray> outputs) {
  if (inputs.size() != op.inputs.size())
    throw OpArgumentError(op.name, "inputs", std::to_string(inputs.size()) + " arrays",
                          std::to_string(op.inputs.size()));
  auto parsed = op.parse(attrs);
  std::vector<Shape> in_shapes;
  std::vector<DType> in_types;
  for (const auto& a : inputs) {
    in_shapes.push_back(a.shape());
    in_types.push_back(a.dtype());
  }
  const std::vector<Shape> out_shapes = op.infer_shape(*parsed, in_shapes);
  const std::vector<DType> out_types = op.infer_type(*parsed, in_types);
  const engine::DeviceId device = inputs.empty() ? engine::DeviceId::Cpu(0) : inputs[0].device();
  auto check_device = [&](const NDArray& a, const char* what) {
    if (!(a.device() == device))
      throw OpArgumentError(op.name, what, std::string("an array on ") +
                                               engine::DeviceTypeName(a.device().type) + "(" +
                                               std::to_string(a.device().index) + ")",
                            "every array on the first input's device");
  };
  for (const auto& a : inputs) check_device(a, "inputs");
  for (const auto& a : outputs) check_device(a, "out");
  if (outputs.empty()) {
    for (int i = 0; i < op.num_outputs; ++i) outputs.emplace_back(out_shapes[i], out_types[i], device);
  } else {
    if (outputs.size() != static_cast<size_t>(op.num_outputs))
      throw OpArgumentError(op.name, "out", std::to_string(outputs.size()) + " arrays",
                            std::to_string(op.num_outputs));
    for (int i = 0; i < op.num_outputs; ++i) {
      if (outputs[i].shape() != out_shapes[i])
        throw OpArgumentError(op.name, "out", "an array of shape " + ShapeString(outputs[i].shape()),
                              "shape " + ShapeString(out_shapes[i]));
      if (outputs[i].dtype() != out_types[i])
        throw OpArgumentError(op.name, "out", std::string("an array of type ") + DTypeName(outputs[i].dtype()),
                              DTypeName(out_types[i]));
    }
  }
  std::vector<engine::Var*> reads, writes;
  std::vector<TensorRef> in_refs, out_refs;
  for (const auto& a : inputs) {
    reads.push_back(a.var());
    in_refs.push_back(TensorRef{a.data(), a.shape(), a.dtype()});
  }
  for (const auto& a : outputs) {
    writes.push_back(a.var());
    out_refs.push_back(TensorRef{a.data(), a.shape(), a.dtype()});
  }
  // Storage stays alive until the kernel has run: freeing is itself an operation, ordered
  // after this one on the same vars. Attributes are shared with the closure.
  const OpDef* def = &op;
  engine::Engine* eng = engine::Engine::Get();
  static std::mutex names_mu;
  static std::unordered_map<const OpDef*, engine::OpName> names;
  engine::OpName name;
  {
    std::lock_guard<std::mutex> lock(names_mu);
    auto it = names.find(def);
    if (it == names.end()) it = names.emplace(def, eng->stats().Intern(def->name)).first;
    name = it->second;
  }
  eng->Push(engine::Operation::Sync(
                [def, parsed, in_refs = std::move(in_refs), out_refs = std::move(out_refs)](
                    const engine::RunContext&) { def->forward(*parsed, in_refs, out_refs); }),
            reads, writes, engine::Placement{device}, name);
  return outputs;
}

}  // namespace flowmod::ops
