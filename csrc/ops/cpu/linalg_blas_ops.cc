// The linalg products, as MXNet 1.9 defines them, through BLAS, batched over leading axes:
//   gemm:  out = alpha * op(A) op(B) + beta * C       gemm2: out = alpha * op(A) op(B)
//   syrk:  out = alpha * A A^T (or alpha * A^T A with transpose)
//   trmm:  out = alpha * op(A) B (or alpha * B op(A) with rightside), A triangular
//   trsm:  out = alpha * op(A)^-1 B (or alpha * B op(A)^-1), A triangular
// gemm and gemm2 take the matrices' row axis from `axis` (default -2); the columns are always
// the last axis, and every other axis is a batch axis. trmm and trsm read only the `lower`
// (or upper) triangle of A. The gradients are MXNet's (la_op-inl.h's *_backward); those of
// trmm and trsm with respect to A are zero off A's triangle.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/blas.h"
#include "ops/cpu/linalg_util.h"
#include "ops/lapack.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using linalg::CheckMatrices;
using linalg::ShapeArg;

// ---- gemm, gemm2 ------------------------------------------------------------------------------

struct GemmAttrs : OpAttrs {
  bool ta = false, tb = false;
  double alpha = 1, beta = 1;
  int64_t axis = -2;
};

// A batch of matrices in an array whose row axis is `axis`: matrix (o, i) starts at
// (o * rows * inner + i) * cols and its rows are inner * cols elements apart.
struct Layout {
  int64_t outer = 1, rows = 0, inner = 1, cols = 0;
  Layout(const Shape& s, int axis)
      : outer(Product(s, 0, axis)), rows(s[axis]), inner(Product(s, axis + 1, s.size() - 1)), cols(s.back()) {}
  int64_t count() const { return outer * inner; }
  int64_t ld() const { return inner * cols; }
  int64_t offset(int64_t j) const { return ((j / inner) * rows * inner + j % inner) * cols; }
};

std::shared_ptr<const OpAttrs> ParseGemm(const std::string& op, bool mac, const AttrMap& attrs) {
  if (mac) CheckAttrs(op, attrs, {"transpose_a", "transpose_b", "alpha", "beta", "axis"});
  else CheckAttrs(op, attrs, {"transpose_a", "transpose_b", "alpha", "axis"});
  auto a = std::make_shared<GemmAttrs>();
  a->ta = GetBool(op, attrs, "transpose_a", false);
  a->tb = GetBool(op, attrs, "transpose_b", false);
  a->alpha = GetFloat(op, attrs, "alpha", 1.0);
  a->beta = mac ? GetFloat(op, attrs, "beta", 1.0) : 0.0;
  a->axis = GetInt(op, attrs, "axis", -2);
  return a;
}

// The row axis of A and B (rank nd), in [0, nd - 2].
int RowAxis(const std::string& op, const GemmAttrs& a, size_t nd) {
  const int64_t axis = a.axis < 0 ? a.axis + static_cast<int64_t>(nd) : a.axis;
  if (axis < 0 || axis >= static_cast<int64_t>(nd) - 1)
    throw OpArgumentError(op, "axis", std::to_string(a.axis),
                          "a row axis in [-" + std::to_string(nd) + ", " + std::to_string(nd - 2) + "]");
  return static_cast<int>(axis);
}

void GemmShape(const std::string& op, const GemmAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (in.size() > 2) {
    // C has the output's shape: either gives the other.
    MergeShape(op, "C", in[2], out[0]);
    MergeShape(op, "C", out[0], in[2]);
  }
  if (!IsKnown(in[0]) || !IsKnown(in[1])) return;
  const Shape &sa = in[0], &sb = in[1];
  CheckMatrices(op, "A", sa, false);
  if (sb.size() != sa.size())
    throw OpArgumentError(op, "B", ShapeArg(sb), "the rank of A (" + ShapeString(sa) + ")");
  const size_t nd = sa.size();
  const int axis = RowAxis(op, a, nd);
  for (size_t i = 0; i + 1 < nd; ++i)
    if (static_cast<int>(i) != axis && sa[i] != sb[i])
      throw OpArgumentError(op, "B", ShapeArg(sb),
                            "the batch axes of A (" + ShapeString(sa) + ") on all but the row and last axes");
  const int64_t ka = a.ta ? sa[axis] : sa[nd - 1], kb = a.tb ? sb[nd - 1] : sb[axis];
  if (ka != kb)
    throw OpArgumentError(op, "B", ShapeArg(sb),
                          "matrices whose inner dimension matches A's (" + ShapeString(sa) + ", " +
                              std::to_string(ka) + ")");
  Shape o = sa;
  o[axis] = a.ta ? sa[nd - 1] : sa[axis];
  o[nd - 1] = a.tb ? sb[axis] : sb[nd - 1];
  if (in.size() > 2) MergeShape(op, "C", in[2], o);
  MergeShape(op, "output", out[0], o);
}

