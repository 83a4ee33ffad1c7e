// Elementwise math beyond the basic unary operators: erf, erfinv, gamma, gammaln, log2,
// log10, tan, arcsin, arccos, arctan, sinh, cosh, arcsinh, arccosh, arctanh, degrees, radians,
// trunc, fix, rint, cbrt, rcbrt, softsign, logical_not, and hard_sigmoid (alpha, beta), with
// MXNet 1.9's derivatives (some from the output, as MXNet's backward reads it: tan, cbrt,
// erfinv, gamma) and its zero gradients for the rounding operators and logical_not.
#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/cpu/special_functions.h"
#include "ops/cpu/unary_kernel.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using unary::Base;
constexpr double kPi = std::numbers::pi;

struct Erf : Base {
  template <class C> static C F(C x) { return std::erf(x); }
  static double D(double x, double) { return 2 / std::sqrt(kPi) * std::exp(-x * x); }
};
struct Erfinv : Base {
  template <class C> static C F(C x) { return static_cast<C>(special::Erfinv(static_cast<double>(x))); }
  static double D(double, double y) { return 0.5 * std::sqrt(kPi) * std::exp(y * y); }
};
struct Gamma : Base {
  template <class C> static C F(C x) { return std::tgamma(x); }
  static double D(double x, double y) { return y * special::Digamma(x); }
};
struct Gammaln : Base {
  template <class C> static C F(C x) { return std::lgamma(x); }
  static double D(double x, double) { return special::Digamma(x); }
};
struct Log2 : Base {
  template <class C> static C F(C x) { return std::log2(x); }
  static double D(double x, double) { return 1 / (x * std::numbers::ln2); }
};
struct Log10 : Base {
  template <class C> static C F(C x) { return std::log10(x); }
  static double D(double x, double) { return 1 / (x * std::numbers::ln10); }
};
struct Tan : Base {
  template <class C> static C F(C x) { return std::tan(x); }
  static double D(double, double y) { return y * y + 1; }
};
struct Arcsin : Base {
  template <class C> static C F(C x) { return std::asin(x); }
  static double D(double x, double) { return 1 / std::sqrt(1 - x * x); }
};
struct Arccos : Base {
  template <class C> static C F(C x) { return std::acos(x); }
  static double D(double x, double) { return -1 / std::sqrt(1 - x * x); }
};
struct Arctan : Base {
  template <class C> static C F(C x) { return std::atan(x); }
  static double D(double x, double) { return 1 / (x * x + 1); }
};
struct Sinh : Base {
  template <class C> static C F(C x) { return std::sinh(x); }
  static double D(double x, double) { return std::cosh(x); }
};
struct Cosh : Base {
  template <class C> static C F(C x) { return std::cosh(x); }
  static double D(double x, double) { return std::sinh(x); }
};
struct Arcsinh : Base {
  template <class C> static C F(C x) { return std::asinh(x); }
  static double D(double x, double) { return 1 / std::hypot(x, 1.0); }
};
struct Arccosh : Base {
  template <class C> static C F(C x) { return std::acosh(x); }
  static double D(double x, double) { return 1 / std::sqrt(x * x - 1); }
};
struct Arctanh : Base {
  template <class C> static C F(C x) { return std::atanh(x); }
  static double D(double x, double) { return 1 / (1 - x * x); }
};
struct Degrees : Base {
  template <class C> static C F(C x) { return static_cast<C>(180 / kPi) * x; }
  static double D(double, double) { return 180 / kPi; }
};
struct Radians : Base {
  template <class C> static C F(C x) { return static_cast<C>(kPi / 180) * x; }
  static double D(double, double) { return kPi / 180; }
};
struct Cbrt : Base {
  template <class C> static C F(C x) { return std::cbrt(x); }
  static double D(double, double y) { return 1 / (3 * y * y); }
};
struct Rcbrt : Base {
  template <class C> static C F(C x) { return C(1) / std::cbrt(x); }
  static double D(double x, double) { return -1 / (3 * std::cbrt(x) * x); }
};
struct Softsign : Base {
  template <class C> static C F(C x) { return x / (C(1) + std::fabs(x)); }
  static double D(double x, double) {
    const double d = 1 + std::fabs(x);
    return 1 / (d * d);
  }
};

