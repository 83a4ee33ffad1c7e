// The mean-and-variance normalizations of MXNet 1.9 other than BatchNorm, on the kernel of
// moments_norm.h:
// - InstanceNorm(data, gamma, beta; eps=1e-3): each (sample, channel) over its spatial
//   elements; gamma and beta per channel; hidden outputs mean and var, shape (N, C).
// - LayerNorm(data, gamma, beta; axis=-1, eps=1e-5, output_mean_var=False): over `axis`;
//   gamma and beta along it; outputs mean and std = sqrt(var + eps), the data's shape with 1
//   along `axis`, visible with output_mean_var.
// - GroupNorm(data, gamma, beta; num_groups=1, eps=1e-5, output_mean_var=False): each
//   (sample, group of channels) over its channels' elements; gamma and beta per group, as in
//   MXNet 1.9; outputs mean and std of shape (N, num_groups).
// The variance is the biased one (divided by the element count). No gradient flows back
// through the mean and std outputs, as in MXNet.
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/moments_norm.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using moments::Layout;
using moments::Spread;

struct NormAttrs : OpAttrs {
  double eps = 1e-5;
  int64_t axis = -1;        // LayerNorm
  int64_t num_groups = 1;   // GroupNorm
  bool output_mean_var = false;
};

const std::vector<std::string> kArgs = {"data", "gamma", "beta"};

void CheckEps(const std::string& op, const AttrMap& attrs, double eps) {
  if (!(eps >= 0)) throw OpArgumentError(op, "eps", attrs.at("eps"), "a number >= 0");
}

void MergeParams(const std::string& op, std::vector<Shape>& in, int64_t count) {
  // The count from gamma or beta when the data does not give it.
  for (int i = 1; i < 3 && count < 0; ++i)
    if (in[i] != kUnknownShape && in[i].size() == 1 && in[i][0] >= 0) count = in[i][0];
  MergeShape(op, "gamma", in[1], Shape{count});
  MergeShape(op, "beta", in[2], Shape{count});
}

void NeedRank3(const std::string& op, const Shape& d) {
  if (d.size() < 3)
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(d),
                          "at least 3 dimensions (batch, channel, spatial...)");
}

// ---- Kernels ----------------------------------------------------------------------------------

template <Spread kSpread>
void NormForward(const Layout& l, double eps, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                       moments::Forward<T>(l, eps, kSpread, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                                           out[0].ptr<T>(), out[1].ptr<T>(), out[2].ptr<T>()));
}

template <Spread kSpread>
void NormBackward(const Layout& l, double eps, const BackwardIO& io) {
  const int64_t params = io.inputs[1].size();
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                       moments::Backward<T>(l, eps, kSpread, io.inputs[0].ptr<T>(), io.inputs[1].ptr<T>(),
                                            io.outputs[1].ptr<T>(), io.outputs[2].ptr<T>(),
                                            io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.req[0],
                                            io.in_grads[1].ptr<T>(), io.req[1], io.in_grads[2].ptr<T>(),
                                            io.req[2], params));
}

Layout InstanceLayout(const Shape& d) {
  Layout l;
  l.outer = d[0] * d[1];
  l.k = d[0] * d[1] == 0 ? 0 : NumElements(d) / (d[0] * d[1]);
  l.params = d[1];
  return l;
}

Layout LayerLayout(const Shape& d, int64_t axis_attr) {
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + static_cast<int64_t>(d.size()) : axis_attr);
  Layout l;
  for (int i = 0; i < static_cast<int>(d.size()); ++i) {
    if (i < axis) l.outer *= d[i];
    else if (i == axis) l.k = d[i];
    else l.inner *= d[i];
  }
  l.param_along_k = true;
  return l;
}

Layout GroupLayout(const Shape& d, int64_t groups) {
  Layout l;
  l.outer = d[0] * groups;
  l.k = l.outer == 0 ? 0 : NumElements(d) / l.outer;
  l.params = groups;
  return l;
}

// An operator with inputs data, gamma, beta and outputs output, mean and a spread.
OpDef NormDef(const std::string& name, const std::string& spread_name, bool visible_by_attr) {
  OpDef def;
  def.name = name;
  def.inputs = kArgs;
  def.num_outputs = 3;
  if (visible_by_attr) {
    def.count_visible_outputs = [](const OpAttrs& a) {
      return static_cast<const NormAttrs&>(a).output_mean_var ? 3 : 1;
    };
    def.list_outputs = [spread_name](const OpAttrs& a) -> std::vector<std::string> {
      if (static_cast<const NormAttrs&>(a).output_mean_var) return {"output", "mean", spread_name};
      return {"output"};
    };
  } else {
    def.num_visible_outputs = 1;
  }
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, kArgs, in, out);
  };
  return def;
}

// ---- InstanceNorm -----------------------------------------------------------------------------

