// Reductions as MXNet 1.x's legacy operators define them: sum (sum_axis), mean, prod, nansum,
// nanprod, max (max_axis), min (min_axis) and norm over any set of axes; argmax and argmin
// along one axis or the flattened array (topk is in topk.cc). A reduction over every axis gives shape (1,),
// not (), as in MXNet before its numpy mode.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// Accumulation type: double for floating elements, int64 (wrapping) for integers.
template <class T>
using Acc = std::conditional_t<std::is_integral_v<T>, int64_t, double>;

template <class A>
A AddWrap(A a, A b) {
  if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}
template <class A>
A MulWrap(A a, A b) {
  if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}

// ---- Reductions over a set of axes --------------------------------------------------------

struct ReduceAxesAttrs : OpAttrs {
  std::vector<int64_t> axis;  // empty: every axis
  std::string axis_text;      // as given, for messages
  bool keepdims = false;
  bool exclude = false;
  // norm only
  int ord = 2;
  DType out_dtype = DType::kUnknown;  // kUnknown: the input's type
};

// Which axes of `in` are reduced; throws naming `axis` for a bad or repeated axis.
std::vector<bool> ReducedAxes(const std::string& op, const ReduceAxesAttrs& a, const Shape& in) {
  const int ndim = static_cast<int>(in.size());
  std::vector<bool> red(ndim, a.axis.empty());
  if (a.axis.empty()) return red;  // None or (): every axis, whatever `exclude` says
  for (int64_t ax : a.axis) {
    if (ax < -ndim || ax >= ndim)
      throw OpArgumentError(op, "axis", a.axis_text,
                            "axes in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) +
                                ") for an input of shape " + ShapeString(in));
    const int k = static_cast<int>(ax < 0 ? ax + ndim : ax);
    if (red[k]) throw OpArgumentError(op, "axis", a.axis_text, "distinct axes");
    red[k] = true;
  }
  if (a.exclude) red.flip();
  return red;
}

Shape ReduceOutputShape(const ReduceAxesAttrs& a, const Shape& in, const std::vector<bool>& red) {
  if (a.keepdims) {
    Shape out(in.size());
    for (size_t i = 0; i < in.size(); ++i) out[i] = red[i] ? 1 : in[i];
    return out;
  }
  Shape out;
  for (size_t i = 0; i < in.size(); ++i)
    if (!red[i]) out.push_back(in[i]);
  if (out.empty()) out.push_back(1);
  return out;
}

// The input seen as merged runs of reduced and kept axes, with the stride of each run in the
// output (0 for reduced runs). Kernels walk the input in memory order, one innermost run at a
// time, so the inner loop is contiguous in the input and either contiguous or fixed in the
// output.
struct ReducePlan {
  std::vector<int64_t> dims;
  std::vector<int64_t> out_strides;
  int64_t in_size = 0;
  int64_t out_size = 1;
};

ReducePlan MakePlan(const Shape& in, const std::vector<bool>& red) {
  ReducePlan p;
  std::vector<bool> flags;
  p.in_size = NumElements(in);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == 1) continue;
    if (!flags.empty() && flags.back() == red[i]) {
      p.dims.back() *= in[i];
    } else {
      p.dims.push_back(in[i]);
      flags.push_back(red[i]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    flags.push_back(false);
  }
  p.out_strides.assign(p.dims.size(), 0);
  int64_t stride = 1;
  for (size_t i = p.dims.size(); i-- > 0;) {
    if (flags[i]) continue;
    p.out_strides[i] = stride;
    stride *= p.dims[i];
  }
  p.out_size = stride;
  return p;
}

// Calls f(in_offset, out_offset, n, out_step) for each innermost run of n input elements;
// the j-th element of the run belongs to output out_offset + j * out_step (step 0 or 1).
template <class F>
void ForEachRun(const ReducePlan& p, F&& f) {
  if (p.in_size == 0) return;
  const size_t nd = p.dims.size();
  const int64_t inner = p.dims[nd - 1];
  const int64_t step = p.out_strides[nd - 1];
  std::vector<int64_t> index(nd, 0);
  int64_t o = 0;
  for (int64_t base = 0; base < p.in_size; base += inner) {
    f(base, o, inner, step);
    for (size_t d = nd - 1; d-- > 0;) {
      o += p.out_strides[d];
      if (++index[d] < p.dims[d]) break;
      o -= p.out_strides[d] * p.dims[d];
      index[d] = 0;
    }
  }
}

