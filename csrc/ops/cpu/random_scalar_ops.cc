// Sampling with parameters given as attributes: _random_<dist> (no inputs; the output's shape
// and type from the attributes, on the device of the output) for exponential, gamma, poisson,
// negative_binomial and generalized_negative_binomial, with MXNet's random_<dist> aliases, and
// _random_<dist>_like (the shape and type of its input "data") for those and uniform and
// normal. Each draws from its device's generator, so a seed gives a reproducible stream.
// (_random_uniform, _random_normal and _random_randint are in random_ops.cc.) The _like
// forms give their input a zero gradient, as MXNet does.
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/random_dists.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct ScalarSampleAttrs : OpAttrs {
  std::vector<double> p;
  Shape shape;  // empty: taken from the output
  DType dtype = DType::kUnknown;
};

// The distribution's parameters from the attributes, checked against its bounds.
void ParseParams(const std::string& op, const Distribution& dist, const AttrMap& attrs,
                 std::vector<double>& p) {
  p.clear();
  for (const DistParam& d : dist.params)
    p.push_back(std::string(d.type) == "int" ? static_cast<double>(GetInt(op, attrs, d.name, static_cast<int64_t>(d.default_value)))
                                             : GetFloat(op, attrs, d.name, d.default_value));
  const ParamProblem problem = CheckParams(dist, p.data());
  if (!problem.ok()) {
    const char* key = dist.params[problem.index].name;
    throw OpArgumentError(op, key, attrs.count(key) ? attrs.at(key) : dist.params[problem.index].default_text,
                          problem.expected);
  }
}

// The distribution's parameters, and with `sampler` the output's shape, ctx and dtype.
void CheckDistAttrs(const std::string& op, const Distribution& dist, const AttrMap& attrs, bool sampler) {
  const char* a = dist.params[0].name;
  if (dist.params.size() == 1) {
    if (sampler) CheckAttrs(op, attrs, {a, "shape", "ctx", "dtype"});
    else CheckAttrs(op, attrs, {a});
    return;
  }
  const char* b = dist.params[1].name;
  if (sampler) CheckAttrs(op, attrs, {a, b, "shape", "ctx", "dtype"});
  else CheckAttrs(op, attrs, {a, b});
}

std::vector<OpParam> ParamDocs(const Distribution& dist) {
  std::vector<OpParam> params;
  for (const DistParam& d : dist.params) params.push_back(Optional(d.name, d.type, d.default_text, d.doc));
  return params;
}

bool IsFloat(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16; }

void Fill(const Distribution& dist, const OpContext& ctx, const std::vector<double>& p, const TensorRef& y) {
  std::vector<double> buf;
  FLOWMOD_FLOAT_SWITCH(y.dtype, T, FillAs<T>(dist, *ctx.rng, p.data(), y.ptr<T>(), y.size(), buf));
}

OpDef ScalarOp(const std::string& name, const std::string& key) {
  const Distribution& dist = FindDistribution(key);
  OpDef def;
  def.name = name;
  def.inputs = {};
  def.needs_rng = true;
  std::vector<OpParam> params = ParamDocs(dist);
  params.push_back(Optional("shape", "Shape(tuple)", "None", "The output's shape."));
  params.push_back(Optional("ctx", "string", "''", "The device (set by the front ends)."));
  params.push_back(Optional("dtype", "{'None', 'float16', 'float32', 'float64'}", "'None'",
                            "The output's type; None is float32."));
  def.parse = [name, &dist](const AttrMap& attrs) {
    CheckDistAttrs(name, dist, attrs, true);
    auto a = std::make_shared<ScalarSampleAttrs>();
    ParseParams(name, dist, attrs, a->p);
    a->shape = GetTuple(name, attrs, "shape", {});
    for (int64_t d : a->shape)
      if (d < 0) throw OpArgumentError(name, "shape", attrs.at("shape"), "a tuple of non-negative integers");
    // "ctx" names the device in MXNet's imperative calls; here the output's device decides.
    const std::string t = GetEnum(name, attrs, "dtype", {"None", "float16", "float32", "float64"}, "None");
    if (t != "None") a->dtype = GetDType(name, AttrMap{{"dtype", t}}, "dtype");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    const auto& a = static_cast<const ScalarSampleAttrs&>(attrs);
    if (!a.shape.empty()) MergeShape(name, "output", out[0], a.shape);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    const auto& a = static_cast<const ScalarSampleAttrs&>(attrs);
    if (a.dtype != DType::kUnknown) MergeType(name, "output", out[0], a.dtype);
    if (out[0] == DType::kUnknown) out[0] = DType::kFloat32;
    if (!IsFloat(out[0])) throw OpArgumentError(name, "dtype", DTypeName(out[0]), "float16, float32 or float64");
  };
  def.forward = [&dist](const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef>,
                        std::span<const TensorRef> out) {
    Fill(dist, ctx, static_cast<const ScalarSampleAttrs&>(attrs).p, out[0]);
  };
  def.backward = nullptr;
  return Described(std::move(def), std::string("Samples from ") + dist.summary + ".", {}, std::move(params));
}

OpDef LikeOp(const std::string& key) {
  const Distribution& dist = FindDistribution(key);
  const std::string name = "_random_" + key + "_like";
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.needs_rng = true;
  def.parse = [name, &dist](const AttrMap& attrs) {
    CheckDistAttrs(name, dist, attrs, false);
    auto a = std::make_shared<ScalarSampleAttrs>();
    ParseParams(name, dist, attrs, a->p);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = [&dist](const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef>,
                        std::span<const TensorRef> out) {
    Fill(dist, ctx, static_cast<const ScalarSampleAttrs&>(attrs).p, out[0]);
  };
  def.backward = &ZeroSampleGradients;
  return Described(std::move(def),
                   std::string("Samples from ") + dist.summary + ", in an array of the shape and type of data.",
                   {{"data", "The array whose shape and type the output takes."}}, ParamDocs(dist));
}

const bool registered = [] {
  for (const char* key : {"exponential", "gamma", "poisson", "negative_binomial", "generalized_negative_binomial"}) {
    Registry::Add(ScalarOp(std::string("_random_") + key, key));
    Registry::Add(ScalarOp(std::string("random_") + key, key));
  }
  for (const char* key : {"uniform", "normal", "exponential", "gamma", "poisson", "negative_binomial",
                          "generalized_negative_binomial"})
    Registry::Add(LikeOp(key));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
