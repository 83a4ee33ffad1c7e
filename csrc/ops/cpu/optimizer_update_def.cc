// The definition builder of optimizer_util.h: one weight's inputs (or each weight's, for the
// multi_* operators) checked and inferred as a group, the kernel run once per weight.
#include <string>
#include <vector>

#include "ops/cpu/optimizer_util.h"

namespace flowmod::ops::optimizer {

namespace {

std::string Suffixed(const Role& r, int k, bool multi) {
  return multi ? r.name + "_" + std::to_string(k) : r.name;
}

// Every input's name, in calling order, for `count` weights.
std::vector<std::string> InputNames(const UpdateSpec& spec, int count) {
  const bool multi = !spec.count_key.empty();
  std::vector<std::string> names;
  for (int k = 0; k < count; ++k)
    for (const Role& r : spec.roles) names.push_back(Suffixed(r, k, multi));
  for (const Role& r : spec.shared) names.push_back(r.name);
  return names;
}

void CheckKnown(const UpdateSpec& spec, const AttrMap& attrs) {
  for (const auto& [key, value] : attrs) {
    if (key.size() >= 4 && key.starts_with("__") && key.ends_with("__")) continue;
    bool known = false;
    std::string list;
    for (const OpParam& p : spec.params) {
      known = known || p.name == key;
      list += (list.empty() ? "'" : ", '") + p.name + "'";
    }
    if (!known) throw OpArgumentError(spec.name, key, Quoted(value), "an attribute of " + spec.name + ": " + list);
  }
}

// The shape an input of `extent` has for a weight of shape `weight` among `count`.
void InferExtent(const std::string& op, const std::string& name, Extent extent, int count, Shape& s) {
  const int64_t want = extent == Extent::kOne ? 1 : count;
  if (!IsKnown(s)) {
    if (s == kUnknownShape) s = Shape{want};
    return;
  }
  if (NumElements(s) != want)
    throw OpArgumentError(op, name, "an array of shape " + ShapeString(s),
                          extent == Extent::kOne ? std::string("an array of one element, such as shape (1,)")
                                                 : "an array of " + std::to_string(count) + " elements, one per weight");
}

void InferShapes(const UpdateSpec& spec, const UpdateAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto names = InputNames(spec, a.count);
  const size_t stride = spec.roles.size();
  for (int k = 0; k < a.count; ++k) {
    Shape common = kUnknownShape;
    std::string first;
    for (size_t r = 0; r < stride; ++r) {
      const size_t i = k * stride + r;
      if (spec.roles[r].extent != Extent::kLikeWeight) {
        InferExtent(spec.name, names[i], spec.roles[r].extent, a.count, in[i]);
        continue;
      }
      if (IsKnown(common) && IsKnown(in[i]) && in[i] != common)
        throw OpArgumentError(spec.name, names[i], "an array of shape " + ShapeString(in[i]),
                              "the shape of " + first + ", " + ShapeString(common));
      MergeShape(spec.name, names[i], common, in[i]);
      if (first.empty()) first = names[i];
    }
    MergeShape(spec.name, "output " + std::to_string(k), common, out[k]);
    for (size_t r = 0; r < stride; ++r)
      if (spec.roles[r].extent == Extent::kLikeWeight) in[k * stride + r] = common;
    out[k] = common;
  }
  for (size_t j = 0; j < spec.shared.size(); ++j) {
    const size_t i = a.count * stride + j;
    InferExtent(spec.name, names[i], spec.shared[j].extent, a.count, in[i]);
  }
}

void RequireType(const std::string& op, const std::string& name, DType& t, DType want, const std::string& why) {
  if (t != DType::kUnknown && t != want)
    throw OpArgumentError(op, name, std::string("an array of type ") + DTypeName(t), std::string(DTypeName(want)) + why);
  t = want;
}

void InferTypes(const UpdateSpec& spec, const UpdateAttrs& a, std::vector<DType>& in, std::vector<DType>& out) {
  const auto names = InputNames(spec, a.count);
  const size_t stride = spec.roles.size();
  // Weights of a call share one type: MXNet's non-mixed multi operators require it, and a
  // mixed-precision call mixes float16 weights with their float32 masters, never two types.
  DType weight_type = DType::kUnknown;
  std::string first;
  auto merge = [&](const std::string& name, DType& t) {
    if (weight_type != DType::kUnknown && t != DType::kUnknown && t != weight_type)
      throw OpArgumentError(spec.name, name, std::string("an array of type ") + DTypeName(t),
                            "the type of " + first + ", " + DTypeName(weight_type));
    if (weight_type == DType::kUnknown && t != DType::kUnknown) {
      weight_type = t;
      first = name;
    }
  };
  for (int k = 0; k < a.count; ++k)
    for (size_t r = 0; r < stride; ++r)
      if (!spec.roles[r].float32) merge(names[k * stride + r], in[k * stride + r]);
  for (size_t j = 0; j < spec.shared.size(); ++j)
    if (!spec.shared[j].float32) merge(names[a.count * stride + j], in[a.count * stride + j]);
  if (!spec.float32_output)
    for (int k = 0; k < a.count; ++k) merge("output " + std::to_string(k), out[k]);
  if (weight_type != DType::kUnknown && weight_type != DType::kFloat32 && weight_type != DType::kFloat64 &&
      weight_type != DType::kFloat16)
    throw OpArgumentError(spec.name, first, std::string("an array of type ") + DTypeName(weight_type),
                          "float32, float64 or float16");
  const std::string why = " (a float32 master copy or state)";
  for (int k = 0; k < a.count; ++k) {
    for (size_t r = 0; r < stride; ++r) {
      DType& t = in[k * stride + r];
      if (spec.roles[r].float32) RequireType(spec.name, names[k * stride + r], t, DType::kFloat32, why);
      else if (weight_type != DType::kUnknown) t = weight_type;
    }
    if (spec.float32_output) RequireType(spec.name, "output " + std::to_string(k), out[k], DType::kFloat32, "");
    else if (weight_type != DType::kUnknown) out[k] = weight_type;
  }
  for (size_t j = 0; j < spec.shared.size(); ++j) {
    DType& t = in[a.count * stride + j];
    if (spec.shared[j].float32) RequireType(spec.name, names[a.count * stride + j], t, DType::kFloat32, "");
    else if (weight_type != DType::kUnknown) t = weight_type;
  }
}

}  // namespace

OpDef UpdateOp(UpdateSpec spec) {
  OpDef def;
  def.name = spec.name;
  const bool multi = !spec.count_key.empty();
  std::vector<OpInputDoc> docs;
  if (multi) {
    std::string what;
    for (const Role& r : spec.roles) what += (what.empty() ? "" : ", ") + r.name;
    std::string text = "For each weight in turn: " + what + " (" + spec.count_key + " groups)";
    for (const Role& r : spec.shared) text += ", then " + r.name + " (" + r.description + ")";
    docs.push_back({"data", text + "."});
  } else {
    for (const Role& r : spec.roles) docs.push_back({r.name, r.description});
    for (const Role& r : spec.shared) docs.push_back({r.name, r.description});
  }
  // A single-weight update whose written states come last takes them as auxiliary states, as
  // MXNet lists its mutated inputs; otherwise they are written arguments.
  size_t first_written = spec.roles.size();
  while (first_written > 0 && spec.roles[first_written - 1].written) --first_written;
  bool suffix = !multi && spec.shared.empty();
  for (size_t r = 0; r < first_written; ++r) suffix = suffix && !spec.roles[r].written;
  if (suffix) {
    for (size_t r = 0; r < spec.roles.size(); ++r)
      (r < first_written ? def.inputs : def.aux).push_back(spec.roles[r].name);
  } else if (!multi) {
    def.inputs = InputNames(spec, 1);
  } else {
    def.variadic = true;
    def.inputs = {"data"};
  }
  auto shared_spec = std::make_shared<const UpdateSpec>(std::move(spec));
  const UpdateSpec& s = *shared_spec;
  def = Described(std::move(def), s.description, docs, s.params);
  if (multi)
    def.list_inputs = [shared_spec](const OpAttrs& attrs) {
      return InputNames(*shared_spec, static_cast<const UpdateAttrs&>(attrs).count);
    };
  if (!suffix)
    def.writes_argument = [shared_spec](const OpAttrs& attrs, int i) {
      const auto& a = static_cast<const UpdateAttrs&>(attrs);
      const int stride = static_cast<int>(shared_spec->roles.size());
      return i < a.count * stride && shared_spec->roles[i % stride].written;
    };
  def.parse = [shared_spec](const AttrMap& attrs) {
    const UpdateSpec& s = *shared_spec;
    CheckKnown(s, attrs);
    auto p = std::make_shared<UpdateAttrs>();
    if (!s.count_key.empty()) {
      const int64_t count = GetInt(s.name, attrs, s.count_key, 1);
      if (count < 1)
        throw OpArgumentError(s.name, s.count_key, std::to_string(count), "an integer >= 1 (the number of weights)");
      p->count = static_cast<int>(count);
    }
    s.parse(s.name, attrs, *p);
    return std::shared_ptr<const OpAttrs>(p);
  };
  if (multi) {
    def.count_outputs = [](const OpAttrs& attrs) { return static_cast<const UpdateAttrs&>(attrs).count; };
  }
  def.infer_shape = [shared_spec](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    InferShapes(*shared_spec, static_cast<const UpdateAttrs&>(attrs), in, out);
  };
  def.infer_type = [shared_spec](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    InferTypes(*shared_spec, static_cast<const UpdateAttrs&>(attrs), in, out);
  };
  def.forward = [shared_spec](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                              std::span<const TensorRef> out) {
    const auto& a = static_cast<const UpdateAttrs&>(attrs);
    const size_t stride = shared_spec->roles.size();
    const TensorRef* shared = in.data() + a.count * stride;
    for (int k = 0; k < a.count; ++k) shared_spec->kernel(a, k, in.data() + k * stride, shared, out[k]);
  };
  def.backward = nullptr;
  if (s.output_is_weight && !multi) def.inplace = {{0, 0}};
  return def;
}

OpParam LrParam() { return Required("lr", "float", "The learning rate."); }
OpParam WdParam() {
  return Optional("wd", "float", "0", "The weight decay: wd * weight is added to the gradient.");
}
OpParam RescaleGradParam() { return Optional("rescale_grad", "float", "1", "Multiplies the gradient first."); }
OpParam ClipGradientParam(const std::string& name) {
  return Optional(name, "float", "-1",
                  "Clips the rescaled gradient to [-" + name + ", " + name + "]; negative: no clipping.");
}
OpParam MomentumParam() { return Optional("momentum", "float", "0", "The decay of the momentum."); }
OpParam LrsParam(const std::string& name) {
  return Required(name, "tuple of <float>", "The learning rate of each weight.");
}
OpParam WdsParam() { return Required("wds", "tuple of <float>", "The weight decay of each weight."); }
OpParam CountParam(const std::string& name) {
  return Optional(name, "int", "'1'", "The number of weights updated.");
}

std::vector<double> PerWeight(const std::string& op, const AttrMap& attrs, const std::string& key, int count) {
  std::vector<double> v = GetFloatTuple(op, attrs, key);
  if (static_cast<int>(v.size()) != count)
    throw OpArgumentError(op, key, "a tuple of " + std::to_string(v.size()) + " values",
                          std::to_string(count) + " values, one per weight");
  return v;
}

}  // namespace flowmod::ops::optimizer
