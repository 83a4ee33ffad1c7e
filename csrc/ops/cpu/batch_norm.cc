// BatchNorm over the channel axis `axis`, as MXNet 1.9's CPU operator computes it.
//
// Outputs: the normalized data, then the mean and the inverse standard deviation
// 1 / sqrt(var + eps) used (MXNet's CPU kernel returns the latter under the name "var"),
// visible only with output_mean_var. Training (is_train and not use_global_stats) normalizes
// with the batch statistics (biased variance) and moves the auxiliary states toward them:
// moving = moving * momentum + batch * (1 - momentum). Otherwise the moving statistics are
// used and left unchanged. fix_gamma uses gamma = 1 and gives gamma a zero gradient.
// float16 data keeps gamma, beta, the statistics and the outputs mean/var in float32.
//
// The variants MXNet 1.9 keeps under other names share these kernels:
// - BatchNorm_v1 and _contrib_SyncBatchNorm (whose statistics, on one device, are the batch's)
//   normalize over axis 1 and output the variance itself under "var", and the moving
//   statistics as mean and var outside training.
// - _contrib_BatchNormWithReLU applies ReLU to the output; its gradient passes where the
//   output is positive.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "BatchNorm";

enum class Variant { kBatchNorm, kV1, kSync, kWithReLU };

struct BatchNormAttrs : OpAttrs {
  std::string name = kOp;
  Variant variant = Variant::kBatchNorm;
  // "var" holds the variance (BatchNorm_v1, SyncBatchNorm), not 1 / sqrt(var + eps).
  bool outputs_variance() const { return variant == Variant::kV1 || variant == Variant::kSync; }
  double eps = 1e-3;
  double momentum = 0.9;
  bool fix_gamma = true;
  bool use_global_stats = false;
  bool output_mean_var = false;
  int64_t axis = 1;
};

std::shared_ptr<BatchNormAttrs> ParseCommon(const std::string& kOp, const AttrMap& attrs) {
  auto a = std::make_shared<BatchNormAttrs>();
  a->name = kOp;
  // MXNet declares momentum a float and eps's default 1e-3f (BatchNorm's eps is a double, the
  // older variants' a float): rounded the same way, float64 statistics match its to the last bits.
  a->eps = GetFloat(kOp, attrs, "eps", static_cast<double>(1e-3f));
  if (!(a->eps >= 0)) throw OpArgumentError(kOp, "eps", attrs.at("eps"), "a number >= 0");
  a->momentum = static_cast<float>(GetFloat(kOp, attrs, "momentum", 0.9));
  a->fix_gamma = GetBool(kOp, attrs, "fix_gamma", true);
  a->use_global_stats = GetBool(kOp, attrs, "use_global_stats", false);
  a->output_mean_var = GetBool(kOp, attrs, "output_mean_var", false);
  return a;
}

std::shared_ptr<const OpAttrs> ParseV1(const AttrMap& attrs) {
  const char* const kOp = "BatchNorm_v1";
  CheckAttrs(kOp, attrs, {"eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var"});
  auto a = ParseCommon(kOp, attrs);
  a->variant = Variant::kV1;
  a->eps = static_cast<float>(a->eps);
  return a;
}

std::shared_ptr<const OpAttrs> ParseSync(const AttrMap& attrs) {
  const char* const kOp = "_contrib_SyncBatchNorm";
  CheckAttrs(kOp, attrs, {"eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var", "ndev", "key"});
  auto a = ParseCommon(kOp, attrs);
  a->variant = Variant::kSync;
  a->eps = static_cast<float>(a->eps);
  if (!Has(attrs, "key")) throw OpArgumentError(kOp, "key", "(missing)", "a string naming the layer's shared statistics");
  // One device's statistics are the whole batch's; more would wait on devices that never come.
  const int64_t ndev = GetInt(kOp, attrs, "ndev", 1);
  if (ndev != 1)
    throw OpArgumentError(kOp, "ndev", attrs.at("ndev"),
                          "1 (statistics are computed on one device; synchronizing across devices is not supported)");
  return a;
}

