// The linalg factorizations and what follows from them, as MXNet 1.9 defines them, through
// LAPACK, batched over leading axes:
//   potrf:      the Cholesky factor L of a symmetric positive-definite A (A = L L^T)
//   potri:      (L L^T)^-1 from such a factor L
//   sumlogdiag: the sum of the logarithms of the diagonal
//   inverse, det, slogdet (sign and log |det|): from the LU factorization with pivoting
// potrf reads only A's lower triangle; potri only L's. Both take MXNet's undocumented `lower`
// (default true): false means the upper triangle (A = U^T U). det and slogdet keep the LU
// factors and pivots as hidden outputs for their gradient. A matrix that is not positive
// definite (potrf), a singular factor (potri) or a singular matrix (inverse) fails the
// operator where its result is waited for. The gradients are MXNet's (la_op-inl.h).
#include <cmath>
#include <cstdint>
#include <limits>
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

struct CholeskyAttrs : OpAttrs {
  bool lower = true;
};

std::shared_ptr<const OpAttrs> ParseCholesky(const std::string& op, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {"lower"});
  auto a = std::make_shared<CholeskyAttrs>();
  a->lower = GetBool(op, attrs, "lower", true);
  return a;
}

// An operator on one batch of square matrices giving one of the same shape (potrf, potri,
// inverse).
OpDef SquareDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "A", in[0], out[0]);
    MergeShape(name, "A", out[0], in[0]);
    if (IsKnown(in[0])) CheckMatrices(name, "A", in[0], true);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 1);
  };
  return def;
}

struct Square {
  int64_t count, n;
  explicit Square(const Shape& s) : count(linalg::MatrixCount(s)), n(s.back()) {}
  int64_t size() const { return n * n; }
};

// ---- potrf ------------------------------------------------------------------------------------

template <class T>
void PotrfForward(const std::string& op, bool lower, const Square& d, const T* A, T* B) {
  if (A != B) std::copy(A, A + d.count * d.size(), B);
  linalg::ForEachMatrix(d.count, double(d.n) * d.n * d.n / 3, [&](int64_t i) {
    T* b = B + i * d.size();
    if (lapack::Potrf(lower, d.n, b, d.n) != 0)
      linalg::FactorizationFailed(op, i, "is not positive definite (nor symmetric, perhaps), so has no Cholesky factor");
    linalg::ZeroTriangle(b, d.n, d.n, lower);
  });
}

// dA = 0.5 L^-T copyLTU(L^T dL) L^-1 (lower; the upper case transposed), copyLTU mirroring the
// lower triangle onto the upper.
template <class T>
void PotrfBackward(bool lower, const Square& d, const T* dB, const T* B, T* dA) {
  std::copy(dB, dB + d.count * d.size(), dA);
  const int64_t n = d.n;
  linalg::ForEachMatrix(d.count, 2.0 * n * n * n, [&](int64_t i) {
    const T* b = B + i * d.size();
    T* g = dA + i * d.size();
    lapack::Trmm(!lower, lower, true, n, n, T(1), b, n, g, n);
    linalg::Symmetrize(g, n, n, lower);
    lapack::Trsm(false, lower, lower, n, n, T(1), b, n, g, n);
    lapack::Trsm(true, lower, !lower, n, n, T(0.5), b, n, g, n);
  });
}

OpDef PotrfDef(const std::string& name) {
  OpDef def = SquareDef(name);
  def.parse = [name](const AttrMap& m) { return ParseCholesky(name, m); };
  def.forward = [name](const OpContext&, const OpAttrs& a, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T,
                          PotrfForward(name, static_cast<const CholeskyAttrs&>(a).lower, Square(in[0].shape),
                                       in[0].ptr<T>(), out[0].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs& a, const BackwardIO& io) {
    const Square d(io.inputs[0].shape);
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, linalg::WithReq(io.in_grads[0].ptr<T>(), d.count * d.size(), io.req[0], [&](T* g) {
      PotrfBackward(static_cast<const CholeskyAttrs&>(a).lower, d, io.out_grads[0].ptr<T>(), io.outputs[0].ptr<T>(), g);
    }));
  };
  def.inplace = {{0, 0}};
  return Described(std::move(def), "Batched Cholesky factorization: the lower triangular L with A = L L^T for each symmetric positive-definite matrix A of the batch (only A's lower triangle is read).", {{"A", "A batch of symmetric positive-definite matrices."}}, {});
}

