// What the linalg operators (linalg_blas_ops.cc, linalg_factor_ops.cc, linalg_decomp_ops.cc,
// linalg_layout_ops.cc) share: their type rule, checks of batched matrix shapes, triangle
// copies, and the req handling of gradients computed in place by BLAS and LAPACK.
//
// Every linalg operator works on the trailing two axes of its inputs (one axis for vectors of
// diagonals and triangles) and repeats over the leading ones, as MXNet's do; only float32 and
// float64 are defined (MXNet refuses float16 here too).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops::linalg {

// Runs `body` with T bound to float or double.
#define FLOWMOD_LINALG_SWITCH(dtype, T, ...)                                              \
  switch (dtype) {                                                                       \
    case ::flowmod::DType::kFloat32: { using T = float; __VA_ARGS__; break; }            \
    case ::flowmod::DType::kFloat64: { using T = double; __VA_ARGS__; break; }           \
    default: throw std::logic_error("linalg kernel called on an array neither float32 nor float64"); \
  }

// Every input and the first `typed_outputs` outputs share one type, float32 or float64.
inline void LinalgType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out,
                       size_t typed_outputs) {
  DType t = DType::kUnknown;
  for (DType d : in) MergeType(op, "A", t, d);
  for (size_t i = 0; i < typed_outputs; ++i) MergeType(op, "output", t, out[i]);
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64)
    throw OpArgumentError(op, "A", std::string("an array of type ") + DTypeName(t), "float32 or float64");
  for (DType& d : in) d = t;
  for (size_t i = 0; i < typed_outputs; ++i) out[i] = t;
}

inline std::string ShapeArg(const Shape& s) { return "an array of shape " + ShapeString(s); }

// `s` is a batch of matrices: rank >= 2 (and square ones when `square`).
inline void CheckMatrices(const std::string& op, const std::string& arg, const Shape& s, bool square) {
  if (s.size() < 2) throw OpArgumentError(op, arg, ShapeArg(s), "an array of rank >= 2 (a batch of matrices)");
  if (square && s[s.size() - 1] != s[s.size() - 2])
    throw OpArgumentError(op, arg, ShapeArg(s), "square matrices in the last two axes");
}

// The number of matrices in a batch of shape `s` (rank >= 2).
inline int64_t MatrixCount(const Shape& s) { return Product(s, 0, s.size() - 2); }

// The leading axes of `s` with `tail` appended: the shape of a per-matrix result.
inline Shape BatchShape(const Shape& s, size_t drop, std::vector<int64_t> tail) {
  Shape out(s.begin(), s.end() - static_cast<std::ptrdiff_t>(drop));
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

// The strict upper (upper) or lower triangle of the n x n matrix `a` set to zero.
template <class T>
void ZeroTriangle(T* a, int64_t n, int64_t lda, bool upper) {
  for (int64_t r = 0; r < n; ++r) {
    if (upper) std::fill(a + r * lda + r + 1, a + r * lda + n, T(0));
    else std::fill(a + r * lda, a + r * lda + r, T(0));
  }
}

// Makes `a` symmetric from its lower triangle (from_lower) or its upper one.
template <class T>
void Symmetrize(T* a, int64_t n, int64_t lda, bool from_lower) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < r; ++c) {
      if (from_lower) a[c * lda + r] = a[r * lda + c];
      else a[r * lda + c] = a[c * lda + r];
    }
}

// Runs fn(dst) where dst receives a gradient of `size` elements computed by overwriting: the
// gradient itself under kWrite, a scratch array then added to it under kAdd, nothing under
// kNull.
template <class T, class Fn>
void WithReq(T* grad, int64_t size, OpReq req, Fn&& fn) {
  if (req == OpReq::kNull) return;
  if (req == OpReq::kWrite) {
    fn(grad);
    return;
  }
  std::vector<T> tmp(static_cast<size_t>(size));
  fn(tmp.data());
  for (int64_t i = 0; i < size; ++i) grad[i] += tmp[i];
}

// Calls fn(i) for every matrix i of a batch of `count`, spread over idle cores when the work
// (about `flops_each` multiply-adds per matrix) is worth it. fn must be safe to run for
// different matrices at once.
inline void ForEachMatrix(int64_t count, double flops_each, const std::function<void(int64_t)>& fn) {
  constexpr double kSplitWork = double(int64_t{1} << 20);
  const int parts = static_cast<int>(
      std::min<double>(parallel::Cores(), std::max(1.0, count * flops_each / kSplitWork)));
  if (count <= 1 || parts <= 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  parallel::For(count, parts, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(i);
  });
}

// The failure of a factorization, raised from the kernel (the engine marks its outputs failed
// and the error surfaces where they are waited for).
[[noreturn]] inline void FactorizationFailed(const std::string& op, int64_t matrix, const std::string& what) {
  throw std::domain_error(op + ": the matrix at batch index " + std::to_string(matrix) + " " + what);
}

}  // namespace flowmod::ops::linalg
