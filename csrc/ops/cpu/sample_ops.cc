// Sampling with parameters given as arrays, one distribution per element of the parameter
// arrays: _sample_<dist>(p1[, p2], shape=t) has shape p1.shape + t, and out[i, ...] holds
// prod(t) draws for the parameters at index i (MXNet's sample_<dist> aliases too). Parameter
// values are only known on the worker, so values out of a distribution's bounds fail the
// operation there, naming the parameter, its value and its index. As in MXNet the gradient
// is zero.
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/cpu/random_dists.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct MultiSampleAttrs : OpAttrs {
  Shape shape;  // per parameter setting
  DType dtype = DType::kUnknown;
};

std::string Number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

template <class P, class T>
void SampleRows(const std::string& op, const Distribution& dist, std::mt19937_64& gen,
                const std::vector<const P*>& params, int64_t rows, int64_t per_row, T* y) {
  std::vector<double> p(params.size()), buf;
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t k = 0; k < params.size(); ++k) p[k] = static_cast<double>(params[k][r]);
    const ParamProblem problem = CheckParams(dist, p.data());
    if (!problem.ok())
      throw std::invalid_argument(op + ": " + dist.params[problem.index].sample_name + "=" +
                                  Number(p[problem.index]) + " at index " + std::to_string(r) +
                                  ": expected " + problem.expected);
    FillAs<T>(dist, gen, p.data(), y + r * per_row, per_row, buf);
  }
}

OpDef MultiSampleOp(const std::string& name, const std::string& key) {
  const Distribution& dist = FindDistribution(key);
  OpDef def;
  def.name = name;
  std::vector<OpInputDoc> input_docs;
  for (const DistParam& d : dist.params) {
    def.inputs.emplace_back(d.sample_name);
    input_docs.push_back({d.sample_name, std::string(d.doc) + " One distribution per element."});
  }
  def.needs_rng = true;
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"shape", "dtype"});
    auto a = std::make_shared<MultiSampleAttrs>();
    a->shape = GetTuple(name, attrs, "shape", {});
    for (int64_t d : a->shape)
      if (d <= 0) throw OpArgumentError(name, "shape", attrs.at("shape"), "a tuple of positive integers");
    const std::string t = GetEnum(name, attrs, "dtype", {"None", "float16", "float32", "float64"}, "None");
    if (t != "None") a->dtype = GetDType(name, AttrMap{{"dtype", t}}, "dtype");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name, &dist](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const MultiSampleAttrs&>(attrs);
    for (size_t i = 1; i < in.size(); ++i) {
      MergeShape(name, dist.params[i].sample_name, in[i], in[0]);
      MergeShape(name, dist.params[0].sample_name, in[0], in[i]);
    }
    if (ShapeKnownRank(out[0]) && out[0].size() >= a.shape.size() && in[0] == kUnknownShape) {
      const Shape head(out[0].begin(), out[0].end() - static_cast<std::ptrdiff_t>(a.shape.size()));
      for (Shape& s : in) MergeShape(name, dist.params[0].sample_name, s, head);
    }
    if (in[0] == kUnknownShape) return;
    Shape o = in[0];
    o.insert(o.end(), a.shape.begin(), a.shape.end());
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = [name, &dist](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const MultiSampleAttrs&>(attrs);
    for (size_t i = 1; i < in.size(); ++i) {
      MergeType(name, dist.params[i].sample_name, in[i], in[0]);
      MergeType(name, dist.params[0].sample_name, in[0], in[i]);
    }
    if (a.dtype != DType::kUnknown) MergeType(name, "output", out[0], a.dtype);
    if (out[0] == DType::kUnknown) out[0] = DType::kFloat32;
    if (out[0] != DType::kFloat32 && out[0] != DType::kFloat64 && out[0] != DType::kFloat16)
      throw OpArgumentError(name, "dtype", DTypeName(out[0]), "float16, float32 or float64");
    if (in[0] != DType::kUnknown && in[0] != DType::kFloat32 && in[0] != DType::kFloat64 &&
        in[0] != DType::kFloat16)
      throw OpArgumentError(name, dist.params[0].sample_name, std::string("an array of type ") + DTypeName(in[0]),
                            "float16, float32 or float64");
  };
  def.forward = [name, &dist](const OpContext& ctx, const OpAttrs&, std::span<const TensorRef> in,
                              std::span<const TensorRef> out) {
    const int64_t rows = in[0].size();
    if (rows == 0) return;
    const int64_t per_row = out[0].size() / rows;
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, P, {
      std::vector<const P*> params;
      for (const TensorRef& t : in) params.push_back(t.ptr<P>());
      FLOWMOD_FLOAT_SWITCH(out[0].dtype, T,
                           SampleRows<P, T>(name, dist, *ctx.rng, params, rows, per_row, out[0].ptr<T>()));
    });
  };
  def.backward = &ZeroSampleGradients;
  return Described(std::move(def),
                   std::string("Samples from ") + dist.summary +
                       ", one distribution per element of the parameter arrays: the output has shape "
                       "(parameter shape) + shape.",
                   std::move(input_docs),
                   {Optional("shape", "Shape(tuple)", "[]", "The shape of the draws for each element of the parameters."),
                    Optional("dtype", "{'None', 'float16', 'float32', 'float64'}", "'None'",
                             "The output's type; None is float32.")});
}

const bool registered = [] {
  for (const char* key : {"uniform", "normal", "exponential", "gamma", "poisson", "negative_binomial",
                          "generalized_negative_binomial"}) {
    Registry::Add(MultiSampleOp(std::string("_sample_") + key, key));
    Registry::Add(MultiSampleOp(std::string("sample_") + key, key));
  }
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