// c (m x n, row stride ldc) = alpha * op(a) op(b) + beta * c, for every matrix of the batch.
template <class T>
void BatchGemm(const Layout& la, const Layout& lb, const Layout& lc, bool ta, bool tb, T alpha, const T* a,
               const T* b, T beta, T* c) {
  const int64_t m = lc.rows, n = lc.cols, k = ta ? la.rows : la.cols;
  linalg::ForEachMatrix(lc.count(), double(m) * n * k, [&](int64_t j) {
    blas::Gemm(ta, tb, m, n, k, alpha, a + la.offset(j), la.ld(), b + lb.offset(j), lb.ld(), beta,
               c + lc.offset(j), lc.ld());
  });
}

void GemmForward(const std::string& op, const GemmAttrs& a, std::span<const TensorRef> in,
                 std::span<const TensorRef> out) {
  const int axis = RowAxis(op, a, in[0].shape.size());
  const Layout la(in[0].shape, axis), lb(in[1].shape, axis), lc(out[0].shape, axis);
  FLOWMOD_LINALG_SWITCH(in[0].dtype, T, {
    T beta = static_cast<T>(a.beta);
    if (in.size() > 2) {
      if (in[2].data != out[0].data) std::copy(in[2].ptr<T>(), in[2].ptr<T>() + in[2].size(), out[0].ptr<T>());
    } else {
      beta = T(0);
    }
    BatchGemm(la, lb, lc, a.ta, a.tb, static_cast<T>(a.alpha), in[0].ptr<T>(), in[1].ptr<T>(), beta,
              out[0].ptr<T>());
  });
}

// dA = alpha * dOut op(B)^T (transposed back when A was), dB likewise, dC = beta * dOut; each
// written or, under kAdd, accumulated by the product itself (beta = 1).
void GemmBackward(const std::string& op, const GemmAttrs& a, const BackwardIO& io) {
  const int axis = RowAxis(op, a, io.inputs[0].shape.size());
  const Layout la(io.inputs[0].shape, axis), lb(io.inputs[1].shape, axis), ld(io.out_grads[0].shape, axis);
  FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, {
    const T* d = io.out_grads[0].ptr<T>();
    const T* A = io.inputs[0].ptr<T>();
    const T* B = io.inputs[1].ptr<T>();
    const T alpha = static_cast<T>(a.alpha);
    auto keep = [](OpReq r) { return r == OpReq::kAdd ? T(1) : T(0); };
    if (io.req[0] != OpReq::kNull) {
      T* g = io.in_grads[0].ptr<T>();
      if (a.ta) BatchGemm(lb, ld, la, a.tb, true, alpha, B, d, keep(io.req[0]), g);
      else BatchGemm(ld, lb, la, false, !a.tb, alpha, d, B, keep(io.req[0]), g);
    }
    if (io.req[1] != OpReq::kNull) {
      T* g = io.in_grads[1].ptr<T>();
      if (a.tb) BatchGemm(ld, la, lb, true, a.ta, alpha, d, A, keep(io.req[1]), g);
      else BatchGemm(la, ld, lb, !a.ta, false, alpha, A, d, keep(io.req[1]), g);
    }
    if (io.in_grads.size() > 2 && io.req[2] != OpReq::kNull) {
      T* g = io.in_grads[2].ptr<T>();
      const T beta = static_cast<T>(a.beta);
      for (int64_t i = 0, n = io.in_grads[2].size(); i < n; ++i) Store(g[i], static_cast<T>(beta * d[i]), io.req[2]);
    }
  });
}