std::shared_ptr<const OpAttrs> ParseBatchNorm(const std::string& kOp, const AttrMap& attrs, Variant variant) {
  CheckAttrs(kOp, attrs, {"eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var", "axis", "cudnn_off",
                          "min_calib_range", "max_calib_range"});
  auto a = ParseCommon(kOp, attrs);
  a->variant = variant;
  a->axis = GetInt(kOp, attrs, "axis", 1);
  GetBool(kOp, attrs, "cudnn_off", false);
  for (const char* key : {"min_calib_range", "max_calib_range"})
    if (auto v = GetOptionalFloat(kOp, attrs, key))
      throw OpArgumentError(kOp, key, attrs.at(key),
                            "None (calibration ranges apply to quantized BatchNorm, which is not supported)");
  return a;
}

// The parameter type: float32 for float16 data, else the data's type.
DType ParamType(DType t) { return t == DType::kFloat16 ? DType::kFloat32 : t; }

void BatchNormInferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const BatchNormAttrs&>(attrs);
  const std::string& kOp = a.name;
  MergeShape(kOp, "data", in[0], out[0]);
  if (in[0] == kUnknownShape) return;
  const Shape& d = in[0];
  if (d.empty()) throw OpArgumentError(kOp, "data", "an array of shape ()", "an array with a channel axis");
  const int axis = NormalizeAxis(kOp, "axis", a.axis, static_cast<int>(d.size()));
  int64_t channels = d[axis];
  static const char* const names[] = {"data", "gamma", "beta", "moving_mean", "moving_var"};
  // The channel count from any parameter when the data does not give it.
  for (int i = 1; i < 5 && channels < 0; ++i)
    if (in[i] != kUnknownShape && in[i].size() == 1 && in[i][0] >= 0) channels = in[i][0];
  for (int i = 1; i < 5; ++i) MergeShape(kOp, names[i], in[i], Shape{channels});
  Shape data = in[0];
  data[axis] = channels;
  MergeShape(kOp, "data", in[0], data);
  MergeShape(kOp, "output", out[0], in[0]);
  MergeShape(kOp, "mean", out[1], Shape{channels});
  MergeShape(kOp, "var", out[2], Shape{channels});
}

void BatchNormInferType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const std::string& kOp = static_cast<const BatchNormAttrs&>(attrs).name;
  MergeType(kOp, "data", in[0], out[0]);
  const DType t = in[0];
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
    throw OpArgumentError(kOp, "data", std::string("an array of type ") + DTypeName(t), "float32, float64 or float16");
  const DType p = ParamType(t);
  static const char* const names[] = {"data", "gamma", "beta", "moving_mean", "moving_var"};
  for (int i = 1; i < 5; ++i) MergeType(kOp, names[i], in[i], p);
  out[0] = t;
  MergeType(kOp, "mean", out[1], p);
  MergeType(kOp, "var", out[2], p);
}

// The data as (outer, channels, inner) around the channel axis.
struct Layout {
  int64_t outer = 1, channels = 1, inner = 1;
  Layout(const Shape& s, int64_t axis_attr) {
    const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + static_cast<int64_t>(s.size()) : axis_attr);
    for (int i = 0; i < static_cast<int>(s.size()); ++i) {
      if (i < axis) outer *= s[i];
      else if (i == axis) channels = s[i];
      else inner *= s[i];
    }
  }
  int64_t PerChannel() const { return outer * inner; }
};

// acc[c] += the sum of f(c, base, i) over the channel's elements, base + i indexing them, in
// memory order.
template <typename F>
void ChannelSums(const Layout& l, std::vector<double>& acc, F f) {
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t c = 0; c < l.channels; ++c) {
      const int64_t base = (o * l.channels + c) * l.inner;
      acc[c] += Sum4(l.inner, [&](int64_t i) { return f(c, base, i); });
    }
}