// ---- potri ------------------------------------------------------------------------------------

template <class T>
void PotriForward(const std::string& op, bool lower, const Square& d, const T* B, T* A) {
  if (A != B) std::copy(B, B + d.count * d.size(), A);
  linalg::ForEachMatrix(d.count, double(d.n) * d.n * d.n * 2 / 3, [&](int64_t i) {
    T* a = A + i * d.size();
    if (lapack::Potri(lower, d.n, a, d.n) != 0)
      linalg::FactorizationFailed(op, i, "is a singular triangular factor (a zero on its diagonal)");
    linalg::Symmetrize(a, d.n, d.n, lower);
  });
}

// dB = -tril(A (dA + dA^T) B^-T) for lower B, A = potri(B) (the upper case transposed).
template <class T>
void PotriBackward(bool lower, const Square& d, const T* dA, const T* B, const T* A, T* dB) {
  const int64_t n = d.n;
  linalg::ForEachMatrix(d.count, 3.0 * n * n * n, [&](int64_t i) {
    const T *b = B + i * d.size(), *a = A + i * d.size(), *da = dA + i * d.size();
    T* g = dB + i * d.size();
    if (lower) {
      blas::Gemm(false, false, n, n, n, T(1), a, n, da, n, T(0), g, n);
      blas::Gemm(false, true, n, n, n, T(1), a, n, da, n, T(1), g, n);
    } else {
      blas::Gemm(false, false, n, n, n, T(1), da, n, a, n, T(0), g, n);
      blas::Gemm(true, false, n, n, n, T(1), da, n, a, n, T(1), g, n);
    }
    lapack::Trsm(lower, lower, true, n, n, T(-1), b, n, g, n);
    linalg::ZeroTriangle(g, n, n, lower);
  });
}

OpDef PotriDef(const std::string& name) {
  OpDef def = SquareDef(name);
  def.parse = [name](const AttrMap& m) { return ParseCholesky(name, m); };
  def.forward = [name](const OpContext&, const OpAttrs& a, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T,
                          PotriForward(name, static_cast<const CholeskyAttrs&>(a).lower, Square(in[0].shape),
                                       in[0].ptr<T>(), out[0].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs& a, const BackwardIO& io) {
    const Square d(io.inputs[0].shape);
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, linalg::WithReq(io.in_grads[0].ptr<T>(), d.count * d.size(), io.req[0], [&](T* g) {
      PotriBackward(static_cast<const CholeskyAttrs&>(a).lower, d, io.out_grads[0].ptr<T>(), io.inputs[0].ptr<T>(),
                    io.outputs[0].ptr<T>(), g);
    }));
  };
  return Described(std::move(def), "Batched inverse from a Cholesky factor: (L L^T)^-1 for each lower triangular matrix L of the batch (only L's lower triangle is read).", {{"A", "A batch of lower triangular matrices with nonzero diagonals."}}, {});
}

// ---- sumlogdiag ---------------------------------------------------------------------------------

// The shape of one value per matrix: the leading axes, or (1,) for a single matrix.
Shape PerMatrixShape(const Shape& s) {
  Shape out(s.begin(), s.end() - 2);
  if (out.empty()) out = {1};
  return out;
}

OpDef SumLogDiagDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.parse = [name](const AttrMap& m) {
    CheckAttrs(name, m, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    CheckMatrices(name, "A", in[0], true);
    MergeShape(name, "output", out[0], PerMatrixShape(in[0]));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 1);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const Square d(in[0].shape);
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T, {
      const T* a = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      for (int64_t i = 0; i < d.count; ++i) {
        T sum(0);
        for (int64_t j = 0; j < d.n; ++j) sum += std::log(a[i * d.size() + j * (d.n + 1)]);
        y[i] = sum;
      }
    });
  };
  // dA = diag(dOut / diag(A)).
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const Square d(io.inputs[0].shape);
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, {
      const T* a = io.inputs[0].ptr<T>();
      const T* dy = io.out_grads[0].ptr<T>();
      T* g = io.in_grads[0].ptr<T>();
      for (int64_t i = 0; i < d.count; ++i)
        for (int64_t r = 0; r < d.n; ++r)
          for (int64_t c = 0; c < d.n; ++c) {
            const int64_t k = i * d.size() + r * d.n + c;
            Store(g[k], r == c ? static_cast<T>(dy[i] / a[k]) : T(0), io.req[0]);
          }
    });
  };
  return Described(std::move(def), "The sum of the natural logarithms of the diagonal of each square matrix of the batch.", {{"A", "A batch of square matrices."}}, {});
}

