// Activation functions: Activation (relu, sigmoid, tanh, softrelu, softsign), LeakyReLU
// (leaky, prelu, rrelu, elu, selu, gelu), softmax, log_softmax, softmin and
// SoftmaxActivation. All are defined on floating types; float16 is computed in float.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/nn_common.h"
#include "ops/cpu/softmax_kernel.h"
#include "ops/cpu/target_clones.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

// The type elementwise math runs in: double for double, float otherwise.
template <class T>
using Math = std::conditional_t<std::is_same_v<T, double>, double, float>;

// The first `n_in` inputs and every output share one shape.
void SameShape(const std::string& op, std::vector<Shape>& in, std::vector<Shape>& out, size_t n_in) {
  Shape common = kUnknownShape;
  for (size_t i = 0; i < n_in; ++i) MergeShape(op, "data", common, in[i]);
  for (const auto& s : out) MergeShape(op, "output", common, s);
  for (size_t i = 0; i < n_in; ++i) in[i] = common;
  for (auto& s : out) s = common;
}

// ---- Activation ----------------------------------------------------------------------------

enum class Act { kReLU, kSigmoid, kTanh, kSoftReLU, kSoftSign };

struct ActivationAttrs : OpAttrs {
  Act act = Act::kReLU;
};

template <Act kAct, class C>
inline C ActValue(C x) {
  if constexpr (kAct == Act::kReLU) return x > C(0) ? x : C(0);
  // Float uses the branch-free forms, which vectorize.
  if constexpr (kAct == Act::kSigmoid) {
    if constexpr (std::is_same_v<C, float>) return SigmoidFloat(x);
    else return C(1) / (C(1) + std::exp(-x));
  }
  if constexpr (kAct == Act::kTanh) {
    if constexpr (std::is_same_v<C, float>) return TanhFloat(x);
    else return std::tanh(x);
  }
  // softplus; above 20 log1p(exp(x)) equals x in float and exp could overflow.
  if constexpr (kAct == Act::kSoftReLU) return x > C(20) ? x : std::log1p(std::exp(x));
  if constexpr (kAct == Act::kSoftSign) return x / (C(1) + std::abs(x));
}

// d(out)/d(in) from the output y, and from the input x for softsign (as MXNet does).
template <Act kAct, class C>
inline C ActGrad(C x, C y) {
  if constexpr (kAct == Act::kReLU) return y > C(0) ? C(1) : C(0);
  if constexpr (kAct == Act::kSigmoid) return y * (C(1) - y);
  if constexpr (kAct == Act::kTanh) return C(1) - y * y;
  if constexpr (kAct == Act::kSoftReLU) return -std::expm1(-y);
  if constexpr (kAct == Act::kSoftSign) {
    const C d = C(1) + std::abs(x);
    return C(1) / (d * d);
  }
}

// Float tanh and sigmoid are bound by arithmetic, not memory: they get the machine's widest
// vectors (see target_clones.h).
FLOWMOD_TARGET_CLONES void TanhFloatArray(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = TanhFloat(x[i]);
}

FLOWMOD_TARGET_CLONES void SigmoidFloatArray(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = SigmoidFloat(x[i]);
}

template <Act kAct, typename T>
void ActForwardLoop(const T* x, T* y, int64_t n) {
  using C = Math<T>;
  if constexpr (std::is_same_v<T, float> && kAct == Act::kTanh) {
    TanhFloatArray(x, y, n);
  } else if constexpr (std::is_same_v<T, float> && kAct == Act::kSigmoid) {
    SigmoidFloatArray(x, y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(ActValue<kAct, C>(static_cast<C>(x[i])));
  }
}

template <Act kAct>
void ActForwardKernel(const TensorRef& in, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in.dtype, T, { ActForwardLoop<kAct, T>(in.ptr<T>(), out.ptr<T>(), in.size()); });
}

