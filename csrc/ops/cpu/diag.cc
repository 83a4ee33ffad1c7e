// diag(data; k=0, axis1=0, axis2=1), as MXNet 1.9 defines it: of a 1-d array, the square
// matrix with the array on its k-th diagonal (k > 0 above the main one, k < 0 below); of an
// array of rank >= 2, the k-th diagonals of the matrices spanned by axis1 (rows) and axis2
// (columns), those two axes removed and the diagonal appended as the last axis. The gradient
// is the reverse selection.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "diag";

struct DiagAttrs : OpAttrs {
  int64_t k = 0, axis1 = 0, axis2 = 1;
};

struct Axes {
  int a1, a2;
};

Axes AxesOf(const DiagAttrs& a, const Shape& d) {
  const int nd = static_cast<int>(d.size());
  const Axes ax{NormalizeAxis(kOp, "axis1", a.axis1, nd), NormalizeAxis(kOp, "axis2", a.axis2, nd)};
  if (ax.a1 == ax.a2)
    throw OpArgumentError(kOp, "axis2", std::to_string(a.axis2),
                          "an axis other than axis1=" + std::to_string(a.axis1));
  return ax;
}

Shape DiagShape(const DiagAttrs& a, const Shape& d) {
  if (d.size() == 1) {
    const int64_t s = d[0] + std::abs(a.k);
    return {s, s};
  }
  const Axes ax = AxesOf(a, d);
  int64_t h = d[ax.a1], w = d[ax.a2];
  if (a.k > 0) w -= a.k;
  else h += a.k;
  if (std::min(h, w) < 0)
    throw OpArgumentError(kOp, "k", std::to_string(a.k),
                          "a diagonal of the " + std::to_string(d[ax.a1]) + " x " + std::to_string(d[ax.a2]) +
                              " matrices (an offset in [" + std::to_string(-d[ax.a1]) + ", " +
                              std::to_string(d[ax.a2]) + "])");
  Shape o;
  for (int i = 0; i < static_cast<int>(d.size()); ++i)
    if (i != ax.a1 && i != ax.a2) o.push_back(d[i]);
  o.push_back(std::min(h, w));
  return o;
}

// The strides, in the input, of the output's axes: the kept axes, then one step along the
// diagonal; and the offset of the diagonal's first element.
std::vector<int64_t> DiagStrides(const DiagAttrs& a, const Shape& d, int64_t* offset) {
  const Axes ax = AxesOf(a, d);
  const auto s = Strides(d);
  std::vector<int64_t> out;
  for (int i = 0; i < static_cast<int>(d.size()); ++i)
    if (i != ax.a1 && i != ax.a2) out.push_back(s[i]);
  out.push_back(s[ax.a1] + s[ax.a2]);
  *offset = a.k > 0 ? a.k * s[ax.a2] : -a.k * s[ax.a1];
  return out;
}

// The matrix of a 1-d array's diagonal: element i sits at (i + max(0, -k), i + max(0, k)).
int64_t MatrixIndex(int64_t i, int64_t k, int64_t side) {
  return (i + std::max<int64_t>(0, -k)) * side + i + std::max<int64_t>(0, k);
}

void DiagForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                 std::span<const TensorRef> out) {
  const auto& a = static_cast<const DiagAttrs&>(attrs);
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    if (in[0].shape.size() == 1) {
      std::fill_n(y, out[0].size(), T(0));
      for (int64_t i = 0; i < in[0].size(); ++i) y[MatrixIndex(i, a.k, out[0].shape[0])] = x[i];
    } else {
      int64_t offset = 0;
      const auto strides = DiagStrides(a, in[0].shape, &offset);
      ForEachOffset(out[0].shape, strides, [&](int64_t i, int64_t off) { y[i] = x[offset + off]; });
    }
  });
}

void DiagBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  const auto& a = static_cast<const DiagAttrs&>(attrs);
  const TensorRef& g = io.out_grads[0];
  const TensorRef& gx = io.in_grads[0];
  FLOWMOD_DTYPE_SWITCH(gx.dtype, T, {
    const T* pg = g.ptr<T>();
    T* px = gx.ptr<T>();
    if (gx.shape.size() == 1) {
      for (int64_t i = 0; i < gx.size(); ++i) Store(px[i], pg[MatrixIndex(i, a.k, g.shape[0])], req);
    } else {
      // Elements off the diagonal get no gradient.
      ZeroWithReq(gx, req);
      int64_t offset = 0;
      const auto strides = DiagStrides(a, gx.shape, &offset);
      ForEachOffset(g.shape, strides, [&](int64_t i, int64_t off) {
        px[offset + off] = static_cast<T>(px[offset + off] + pg[i]);
      });
    }
  });
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kOp, attrs, {"k", "axis1", "axis2"});
    auto a = std::make_shared<DiagAttrs>();
    a->k = GetInt(kOp, attrs, "k", 0);
    a->axis1 = GetInt(kOp, attrs, "axis1", 0);
    a->axis2 = GetInt(kOp, attrs, "axis2", 1);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (in[0] == kUnknownShape || !IsKnown(in[0])) return;
    if (in[0].empty()) throw OpArgumentError(kOp, "data", "an array of shape ()", "at least 1 dimension");
    MergeShape(kOp, "output", out[0], DiagShape(static_cast<const DiagAttrs&>(attrs), in[0]));
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(kOp, in, out);
  };
  def.forward = &DiagForward;
  def.backward = &DiagBackward;
  Registry::Add(Described(std::move(def), "A diagonal of the input, or a matrix with the 1-D input on a diagonal.", {{"data", "The input array."}}, {Optional("k", "int", "'0'", "The diagonal: 0 the main one, above it positive, below it negative."), Optional("axis1", "int", "'0'", "The first axis of the matrices."), Optional("axis2", "int", "'1'", "The second axis of the matrices.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