const char* const kInstance = "InstanceNorm";

OpDef InstanceNormDef() {
  OpDef def = NormDef(kInstance, "var", false);
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kInstance, attrs, {"eps"});
    auto a = std::make_shared<NormAttrs>();
    a->eps = GetFloat(kInstance, attrs, "eps", 1e-3);
    CheckEps(kInstance, attrs, a->eps);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(kInstance, "data", in[0], out[0]);
    if (in[0] == kUnknownShape) return;
    NeedRank3(kInstance, in[0]);
    MergeParams(kInstance, in, in[0][1]);
    in[0][1] = in[1][0];
    out[0] = in[0];
    MergeShape(kInstance, "mean", out[1], Shape{in[0][0], in[0][1]});
    MergeShape(kInstance, "var", out[2], Shape{in[0][0], in[0][1]});
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    NormForward<Spread::kVariance>(InstanceLayout(in[0].shape), static_cast<const NormAttrs&>(attrs).eps, in, out);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    NormBackward<Spread::kVariance>(InstanceLayout(io.inputs[0].shape), static_cast<const NormAttrs&>(attrs).eps,
                                    io);
  };
  return def;
}

// ---- LayerNorm --------------------------------------------------------------------------------

const char* const kLayer = "LayerNorm";

OpDef LayerNormDef() {
  OpDef def = NormDef(kLayer, "std", true);
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kLayer, attrs, {"axis", "eps", "output_mean_var"});
    auto a = std::make_shared<NormAttrs>();
    a->axis = GetInt(kLayer, attrs, "axis", -1);
    a->eps = GetFloat(kLayer, attrs, "eps", 1e-5);
    CheckEps(kLayer, attrs, a->eps);
    a->output_mean_var = GetBool(kLayer, attrs, "output_mean_var", false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const NormAttrs&>(attrs);
    MergeShape(kLayer, "data", in[0], out[0]);
    if (in[0] == kUnknownShape) return;
    if (in[0].empty()) throw OpArgumentError(kLayer, "data", "an array of shape ()", "at least 1 dimension");
    const int axis = NormalizeAxis(kLayer, "axis", a.axis, static_cast<int>(in[0].size()));
    MergeParams(kLayer, in, in[0][axis]);
    in[0][axis] = in[1][0];
    out[0] = in[0];
    Shape moments = in[0];
    moments[axis] = 1;
    MergeShape(kLayer, "mean", out[1], moments);
    MergeShape(kLayer, "std", out[2], moments);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const NormAttrs&>(attrs);
    NormForward<Spread::kStd>(LayerLayout(in[0].shape, a.axis), a.eps, in, out);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const NormAttrs&>(attrs);
    NormBackward<Spread::kStd>(LayerLayout(io.inputs[0].shape, a.axis), a.eps, io);
  };
  return def;
}

// ---- GroupNorm --------------------------------------------------------------------------------

const char* const kGroup = "GroupNorm";

OpDef GroupNormDef() {
  OpDef def = NormDef(kGroup, "std", true);
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kGroup, attrs, {"num_groups", "eps", "output_mean_var"});
    auto a = std::make_shared<NormAttrs>();
    a->num_groups = GetInt(kGroup, attrs, "num_groups", 1);
    if (a->num_groups < 1) throw OpArgumentError(kGroup, "num_groups", attrs.at("num_groups"), "an integer >= 1");
    a->eps = GetFloat(kGroup, attrs, "eps", 1e-5);
    CheckEps(kGroup, attrs, a->eps);
    a->output_mean_var = GetBool(kGroup, attrs, "output_mean_var", false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const int64_t groups = static_cast<const NormAttrs&>(attrs).num_groups;
    MergeShape(kGroup, "data", in[0], out[0]);
    MergeParams(kGroup, in, groups);
    if (in[0] == kUnknownShape) return;
    NeedRank3(kGroup, in[0]);
    const int64_t channels = in[0][1];
    if (channels >= 0 && channels % groups != 0)
      throw OpArgumentError(kGroup, "data", "an array of shape " + ShapeString(in[0]),
                            std::to_string(channels) + " channels divisible by num_groups=" + std::to_string(groups));
    out[0] = in[0];
    MergeShape(kGroup, "mean", out[1], Shape{in[0][0], groups});
    MergeShape(kGroup, "std", out[2], Shape{in[0][0], groups});
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const NormAttrs&>(attrs);
    NormForward<Spread::kStd>(GroupLayout(in[0].shape, a.num_groups), a.eps, in, out);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const NormAttrs&>(attrs);
    NormBackward<Spread::kStd>(GroupLayout(io.inputs[0].shape, a.num_groups), a.eps, io);
  };
  return def;
}

const bool registered = [] {
  Registry::Add(InstanceNormDef());
  Registry::Add(LayerNormDef());
  Registry::Add(GroupNormDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
