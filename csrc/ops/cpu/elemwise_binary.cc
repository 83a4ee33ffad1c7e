// Elementwise binary operators: broadcast_* (numpy broadcasting, shapes aligned on the
// right), elemwise_* (equal shapes) and the scalar forms (_plus_scalar, _rminus_scalar, ...).
// Both operands have the same type, as MXNet requires; comparisons give 1 or 0 in that type.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// Each functor gives the value and, for gradients, d/da and d/db (in double).
struct Add {
  template <class T> static T Apply(T a, T b) { return static_cast<T>(a + b); }
  static void Grad(double, double, double* da, double* db) { *da = 1; *db = 1; }
};
struct Sub {
  template <class T> static T Apply(T a, T b) { return static_cast<T>(a - b); }
  static void Grad(double, double, double* da, double* db) { *da = 1; *db = -1; }
};
struct Mul {
  template <class T> static T Apply(T a, T b) { return static_cast<T>(a * b); }
  static void Grad(double a, double b, double* da, double* db) { *da = b; *db = a; }
};
struct Div {
  template <class T>
  static T Apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      // Integer division by zero would kill the process: fail the operation instead.
      if (b == 0) throw std::domain_error("integer division by zero");
    }
    return static_cast<T>(a / b);
  }
  static void Grad(double a, double b, double* da, double* db) { *da = 1 / b; *db = -a / (b * b); }
};
struct Pow {
  template <class T>
  static T Apply(T a, T b) {
    return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
  static void Grad(double a, double b, double* da, double* db) {
    *da = b * std::pow(a, b - 1);
    *db = a > 0 ? std::pow(a, b) * std::log(a) : 0;
  }
};
// The gradient goes to lhs where lhs wins (ties included), as in MXNet.
struct Max {
  template <class T> static T Apply(T a, T b) { return a > b ? a : b; }
  static void Grad(double a, double b, double* da, double* db) { *da = a >= b; *db = a < b; }
};
struct Min {
  template <class T> static T Apply(T a, T b) { return a < b ? a : b; }
  static void Grad(double a, double b, double* da, double* db) { *da = a <= b; *db = a > b; }
};
struct ZeroGrad {
  static void Grad(double, double, double* da, double* db) { *da = 0; *db = 0; }
};
struct Eq : ZeroGrad { template <class T> static T Apply(T a, T b) { return static_cast<T>(a == b); } };
struct Ne : ZeroGrad { template <class T> static T Apply(T a, T b) { return static_cast<T>(a != b); } };
struct Gt : ZeroGrad { template <class T> static T Apply(T a, T b) { return static_cast<T>(a > b); } };
struct Ge : ZeroGrad { template <class T> static T Apply(T a, T b) { return static_cast<T>(a >= b); } };
struct Lt : ZeroGrad { template <class T> static T Apply(T a, T b) { return static_cast<T>(a < b); } };
struct Le : ZeroGrad { template <class T> static T Apply(T a, T b) { return static_cast<T>(a <= b); } };

// Swaps the operands: _rminus_scalar is scalar - x.
template <class F>
struct Reversed {
  template <class T>
  static T Apply(T a, T b) { return F::template Apply<T>(b, a); }
  static void Grad(double a, double b, double* da, double* db) { F::Grad(b, a, db, da); }
};

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
void BinaryForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
  FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, BroadcastKernel<F, T>(in[0], in[1], out[0]));
}