template <Act kAct>
void ActBackwardKernel(const BackwardIO& io) {
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    using C = Math<T>;
    const T* g = io.out_grads[0].ptr<T>();
    const T* x = io.inputs[0].ptr<T>();
    const T* y = io.outputs[0].ptr<T>();
    T* gx = io.in_grads[0].ptr<T>();
    const int64_t n = io.inputs[0].size();
    for (int64_t i = 0; i < n; ++i) {
      const C d = ActGrad<kAct, C>(static_cast<C>(x[i]), static_cast<C>(y[i]));
      Store(gx[i], static_cast<T>(static_cast<C>(g[i]) * d), req);
    }
  });
}

void ActivationForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
  switch (static_cast<const ActivationAttrs&>(attrs).act) {
    case Act::kReLU: return ActForwardKernel<Act::kReLU>(in[0], out[0]);
    case Act::kSigmoid: return ActForwardKernel<Act::kSigmoid>(in[0], out[0]);
    case Act::kTanh: return ActForwardKernel<Act::kTanh>(in[0], out[0]);
    case Act::kSoftReLU: return ActForwardKernel<Act::kSoftReLU>(in[0], out[0]);
    case Act::kSoftSign: return ActForwardKernel<Act::kSoftSign>(in[0], out[0]);
  }
}

void ActivationBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  switch (static_cast<const ActivationAttrs&>(attrs).act) {
    case Act::kReLU: return ActBackwardKernel<Act::kReLU>(io);
    case Act::kSigmoid: return ActBackwardKernel<Act::kSigmoid>(io);
    case Act::kTanh: return ActBackwardKernel<Act::kTanh>(io);
    case Act::kSoftReLU: return ActBackwardKernel<Act::kSoftReLU>(io);
    case Act::kSoftSign: return ActBackwardKernel<Act::kSoftSign>(io);
  }
}

OpDef MakeActivation() {
  const std::string name = "Activation";
  OpDef def;
  def.name = name;
  def.description = "Applies an activation function to each element.";
  def.input_docs = {{"data", "The input array."}};
  def.params = {
      Required("act_type", "{'relu', 'sigmoid', 'softrelu', 'softsign', 'tanh'}",
               "The function: relu max(x, 0), sigmoid, softrelu log(1 + exp(x)), softsign x / (1 + |x|), tanh."),
  };
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"act_type"});
    auto p = std::make_shared<ActivationAttrs>();
    const std::string act = GetEnum(name, attrs, "act_type", {"relu", "sigmoid", "softrelu", "softsign", "tanh"});
    p->act = act == "relu"       ? Act::kReLU
             : act == "sigmoid"  ? Act::kSigmoid
             : act == "softrelu" ? Act::kSoftReLU
             : act == "softsign" ? Act::kSoftSign
                                 : Act::kTanh;
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = &ActivationForward;
  def.backward = &ActivationBackward;
  // Elementwise: the output may overwrite the input (the executor does so only when no
  // backward kernel reads the input afterwards).
  def.inplace = {{0, 0}};
  return def;
}

// ---- LeakyReLU -----------------------------------------------------------------------------

enum class Leaky { kLeaky, kPReLU, kRReLU, kELU, kSELU, kGELU };

struct LeakyAttrs : OpAttrs {
  Leaky act = Leaky::kLeaky;
  double slope = 0.25, lower = 0.125, upper = 0.334;
};

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSqrtHalf = 0.70710678118654752440;        // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;      // 1 / sqrt(2 pi)

// gamma of prelu applies along axis 1 (axis 0 of 1-d data): data seen as (outer, C, inner).
softmax::View ChannelView(const Shape& s) {
  const int axis = s.size() >= 2 ? 1 : 0;
  return softmax::AxisView(s, s.empty() ? 0 : axis);
}

// A uniform draw in [0, 1) from 24 random bits, two per 64-bit output of the generator.
struct Uniform24 {
  std::mt19937_64& gen;
  uint64_t bits = 0;
  bool have = false;
  float operator()() {
    if (!have) bits = gen();
    have = !have;
    const uint32_t r = have ? static_cast<uint32_t>(bits >> 40) : static_cast<uint32_t>((bits >> 8) & 0xFFFFFF);
    return static_cast<float>(r) * (1.0f / 16777216.0f);
  }
};