// Reducers: an initial value, a step, and the final value from the accumulator and the number
// of elements reduced into each output.
struct SumR {
  template <class A> static A Init() { return A(0); }
  template <class A> static A Step(A a, A x) { return AddWrap(a, x); }
  template <class A> static A Finish(A a, int64_t) { return a; }
};
struct MeanR : SumR {
  template <class A> static A Finish(A a, int64_t n) {
    if constexpr (std::is_integral_v<A>) return n == 0 ? A(0) : a / n;
    else return a / static_cast<A>(n);
  }
};
struct ProdR {
  template <class A> static A Init() { return A(1); }
  template <class A> static A Step(A a, A x) { return MulWrap(a, x); }
  template <class A> static A Finish(A a, int64_t) { return a; }
};
struct NanSumR : SumR {
  template <class A> static A Step(A a, A x) { return IsNan(x) ? a : AddWrap(a, x); }
};
struct NanProdR : ProdR {
  template <class A> static A Step(A a, A x) { return IsNan(x) ? a : MulWrap(a, x); }
};
// NaN propagates, as in MXNet's maximum and minimum reducers.
struct MaxR {
  template <class A> static A Init() {
    if constexpr (std::numeric_limits<A>::has_infinity) return -std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::lowest();
  }
  template <class A> static A Step(A a, A x) { return IsNan(a) || a >= x ? a : x; }
  template <class A> static A Finish(A a, int64_t) { return a; }
};
struct MinR {
  template <class A> static A Init() {
    if constexpr (std::numeric_limits<A>::has_infinity) return std::numeric_limits<A>::infinity();
    else return std::numeric_limits<A>::max();
  }
  template <class A> static A Step(A a, A x) { return IsNan(a) || a <= x ? a : x; }
  template <class A> static A Finish(A a, int64_t) { return a; }
};
struct Norm1R : SumR {
  template <class A> static A Step(A a, A x) { return a + (x < 0 ? -x : x); }
};
// _square_sum: the sum of squares (MXNet's kernel for row_sparse arrays, dense here).
struct SquareSumR : SumR {
  template <class A> static A Step(A a, A x) { return a + x * x; }
};
struct Norm2R : SumR {
  template <class A> static A Step(A a, A x) { return a + x * x; }
  template <class A> static A Finish(A a, int64_t) { return std::sqrt(a); }
};

template <class R, class A, class T, class O>
void ReduceKernel(const ReducePlan& p, const T* x, O* y) {
  std::vector<A> acc(p.out_size, R::template Init<A>());
  A* pa = acc.data();
  ForEachRun(p, [&](int64_t i, int64_t o, int64_t n, int64_t step) {
    const T* xi = x + i;
    if (step == 0) {
      A a = pa[o];
      for (int64_t j = 0; j < n; ++j) a = R::Step(a, static_cast<A>(xi[j]));
      pa[o] = a;
    } else {
      A* ao = pa + o;
      for (int64_t j = 0; j < n; ++j) ao[j] = R::Step(ao[j], static_cast<A>(xi[j]));
    }
  });
  const int64_t count = p.out_size == 0 ? 0 : p.in_size / p.out_size;
  for (int64_t k = 0; k < p.out_size; ++k) y[k] = CastTo<O>(R::Finish(pa[k], count));
}