// d(out)/d(lhs) and d(out)/d(rhs), summed over the axes each operand was broadcast along.
template <class F, class T>
void BroadcastBackwardKernel(const TensorRef& a, const TensorRef& b, const TensorRef& og,
                             const TensorRef& ga, OpReq ra, const TensorRef& gb, OpReq rb) {
  const Shape& out_shape = og.shape;
  const int64_t n = og.size();
  std::vector<double> acc_a(ra == OpReq::kNull ? 0 : a.size(), 0.0);
  std::vector<double> acc_b(rb == OpReq::kNull ? 0 : b.size(), 0.0);
  const T* pa = a.ptr<T>();
  const T* pb = b.ptr<T>();
  const T* pg = og.ptr<T>();
  const size_t nd = out_shape.size();
  const auto sa = BroadcastStrides(a.shape, out_shape);
  const auto sb = BroadcastStrides(b.shape, out_shape);
  std::vector<int64_t> index(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; ++i) {
    double da, db;
    F::Grad(static_cast<double>(pa[oa]), static_cast<double>(pb[ob]), &da, &db);
    const double g = static_cast<double>(pg[i]);
    if (!acc_a.empty()) acc_a[oa] += g * da;
    if (!acc_b.empty()) acc_b[ob] += g * db;
    for (size_t d = nd; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++index[d] < out_shape[d]) break;
      oa -= sa[d] * out_shape[d];
      ob -= sb[d] * out_shape[d];
      index[d] = 0;
    }
  }
  for (size_t i = 0; i < acc_a.size(); ++i) Store(ga.ptr<T>()[i], static_cast<T>(acc_a[i]), ra);
  for (size_t i = 0; i < acc_b.size(); ++i) Store(gb.ptr<T>()[i], static_cast<T>(acc_b[i]), rb);
}

template <class F>
void BinaryBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  FLOWMOD_DTYPE_SWITCH(io.inputs[0].dtype, T,
                       BroadcastBackwardKernel<F, T>(io.inputs[0], io.inputs[1], io.out_grads[0],
                                                     io.in_grads[0], io.req[0], io.in_grads[1],
                                                     io.req[1]));
}

template <class F>
void ScalarForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
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

template <class F>
void ScalarBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const double scalar = static_cast<const ScalarAttrs&>(attrs).scalar;
  if (io.req[0] == OpReq::kNull) return;
  FLOWMOD_DTYPE_SWITCH(io.inputs[0].dtype, T, {
    const T* x = io.inputs[0].ptr<T>();
    const T* g = io.out_grads[0].ptr<T>();
    T* gx = io.in_grads[0].ptr<T>();
    const int64_t n = io.inputs[0].size();
    for (int64_t i = 0; i < n; ++i) {
      double dx, ds;
      F::Grad(static_cast<double>(x[i]), scalar, &dx, &ds);
      Store(gx[i], static_cast<T>(static_cast<double>(g[i]) * dx), io.req[0]);
    }
  });
}

// `expr` with {a} and {b} replaced: the descriptions of a family's forms share one formula.
std::string Formula(const std::string& expr, const std::string& a, const std::string& b) {
  std::string out;
  for (size_t i = 0; i < expr.size(); ++i) {
    if (expr.compare(i, 3, "{a}") == 0) { out += a; i += 2; }
    else if (expr.compare(i, 3, "{b}") == 0) { out += b; i += 2; }
    else out += expr[i];
  }
  return out;
}

template <class F>
OpDef BroadcastOp(const std::string& name, const std::string& expr) {
  OpDef def;
  def.name = name;
  def.description = "Elementwise " + Formula(expr, "lhs", "rhs") +
                    ", broadcasting: a dimension of size 1 in one input stretches to the other's.";
  def.inputs = {"lhs", "rhs"};
  def.input_docs = {{"lhs", "The first operand."}, {"rhs", "The second operand."}};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const NoAttrs>();
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (IsKnown(in[0]) && IsKnown(in[1])) MergeShape(name, "output", out[0], BroadcastShape(name, in[0], in[1]));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = &BinaryForward<F>;
  def.backward = &BinaryBackward<F>;
  return def;
}

template <class F>
OpDef ElemwiseOp(const std::string& name, const std::string& expr) {
  OpDef def = BroadcastOp<F>(name, expr);
  def.description = "Elementwise " + Formula(expr, "lhs", "rhs") + " of two arrays of the same shape.";
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (IsKnown(in[0]) && IsKnown(in[1]) && in[0] != in[1])
      throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(in[1]),
                            "the shape of lhs, " + ShapeString(in[0]));
    ElemwiseShape(name, in, out);
  };
  def.inplace = {{0, 0}, {1, 0}};
  return def;
}