// ---- inverse ------------------------------------------------------------------------------------

OpDef InverseDef(const std::string& name) {
  OpDef def = SquareDef(name);
  def.parse = [name](const AttrMap& m) {
    CheckAttrs(name, m, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.forward = [name](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Square d(in[0].shape);
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T, {
      const T* A = in[0].ptr<T>();
      T* B = out[0].ptr<T>();
      if (A != B) std::copy(A, A + d.count * d.size(), B);
      linalg::ForEachMatrix(d.count, double(d.n) * d.n * d.n, [&](int64_t i) {
        std::vector<int32_t> pivots(static_cast<size_t>(d.n));
        T* b = B + i * d.size();
        if (lapack::GetrfTransposed(d.n, b, d.n, pivots.data()) != 0 ||
            lapack::GetriTransposed(d.n, b, d.n, pivots.data()) != 0)
          linalg::FactorizationFailed(name, i, "is singular, so has no inverse");
      });
    });
  };
  // dA = -B^T dB B^T, B = A^-1.
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const Square d(io.inputs[0].shape);
    const int64_t n = d.n;
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, linalg::WithReq(io.in_grads[0].ptr<T>(), d.count * d.size(), io.req[0], [&](T* g) {
      const T* B = io.outputs[0].ptr<T>();
      const T* dB = io.out_grads[0].ptr<T>();
      linalg::ForEachMatrix(d.count, 2.0 * n * n * n, [&](int64_t i) {
        std::vector<T> tmp(static_cast<size_t>(d.size()));
        const T *b = B + i * d.size(), *db = dB + i * d.size();
        blas::Gemm(false, true, n, n, n, T(1), db, n, b, n, T(0), tmp.data(), n);
        blas::Gemm(true, false, n, n, n, T(-1), b, n, tmp.data(), n, T(0), g + i * d.size(), n);
      });
    }));
  };
  def.inplace = {{0, 0}};
  return Described(std::move(def), "The inverse of each square matrix of the batch.", {{"A", "A batch of invertible square matrices."}}, {});
}

// ---- det, slogdet -------------------------------------------------------------------------------
// Outputs: det (or sign and log |det|), then the hidden LU factors (A's shape) and pivots
// (int32, the leading axes and n).

template <class T>
void SignLogDet(const Square& d, const T* A, T* lu, int32_t* pivots, T* sign, T* logdet) {
  std::copy(A, A + d.count * d.size(), lu);
  for (int64_t i = 0; i < d.count; ++i) {
    T* f = lu + i * d.size();
    int32_t* p = pivots + i * d.n;
    // A singular matrix is no failure here: its determinant is 0 (log |det| = -inf).
    lapack::GetrfTransposed(d.n, f, d.n, p);
    int swaps = 0;
    T s(1), l(0);
    for (int64_t j = 0; j < d.n; ++j) {
      swaps += p[j] != j + 1;
      const T v = f[j * (d.n + 1)];
      s *= static_cast<T>((T(0) < v) - (v < T(0)));
      l += std::log(std::abs(v));
    }
    sign[i] = swaps % 2 ? -s : s;
    logdet[i] = l;
  }
}