// The rounding operators: integers are already whole, and the gradient is zero.
struct Rounding : Base {
  static constexpr bool kExactOnIntegers = true;
  static constexpr bool kZeroGrad = true;
  template <class T> static T I(T x) { return x; }
  static double D(double, double) { return 0; }
};
struct Trunc : Rounding {
  template <class C> static C F(C x) { return std::trunc(x); }
};
// Towards zero, as trunc; MXNet spells it as the one of floor and ceil nearer zero.
struct Fix : Rounding {
  template <class C> static C F(C x) { return std::trunc(x); }
};
// The nearest integer; a half goes down (MXNet takes floor when x - floor <= ceil - x), so
// 1.5 gives 1 and -1.5 gives -2, unlike C's rint.
struct Rint : Rounding {
  template <class C>
  static C F(C x) {
    const C lo = std::floor(x), hi = std::ceil(x);
    return x - lo <= hi - x ? lo : hi;
  }
};
struct LogicalNot : Base {
  static constexpr bool kExactOnIntegers = true;
  static constexpr bool kZeroGrad = true;
  static constexpr bool kAllowsBool = true;
  template <class T> static T I(T x) { return static_cast<T>(x == T(0)); }
  template <class C> static C F(C x) { return x == C(0) ? C(1) : C(0); }
  static double D(double, double) { return 0; }
};

// ---- hard_sigmoid ----------------------------------------------------------------------------

const char* const kHardSigmoid = "hard_sigmoid";

struct HardSigmoidAttrs : OpAttrs {
  double alpha = 0.2, beta = 0.5;
};

// y = clip(alpha * x + beta, 0, 1), in the element type's arithmetic as MXNet computes it.
void HardSigmoidForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
  const auto& a = static_cast<const HardSigmoidAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const C alpha = static_cast<C>(a.alpha), beta = static_cast<C>(a.beta);
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const int64_t n = in[0].size();
    for (int64_t i = 0; i < n; ++i) {
      C v = alpha * static_cast<C>(x[i]) + beta;
      v = v > C(1) ? C(1) : v;
      v = v < C(0) ? C(0) : v;
      y[i] = static_cast<T>(v);
    }
  });
}

// alpha where the line is inside (0, 1), else 0.
void HardSigmoidBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const HardSigmoidAttrs&>(attrs);
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const C alpha = static_cast<C>(a.alpha), beta = static_cast<C>(a.beta);
    const T* x = io.inputs[0].ptr<T>();
    const T* g = io.out_grads[0].ptr<T>();
    T* gx = io.in_grads[0].ptr<T>();
    const int64_t n = io.inputs[0].size();
    for (int64_t i = 0; i < n; ++i) {
      const C v = alpha * static_cast<C>(x[i]) + beta;
      const C d = v > C(0) && v < C(1) ? static_cast<C>(g[i]) * alpha : C(0);
      Store(gx[i], static_cast<T>(d), req);
    }
  });
}

OpDef HardSigmoidOp() {
  OpDef def = unary::Def(kHardSigmoid, false);
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kHardSigmoid, attrs, {"alpha", "beta"});
    auto p = std::make_shared<HardSigmoidAttrs>();
    p->alpha = GetFloat(kHardSigmoid, attrs, "alpha", 0.2);
    p->beta = GetFloat(kHardSigmoid, attrs, "beta", 0.5);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kHardSigmoid, in, out);
  };
  def.forward = &HardSigmoidForward;
  def.backward = &HardSigmoidBackward;
  return def;
}

const bool registered = [] {
  using unary::UnaryOp;
  Registry::Add(UnaryOp<Erf>("erf"));
  Registry::Add(UnaryOp<Erfinv>("erfinv"));
  Registry::Add(UnaryOp<Gamma>("gamma"));
  Registry::Add(UnaryOp<Gammaln>("gammaln"));
  Registry::Add(UnaryOp<Log2>("log2"));
  Registry::Add(UnaryOp<Log10>("log10"));
  Registry::Add(UnaryOp<Tan>("tan"));
  Registry::Add(UnaryOp<Arcsin>("arcsin"));
  Registry::Add(UnaryOp<Arccos>("arccos"));
  Registry::Add(UnaryOp<Arctan>("arctan"));
  Registry::Add(UnaryOp<Sinh>("sinh"));
  Registry::Add(UnaryOp<Cosh>("cosh"));
  Registry::Add(UnaryOp<Arcsinh>("arcsinh"));
  Registry::Add(UnaryOp<Arccosh>("arccosh"));
  Registry::Add(UnaryOp<Arctanh>("arctanh"));
  Registry::Add(UnaryOp<Degrees>("degrees"));
  Registry::Add(UnaryOp<Radians>("radians"));
  Registry::Add(UnaryOp<Trunc>("trunc"));
  Registry::Add(UnaryOp<Fix>("fix"));
  Registry::Add(UnaryOp<Rint>("rint"));
  Registry::Add(UnaryOp<Cbrt>("cbrt"));
  Registry::Add(UnaryOp<Rcbrt>("rcbrt"));
  Registry::Add(UnaryOp<Softsign>("softsign"));
  Registry::Add(UnaryOp<LogicalNot>("logical_not"));
  Registry::Add(HardSigmoidOp());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