template <class F>
OpDef ScalarOp(const std::string& name, const std::string& formula) {
  OpDef def;
  def.name = name;
  def.description = "Elementwise " + formula + " of an array and a number.";
  def.inputs = {"data"};
  def.input_docs = {{"data", "The array operand."}};
  def.params = {
      Optional("scalar", "double", "1", "The number operand."),
      Optional("is_int", "boolean", "1",
               "Whether the number is an integer (kept for MXNet's JSON files; the array's type decides)."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"scalar", "is_int"});
    auto parsed = std::make_shared<ScalarAttrs>();
    parsed->scalar = GetFloat(name, attrs, "scalar");
    return std::shared_ptr<const OpAttrs>(parsed);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = &ScalarForward<F>;
  def.backward = &ScalarBackward<F>;
  def.inplace = {{0, 0}};
  return def;
}

// Registers one arithmetic or comparison family: the broadcasting form, the equal-shape
// forms (elemwise_add, and MXNet's internal names _plus, _Plus, ... that symbol JSON files
// use), and the scalar forms.
template <class F>
void RegisterFamily(const std::string& expr, const std::string& broadcast,
                    std::initializer_list<const char*> elemwise, const std::string& scalar,
                    const std::string& rscalar) {
  Registry::Add(BroadcastOp<F>(broadcast, expr));
  for (const char* name : elemwise) Registry::Add(ElemwiseOp<F>(name, expr));
  Registry::Add(ScalarOp<F>(scalar, Formula(expr, "data", "scalar")));
  if (!rscalar.empty()) Registry::Add(ScalarOp<Reversed<F>>(rscalar, Formula(expr, "scalar", "data")));
}

const bool registered = [] {
  RegisterFamily<Add>("sum {a} + {b}", "broadcast_add", {"elemwise_add", "_plus", "_Plus"}, "_plus_scalar", "");
  RegisterFamily<Sub>("difference {a} - {b}", "broadcast_sub", {"elemwise_sub", "_minus", "_Minus"}, "_minus_scalar", "_rminus_scalar");
  RegisterFamily<Mul>("product {a} * {b}", "broadcast_mul", {"elemwise_mul", "_mul", "_Mul"}, "_mul_scalar", "");
  RegisterFamily<Div>("quotient {a} / {b}", "broadcast_div", {"elemwise_div", "_div", "_Div"}, "_div_scalar", "_rdiv_scalar");
  RegisterFamily<Pow>("power {a} ** {b}", "broadcast_power", {"_power", "_Power"}, "_power_scalar", "_rpower_scalar");
  RegisterFamily<Max>("maximum max({a}, {b})", "broadcast_maximum", {"_maximum", "_Maximum"}, "_maximum_scalar", "");
  RegisterFamily<Min>("minimum min({a}, {b})", "broadcast_minimum", {"_minimum", "_Minimum"}, "_minimum_scalar", "");
  RegisterFamily<Eq>("comparison {a} == {b} (1 where true, else 0)", "broadcast_equal", {"_equal"}, "_equal_scalar", "");
  RegisterFamily<Ne>("comparison {a} != {b} (1 where true, else 0)", "broadcast_not_equal", {"_not_equal"}, "_not_equal_scalar", "");
  RegisterFamily<Gt>("comparison {a} > {b} (1 where true, else 0)", "broadcast_greater", {"_greater"}, "_greater_scalar", "");
  RegisterFamily<Ge>("comparison {a} >= {b} (1 where true, else 0)", "broadcast_greater_equal", {"_greater_equal"}, "_greater_equal_scalar", "");
  RegisterFamily<Lt>("comparison {a} < {b} (1 where true, else 0)", "broadcast_lesser", {"_lesser"}, "_lesser_scalar", "");
  RegisterFamily<Le>("comparison {a} <= {b} (1 where true, else 0)", "broadcast_lesser_equal", {"_lesser_equal"}, "_lesser_equal_scalar", "");
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