// Gradients: d(out)/d(x) for one element given x and its output y.
struct OneG {
  template <class T, class O> static double D(T, O, int64_t) { return 1; }
};
struct SquareG {
  template <class T, class O> static double D(T x, O, int64_t) { return 2.0 * static_cast<double>(x); }
};
struct MeanG {
  template <class T, class O> static double D(T, O, int64_t n) { return 1.0 / static_cast<double>(n); }
};
// Every position equal to the result receives the gradient (MXNet's broadcast equality).
struct EqualG {
  template <class T, class O> static double D(T x, O y, int64_t) { return x == static_cast<T>(y) ? 1 : 0; }
};
struct NotNanG {
  template <class T, class O> static double D(T x, O, int64_t) { return IsNan(x) ? 0 : 1; }
};
struct SignG {
  template <class T, class O> static double D(T x, O, int64_t) { return x > T(0) ? 1 : (x < T(0) ? -1 : 0); }
};
// x / ||x||; where the norm is 0 the subgradient 0 is used.
struct Norm2G {
  template <class T, class O> static double D(T x, O y, int64_t) {
    const double n = static_cast<double>(y);
    return n == 0 ? 0 : static_cast<double>(x) / n;
  }
};

template <class G, class T, class O>
void ReduceBackwardKernel(const ReducePlan& p, const T* x, const O* y, const O* og, T* gx, OpReq req) {
  const int64_t count = p.out_size == 0 ? 0 : p.in_size / p.out_size;
  ForEachRun(p, [&](int64_t i, int64_t o, int64_t n, int64_t step) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = o + j * step;
      const double g = static_cast<double>(og[k]) * G::D(x[i + j], y[k], count);
      Store(gx[i + j], CastTo<T>(g), req);
    }
  });
}

// The product's gradient is the product of the other elements: out / x where x != 0, and
// recomputed from the nonzero elements where x == 0 (zero when the group has two zeros).
template <bool kSkipNan, class T>
void ProdBackwardKernel(const ReducePlan& p, const T* x, const T* og, T* gx, OpReq req) {
  std::vector<double> nonzero(p.out_size, 1.0);
  std::vector<int64_t> zeros(p.out_size, 0);
  ForEachRun(p, [&](int64_t i, int64_t o, int64_t n, int64_t step) {
    for (int64_t j = 0; j < n; ++j) {
      const T v = x[i + j];
      if (kSkipNan && IsNan(v)) continue;
      const int64_t k = o + j * step;
      if (v == T(0)) ++zeros[k];
      else nonzero[k] *= static_cast<double>(v);
    }
  });
  ForEachRun(p, [&](int64_t i, int64_t o, int64_t n, int64_t step) {
    for (int64_t j = 0; j < n; ++j) {
      const T v = x[i + j];
      const int64_t k = o + j * step;
      double d = 0;
      if (!(kSkipNan && IsNan(v))) {
        if (zeros[k] == 0) d = nonzero[k] / static_cast<double>(v);
        else if (zeros[k] == 1 && v == T(0)) d = nonzero[k];
      }
      Store(gx[i + j], CastTo<T>(static_cast<double>(og[k]) * d), req);
    }
  });
}

enum class ReduceKind { kSum, kMean, kProd, kNanSum, kNanProd, kMax, kMin, kNorm, kSquareSum };

std::shared_ptr<const OpAttrs> ParseReduceAxes(const std::string& op, const AttrMap& attrs, bool norm) {
  if (norm) CheckAttrs(op, attrs, {"ord", "axis", "out_dtype", "keepdims"});
  else CheckAttrs(op, attrs, {"axis", "keepdims", "exclude"});
  auto p = std::make_shared<ReduceAxesAttrs>();
  p->axis = GetTuple(op, attrs, "axis", {});
  p->axis_text = Has(attrs, "axis") ? attrs.at("axis") : "None";
  p->keepdims = GetBool(op, attrs, "keepdims", false);
  if (norm) {
    const int64_t ord = GetInt(op, attrs, "ord", 2);
    if (ord != 1 && ord != 2) throw OpArgumentError(op, "ord", std::to_string(ord), "1 or 2");
    p->ord = static_cast<int>(ord);
    const std::string t = GetEnum(op, attrs, "out_dtype",
                                  {"None", "float16", "float32", "float64", "int64", "int32", "int8"}, "None");
    if (t != "None") p->out_dtype = GetDType(op, attrs, "out_dtype");
  } else {
    p->exclude = GetBool(op, attrs, "exclude", false);
  }
  return p;
}