template <typename T, typename P>
void Forward(const BatchNormAttrs& a, bool training, const Layout& l, const T* x, const P* gamma, const P* beta,
             P* moving_mean, P* moving_var, T* y, P* out_mean, P* out_invstd) {
  const int64_t C = l.channels;
  std::vector<double> mean(C, 0.0), invstd(C, 0.0);
  if (training) {
    const double n = static_cast<double>(l.PerChannel());
    ChannelSums(l, mean, [x](int64_t, int64_t base, int64_t i) { return static_cast<double>(x[base + i]); });
    for (auto& m : mean) m /= n;
    // The variance from the centred values, as MXNet computes it (not E[x^2] - E[x]^2).
    std::vector<double> sq(C, 0.0);
    ChannelSums(l, sq, [x, &mean](int64_t c, int64_t base, int64_t i) {
      const double v = static_cast<double>(x[base + i]) - mean[c];
      return v * v;
    });
    for (int64_t c = 0; c < C; ++c) {
      const double var = sq[c] / n;
      // MXNet gives 0 rather than infinity for a constant channel with eps = 0.
      invstd[c] = sq[c] == 0 && a.eps == 0 ? 0.0 : 1.0 / std::sqrt(var + a.eps);
      if (a.outputs_variance()) out_invstd[c] = static_cast<P>(var);
      moving_mean[c] = static_cast<P>(static_cast<double>(moving_mean[c]) * a.momentum + mean[c] * (1 - a.momentum));
      moving_var[c] = static_cast<P>(static_cast<double>(moving_var[c]) * a.momentum + var * (1 - a.momentum));
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = static_cast<double>(moving_mean[c]);
      invstd[c] = 1.0 / std::sqrt(static_cast<double>(moving_var[c]) + a.eps);
    }
  }
  // y = x * scale + shift per channel.
  std::vector<double> scale(C), shift(C);
  for (int64_t c = 0; c < C; ++c) {
    const double w = a.fix_gamma ? 1.0 : static_cast<double>(gamma[c]);
    scale[c] = invstd[c] * w;
    shift[c] = static_cast<double>(beta[c]) - mean[c] * scale[c];
    out_mean[c] = static_cast<P>(mean[c]);
    if (!a.outputs_variance()) out_invstd[c] = static_cast<P>(invstd[c]);
    else if (!training) out_invstd[c] = moving_var[c];
  }
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t base = (o * C + c) * l.inner;
      const A s = static_cast<A>(scale[c]), b = static_cast<A>(shift[c]);
      for (int64_t i = 0; i < l.inner; ++i) y[base + i] = static_cast<T>(static_cast<A>(x[base + i]) * s + b);
      if (a.variant == Variant::kWithReLU)
        for (int64_t i = 0; i < l.inner; ++i) y[base + i] = y[base + i] > T(0) ? y[base + i] : T(0);
    }
}