// g = scale_i * A_i^-T from the LU factors, for each matrix whose log |det| is finite; zero
// for the singular ones (MXNet passes no gradient through a zero determinant).
template <class T>
void ScaledInverseTranspose(const Square& d, const T* lu, const int32_t* pivots, const T* logdet, const T* scale,
                            T* g) {
  const int64_t n = d.n;
  std::vector<T> inv(static_cast<size_t>(d.size()));
  for (int64_t i = 0; i < d.count; ++i) {
    T* gi = g + i * d.size();
    if (std::isinf(logdet[i]) && logdet[i] < 0) {
      std::fill(gi, gi + d.size(), T(0));
      continue;
    }
    std::copy(lu + i * d.size(), lu + (i + 1) * d.size(), inv.begin());
    lapack::GetriTransposed(n, inv.data(), n, pivots + i * n);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < n; ++c) gi[r * n + c] = scale[i] * inv[c * n + r];
  }
}

OpDef DetDef(const std::string& name, bool log) {
  const int values = log ? 2 : 1;
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.num_outputs = values + 2;
  def.num_visible_outputs = values;
  def.parse = [name](const AttrMap& m) {
    CheckAttrs(name, m, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name, values](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    CheckMatrices(name, "A", in[0], true);
    for (int i = 0; i < values; ++i) MergeShape(name, "output", out[i], PerMatrixShape(in[0]));
    MergeShape(name, "A", out[values], in[0]);
    MergeShape(name, "A", out[values + 1], Shape(in[0].begin(), in[0].end() - 1));
  };
  def.infer_type = [name, values](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, values + 1);
    MergeType(name, "pivots", out[values + 1], DType::kInt32);
  };
  def.forward = [log](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const Square d(in[0].shape);
    const int values = log ? 2 : 1;
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T, {
      T* lu = out[values].ptr<T>();
      int32_t* pivots = out[values + 1].ptr<int32_t>();
      if (log) {
        SignLogDet(d, in[0].ptr<T>(), lu, pivots, out[0].ptr<T>(), out[1].ptr<T>());
      } else {
        std::vector<T> sign(static_cast<size_t>(d.count)), logdet(static_cast<size_t>(d.count));
        SignLogDet(d, in[0].ptr<T>(), lu, pivots, sign.data(), logdet.data());
        for (int64_t i = 0; i < d.count; ++i) out[0].ptr<T>()[i] = sign[i] * std::exp(logdet[i]);
      }
    });
  };
  // Jacobi's formula: d det / dA = det A^-T, d log |det| / dA = A^-T. The sign has no gradient.
  def.backward = [log](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const Square d(io.inputs[0].shape);
    const int values = log ? 2 : 1;
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, linalg::WithReq(io.in_grads[0].ptr<T>(), d.count * d.size(), io.req[0], [&](T* g) {
      const T* lu = io.outputs[values].ptr<T>();
      const int32_t* pivots = io.outputs[values + 1].ptr<int32_t>();
      std::vector<T> scale(static_cast<size_t>(d.count)), logdet(static_cast<size_t>(d.count));
      for (int64_t i = 0; i < d.count; ++i) {
        if (log) {
          scale[i] = io.out_grads[1].ptr<T>()[i];
          logdet[i] = io.outputs[1].ptr<T>()[i];
        } else {
          const T det = io.outputs[0].ptr<T>()[i];
          scale[i] = io.out_grads[0].ptr<T>()[i] * det;
          logdet[i] = det == T(0) ? -std::numeric_limits<T>::infinity() : T(0);
        }
      }
      ScaledInverseTranspose(d, lu, pivots, logdet.data(), scale.data(), g);
    }));
  };
  if (log) {
    return Described(std::move(def), "The sign and the natural logarithm of the absolute value of the determinant of each square matrix of the batch (sign 0 and log -inf for a singular one).", {{"A", "A batch of square matrices."}}, {});
  }
  return Described(std::move(def), "The determinant of each square matrix of the batch.", {{"A", "A batch of square matrices."}}, {});
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  for (const char* prefix : {"_linalg_", "linalg_"}) {
    const std::string p = prefix;
    Registry::Add(PotrfDef(p + "potrf"));
    Registry::Add(PotriDef(p + "potri"));
    Registry::Add(SumLogDiagDef(p + "sumlogdiag"));
    Registry::Add(InverseDef(p + "inverse"));
    Registry::Add(DetDef(p + "det", false));
    Registry::Add(DetDef(p + "slogdet", true));
  }
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