template <class R, class A, class T, class O>
void RunReduce(const ReducePlan& p, const TensorRef& x, const TensorRef& y) {
  ReduceKernel<R, A, T, O>(p, x.ptr<T>(), y.ptr<O>());
}

void ReduceForward(ReduceKind kind, const std::string& op, const OpAttrs& attrs,
                   std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const auto& a = static_cast<const ReduceAxesAttrs&>(attrs);
  const Shape shape = AsReduceInput(in[0].shape);
  const ReducePlan p = MakePlan(shape, ReducedAxes(op, a, shape));
  if (kind == ReduceKind::kNorm) {
    // Accumulated in double whatever the types; the output may have its own type.
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      FLOWMOD_DTYPE_SWITCH(out[0].dtype, O, {
        if (a.ord == 1) RunReduce<Norm1R, double, T, O>(p, in[0], out[0]);
        else RunReduce<Norm2R, double, T, O>(p, in[0], out[0]);
      });
    });
    return;
  }
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    using A = Acc<T>;
    switch (kind) {
      case ReduceKind::kSum: RunReduce<SumR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kSquareSum: RunReduce<SquareSumR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kMean: RunReduce<MeanR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kProd: RunReduce<ProdR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kNanSum: RunReduce<NanSumR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kNanProd: RunReduce<NanProdR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kMax: RunReduce<MaxR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kMin: RunReduce<MinR, A, T, T>(p, in[0], out[0]); break;
      case ReduceKind::kNorm: break;
    }
  });
}

void ReduceBackward(ReduceKind kind, const std::string& op, const OpAttrs& attrs, const BackwardIO& io) {
  if (io.req[0] == OpReq::kNull) return;
  const auto& a = static_cast<const ReduceAxesAttrs&>(attrs);
  const Shape shape = AsReduceInput(io.inputs[0].shape);
  const ReducePlan p = MakePlan(shape, ReducedAxes(op, a, shape));
  const TensorRef& x = io.inputs[0];
  const TensorRef& y = io.outputs[0];
  const TensorRef& og = io.out_grads[0];
  const TensorRef& gx = io.in_grads[0];
  const OpReq req = io.req[0];
  if (kind == ReduceKind::kNorm) {
    FLOWMOD_DTYPE_SWITCH(x.dtype, T, {
      FLOWMOD_DTYPE_SWITCH(y.dtype, O, {
        if (a.ord == 1)
          ReduceBackwardKernel<SignG, T, O>(p, x.ptr<T>(), y.ptr<O>(), og.ptr<O>(), gx.ptr<T>(), req);
        else
          ReduceBackwardKernel<Norm2G, T, O>(p, x.ptr<T>(), y.ptr<O>(), og.ptr<O>(), gx.ptr<T>(), req);
      });
    });
    return;
  }
  FLOWMOD_DTYPE_SWITCH(x.dtype, T, {
    const T* px = x.ptr<T>();
    const T* py = y.ptr<T>();
    const T* pg = og.ptr<T>();
    T* pgx = gx.ptr<T>();
    switch (kind) {
      case ReduceKind::kSum: ReduceBackwardKernel<OneG, T, T>(p, px, py, pg, pgx, req); break;
      case ReduceKind::kSquareSum: ReduceBackwardKernel<SquareG, T, T>(p, px, py, pg, pgx, req); break;
      case ReduceKind::kMean: ReduceBackwardKernel<MeanG, T, T>(p, px, py, pg, pgx, req); break;
      case ReduceKind::kNanSum: ReduceBackwardKernel<NotNanG, T, T>(p, px, py, pg, pgx, req); break;
      case ReduceKind::kMax:
      case ReduceKind::kMin: ReduceBackwardKernel<EqualG, T, T>(p, px, py, pg, pgx, req); break;
      case ReduceKind::kProd: ProdBackwardKernel<false, T>(p, px, pg, pgx, req); break;
      case ReduceKind::kNanProd: ProdBackwardKernel<true, T>(p, px, pg, pgx, req); break;
      case ReduceKind::kNorm: break;
    }
  });
}