void LeakyForward(const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef> in,
                  std::span<const TensorRef> out) {
  const auto& a = static_cast<const LeakyAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Math<T>;
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const int64_t n = in[0].size();
    const C slope = static_cast<C>(a.slope);
    switch (a.act) {
      case Leaky::kLeaky:
        for (int64_t i = 0; i < n; ++i) {
          const C v = static_cast<C>(x[i]);
          y[i] = static_cast<T>(v > C(0) ? v : slope * v);
        }
        break;
      case Leaky::kELU:
        for (int64_t i = 0; i < n; ++i) {
          const C v = static_cast<C>(x[i]);
          y[i] = static_cast<T>(v > C(0) ? v : slope * std::expm1(v));
        }
        break;
      case Leaky::kSELU: {
        const C lambda = static_cast<C>(kSeluLambda), alpha = static_cast<C>(kSeluAlpha);
        for (int64_t i = 0; i < n; ++i) {
          const C v = static_cast<C>(x[i]);
          y[i] = static_cast<T>(lambda * (v > C(0) ? v : alpha * std::expm1(v)));
        }
        break;
      }
      case Leaky::kGELU:
        for (int64_t i = 0; i < n; ++i) {
          const C v = static_cast<C>(x[i]);
          y[i] = static_cast<T>(C(0.5) * v * (C(1) + std::erf(v * static_cast<C>(kSqrtHalf))));
        }
        break;
      case Leaky::kPReLU: {
        const T* gamma = in[1].ptr<T>();
        const softmax::View v = ChannelView(in[0].shape);
        const bool shared = in[1].size() == 1;
        for (int64_t o = 0; o < v.outer; ++o)
          for (int64_t c = 0; c < v.n; ++c) {
            const C s = static_cast<C>(gamma[shared ? 0 : c]);
            const int64_t base = (o * v.n + c) * v.inner;
            for (int64_t i = 0; i < v.inner; ++i) {
              const C u = static_cast<C>(x[base + i]);
              y[base + i] = static_cast<T>(u > C(0) ? u : s * u);
            }
          }
        break;
      }
      case Leaky::kRReLU: {
        // The mask holds each element's slope: random in training, the midpoint otherwise.
        T* mask = out[1].ptr<T>();
        if (ctx.is_train) {
          Uniform24 uniform{*ctx.rng};
          const float lo = static_cast<float>(a.lower), span = static_cast<float>(a.upper - a.lower);
          for (int64_t i = 0; i < n; ++i) mask[i] = static_cast<T>(lo + uniform() * span);
        } else {
          const T mid = static_cast<T>((a.lower + a.upper) / 2);
          for (int64_t i = 0; i < n; ++i) mask[i] = mid;
        }
        for (int64_t i = 0; i < n; ++i) {
          const C v = static_cast<C>(x[i]);
          y[i] = static_cast<T>(v > C(0) ? v : static_cast<C>(mask[i]) * v);
        }
        break;
      }
    }
  });
}