OpDef GemmDef(const std::string& name, bool mac) {
  OpDef def;
  def.name = name;
  def.inputs = mac ? std::vector<std::string>{"A", "B", "C"} : std::vector<std::string>{"A", "B"};
  def.parse = [name, mac](const AttrMap& m) { return ParseGemm(name, mac, m); };
  def.infer_shape = [name](const OpAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    GemmShape(name, static_cast<const GemmAttrs&>(a), in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 1);
  };
  def.forward = [name](const OpContext&, const OpAttrs& a, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) { GemmForward(name, static_cast<const GemmAttrs&>(a), in, out); };
  def.backward = [name](const OpContext&, const OpAttrs& a, const BackwardIO& io) {
    GemmBackward(name, static_cast<const GemmAttrs&>(a), io);
  };
  std::vector<OpParam> params = {
      Optional("transpose_a", "boolean", "0", "Multiply with A transposed."),
      Optional("transpose_b", "boolean", "0", "Multiply with B transposed."),
      Optional("alpha", "double", "1", "The factor of the product op(A) op(B).")};
  if (mac) params.push_back(Optional("beta", "double", "1", "The factor of C."));
  params.push_back(Optional("axis", "int", "'-2'", "The axis of the matrices' rows (their columns are the last axis; the other axes are batch axes)."));
  std::vector<OpInputDoc> inputs = {{"A", "The first factor: a batch of matrices."},
                                    {"B", "The second factor: a batch of matrices."}};
  if (mac) {
    def.inplace = {{2, 0}};
    inputs.push_back({"C", "The batch of matrices added, scaled by beta."});
    return Described(std::move(def), "Batched matrix multiply-add: alpha * op(A) op(B) + beta * C for each matrix of the batch, op being the identity or the transpose.", std::move(inputs), std::move(params));
  }
  return Described(std::move(def), "Batched matrix product: alpha * op(A) op(B) for each matrix of the batch, op being the identity or the transpose.", std::move(inputs), std::move(params));
}

// ---- syrk ---------------------------------------------------------------------------------------

struct SyrkAttrs : OpAttrs {
  bool trans = false;
  double alpha = 1;
};

OpDef SyrkDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.parse = [name](const AttrMap& m) {
    CheckAttrs(name, m, {"transpose", "alpha"});
    auto a = std::make_shared<SyrkAttrs>();
    a->trans = GetBool(name, m, "transpose", false);
    a->alpha = GetFloat(name, m, "alpha", 1.0);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    CheckMatrices(name, "A", in[0], false);
    const auto& a = static_cast<const SyrkAttrs&>(attrs);
    const int64_t n = a.trans ? in[0].back() : in[0][in[0].size() - 2];
    MergeShape(name, "output", out[0], linalg::BatchShape(in[0], 2, {n, n}));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 1);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const SyrkAttrs&>(attrs);
    const Shape& s = in[0].shape;
    const int64_t rows = s[s.size() - 2], cols = s.back(), n = a.trans ? cols : rows, k = a.trans ? rows : cols;
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T, {
      const T* A = in[0].ptr<T>();
      T* B = out[0].ptr<T>();
      linalg::ForEachMatrix(linalg::MatrixCount(s), double(n) * n * k / 2, [&](int64_t i) {
        T* b = B + i * n * n;
        lapack::SyrkLower(a.trans, n, k, static_cast<T>(a.alpha), A + i * rows * cols, cols, T(0), b, n);
        linalg::Symmetrize(b, n, n, true);
      });
    });
  };
  // dA = alpha (dB + dB^T) A, or alpha A (dB + dB^T) with transpose: two products, the second
  // accumulating, so that dB need not be symmetrized in a copy.
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const auto& a = static_cast<const SyrkAttrs&>(attrs);
    const Shape& s = io.inputs[0].shape;
    const int64_t rows = s[s.size() - 2], cols = s.back(), n = a.trans ? cols : rows;
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, {
      const T* A = io.inputs[0].ptr<T>();
      const T* dB = io.out_grads[0].ptr<T>();
      T* dA = io.in_grads[0].ptr<T>();
      const T alpha = static_cast<T>(a.alpha), beta = io.req[0] == OpReq::kAdd ? T(1) : T(0);
      linalg::ForEachMatrix(linalg::MatrixCount(s), 2.0 * n * rows * cols, [&](int64_t i) {
        const T* x = A + i * rows * cols;
        const T* d = dB + i * n * n;
        T* g = dA + i * rows * cols;
        if (a.trans) {
          blas::Gemm(false, false, rows, cols, cols, alpha, x, cols, d, n, beta, g, cols);
          blas::Gemm(false, true, rows, cols, cols, alpha, x, cols, d, n, T(1), g, cols);
        } else {
          blas::Gemm(false, false, rows, cols, rows, alpha, d, n, x, cols, beta, g, cols);
          blas::Gemm(true, false, rows, cols, rows, alpha, d, n, x, cols, T(1), g, cols);
        }
      });
    });
  };
  return Described(std::move(def), "Batched symmetric rank-k product: alpha * A A^T for each matrix A of the batch, or alpha * A^T A with transpose.", {{"A", "A batch of matrices."}}, {Optional("transpose", "boolean", "0", "Multiply A^T A instead of A A^T."), Optional("alpha", "double", "1", "The factor of the product.")});
}