std::string ReduceDescription(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum: return "The sum of the elements over the given axes.";
    case ReduceKind::kSquareSum: return "The sum of the squares of the elements over the given axes.";
    case ReduceKind::kMean: return "The mean of the elements over the given axes.";
    case ReduceKind::kProd: return "The product of the elements over the given axes.";
    case ReduceKind::kNanSum: return "The sum over the given axes, NaN counted as zero.";
    case ReduceKind::kNanProd: return "The product over the given axes, NaN counted as one.";
    case ReduceKind::kMax: return "The largest element over the given axes.";
    case ReduceKind::kMin: return "The smallest element over the given axes.";
    case ReduceKind::kNorm: return "The L1 or L2 norm over the given axes (the whole array by default).";
  }
  return "";
}

OpDef ReduceAxesOp(const std::string& name, ReduceKind kind) {
  const bool norm = kind == ReduceKind::kNorm;
  OpDef def;
  def.name = name;
  def.description = ReduceDescription(kind);
  def.input_docs = {{"data", "The input array."}};
  const auto axis = Optional("axis", "Shape or None", "None", "The axes to reduce; None reduces all of them.");
  const auto keepdims = Optional("keepdims", "boolean", "0", "Whether reduced axes stay, with length 1.");
  if (norm) {
    def.params = {Optional("ord", "int", "'2'", "The order of the norm: 1 or 2."), axis,
                  Optional("out_dtype", "{None, 'float16', 'float32', 'float64', 'int32', 'int64', 'int8'}", "'None'",
                           "The output's type; None keeps the input's."),
                  keepdims};
  } else {
    def.params = {axis, keepdims,
                  Optional("exclude", "boolean", "0", "Whether to reduce every axis except those given.")};
  }
  def.inputs = {"data"};
  def.parse = [name, norm](const AttrMap& attrs) { return ParseReduceAxes(name, attrs, norm); };
  def.infer_shape = [name, kind](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (in[0] == kUnknownShape || !IsKnown(in[0])) return;
    const auto& a = static_cast<const ReduceAxesAttrs&>(attrs);
    const Shape shape = AsReduceInput(in[0]);
    if ((kind == ReduceKind::kMax || kind == ReduceKind::kMin) && NumElements(shape) == 0)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]), "a non-empty array");
    MergeShape(name, "output", out[0], ReduceOutputShape(a, shape, ReducedAxes(name, a, shape)));
  };
  def.infer_type = [name, norm](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const ReduceAxesAttrs&>(attrs);
    if (norm && a.out_dtype != DType::kUnknown) {
      MergeType(name, "output", out[0], a.out_dtype);
    } else {
      ElemwiseType(name, in, out);
    }
    if (norm && in[0] == DType::kBool)
      throw OpArgumentError(name, "data", "an array of type bool", "a numeric type");
  };
  def.forward = [name, kind](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                             std::span<const TensorRef> out) { ReduceForward(kind, name, attrs, in, out); };
  def.backward = [name, kind](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    ReduceBackward(kind, name, attrs, io);
  };
  return def;
}

// ---- argmax, argmin ------------------------------------------------------------------------

struct ReduceAxisAttrs : OpAttrs {
  std::optional<int64_t> axis;  // nullopt: the flattened array
  bool keepdims = false;
};

template <bool kMax, class T>
bool Better(T v, T best) {
  // NaN counts as the extreme (numpy's choice); ties keep the first occurrence.
  if (IsNan(best)) return false;
  if (IsNan(v)) return true;
  return kMax ? v > best : v < best;
}

