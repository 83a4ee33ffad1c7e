// The machinery of the elementwise unary operators: a functor gives the function and its
// derivative, and UnaryOp<Functor>(name) makes the registered operator from it (shape and
// type of the input, forward over every element, backward as head gradient times derivative
// under write/add/null).
//
// A functor derives from unary::Base and gives:
// - F<C>(x): the function on float or double (float16 and integer arrays compute in float);
// - D(x, y): the derivative in double, from the input x and the output y;
// - I<T>(x), with kExactOnIntegers: the function computed in the integer type itself;
// - kZeroGrad: the operator has MXNet's zero gradient (rounding, logical_not);
// - kAllowsBool: bool arrays are accepted (computed with I<bool>).
// As in MXNet's legacy operators the output has the input's type; the transcendental
// functions on integer arrays are computed in float and converted back (saturating).
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops::unary {

struct Base {
  static constexpr bool kExactOnIntegers = false;
  static constexpr bool kZeroGrad = false;
  static constexpr bool kAllowsBool = false;
};

template <class Op, class T>
inline T Apply(T x) {
  if constexpr (std::is_same_v<T, bool>) {
    if constexpr (Op::kAllowsBool) return Op::template I<bool>(x);
    else return x;  // unreachable: infer_type refuses bool for such operators
  } else if constexpr (std::is_integral_v<T> && Op::kExactOnIntegers) {
    return Op::template I<T>(x);
  } else {
    using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
    return CastTo<T>(Op::template F<C>(static_cast<C>(x)));
  }
}

template <class Op>
void Forward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const int64_t n = in[0].size();
    for (int64_t i = 0; i < n; ++i) y[i] = Apply<Op, T>(x[i]);
  });
}

template <class Op>
void Backward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  const TensorRef& gx = io.in_grads[0];
  if constexpr (Op::kZeroGrad) {
    ZeroWithReq(gx, req);  // a piecewise constant function
  } else {
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
}

// The operator's definition without kernels: one input `data`, the input's shape and type.
inline OpDef Def(const std::string& name, bool allow_bool) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
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
OpDef UnaryOp(const std::string& name) {
  OpDef def = Def(name, Op::kAllowsBool);
  def.forward = &Forward<Op>;
  def.backward = &Backward<Op>;
  return def;
}

}  // namespace flowmod::ops::unary
