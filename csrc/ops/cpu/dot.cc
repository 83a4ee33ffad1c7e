// dot and batch_dot, as MXNet defines them, through BLAS.
//
// dot flattens lhs to a matrix over all axes but its last (but its first when transposed) and
// rhs over all axes but its first (but its last when transposed); the output keeps the
// remaining axes of both. Two vectors give a (1,) result. batch_dot multiplies matching
// matrices of two arrays of equal rank >= 3 whose leading (batch) axes agree.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/blas.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct DotAttrs : OpAttrs {
  bool ta = false, tb = false;
};

std::shared_ptr<const OpAttrs> ParseDot(const std::string& name, const AttrMap& attrs) {
  CheckAttrs(name, attrs, {"transpose_a", "transpose_b", "forward_stype"});
  auto p = std::make_shared<DotAttrs>();
  p->ta = GetBool(name, attrs, "transpose_a", false);
  p->tb = GetBool(name, attrs, "transpose_b", false);
  // Arrays are dense here: only dense output storage exists.
  GetEnum(name, attrs, "forward_stype", {"None", "default"}, "None");
  return p;
}

// The product as one GEMM: out (m x n) = op(A) (m x k) · op(B) (k x n), with A stored as
// (m x k) or, transposed, (k x m), and B as (k x n) or (n x k).
struct Dims {
  int64_t batch = 1, m = 1, n = 1, k = 1;
};

Dims DotDims(const DotAttrs& a, const Shape& l, const Shape& r) {
  Dims d;
  if (a.ta) {
    d.k = l[0];
    d.m = Product(l, 1, l.size());
  } else {
    d.k = l.back();
    d.m = Product(l, 0, l.size() - 1);
  }
  d.n = a.tb ? Product(r, 0, r.size() - 1) : Product(r, 1, r.size());
  return d;
}

Dims BatchDims(const DotAttrs& a, const Shape& l, const Shape& r) {
  const size_t nd = l.size();
  Dims d;
  d.batch = Product(l, 0, nd - 2);
  d.m = a.ta ? l[nd - 1] : l[nd - 2];
  d.k = a.ta ? l[nd - 2] : l[nd - 1];
  d.n = a.tb ? r[nd - 2] : r[nd - 1];
  return d;
}

// Every product goes through here: `batch` GEMMs stored under `req`.
template <class T>
void Products(bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
              const T* b, int64_t ldb, T* c, OpReq req) {
  if (req == OpReq::kNull || batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    // An empty sum: nothing to add, zeros to write.
    if (req == OpReq::kWrite) std::fill_n(c, batch * m * n, T(0));
    return;
  }
  blas::GemmBatched(ta, tb, batch, m, n, k, T(1), a, lda, m * k, b, ldb, k * n,
                    req == OpReq::kAdd ? T(1) : T(0), c, n, m * n);
}

// out = op(A) · op(B); the stored row strides follow from the transposes.
template <class T>
void DotForwardKernel(const Dims& d, bool ta, bool tb, const T* a, const T* b, T* c) {
  Products(ta, tb, d.batch, d.m, d.n, d.k, a, ta ? d.m : d.k, b, tb ? d.k : d.n, c, OpReq::kWrite);
}

// d(A) and d(B) from g = d(out) (m x n):
//   A stored (m x k): dA = g · op(B)ᵀ         A stored (k x m): dA = op(B) · gᵀ
//   B stored (k x n): dB = op(A)ᵀ · g         B stored (n x k): dB = gᵀ · op(A)
template <class T>
void DotBackwardKernel(const Dims& d, bool ta, bool tb, const T* a, const T* b, const T* g, T* ga, OpReq ra,
                       T* gb, OpReq rb) {
  const int64_t lda = ta ? d.m : d.k, ldb = tb ? d.k : d.n;
  if (!ta) Products(false, !tb, d.batch, d.m, d.k, d.n, g, d.n, b, ldb, ga, ra);
  else Products(tb, true, d.batch, d.k, d.m, d.n, b, ldb, g, d.n, ga, ra);
  if (!tb) Products(!ta, false, d.batch, d.k, d.n, d.m, a, lda, g, d.n, gb, rb);
  else Products(true, ta, d.batch, d.n, d.k, d.m, g, d.n, a, lda, gb, rb);
}

