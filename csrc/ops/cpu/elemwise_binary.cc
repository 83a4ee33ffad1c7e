// Elementwise binary operators: broadcast_* (numpy broadcasting, shapes aligned on the
// right), elemwise_* (equal shapes) and the scalar forms (_plus_scalar, _rminus_scalar, ...).
// Both operands have the same type, as MXNet requires; comparisons give 1 or 0 in that type.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/op_registry.h"

namespace flowmod::ops {

namespace {

struct Add { template <class T> static T Apply(T a, T b) { return static_cast<T>(a + b); } };
struct Sub { template <class T> static T Apply(T a, T b) { return static_cast<T>(a - b); } };
struct Mul { template <class T> static T Apply(T a, T b) { return static_cast<T>(a * b); } };
struct Div {
  template <class T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      // Integer division by zero would kill the process: fail the operation instead.
      if (b == 0) throw std::domain_error("integer division by zero");
    }
    return static_cast<T>(a / b);
  }
};
struct Pow {
  template <class T>
  static T Apply(T a, T b) {
    return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
};
struct Max { template <class T> static T Apply(T a, T b) { return a > b ? a : b; } };
struct Min { template <class T> static T Apply(T a, T b) { return a < b ? a : b; } };
struct Eq { template <class T> static T Apply(T a, T b) { return static_cast<T>(a == b); } };
struct Ne { template <class T> static T Apply(T a, T b) { return static_cast<T>(a != b); } };
struct Gt { template <class T> static T Apply(T a, T b) { return static_cast<T>(a > b); } };
struct Ge { template <class T> static T Apply(T a, T b) { return static_cast<T>(a >= b); } };
struct Lt { template <class T> static T Apply(T a, T b) { return static_cast<T>(a < b); } };
struct Le { template <class T> static T Apply(T a, T b) { return static_cast<T>(a <= b); } };

// Swaps the operands: _rminus_scalar is scalar - x.
template <class F>
struct Reversed {
  template <class T>
  static T Apply(T a, T b) { return F::template Apply<T>(b, a); }
};

struct NoAttrs : OpAttrs {};
struct ScalarAttrs : OpAttrs {
  double scalar = 0;
};

Shape BroadcastShape(const std::string& op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw OpArgumentError(op, "rhs", "an array of shape " + ShapeString(b),
                            "a shape that broadcasts with lhs " + ShapeString(a));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `in` (in elements) seen from an output of shape `out`: 0 along broadcast axes.
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const size_t i = in.size() - 1 - k, o = out.size() - 1 - k;
    strides[o] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  return strides;
}

template <class F, class T>
void BroadcastKernel(const TensorRef& a, const TensorRef& b, const TensorRef& out) {
  const T* pa = a.ptr<T>();
  const T* pb = b.ptr<T>();
  T* po = out.ptr<T>();
  const int64_t n = out.size();
  if (n == 0) return;
  if (a.shape == out.shape && b.shape == out.shape) {
    for (int64_t i = 0; i < n; ++i) po[i] = F::template Apply<T>(pa[i], pb[i]);
    return;
  }
  if (b.size() == 1 && a.shape == out.shape) {
    const T vb = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = F::template Apply<T>(pa[i], vb);
    return;
  }
  const size_t nd = out.shape.size();
  const auto sa = BroadcastStrides(a.shape, out.shape);
  const auto sb = BroadcastStrides(b.shape, out.shape);
  const int64_t inner = out.shape[nd - 1];
  const int64_t ia = sa[nd - 1], ib = sb[nd - 1];
  std::vector<int64_t> index(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t base = 0; base < n; base += inner) {
    for (int64_t i = 0; i < inner; ++i)
      po[base + i] = F::template Apply<T>(pa[oa + i * ia], pb[ob + i * ib]);
    // Next row: an odometer over the outer axes.
    for (size_t d = nd - 1; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++index[d] < out.shape[d]) break;
      oa -= sa[d] * out.shape[d];
      ob -= sb[d] * out.shape[d];
      index[d] = 0;
    }
  }
}

