// Elementwise unary operators: exp, log, sqrt, rsqrt, square, abs, sign, negative, reciprocal,
// sin, cos, tanh, sigmoid, relu, log1p, expm1, floor, ceil, round, _copy (identity),
// ones_like and zeros_like. As in MXNet's legacy operators the output has the input's type;
// on integer arrays the transcendental functions are computed in float and converted back.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/cpu/unary_kernel.h"

namespace flowmod::ops {

namespace {

// The functors: see unary_kernel.h for what each gives.
using unary::Base;

struct Exp : Base {
  template <class C> static C F(C x) { return std::exp(x); }
  static double D(double, double y) { return y; }
};
struct Log : Base {
  template <class C> static C F(C x) { return std::log(x); }
  static double D(double x, double) { return 1 / x; }
};
struct Sqrt : Base {
  template <class C> static C F(C x) { return std::sqrt(x); }
  static double D(double, double y) { return 0.5 / y; }
};
struct Rsqrt : Base {
  template <class C> static C F(C x) { return C(1) / std::sqrt(x); }
  static double D(double x, double) { return -0.5 / (x * std::sqrt(x)); }
};
struct Square : Base {
  static constexpr bool kExactOnIntegers = true;
  template <class T> static T I(T x) { return static_cast<T>(x * x); }
  template <class C> static C F(C x) { return x * x; }
  static double D(double x, double) { return 2 * x; }
};
struct Abs : Base {
  static constexpr bool kExactOnIntegers = true;
  template <class T> static T I(T x) { return static_cast<T>(x < 0 ? -x : x); }
  template <class C> static C F(C x) { return std::fabs(x); }
  static double D(double x, double) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
};
struct Sign : Base {
  static constexpr bool kExactOnIntegers = true;
  static constexpr bool kZeroGrad = true;
  template <class T> static T I(T x) { return static_cast<T>((x > 0) - (x < 0)); }
  template <class C> static C F(C x) { return x > 0 ? C(1) : (x < 0 ? C(-1) : x); }
  static double D(double, double) { return 0; }
};
struct Negative : Base {
  static constexpr bool kExactOnIntegers = true;
  template <class T> static T I(T x) { return static_cast<T>(-x); }
  template <class C> static C F(C x) { return -x; }
  static double D(double, double) { return -1; }
};
struct Reciprocal : Base {
  template <class C> static C F(C x) { return C(1) / x; }
  static double D(double x, double) { return -1 / (x * x); }
};
struct Sin : Base {
  template <class C> static C F(C x) { return std::sin(x); }
  static double D(double x, double) { return std::cos(x); }
};
struct Cos : Base {
  template <class C> static C F(C x) { return std::cos(x); }
  static double D(double x, double) { return -std::sin(x); }
};
struct Tanh : Base {
  template <class C> static C F(C x) { return std::tanh(x); }
  static double D(double, double y) { return 1 - y * y; }
};
struct Sigmoid : Base {
  template <class C> static C F(C x) { return C(1) / (C(1) + std::exp(-x)); }
  static double D(double, double y) { return y * (1 - y); }
};
// NaN passes through; the gradient is 1 where the output is positive.
struct Relu : Base {
  static constexpr bool kExactOnIntegers = true;
  template <class T> static T I(T x) { return x > 0 ? x : T(0); }
  template <class C> static C F(C x) { return x > 0 || x != x ? x : C(0); }
  static double D(double, double y) { return y > 0 ? 1 : 0; }
};
struct Log1p : Base {
  template <class C> static C F(C x) { return std::log1p(x); }
  static double D(double x, double) { return 1 / (1 + x); }
};
struct Expm1 : Base {
  template <class C> static C F(C x) { return std::expm1(x); }
  static double D(double x, double) { return std::exp(x); }
};
struct Floor : Base {
  static constexpr bool kExactOnIntegers = true;
  static constexpr bool kZeroGrad = true;
  template <class T> static T I(T x) { return x; }
  template <class C> static C F(C x) { return std::floor(x); }
  static double D(double, double) { return 0; }
};
struct Ceil : Floor {
  template <class C> static C F(C x) { return std::ceil(x); }
};
// Halves round away from zero (C's round), as MXNet's round does.
struct Round : Floor {
  template <class C> static C F(C x) { return std::round(x); }
};
struct Copy : Base {
  static constexpr bool kExactOnIntegers = true;
  static constexpr bool kAllowsBool = true;
  template <class T> static T I(T x) { return x; }
  template <class C> static C F(C x) { return x; }
  static double D(double, double) { return 1; }
};

template <class Op>
OpDef UnaryOp(const std::string& name, const std::string& description) {
  return Described(unary::UnaryOp<Op>(name), description, {{"data", "The input array."}}, {});
}

// zeros_like and ones_like: the input's shape and type, a constant value, zero gradient.
OpDef FillLikeOp(const std::string& name, double value, const std::string& description) {
  OpDef def = Described(unary::Def(name, true), description, {{"data", "The input array."}}, {});
  def.forward = [value](const OpContext&, const OpAttrs&, std::span<const TensorRef>,
                        std::span<const TensorRef> out) {
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      T* y = out[0].ptr<T>();
      const T v = static_cast<T>(value);
      const int64_t n = out[0].size();
      for (int64_t i = 0; i < n; ++i) y[i] = v;
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    ZeroWithReq(io.in_grads[0], io.req[0]);
  };
  return def;
}

const bool registered = [] {
  Registry::Add(UnaryOp<Exp>("exp", "The natural exponential e**x of each element."));
  Registry::Add(UnaryOp<Log>("log", "The natural logarithm of each element."));
  Registry::Add(UnaryOp<Sqrt>("sqrt", "The square root of each element."));
  Registry::Add(UnaryOp<Rsqrt>("rsqrt", "One over the square root of each element."));
  Registry::Add(UnaryOp<Square>("square", "Each element multiplied by itself."));
  Registry::Add(UnaryOp<Abs>("abs", "The absolute value of each element."));
  Registry::Add(UnaryOp<Sign>("sign", "The sign of each element: -1, 0 or 1."));
  Registry::Add(UnaryOp<Negative>("negative", "Each element with its sign flipped."));
  Registry::Add(UnaryOp<Reciprocal>("reciprocal", "One over each element."));
  Registry::Add(UnaryOp<Sin>("sin", "The sine of each element, in radians."));
  Registry::Add(UnaryOp<Cos>("cos", "The cosine of each element, in radians."));
  Registry::Add(UnaryOp<Tanh>("tanh", "The hyperbolic tangent of each element."));
  Registry::Add(UnaryOp<Sigmoid>("sigmoid", "The logistic function 1 / (1 + exp(-x)) of each element."));
  Registry::Add(UnaryOp<Relu>("relu", "Each element clamped below at zero: max(x, 0)."));
  Registry::Add(UnaryOp<Log1p>("log1p", "log(1 + x) of each element, accurate for small x."));
  Registry::Add(UnaryOp<Expm1>("expm1", "exp(x) - 1 of each element, accurate for small x."));
  Registry::Add(UnaryOp<Floor>("floor", "The largest integer not greater than each element."));
  Registry::Add(UnaryOp<Ceil>("ceil", "The smallest integer not less than each element."));
  Registry::Add(UnaryOp<Round>("round", "Each element rounded to the nearest integer, halves away from zero."));
  Registry::Add(UnaryOp<Copy>("_copy", "A copy of the input."));
  Registry::Add(UnaryOp<Copy>("identity", "A copy of the input."));
  Registry::Add(FillLikeOp("zeros_like", 0, "An array of zeros with the shape and type of the input."));
  Registry::Add(FillLikeOp("ones_like", 1, "An array of ones with the shape and type of the input."));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
