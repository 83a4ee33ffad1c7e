// Triangular BLAS and LAPACK on row-major matrices, from the same scipy-openblas32 wheel as
// blas.h (its symbols carry the scipy_ prefix and take 32-bit integers).
//
// LAPACK is column-major; a row-major n x n matrix is its transpose to LAPACK. Each routine
// here says what it computes on the row-major matrix and handles the transposition itself
// (the triangle named to LAPACK is the opposite one), so callers never think in columns.
// Every matrix has a row stride (ld*) of at least its number of columns. Routines that can
// fail return LAPACK's info: 0 on success, > 0 for a singular or indefinite matrix.
#pragma once

#include <cstdint>
#include <vector>

namespace flowmod::ops::lapack {

// ---- Triangular and symmetric products (BLAS level 3) ---------------------------------------
// B = alpha * op(A)^-1 * B (left) or alpha * B * op(A)^-1 (right), in place, where A is the
// n x n triangular matrix in the `lower` (or upper) triangle of a, op(A) is A or A^T, and B is
// m x p. Only that triangle of a is read.
void Trsm(bool right, bool lower, bool trans, int64_t m, int64_t p, float alpha, const float* a, int64_t lda,
          float* b, int64_t ldb);
void Trsm(bool right, bool lower, bool trans, int64_t m, int64_t p, double alpha, const double* a, int64_t lda,
          double* b, int64_t ldb);
// B = alpha * op(A) * B (left) or alpha * B * op(A) (right), in place; as Trsm otherwise.
void Trmm(bool right, bool lower, bool trans, int64_t m, int64_t p, float alpha, const float* a, int64_t lda,
          float* b, int64_t ldb);
void Trmm(bool right, bool lower, bool trans, int64_t m, int64_t p, double alpha, const double* a, int64_t lda,
          double* b, int64_t ldb);
// The lower triangle of C (n x n) = alpha * A A^T + beta * C, A being n x k (or, with trans,
// alpha * A^T A with A k x n). The strict upper triangle of C is not touched.
void SyrkLower(bool trans, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c,
               int64_t ldc);
void SyrkLower(bool trans, int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta,
               double* c, int64_t ldc);

// ---- Factorizations (LAPACK) ------------------------------------------------------------
// The Cholesky factor of the symmetric positive-definite n x n matrix in a, in place: L with
// A = L L^T in the lower triangle (lower) or U with A = U^T U in the upper one. Only that
// triangle is read or written. info > 0: A is not positive definite.
int Potrf(bool lower, int64_t n, float* a, int64_t lda);
int Potrf(bool lower, int64_t n, double* a, int64_t lda);
// From such a factor in a, the same triangle of A^-1 (= (L L^T)^-1 or (U^T U)^-1), in place.
// info > 0: the factor is singular.
int Potri(bool lower, int64_t n, float* a, int64_t lda);
int Potri(bool lower, int64_t n, double* a, int64_t lda);

// The LU factorization with partial pivoting of A^T, in place (ipiv: n one-based pivots).
// det(A) = det(A^T) is the product of the factor's diagonal, signed by the pivots' parity.
// info > 0: A is singular (the factorization is still complete).
int GetrfTransposed(int64_t n, float* a, int64_t lda, int32_t* ipiv);
int GetrfTransposed(int64_t n, double* a, int64_t lda, int32_t* ipiv);
// From GetrfTransposed's factor of A (and its pivots), A^-1 in a, in place. info > 0: singular.
int GetriTransposed(int64_t n, float* a, int64_t lda, const int32_t* ipiv);
int GetriTransposed(int64_t n, double* a, int64_t lda, const int32_t* ipiv);

// The LQ factorization A = L Q of the m x n matrix in a (m <= n), in place: L (m x m, lower
// triangular) in the lower triangle of a's first m columns, and Q's Householder vectors
// above it with their scales in tau (m entries). LqOrthonormal then turns a into Q
// (m x n with orthonormal rows).
void Lq(int64_t m, int64_t n, float* a, int64_t lda, float* tau);
void Lq(int64_t m, int64_t n, double* a, int64_t lda, double* tau);
void LqOrthonormal(int64_t m, int64_t n, float* a, int64_t lda, const float* tau);
void LqOrthonormal(int64_t m, int64_t n, double* a, int64_t lda, const double* tau);

// The eigendecomposition of the symmetric n x n matrix whose lower triangle is in a: its
// eigenvalues in ascending order in w, and a's rows overwritten by the matching orthonormal
// eigenvectors (A = U^T diag(w) U, U being a). info > 0: the iteration did not converge.
int Syevd(int64_t n, float* a, int64_t lda, float* w);
int Syevd(int64_t n, double* a, int64_t lda, double* w);

}  // namespace flowmod::ops::lapack
