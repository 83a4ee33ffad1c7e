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

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// Each functor gives F (the function, on float or double), D (the derivative in double from
// the input x and output y), and, when kExactOnIntegers, an integer form computed in the
// element type itself. kZeroGrad marks the operators MXNet gives a zero gradient.
struct Base {
  static constexpr bool kExactOnIntegers = false;
  static constexpr bool kZeroGrad = false;
};
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
  template <class T> static T I(T x) { return x; }
  template <class C> static C F(C x) { return x; }
  static double D(double, double) { return 1; }
};

template <class Op, class T>
inline T Apply(T x) {
  if constexpr (std::is_same_v<T, bool>) {
    // Only _copy (and the fill operators) accept bool; the others reject it in infer_type.
    return x;
  } else if constexpr (std::is_integral_v<T> && Op::kExactOnIntegers) {
    return Op::template I<T>(x);
  } else {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    return CastTo<T>(Op::template F<C>(static_cast<C>(x)));
  }
}

template <class Op>
void UnaryForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const int64_t n = in[0].size();
    for (int64_t i = 0; i < n; ++i) y[i] = Apply<Op, T>(x[i]);
  });
}

template <class Op>
void UnaryBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  const TensorRef& gx = io.in_grads[0];
  if constexpr (Op::kZeroGrad) {
    if (req == OpReq::kWrite) std::memset(gx.data, 0, gx.size() * DTypeSize(gx.dtype));
    return;
  }
  FLOWMOD_DTYPE_SWITCH(gx.dtype, T, {
    const T* x = io.inputs[0].ptr<T>();
    const T* y = io.outputs[0].ptr<T>();
    const T* g = io.out_grads[0].ptr<T>();
    T* pgx = gx.ptr<T>();
    const int64_t n = gx.size();
    for (int64_t i = 0; i < n; ++i) {
      const double d = Op::D(static_cast<double>(x[i]), static_cast<double>(y[i]));
      Store(pgx[i], CastTo<T>(static_cast<double>(g[i]) * d), req);
    }
  });
}

OpDef UnaryDef(const std::string& name, bool allow_bool, const std::string& description) {
  OpDef def;
  def.name = name;
  def.description = description;
  def.inputs = {"data"};
  def.input_docs = {{"data", "The input array."}};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const OpAttrs>();
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name, allow_bool](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
    if (!allow_bool && in[0] == DType::kBool)
      throw OpArgumentError(name, "data", "an array of type bool", "a numeric type");
  };
  def.inplace = {{0, 0}};
  return def;
}

template <class Op>
OpDef UnaryOp(const std::string& name, const std::string& description) {
  OpDef def = UnaryDef(name, std::is_same_v<Op, Copy>, description);
  def.forward = &UnaryForward<Op>;
  def.backward = &UnaryBackward<Op>;
  return def;
}

// zeros_like and ones_like: the input's shape and type, a constant value, zero gradient.
OpDef FillLikeOp(const std::string& name, double value, const std::string& description) {
  OpDef def = UnaryDef(name, true, description);
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
    if (io.req[0] == OpReq::kWrite)
      std::memset(io.in_grads[0].data, 0, io.in_grads[0].size() * DTypeSize(io.in_grads[0].dtype));
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