// ---- trmm, trsm ---------------------------------------------------------------------------------

struct TriangAttrs : OpAttrs {
  bool trans = false, right = false, lower = true;
  double alpha = 1;
};

// The shapes of A (n x n), B (m x p) and the output (m x p) per matrix.
struct TriangDims {
  int64_t count, n, m, p;
  explicit TriangDims(const Shape& a, const Shape& b)
      : count(linalg::MatrixCount(a)), n(a.back()), m(b[b.size() - 2]), p(b.back()) {}
};

void TriangShape(const std::string& op, const TriangAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  MergeShape(op, "B", in[1], out[0]);  // the output has B's shape
  MergeShape(op, "B", out[0], in[1]);
  if (IsKnown(out[0]) && !IsKnown(in[0])) {
    CheckMatrices(op, "output", out[0], false);
    const int64_t n = a.right ? out[0].back() : out[0][out[0].size() - 2];
    MergeShape(op, "A", in[0], linalg::BatchShape(out[0], 2, {n, n}));
  }
  if (!IsKnown(in[0]) || !IsKnown(in[1])) return;
  CheckMatrices(op, "A", in[0], true);
  const Shape &sa = in[0], &sb = in[1];
  if (sb.size() != sa.size() || !std::equal(sa.begin(), sa.end() - 2, sb.begin()))
    throw OpArgumentError(op, "B", ShapeArg(sb), "the batch axes of A (" + ShapeString(sa) + ")");
  const int64_t side = a.right ? sb.back() : sb[sb.size() - 2];
  if (side != sa.back())
    throw OpArgumentError(op, "B", ShapeArg(sb),
                          std::string(a.right ? "as many columns" : "as many rows") + " as A has (" +
                              std::to_string(sa.back()) + ")");
}

template <class T>
void TriangForward(bool solve, const TriangAttrs& a, const TriangDims& d, const T* A, const T* B, T* C) {
  if (B != C) std::copy(B, B + d.count * d.m * d.p, C);
  linalg::ForEachMatrix(d.count, double(d.n) * d.n * (a.right ? d.m : d.p) / 2, [&](int64_t i) {
    T* c = C + i * d.m * d.p;
    const T* x = A + i * d.n * d.n;
    const T alpha = static_cast<T>(a.alpha);
    if (solve) lapack::Trsm(a.right, a.lower, a.trans, d.m, d.p, alpha, x, d.n, c, d.p);
    else lapack::Trmm(a.right, a.lower, a.trans, d.m, d.p, alpha, x, d.n, c, d.p);
  });
}

// The gradient with respect to A of out = alpha op(A) B (left) or alpha B op(A) (right), for a
// head gradient g: alpha * g B^T (or alpha * B^T g), transposed when op is, on A's triangle.
// trsm reuses it with its own g and B (see TriangBackward).
template <class T>
void TriangGradA(const TriangAttrs& a, const TriangDims& d, T scale, const T* g, const T* b, T* dA) {
  const int64_t n = d.n, m = d.m, p = d.p;
  if (a.right == a.trans) {
    // left: dA = scale op(g, t) op(b, !t), g and b m x p, dA n x n with n = m.
    if (!a.right) blas::Gemm(false, true, n, n, p, scale, g, p, b, p, T(0), dA, n);
    else blas::Gemm(true, false, n, n, m, scale, g, p, b, p, T(0), dA, n);
  } else {
    if (a.right) blas::Gemm(true, false, n, n, m, scale, b, p, g, p, T(0), dA, n);
    else blas::Gemm(false, true, n, n, p, scale, b, p, g, p, T(0), dA, n);
  }
  linalg::ZeroTriangle(dA, n, n, a.lower);
}

