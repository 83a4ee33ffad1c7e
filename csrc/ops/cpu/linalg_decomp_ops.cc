// The linalg decompositions, as MXNet 1.9 defines them, through LAPACK, batched over leading
// axes:
//   gelqf: A = L Q for A m x n (m <= n): Q m x n with orthonormal rows, L m x m lower triangular
//          (LAPACK's signs: L's diagonal may be negative)
//   syevd: A = U^T diag(L) U for symmetric A (only its lower triangle is read): the
//          eigenvalues L ascending, the eigenvectors the rows of U, each row's sign chosen so
//          that its entry of largest magnitude (the first of equals) is positive
// The gradients are MXNet's (la_op-inl.h's gelqf_backward and syevd_backward).
#include <cmath>
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

std::shared_ptr<const OpAttrs> ParseNone(const std::string& op, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {});
  return std::make_shared<NoAttrs>();
}

// ---- gelqf --------------------------------------------------------------------------------------

struct LqDims {
  int64_t count, m, n;
  explicit LqDims(const Shape& s) : count(linalg::MatrixCount(s)), m(s[s.size() - 2]), n(s.back()) {}
};

template <class T>
void GelqfForward(const LqDims& d, const T* A, T* Q, T* L) {
  if (A != Q) std::copy(A, A + d.count * d.m * d.n, Q);
  linalg::ForEachMatrix(d.count, 2.0 * d.m * d.m * d.n, [&](int64_t i) {
    T* q = Q + i * d.m * d.n;
    T* l = L + i * d.m * d.m;
    std::vector<T> tau(static_cast<size_t>(std::max<int64_t>(d.m, 1)));
    lapack::Lq(d.m, d.n, q, d.n, tau.data());
    for (int64_t r = 0; r < d.m; ++r)
      for (int64_t c = 0; c < d.m; ++c) l[r * d.m + c] = c <= r ? q[r * d.n + c] : T(0);
    lapack::LqOrthonormal(d.m, d.n, q, d.n, tau.data());
  });
}

// dA = L^-T (dQ + copyLTU(M) Q), M = L^T dL - dQ Q^T, copyLTU mirroring M's lower triangle
// onto its upper one.
template <class T>
void GelqfBackward(const LqDims& d, const T* dQ, const T* dL, const T* Q, const T* L, T* dA) {
  const int64_t m = d.m, n = d.n;
  std::copy(dQ, dQ + d.count * m * n, dA);
  linalg::ForEachMatrix(d.count, 4.0 * m * m * n, [&](int64_t i) {
    const T *q = Q + i * m * n, *l = L + i * m * m;
    T* g = dA + i * m * n;
    std::vector<T> M(dL + i * m * m, dL + (i + 1) * m * m);
    lapack::Trmm(false, true, true, m, m, T(1), l, m, M.data(), m);
    blas::Gemm(false, true, m, m, n, T(-1), g, n, q, n, T(1), M.data(), m);
    linalg::Symmetrize(M.data(), m, m, true);
    blas::Gemm(false, false, m, n, m, T(1), M.data(), m, q, n, T(1), g, n);
    lapack::Trsm(false, true, true, m, n, T(1), l, m, g, n);
  });
}

OpDef GelqfDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.num_outputs = 2;
  def.parse = [name](const AttrMap& m) { return ParseNone(name, m); };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "A", in[0], out[0]);  // Q has A's shape
    MergeShape(name, "A", out[0], in[0]);
    if (!IsKnown(in[0])) return;
    CheckMatrices(name, "A", in[0], false);
    const int64_t m = in[0][in[0].size() - 2];
    if (m > in[0].back())
      throw OpArgumentError(name, "A", ShapeArg(in[0]), "matrices with no more rows than columns");
    MergeShape(name, "output", out[1], linalg::BatchShape(in[0], 1, {m}));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 2);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T,
                          GelqfForward(LqDims(in[0].shape), in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const LqDims d(io.inputs[0].shape);
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, linalg::WithReq(io.in_grads[0].ptr<T>(), d.count * d.m * d.n, io.req[0], [&](T* g) {
      GelqfBackward(d, io.out_grads[0].ptr<T>(), io.out_grads[1].ptr<T>(), io.outputs[0].ptr<T>(),
                    io.outputs[1].ptr<T>(), g);
    }));
  };
  def.inplace = {{0, 0}};
  return Described(std::move(def), "Batched LQ factorization: A = L Q for each matrix A of the batch with no more rows than columns, Q with orthonormal rows (A's shape) and L lower triangular (square).", {{"A", "A batch of matrices, each with no more rows than columns."}}, {});
}