template <typename T, typename P>
void Backward(const BatchNormAttrs& a, bool training, const Layout& l, const T* x, const P* gamma,
              const P* moving_mean, const P* moving_var, const P* saved_mean, const P* saved_invstd, const T* dy,
              T* dx, OpReq req_dx, P* dgamma, OpReq req_gamma, P* dbeta, OpReq req_beta) {
  const int64_t C = l.channels;
  std::vector<double> mean(C), invstd(C);
  for (int64_t c = 0; c < C; ++c) {
    if (training) {
      mean[c] = static_cast<double>(saved_mean[c]);
      invstd[c] = static_cast<double>(saved_invstd[c]);
      if (a.outputs_variance()) {
        const double v = invstd[c] + a.eps;
        invstd[c] = v == 0 ? 0.0 : 1.0 / std::sqrt(v);
      }
    } else {
      mean[c] = static_cast<double>(moving_mean[c]);
      invstd[c] = 1.0 / std::sqrt(static_cast<double>(moving_var[c]) + a.eps);
    }
  }
  // Per channel: sum(dy) and sum((x - mean) * dy).
  std::vector<double> sum_g(C, 0.0), dotp(C, 0.0);
  ChannelSums(l, sum_g, [dy](int64_t, int64_t base, int64_t i) { return static_cast<double>(dy[base + i]); });
  ChannelSums(l, dotp, [x, dy, &mean](int64_t c, int64_t base, int64_t i) {
    return (static_cast<double>(x[base + i]) - mean[c]) * static_cast<double>(dy[base + i]);
  });
  if (req_dx != OpReq::kNull) {
    // dx = dy * k1 + x * k2 + k3 per channel.
    const double n = static_cast<double>(l.PerChannel());
    std::vector<double> k1(C), k2(C), k3(C);
    for (int64_t c = 0; c < C; ++c) {
      const double w = a.fix_gamma ? 1.0 : static_cast<double>(gamma[c]);
      const double iw = invstd[c] * w;
      k1[c] = iw;
      if (training) {
        // dx = (dy - mean(dy) - (x - mean) * dotp * invstd^2 / n) * invstd * w
        const double proj = dotp[c] * invstd[c] * invstd[c] / n;
        k2[c] = -proj * iw;
        k3[c] = (-sum_g[c] / n + mean[c] * proj) * iw;
      } else {
        k2[c] = 0;
        k3[c] = 0;
      }
    }
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    for (int64_t o = 0; o < l.outer; ++o)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t base = (o * C + c) * l.inner;
        const A c1 = static_cast<A>(k1[c]), c2 = static_cast<A>(k2[c]), c3 = static_cast<A>(k3[c]);
        T* out = dx + base;
        const T* g = dy + base;
        const T* xi = x + base;
        if (req_dx == OpReq::kWrite) {
          for (int64_t i = 0; i < l.inner; ++i)
            out[i] = static_cast<T>(static_cast<A>(g[i]) * c1 + static_cast<A>(xi[i]) * c2 + c3);
        } else {
          for (int64_t i = 0; i < l.inner; ++i)
            out[i] = static_cast<T>(static_cast<A>(out[i]) + static_cast<A>(g[i]) * c1 + static_cast<A>(xi[i]) * c2 + c3);
        }
      }
  }
  for (int64_t c = 0; c < C; ++c) {
    if (req_gamma != OpReq::kNull)
      Store(dgamma[c], static_cast<P>(a.fix_gamma ? 0.0 : dotp[c] * invstd[c]), req_gamma);
    if (req_beta != OpReq::kNull) Store(dbeta[c], static_cast<P>(sum_g[c]), req_beta);
  }
}

void BatchNormForward(const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
  const auto& a = static_cast<const BatchNormAttrs&>(attrs);
  const bool training = ctx.is_train && !a.use_global_stats;
  const Layout l(in[0].shape, a.axis);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using P = std::conditional_t<std::is_same_v<T, _Float16>, float, T>;
    Forward<T, P>(a, training, l, in[0].ptr<T>(), in[1].ptr<P>(), in[2].ptr<P>(), in[3].ptr<P>(), in[4].ptr<P>(),
                  out[0].ptr<T>(), out[1].ptr<P>(), out[2].ptr<P>());
  });
}

void BatchNormBackward(const OpContext& ctx, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const BatchNormAttrs&>(attrs);
  const bool training = ctx.is_train && !a.use_global_stats;
  const Layout l(io.inputs[0].shape, a.axis);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    using P = std::conditional_t<std::is_same_v<T, _Float16>, float, T>;
    const T* dy = io.out_grads[0].ptr<T>();
    // Through the ReLU: the gradient passes where the output is positive.
    std::vector<T> masked;
    if (a.variant == Variant::kWithReLU) {
      const T* y = io.outputs[0].ptr<T>();
      masked.resize(static_cast<size_t>(io.out_grads[0].size()));
      for (size_t i = 0; i < masked.size(); ++i) masked[i] = y[i] > T(0) ? dy[i] : T(0);
      dy = masked.data();
    }
    Backward<T, P>(a, training, l, io.inputs[0].ptr<T>(), io.inputs[1].ptr<P>(), io.inputs[3].ptr<P>(),
                   io.inputs[4].ptr<P>(), io.outputs[1].ptr<P>(), io.outputs[2].ptr<P>(), dy,
                   io.in_grads[0].ptr<T>(), io.req[0], io.in_grads[1].ptr<P>(), io.req[1], io.in_grads[2].ptr<P>(),
                   io.req[2]);
  });
}