// Gradients follow MXNet: leaky, rrelu, elu and selu from the output; prelu and gelu from the
// input.
void LeakyBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const LeakyAttrs&>(attrs);
  const OpReq req = io.req[0];
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    using C = Math<T>;
    const T* g = io.out_grads[0].ptr<T>();
    const T* x = io.inputs[0].ptr<T>();
    const T* y = io.outputs[0].ptr<T>();
    T* gx = io.in_grads[0].ptr<T>();
    const int64_t n = io.inputs[0].size();
    const C slope = static_cast<C>(a.slope);
    auto each = [&](auto grad) {
      if (req == OpReq::kNull) return;
      for (int64_t i = 0; i < n; ++i) Store(gx[i], static_cast<T>(static_cast<C>(g[i]) * grad(i)), req);
    };
    switch (a.act) {
      case Leaky::kLeaky:
        each([&](int64_t i) { return static_cast<C>(y[i]) > C(0) ? C(1) : slope; });
        break;
      case Leaky::kRReLU: {
        const T* mask = io.outputs[1].ptr<T>();
        each([&](int64_t i) { return static_cast<C>(y[i]) > C(0) ? C(1) : static_cast<C>(mask[i]); });
        break;
      }
      case Leaky::kELU:
        each([&](int64_t i) {
          const C v = static_cast<C>(y[i]);
          return v > C(0) ? C(1) : v + slope;
        });
        break;
      case Leaky::kSELU: {
        const C lambda = static_cast<C>(kSeluLambda), alpha = static_cast<C>(kSeluAlpha);
        each([&](int64_t i) {
          const C v = static_cast<C>(y[i]);
          return v > C(0) ? lambda : v + alpha * lambda;
        });
        break;
      }
      case Leaky::kGELU:
        each([&](int64_t i) {
          const C v = static_cast<C>(x[i]);
          return C(0.5) * (C(1) + std::erf(v * static_cast<C>(kSqrtHalf))) +
                 v * static_cast<C>(kInvSqrt2Pi) * std::exp(C(-0.5) * v * v);
        });
        break;
      case Leaky::kPReLU: {
        const T* gamma = io.inputs[1].ptr<T>();
        const softmax::View v = ChannelView(io.inputs[0].shape);
        const bool shared = io.inputs[1].size() == 1;
        const OpReq req_gamma = io.req[1];
        // d/dgamma sums g * x over the negative inputs of each channel.
        std::vector<double> acc(req_gamma == OpReq::kNull ? 0 : io.inputs[1].size(), 0.0);
        for (int64_t o = 0; o < v.outer; ++o)
          for (int64_t c = 0; c < v.n; ++c) {
            const C s = static_cast<C>(gamma[shared ? 0 : c]);
            const int64_t base = (o * v.n + c) * v.inner;
            C part = 0;
            for (int64_t i = 0; i < v.inner; ++i) {
              const C u = static_cast<C>(x[base + i]), gi = static_cast<C>(g[base + i]);
              if (req != OpReq::kNull) Store(gx[base + i], static_cast<T>(u > C(0) ? gi : s * gi), req);
              part += u > C(0) ? C(0) : gi * u;
            }
            if (!acc.empty()) acc[shared ? 0 : c] += part;
          }
        T* ggamma = io.in_grads[1].ptr<T>();
        for (size_t c = 0; c < acc.size(); ++c) Store(ggamma[c], static_cast<T>(acc[c]), req_gamma);
        break;
      }
    }
  });
}