template <bool kBatch>
void DotForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                std::span<const TensorRef> out) {
  const auto& a = static_cast<const DotAttrs&>(attrs);
  const Dims d = kBatch ? BatchDims(a, in[0].shape, in[1].shape) : DotDims(a, in[0].shape, in[1].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                       DotForwardKernel<T>(d, a.ta, a.tb, in[0].ptr<T>(), in[1].ptr<T>(), out[0].ptr<T>()));
}

template <bool kBatch>
void DotBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const DotAttrs&>(attrs);
  const Shape& l = io.inputs[0].shape;
  const Shape& r = io.inputs[1].shape;
  const Dims d = kBatch ? BatchDims(a, l, r) : DotDims(a, l, r);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                       DotBackwardKernel<T>(d, a.ta, a.tb, io.inputs[0].ptr<T>(), io.inputs[1].ptr<T>(),
                                            io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.req[0],
                                            io.in_grads[1].ptr<T>(), io.req[1]));
}

std::string Operands(const Shape& l, const Shape& r, const DotAttrs& a) {
  return ShapeString(l) + " X " + ShapeString(r) + " with transpose_a=" + (a.ta ? "True" : "False") +
         ", transpose_b=" + (a.tb ? "True" : "False");
}

void DotShape(const std::string& name, const DotAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const Shape& l = in[0];
  const Shape& r = in[1];
  if (!IsKnown(l) || !IsKnown(r) || l == kUnknownShape || r == kUnknownShape) return;
  if (l.empty() || r.empty())
    throw OpArgumentError(name, l.empty() ? "lhs" : "rhs", "an array of shape ()", "an array of at least one dimension");
  if (l.size() == 1 && r.size() == 1) {
    if (a.ta || a.tb)
      throw OpArgumentError(name, a.ta ? "transpose_a" : "transpose_b", "True", "False for two vectors");
    if (l[0] != r[0])
      throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(r),
                            "a vector of the length of lhs, " + ShapeString(l));
    MergeShape(name, "output", out[0], Shape{1});
    return;
  }
  // The contracted size on each side, and the axes that stay.
  const int64_t lk = a.ta ? l[0] : l.back();
  const int64_t rk = a.tb ? r.back() : r[0];
  if (lk != rk)
    throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(r),
                          "a shape whose contracted axis matches lhs: " + Operands(l, r, a));
  Shape o;
  if (l.size() > 1) {
    if (a.ta) o.insert(o.end(), l.begin() + 1, l.end());
    else o.insert(o.end(), l.begin(), l.end() - 1);
  }
  if (r.size() > 1) {
    if (a.tb) o.insert(o.end(), r.begin(), r.end() - 1);
    else o.insert(o.end(), r.begin() + 1, r.end());
  }
  MergeShape(name, "output", out[0], o);
}

void BatchDotShape(const std::string& name, const DotAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  const Shape& l = in[0];
  const Shape& r = in[1];
  if (!IsKnown(l) || !IsKnown(r) || l == kUnknownShape || r == kUnknownShape) return;
  if (l.size() < 3)
    throw OpArgumentError(name, "lhs", "an array of shape " + ShapeString(l), "an array of at least 3 dimensions");
  if (r.size() != l.size())
    throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(r),
                          "an array of the rank of lhs, " + ShapeString(l));
  const size_t nd = l.size();
  for (size_t i = 0; i + 2 < nd; ++i)
    if (l[i] != r[i])
      throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(r),
                            "the batch axes of lhs: " + Operands(l, r, a));
  const int64_t lk = a.ta ? l[nd - 2] : l[nd - 1];
  const int64_t rk = a.tb ? r[nd - 1] : r[nd - 2];
  if (lk != rk)
    throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(r),
                          "a shape whose contracted axis matches lhs: " + Operands(l, r, a));
  Shape o(l.begin(), l.end() - 2);
  o.push_back(a.ta ? l[nd - 1] : l[nd - 2]);
  o.push_back(a.tb ? r[nd - 2] : r[nd - 1]);
  MergeShape(name, "output", out[0], o);
}

template <bool kBatch>
OpDef MakeDot(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"lhs", "rhs"};
  def.parse = [name](const AttrMap& attrs) { return ParseDot(name, attrs); };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const DotAttrs&>(attrs);
    if (kBatch) BatchDotShape(name, a, in, out);
    else DotShape(name, a, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, {"lhs", "rhs"}, in, out);
  };
  def.forward = &DotForward<kBatch>;
  def.backward = &DotBackward<kBatch>;
  return def;
}

const bool registered = [] {
  Registry::Add(MakeDot<false>("dot"));
  Registry::Add(MakeDot<true>("batch_dot"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