std::vector<OpParam> CommonParams(const char* eps_type, const char* eps_default) {
  return {
      Optional("eps", eps_type, eps_default, "Added to the variance before its square root."),
      Optional("momentum", "float", "0.899999976", "The weight of the old value in the moving averages."),
      Optional("fix_gamma", "boolean", "1", "Whether gamma is held at 1 (its gradient is then zero)."),
      Optional("use_global_stats", "boolean", "0", "Whether training also normalizes by the moving averages."),
      Optional("output_mean_var", "boolean", "0", "Whether the batch mean and variance are outputs too."),
  };
}

OpDef BatchNormDef(const std::string& name, std::string description, ParseFn parse, std::vector<OpParam> params,
                   bool documents_aux) {
  OpDef def;
  def.name = name;
  def.description = std::move(description);
  def.input_docs = {{"data", "The input array."},
                    {"gamma", "The scale, one per channel."},
                    {"beta", "The shift, one per channel."}};
  // BatchNorm_v1 documents only its arguments; its auxiliary states are created with it.
  if (documents_aux) {
    def.input_docs.push_back({"moving_mean", "The running mean, one per channel (an auxiliary state)."});
    def.input_docs.push_back({"moving_var", "The running variance, one per channel (an auxiliary state)."});
  }
  def.params = std::move(params);
  def.inputs = {"data", "gamma", "beta"};
  def.aux = {"moving_mean", "moving_var"};
  def.num_outputs = 3;
  def.count_visible_outputs = [](const OpAttrs& attrs) {
    return static_cast<const BatchNormAttrs&>(attrs).output_mean_var ? 3 : 1;
  };
  def.list_outputs = [](const OpAttrs& attrs) -> std::vector<std::string> {
    if (static_cast<const BatchNormAttrs&>(attrs).output_mean_var) return {"output", "mean", "var"};
    return {"output"};
  };
  def.parse = std::move(parse);
  def.infer_shape = &BatchNormInferShape;
  def.infer_type = &BatchNormInferType;
  def.forward = &BatchNormForward;
  def.backward = &BatchNormBackward;
  return def;
}

std::vector<OpParam> ModernParams() {
  auto params = CommonParams("double", "0.0010000000474974513");
  params.push_back(Optional("axis", "int", "'1'", "The channel axis."));
  params.push_back(
      Optional("cudnn_off", "boolean", "0", "Whether to avoid cuDNN (accepted for compatibility; no effect on CPU)."));
  params.push_back(Optional("min_calib_range", "float or None", "None", "Quantization calibration minimum (accepted, unused)."));
  params.push_back(Optional("max_calib_range", "float or None", "None", "Quantization calibration maximum (accepted, unused)."));
  return params;
}

const bool registered = [] {
  Registry::Add(BatchNormDef(
      kOp,
      "Batch normalization: normalizes each channel by the batch's mean and variance in training (by the "
      "moving averages otherwise), then scales by gamma and shifts by beta; training updates the moving averages.",
      [](const AttrMap& attrs) { return ParseBatchNorm(kOp, attrs, Variant::kBatchNorm); }, ModernParams(), true));
  Registry::Add(BatchNormDef(
      "_contrib_BatchNormWithReLU",
      "Batch normalization followed by ReLU: max(BatchNorm(data), 0), with BatchNorm's attributes and moving averages.",
      [](const AttrMap& attrs) { return ParseBatchNorm("_contrib_BatchNormWithReLU", attrs, Variant::kWithReLU); },
      ModernParams(), true));
  Registry::Add(BatchNormDef(
      "BatchNorm_v1",
      "Batch normalization of axis 1 as MXNet's first BatchNorm computed it; its var output is the variance itself.",
      &ParseV1, CommonParams("float", "0.00100000005"), false));
  auto sync = CommonParams("float", "0.00100000005");
  sync.push_back(Optional("ndev", "int", "'1'", "The number of devices the statistics are gathered over (1)."));
  sync.push_back(Required("key", "string", "The name that ties together one layer's copies on several devices."));
  Registry::Add(BatchNormDef(
      "_contrib_SyncBatchNorm",
      "Batch normalization whose statistics span the devices of data parallel training; on one device it is "
      "BatchNorm over axis 1, its var output the variance itself.",
      &ParseSync, std::move(sync), true));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