OpDef MakeLeakyReLU() {
  const std::string name = "LeakyReLU";
  OpDef def;
  def.name = name;
  def.description =
      "Rectified linear units that keep a slope below zero: leaky, prelu (a learned slope per channel), rrelu "
      "(a random slope in training), elu, selu and gelu.";
  def.input_docs = {{"data", "The input array."}, {"gamma", "The learned slopes, one per channel (prelu only)."}};
  def.params = {
      Optional("act_type", "{'elu', 'gelu', 'leaky', 'prelu', 'rrelu', 'selu'}", "'leaky'", "Which variant to apply."),
      Optional("slope", "float", "0.25", "The slope below zero for leaky, and the scale of elu."),
      Optional("lower_bound", "float", "0.125", "The smallest random slope of rrelu."),
      Optional("upper_bound", "float", "0.333999991", "The largest random slope of rrelu."),
  };
  def.list_inputs = [](const OpAttrs& attrs) {
    return static_cast<const LeakyAttrs&>(attrs).act == Leaky::kPReLU ? std::vector<std::string>{"data", "gamma"}
                                                                      : std::vector<std::string>{"data"};
  };
  // rrelu keeps each element's random slope as a hidden output for the gradient.
  def.count_outputs = [](const OpAttrs& attrs) {
    return static_cast<const LeakyAttrs&>(attrs).act == Leaky::kRReLU ? 2 : 1;
  };
  def.num_visible_outputs = 1;
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"act_type", "slope", "lower_bound", "upper_bound"});
    auto p = std::make_shared<LeakyAttrs>();
    const std::string act =
        GetEnum(name, attrs, "act_type", {"elu", "gelu", "leaky", "prelu", "rrelu", "selu"}, "leaky");
    p->act = act == "elu"     ? Leaky::kELU
             : act == "gelu"  ? Leaky::kGELU
             : act == "prelu" ? Leaky::kPReLU
             : act == "rrelu" ? Leaky::kRReLU
             : act == "selu"  ? Leaky::kSELU
                              : Leaky::kLeaky;
    p->slope = GetFloat(name, attrs, "slope", 0.25);
    p->lower = GetFloat(name, attrs, "lower_bound", 0.125);
    p->upper = GetFloat(name, attrs, "upper_bound", 0.334);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const bool prelu = static_cast<const LeakyAttrs&>(attrs).act == Leaky::kPReLU;
    SameShape(name, in, out, 1);
    if (!prelu || in[0] == kUnknownShape) return;
    const Shape& d = in[0];
    const int64_t channels = d.size() >= 2 ? d[1] : d.empty() ? 1 : d[0];
    Shape& gamma = in[1];
    if (gamma == kUnknownShape) {
      gamma = {channels};
      return;
    }
    const bool ok = gamma.size() == 1 && (gamma[0] == 1 || gamma[0] == channels || channels < 0);
    if (!ok)
      throw OpArgumentError(name, "gamma", "an array of shape " + ShapeString(gamma),
                            "shape (" + std::to_string(channels) + ",) (one slope per channel of axis 1) or (1,)");
    if (gamma[0] < 0) gamma[0] = channels;
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, {"data", "gamma"}, in, out);
  };
  def.forward = &LeakyForward;
  def.backward = &LeakyBackward;
  // rrelu draws random slopes: only its calls are ordered with the device's random draws.
  def.needs_rng_if = [](const OpAttrs& attrs) {
    return static_cast<const LeakyAttrs&>(attrs).act == Leaky::kRReLU;
  };
  return def;
}

// ---- softmax, log_softmax, softmin ---------------------------------------------------------

struct SoftmaxAttrs : OpAttrs {
  int64_t axis = -1;
  double temperature = 1.0;
  DType dtype = DType::kUnknown;  // the output type when given
  bool use_length = false;
};

int SoftmaxAxis(const std::string& op, const SoftmaxAttrs& a, const Shape& data) {
  return NormalizeAxis(op, "axis", a.axis, static_cast<int>(data.size()));
}

// The axis in a kernel, after infer_shape has checked it.
int KernelAxis(const SoftmaxAttrs& a, const Shape& data) {
  return static_cast<int>(a.axis < 0 ? a.axis + static_cast<int64_t>(data.size()) : a.axis);
}

template <bool kLog, bool kNeg>
void SoftmaxForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                    std::span<const TensorRef> out) {
  const auto& a = static_cast<const SoftmaxAttrs&>(attrs);
  const softmax::View v = softmax::AxisView(in[0].shape, KernelAxis(a, in[0].shape));
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, D, {
    FLOWMOD_FLOAT_SWITCH(out[0].dtype, O, {
      if (!a.use_length) {
        softmax::Forward<kLog, kNeg, D, O, int32_t>(in[0].ptr<D>(), out[0].ptr<O>(), v, a.temperature, nullptr);
      } else if (in[1].dtype == DType::kInt32) {
        softmax::Forward<kLog, kNeg>(in[0].ptr<D>(), out[0].ptr<O>(), v, a.temperature, in[1].ptr<int32_t>());
      } else {
        softmax::Forward<kLog, kNeg>(in[0].ptr<D>(), out[0].ptr<O>(), v, a.temperature, in[1].ptr<int64_t>());
      }
    });
  });
}