// trmm: dA from (dOut, B), dB = alpha op(A)^T dOut (or dOut op(A)^T).
// trsm: dB = alpha op(A)^-T dOut (or dOut op(A)^-T), dA = -(1 / alpha) x (dB, out) as above.
template <class T>
void TriangBackward(bool solve, const TriangAttrs& a, const BackwardIO& io) {
  const TriangDims d(io.inputs[0].shape, io.inputs[1].shape);
  const T* A = io.inputs[0].ptr<T>();
  const T* B = io.inputs[1].ptr<T>();
  const T* g = io.out_grads[0].ptr<T>();
  const int64_t sa = d.n * d.n, sb = d.m * d.p;
  const T alpha = static_cast<T>(a.alpha);
  TriangAttrs back = a;
  back.trans = !a.trans;
  // trsm's dA needs dB even when B's gradient is not asked for.
  std::vector<T> scratch;
  const T* dB = nullptr;
  if (io.req[1] != OpReq::kNull || (solve && io.req[0] != OpReq::kNull)) {
    T* dst = io.in_grads[1].ptr<T>();
    if (io.req[1] != OpReq::kWrite) {
      scratch.resize(static_cast<size_t>(d.count * sb));
      dst = scratch.data();
    }
    TriangForward(solve, back, d, A, g, dst);
    dB = dst;
    if (io.req[1] == OpReq::kAdd) {
      T* grad = io.in_grads[1].ptr<T>();
      for (int64_t i = 0; i < d.count * sb; ++i) grad[i] += dB[i];
    }
  }
  linalg::WithReq(io.in_grads[0].ptr<T>(), d.count * sa, io.req[0], [&](T* dA) {
    linalg::ForEachMatrix(d.count, double(d.n) * d.n * d.m, [&](int64_t i) {
      if (solve) TriangGradA(a, d, T(-1) / alpha, dB + i * sb, io.outputs[0].ptr<T>() + i * sb, dA + i * sa);
      else TriangGradA(a, d, alpha, g + i * sb, B + i * sb, dA + i * sa);
    });
  });
}

OpDef TriangDef(const std::string& name, bool solve) {
  OpDef def;
  def.name = name;
  def.inputs = {"A", "B"};
  def.parse = [name](const AttrMap& m) {
    CheckAttrs(name, m, {"transpose", "rightside", "lower", "alpha"});
    auto a = std::make_shared<TriangAttrs>();
    a->trans = GetBool(name, m, "transpose", false);
    a->right = GetBool(name, m, "rightside", false);
    a->lower = GetBool(name, m, "lower", true);
    a->alpha = GetFloat(name, m, "alpha", 1.0);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    TriangShape(name, static_cast<const TriangAttrs&>(a), in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 1);
  };
  def.forward = [solve](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
    const TriangDims d(in[0].shape, in[1].shape);
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T,
                          TriangForward(solve, static_cast<const TriangAttrs&>(attrs), d, in[0].ptr<T>(),
                                        in[1].ptr<T>(), out[0].ptr<T>()));
  };
  def.backward = [solve](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, TriangBackward<T>(solve, static_cast<const TriangAttrs&>(attrs), io));
  };
  def.inplace = {{1, 0}};
  std::vector<OpParam> params = {
      Optional("transpose", "boolean", "0", "Use the transpose of the triangular matrix A."),
      Optional("rightside", "boolean", "0", solve ? "Solve X op(A) = alpha * B instead of op(A) X = alpha * B." : "Multiply B op(A) instead of op(A) B."),
      Optional("lower", "boolean", "1", "A is lower triangular (true) or upper triangular (false); only that triangle is read."),
      Optional("alpha", "double", "1", "The factor of the result.")};
  std::vector<OpInputDoc> inputs = {{"A", "A batch of triangular square matrices."}, {"B", "A batch of matrices."}};
  if (solve)
    return Described(std::move(def), "Batched triangular solve: alpha * op(A)^-1 B (or alpha * B op(A)^-1 with rightside) for each triangular matrix A of the batch.", std::move(inputs), std::move(params));
  return Described(std::move(def), "Batched triangular matrix product: alpha * op(A) B (or alpha * B op(A) with rightside) for each triangular matrix A of the batch.", std::move(inputs), std::move(params));
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  for (const char* prefix : {"_linalg_", "linalg_"}) {
    const std::string p = prefix;
    Registry::Add(GemmDef(p + "gemm", true));
    Registry::Add(GemmDef(p + "gemm2", false));
    Registry::Add(SyrkDef(p + "syrk"));
    Registry::Add(TriangDef(p + "trmm", false));
    Registry::Add(TriangDef(p + "trsm", true));
  }
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