template <class F>
void BinaryForward(const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, BroadcastKernel<F, T>(in[0], in[1], out[0]));
}

template <class F>
void ScalarForward(const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
  const double scalar = static_cast<const ScalarAttrs&>(attrs).scalar;
  FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const T s = static_cast<T>(scalar);
    const int64_t n = out[0].size();
    for (int64_t i = 0; i < n; ++i) y[i] = F::template Apply<T>(x[i], s);
  });
}

std::vector<DType> SameType(const std::string& op, const std::vector<DType>& in) {
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i] != in[0])
      throw OpArgumentError(op, "rhs", std::string("an array of type ") + DTypeName(in[i]),
                            std::string("the type of lhs, ") + DTypeName(in[0]));
  return {in[0]};
}

template <class F>
OpDef BroadcastOp(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"lhs", "rhs"};
  def.parse = [](const AttrMap&) { return std::make_shared<const NoAttrs>(); };
  def.infer_shape = [name](const OpAttrs&, const std::vector<Shape>& in) {
    return std::vector<Shape>{BroadcastShape(name, in[0], in[1])};
  };
  def.infer_type = [name](const OpAttrs&, const std::vector<DType>& in) { return SameType(name, in); };
  def.forward = &BinaryForward<F>;
  return def;
}

template <class F>
OpDef ElemwiseOp(const std::string& name) {
  OpDef def = BroadcastOp<F>(name);
  def.infer_shape = [name](const OpAttrs&, const std::vector<Shape>& in) {
    if (in[0] != in[1])
      throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(in[1]),
                            "the shape of lhs, " + ShapeString(in[0]));
    return std::vector<Shape>{in[0]};
  };
  return def;
}

template <class F>
OpDef ScalarOp(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    auto parsed = std::make_shared<ScalarAttrs>();
    parsed->scalar = ParseFloat(name, attrs, "scalar");
    return std::shared_ptr<const OpAttrs>(parsed);
  };
  def.infer_shape = [](const OpAttrs&, const std::vector<Shape>& in) { return in; };
  def.infer_type = [](const OpAttrs&, const std::vector<DType>& in) { return in; };
  def.forward = &ScalarForward<F>;
  return def;
}

template <class F>
void RegisterFamily(const std::string& broadcast, const std::string& elemwise,
                    const std::string& scalar, const std::string& rscalar) {
  Registry::Add(BroadcastOp<F>(broadcast));
  if (!elemwise.empty()) Registry::Add(ElemwiseOp<F>(elemwise));
  Registry::Add(ScalarOp<F>(scalar));
  if (!rscalar.empty()) Registry::Add(ScalarOp<Reversed<F>>(rscalar));
}

const bool registered = [] {
  RegisterFamily<Add>("broadcast_add", "elemwise_add", "_plus_scalar", "");
  RegisterFamily<Sub>("broadcast_sub", "elemwise_sub", "_minus_scalar", "_rminus_scalar");
  RegisterFamily<Mul>("broadcast_mul", "elemwise_mul", "_mul_scalar", "");
  RegisterFamily<Div>("broadcast_div", "elemwise_div", "_div_scalar", "_rdiv_scalar");
  RegisterFamily<Pow>("broadcast_power", "", "_power_scalar", "_rpower_scalar");
  RegisterFamily<Max>("broadcast_maximum", "", "_maximum_scalar", "");
  RegisterFamily<Min>("broadcast_minimum", "", "_minimum_scalar", "");
  RegisterFamily<Eq>("broadcast_equal", "", "_equal_scalar", "");
  RegisterFamily<Ne>("broadcast_not_equal", "", "_not_equal_scalar", "");
  RegisterFamily<Gt>("broadcast_greater", "", "_greater_scalar", "");
  RegisterFamily<Ge>("broadcast_greater_equal", "", "_greater_equal_scalar", "");
  RegisterFamily<Lt>("broadcast_lesser", "", "_lesser_scalar", "");
  RegisterFamily<Le>("broadcast_lesser_equal", "", "_lesser_equal_scalar", "");
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