template <bool kLog, bool kNeg>
void SoftmaxBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const SoftmaxAttrs&>(attrs);
  const TensorRef& data = io.inputs[0];
  const softmax::View v = softmax::AxisView(data.shape, KernelAxis(a, data.shape));
  FLOWMOD_FLOAT_SWITCH(data.dtype, D, {
    FLOWMOD_FLOAT_SWITCH(io.outputs[0].dtype, O, {
      const O* y = io.outputs[0].ptr<O>();
      const O* g = io.out_grads[0].ptr<O>();
      D* gx = io.in_grads[0].ptr<D>();
      if (!a.use_length) {
        softmax::Backward<kLog, kNeg, D, O, int32_t>(y, g, gx, io.req[0], v, a.temperature, nullptr);
      } else if (io.inputs[1].dtype == DType::kInt32) {
        softmax::Backward<kLog, kNeg>(y, g, gx, io.req[0], v, a.temperature, io.inputs[1].ptr<int32_t>());
      } else {
        softmax::Backward<kLog, kNeg>(y, g, gx, io.req[0], v, a.temperature, io.inputs[1].ptr<int64_t>());
      }
    });
  });
  // The length has no gradient: zeros, as MXNet writes.
  if (a.use_length && io.req[1] == OpReq::kWrite) {
    const TensorRef& g = io.in_grads[1];
    if (g.dtype == DType::kInt32) std::fill_n(g.ptr<int32_t>(), g.size(), 0);
    else std::fill_n(g.ptr<int64_t>(), g.size(), 0);
  }
}

template <bool kLog, bool kNeg>
OpDef MakeSoftmax(const std::string& name) {
  OpDef def;
  def.name = name;
  def.description = kLog ? "The logarithm of the softmax along an axis, computed without overflow."
                    : kNeg ? "The softmax of the negated input along an axis: small values get large weights."
                           : "The softmax along an axis: exponentials normalized to sum to one.";
  def.input_docs = {{"data", "The input array."}};
  if (!kLog && !kNeg) def.input_docs.push_back({"length", "Per-row valid lengths along the axis (use_length only)."});
  def.params = {
      Optional("axis", "int", "'-1'", "The axis along which to normalize."),
      Optional("temperature", "double or None", "None", "Divides the input before the exponential; None is 1."),
      Optional("dtype", "{None, 'float16', 'float32', 'float64'}", "'None'",
               "The output type; None keeps the input's."),
      Optional("use_length", "boolean or None", "0",
               "Whether to take a lengths array and ignore the entries past each row's length."),
  };
  def.list_inputs = [](const OpAttrs& attrs) {
    return static_cast<const SoftmaxAttrs&>(attrs).use_length ? std::vector<std::string>{"data", "length"}
                                                               : std::vector<std::string>{"data"};
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "temperature", "dtype", "use_length"});
    auto p = std::make_shared<SoftmaxAttrs>();
    p->axis = GetInt(name, attrs, "axis", -1);
    if (auto t = GetOptionalFloat(name, attrs, "temperature")) {
      if (*t == 0 || !std::isfinite(*t))
        throw OpArgumentError(name, "temperature", std::to_string(*t), "a finite, nonzero number or None");
      p->temperature = *t;
    }
    const std::string dtype = GetEnum(name, attrs, "dtype", {"None", "float16", "float32", "float64"}, "None");
    p->dtype = dtype == "float16"   ? DType::kFloat16
               : dtype == "float32" ? DType::kFloat32
               : dtype == "float64" ? DType::kFloat64
                                    : DType::kUnknown;
    if (Has(attrs, "use_length") && attrs.at("use_length") != "None")
      p->use_length = GetBool(name, attrs, "use_length", false);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SoftmaxAttrs&>(attrs);
    MergeShape(name, "data", in[0], out[0]);
    out[0] = in[0];
    if (in[0] == kUnknownShape) return;
    const int axis = SoftmaxAxis(name, a, in[0]);
    if (!a.use_length) return;
    // One length per position of the other axes.
    Shape lshape;
    for (size_t i = 0; i < in[0].size(); ++i)
      if (static_cast<int>(i) != axis) lshape.push_back(in[0][i]);
    if (lshape.empty()) lshape = {1};
    MergeShape(name, "length", in[1], lshape);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const SoftmaxAttrs&>(attrs);
    if (a.dtype != DType::kUnknown) {
      MergeType(name, "output", out[0], a.dtype);
      if (in[0] == DType::kUnknown) in[0] = out[0];
    } else {
      MergeType(name, "data", in[0], out[0]);
      out[0] = in[0];
    }
    const DType t = in[0];
    if (t != DType::kUnknown && t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
      throw OpArgumentError(name, "data", std::string("an array of type ") + DTypeName(t),
                            "float32, float64 or float16");
    if (a.use_length && in[1] != DType::kUnknown && in[1] != DType::kInt32 && in[1] != DType::kInt64)
      throw OpArgumentError(name, "length", std::string("an array of type ") + DTypeName(in[1]),
                            "int32 or int64");
  };
  def.forward = &SoftmaxForward<kLog, kNeg>;
  def.backward = &SoftmaxBackward<kLog, kNeg>;
  return def;
}