template <bool kMax, class T>
void ArgKernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  std::vector<T> best(inner);
  std::vector<int64_t> index(inner);
  for (int64_t o = 0; o < outer; ++o) {
    const T* base = x + o * n * inner;
    std::copy(base, base + inner, best.begin());
    std::fill(index.begin(), index.end(), 0);
    for (int64_t k = 1; k < n; ++k) {
      const T* row = base + k * inner;
      for (int64_t j = 0; j < inner; ++j) {
        if (Better<kMax, T>(row[j], best[j])) {
          best[j] = row[j];
          index[j] = k;
        }
      }
    }
    T* yo = y + o * inner;
    for (int64_t j = 0; j < inner; ++j) yo[j] = static_cast<T>(index[j]);
  }
}

template <bool kMax>
OpDef ArgOp(const std::string& name) {
  OpDef def;
  def.name = name;
  def.description = kMax ? "The index of the largest element along an axis (as a float array)."
                         : "The index of the smallest element along an axis (as a float array).";
  def.input_docs = {{"data", "The input array."}};
  def.params = {
      Optional("axis", "int or None", "'None'", "The axis to search; None searches the flattened array."),
      Optional("keepdims", "boolean", "0", "Whether the searched axis stays, with length 1."),
  };
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "keepdims"});
    auto p = std::make_shared<ReduceAxisAttrs>();
    p->axis = GetOptionalInt(name, attrs, "axis");
    p->keepdims = GetBool(name, attrs, "keepdims", false);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (in[0] == kUnknownShape || !IsKnown(in[0])) return;
    const auto& a = static_cast<const ReduceAxisAttrs&>(attrs);
    const Shape shape = AsReduceInput(in[0]);
    const int ndim = static_cast<int>(shape.size());
    Shape result;
    if (a.axis) {
      const int ax = NormalizeAxis(name, "axis", *a.axis, ndim);
      if (shape[ax] == 0)
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]),
                              "a non-empty axis " + std::to_string(*a.axis));
      if (ndim == 1) {
        result = {1};
      } else if (a.keepdims) {
        result = shape;
        result[ax] = 1;
      } else {
        result = shape;
        result.erase(result.begin() + ax);
      }
    } else {
      if (NumElements(shape) == 0)
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]), "a non-empty array");
      result = a.keepdims ? Shape(shape.size(), 1) : Shape{1};
    }
    MergeShape(name, "output", out[0], result);
  };
  // The indices come back in the input's type, as MXNet's legacy operators give them.
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const ReduceAxisAttrs&>(attrs);
    int64_t outer, n, inner;
    AxisExtents(AsReduceInput(in[0].shape), a.axis, &outer, &n, &inner);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, ArgKernel<kMax, T>(in[0].ptr<T>(), out[0].ptr<T>(), outer, n, inner));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { ZeroGradients(io); };
  return def;
}

// argmax_channel: argmax along axis 1 without keepdims, attributes fixed (MXNet's legacy
// name); like argmax, its indices have no gradient.
OpDef ArgMaxChannelOp() {
  const std::string name = "argmax_channel";
  OpDef def = ArgOp<true>(name);
  def.description = "The index of the largest element along axis 1 (the channels), as a float array.";
  def.params = {};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    auto p = std::make_shared<ReduceAxisAttrs>();
    p->axis = 1;
    return std::shared_ptr<const OpAttrs>(p);
  };
  return def;
}

const bool registered = [] {
  const std::pair<const char*, ReduceKind> reductions[] = {
      {"sum", ReduceKind::kSum},         {"sum_axis", ReduceKind::kSum},   {"mean", ReduceKind::kMean},
      {"prod", ReduceKind::kProd},       {"nansum", ReduceKind::kNanSum},  {"nanprod", ReduceKind::kNanProd},
      {"max", ReduceKind::kMax},         {"max_axis", ReduceKind::kMax},   {"min", ReduceKind::kMin},
      {"min_axis", ReduceKind::kMin},    {"norm", ReduceKind::kNorm},
      {"_square_sum", ReduceKind::kSquareSum},
  };
  for (const auto& [name, kind] : reductions) Registry::Add(ReduceAxesOp(name, kind));
  Registry::Add(ArgOp<true>("argmax"));
  Registry::Add(ArgOp<false>("argmin"));
  Registry::Add(ArgMaxChannelOp());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