// ---- syevd --------------------------------------------------------------------------------------

// The eigenvector in row `u` (n entries) with the sign that makes its largest-magnitude entry
// positive (the first one among equals), so that results do not depend on LAPACK's choice.
template <class T>
void FixSign(T* u, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j)
    if (std::abs(u[j]) > std::abs(u[best])) best = j;
  if (u[best] < T(0))
    for (int64_t j = 0; j < n; ++j) u[j] = -u[j];
}

template <class T>
void SyevdForward(const std::string& op, int64_t count, int64_t n, const T* A, T* U, T* L) {
  if (A != U) std::copy(A, A + count * n * n, U);
  linalg::ForEachMatrix(count, 4.0 * n * n * n, [&](int64_t i) {
    T* u = U + i * n * n;
    if (lapack::Syevd(n, u, n, L + i * n) != 0)
      linalg::FactorizationFailed(op, i, "has eigenvalues LAPACK's syevd did not converge to");
    for (int64_t r = 0; r < n; ++r) FixSign(u + r * n, n);
  });
}

// dA = U^T Y U, Y symmetric with Y_ii = dL_i and, for i > j,
// Y_ij = Y_ji = (X_ij - X_ji) / (2 max(L_i - L_j, eps)), X = dU U^T. eps keeps equal
// eigenvalues from dividing by zero (MXNet's 1e-30 in float32, 1e-100 in float64).
template <class T>
void SyevdBackward(int64_t count, int64_t n, const T* dU, const T* dL, const T* U, const T* L, T* dA) {
  const T eps = sizeof(T) == sizeof(float) ? T(1e-30) : T(1e-100);
  linalg::ForEachMatrix(count, 3.0 * n * n * n, [&](int64_t b) {
    const T *u = U + b * n * n, *du = dU + b * n * n, *l = L + b * n, *dl = dL + b * n;
    std::vector<T> X(static_cast<size_t>(n * n)), Y(static_cast<size_t>(n * n));
    blas::Gemm(false, true, n, n, n, T(1), du, n, u, n, T(0), X.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < i; ++j) {
        const T denom = T(2) * std::max(l[i] - l[j], eps);
        Y[i * n + j] = Y[j * n + i] = (X[i * n + j] - X[j * n + i]) / denom;
      }
      Y[i * n + i] = dl[i];
    }
    blas::Gemm(true, false, n, n, n, T(1), u, n, Y.data(), n, T(0), X.data(), n);
    blas::Gemm(false, false, n, n, n, T(1), X.data(), n, u, n, T(0), dA + b * n * n, n);
  });
}

OpDef SyevdDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.num_outputs = 2;
  def.parse = [name](const AttrMap& m) { return ParseNone(name, m); };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "A", in[0], out[0]);  // U has A's shape
    MergeShape(name, "A", out[0], in[0]);
    if (!IsKnown(in[0])) return;
    CheckMatrices(name, "A", in[0], true);
    MergeShape(name, "output", out[1], Shape(in[0].begin(), in[0].end() - 1));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 2);
  };
  def.forward = [name](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Shape& s = in[0].shape;
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T,
                          SyevdForward(name, linalg::MatrixCount(s), s.back(), in[0].ptr<T>(), out[0].ptr<T>(),
                                       out[1].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const Shape& s = io.inputs[0].shape;
    const int64_t count = linalg::MatrixCount(s), n = s.back();
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, linalg::WithReq(io.in_grads[0].ptr<T>(), count * n * n, io.req[0], [&](T* g) {
      SyevdBackward(count, n, io.out_grads[0].ptr<T>(), io.out_grads[1].ptr<T>(), io.outputs[0].ptr<T>(),
                    io.outputs[1].ptr<T>(), g);
    }));
  };
  def.inplace = {{0, 0}};
  return Described(std::move(def), "Batched symmetric eigendecomposition: A = U^T diag(L) U for each symmetric matrix A of the batch (only its lower triangle is read), the eigenvalues L ascending and the eigenvectors the rows of U.", {{"A", "A batch of symmetric matrices."}}, {});
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  // MXNet 1.9.1 registers syevd under its underscored name only.
  Registry::Add(GelqfDef("_linalg_gelqf"));
  Registry::Add(GelqfDef("linalg_gelqf"));
  Registry::Add(SyevdDef("_linalg_syevd"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