// ---- SoftmaxActivation ---------------------------------------------------------------------

struct SoftmaxActivationAttrs : OpAttrs {
  bool channel = false;
};

// instance: softmax over the last axis (MXNet flattens to (-1, last) on the CPU); channel:
// over axis 1 at every position of the axes after it.
softmax::View SoftmaxActivationView(const SoftmaxActivationAttrs& a, const Shape& s) {
  if (a.channel) return softmax::AxisView(s, 1);
  return softmax::AxisView(s, s.empty() ? 0 : static_cast<int>(s.size()) - 1);
}

void SoftmaxActivationForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                              std::span<const TensorRef> out) {
  const softmax::View v = SoftmaxActivationView(static_cast<const SoftmaxActivationAttrs&>(attrs), in[0].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    softmax::Forward<false, false, T, T, int32_t>(in[0].ptr<T>(), out[0].ptr<T>(), v, 1.0, nullptr);
  });
}

void SoftmaxActivationBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const softmax::View v =
      SoftmaxActivationView(static_cast<const SoftmaxActivationAttrs&>(attrs), io.inputs[0].shape);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    softmax::Backward<false, false, T, T, int32_t>(io.outputs[0].ptr<T>(), io.out_grads[0].ptr<T>(),
                                                   io.in_grads[0].ptr<T>(), io.req[0], v, 1.0, nullptr);
  });
}

OpDef MakeSoftmaxActivation() {
  const std::string name = "SoftmaxActivation";
  OpDef def;
  def.name = name;
  def.description = "The softmax over each instance's features, or over the channels at each position.";
  def.input_docs = {{"data", "The input array."}};
  def.params = {
      Optional("mode", "{'channel', 'instance'}", "'instance'",
               "instance: normalize each row of the flattened input; channel: normalize along axis 1."),
  };
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"mode"});
    auto p = std::make_shared<SoftmaxActivationAttrs>();
    p->channel = GetEnum(name, attrs, "mode", {"channel", "instance"}, "instance") == "channel";
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
    if (static_cast<const SoftmaxActivationAttrs&>(attrs).channel && in[0] != kUnknownShape && in[0].size() < 3)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]),
                            "at least 3 dimensions when mode='channel'");
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = &SoftmaxActivationForward;
  def.backward = &SoftmaxActivationBackward;
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  Registry::Add(MakeActivation());
  Registry::Add(MakeLeakyReLU());
  Registry::Add(MakeSoftmax<false, false>("softmax"));
  Registry::Add(MakeSoftmax<true, false>("log_softmax"));
  Registry::Add(MakeSoftmax<false, true>("softmin"));
  Registry::Add(MakeSoftmaxActivation());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
