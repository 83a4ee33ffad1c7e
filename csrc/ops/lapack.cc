#include "ops/lapack.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <vector>

extern "C" {
// scipy-openblas32: CBLAS with its enums as ints, LAPACK's Fortran interface (all arguments by
// pointer, 32-bit integers, character arguments followed by their hidden lengths).
void scipy_cblas_strsm(int order, int side, int uplo, int trans, int diag, int m, int n, float alpha,
                       const float* a, int lda, float* b, int ldb);
void scipy_cblas_dtrsm(int order, int side, int uplo, int trans, int diag, int m, int n, double alpha,
                       const double* a, int lda, double* b, int ldb);
void scipy_cblas_strmm(int order, int side, int uplo, int trans, int diag, int m, int n, float alpha,
                       const float* a, int lda, float* b, int ldb);
void scipy_cblas_dtrmm(int order, int side, int uplo, int trans, int diag, int m, int n, double alpha,
                       const double* a, int lda, double* b, int ldb);
void scipy_cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float* a, int lda,
                       float beta, float* c, int ldc);
void scipy_cblas_dsyrk(int order, int uplo, int trans, int n, int k, double alpha, const double* a, int lda,
                       double beta, double* c, int ldc);

void scipy_spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t);
void scipy_dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t);
void scipy_spotri_(const char* uplo, const int* n, float* a, const int* lda, int* info, size_t);
void scipy_dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t);
void scipy_sgetrf_(const int* m, const int* n, float* a, const int* lda, int* ipiv, int* info);
void scipy_dgetrf_(const int* m, const int* n, double* a, const int* lda, int* ipiv, int* info);
void scipy_sgetri_(const int* n, float* a, const int* lda, const int* ipiv, float* work, const int* lwork,
                   int* info);
void scipy_dgetri_(const int* n, double* a, const int* lda, const int* ipiv, double* work, const int* lwork,
                   int* info);
void scipy_sgeqrf_(const int* m, const int* n, float* a, const int* lda, float* tau, float* work,
                   const int* lwork, int* info);
void scipy_dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work,
                   const int* lwork, int* info);
void scipy_sorgqr_(const int* m, const int* n, const int* k, float* a, const int* lda, const float* tau,
                   float* work, const int* lwork, int* info);
void scipy_dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau,
                   double* work, const int* lwork, int* info);
void scipy_ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w,
                   float* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t, size_t);
void scipy_dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                   double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t, size_t);
}

namespace flowmod::ops::lapack {

namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kUpper = 121, kLower = 122, kNonUnit = 131,
              kLeft = 141, kRight = 142;

int I(int64_t v) {
  // 32-bit LAPACK: shape inference keeps matrices far below this, so reaching it is a bug,
  // reported as the operator's failure.
  if (v > std::numeric_limits<int>::max()) throw std::length_error("matrix dimension too large for LAPACK");
  return static_cast<int>(v);
}
int Ld(int64_t v) { return I(std::max<int64_t>(v, 1)); }

// The row-major `lower` triangle is the column-major upper one.
const char* ColumnUplo(bool lower) { return lower ? "U" : "L"; }

// LAPACK's workspace query answers a size as a floating value.
int WorkSize(double query) { return std::max(1, static_cast<int>(query)); }

template <class T, class Fn>
void CallTr(Fn fn, bool right, bool lower, bool trans, int64_t m, int64_t p, T alpha, const T* a, int64_t lda,
            T* b, int64_t ldb) {
  if (m == 0 || p == 0) return;
  fn(kRowMajor, right ? kRight : kLeft, lower ? kLower : kUpper, trans ? kTrans : kNoTrans, kNonUnit, I(m), I(p),
     alpha, a, Ld(lda), b, Ld(ldb));
}

template <class T, class Fn>
int CallGetri(Fn fn, int64_t n, T* a, int64_t lda, const int32_t* ipiv) {
  if (n == 0) return 0;
  const int nn = I(n), ld = Ld(lda);
  int info = 0, query = -1;
  T size{};
  fn(&nn, a, &ld, ipiv, &size, &query, &info);
  const int lwork = WorkSize(static_cast<double>(size));
  std::vector<T> work(static_cast<size_t>(lwork));
  fn(&nn, a, &ld, ipiv, work.data(), &lwork, &info);
  return info;
}

template <class T, class Fn>
void CallGeqrf(Fn fn, int64_t m, int64_t n, T* a, int64_t lda, T* tau) {
  if (m == 0) return;
  // The row-major m x n matrix is the column-major n x m one, whose QR is our LQ.
  const int rows = I(n), cols = I(m), ld = Ld(lda);
  int info = 0, query = -1;
  T size{};
  fn(&rows, &cols, a, &ld, tau, &size, &query, &info);
  const int lwork = WorkSize(static_cast<double>(size));
  std::vector<T> work(static_cast<size_t>(lwork));
  fn(&rows, &cols, a, &ld, tau, work.data(), &lwork, &info);
  if (info < 0) throw std::logic_error("geqrf: bad argument");
}

template <class T, class Fn>
void CallOrgqr(Fn fn, int64_t m, int64_t n, T* a, int64_t lda, const T* tau) {
  if (m == 0) return;
  const int rows = I(n), cols = I(m), ld = Ld(lda);
  int info = 0, query = -1;
  T size{};
  fn(&rows, &cols, &cols, a, &ld, tau, &size, &query, &info);
  const int lwork = WorkSize(static_cast<double>(size));
  std::vector<T> work(static_cast<size_t>(lwork));
  fn(&rows, &cols, &cols, a, &ld, tau, work.data(), &lwork, &info);
  if (info < 0) throw std::logic_error("orgqr: bad argument");
}

template <class T, class Fn>
int CallSyevd(Fn fn, int64_t n, T* a, int64_t lda, T* w) {
  if (n == 0) return 0;
  const int nn = I(n), ld = Ld(lda);
  int info = 0, query = -1, isize = 0;
  T size{};
  fn("V", ColumnUplo(true), &nn, a, &ld, w, &size, &query, &isize, &query, &info, 1, 1);
  const int lwork = WorkSize(static_cast<double>(size)), liwork = std::max(1, isize);
  std::vector<T> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  fn("V", ColumnUplo(true), &nn, a, &ld, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  return info;
}

}  // namespace

void Trsm(bool right, bool lower, bool trans, int64_t m, int64_t p, float alpha, const float* a, int64_t lda,
          float* b, int64_t ldb) {
  CallTr(scipy_cblas_strsm, right, lower, trans, m, p, alpha, a, lda, b, ldb);
}
void Trsm(bool right, bool lower, bool trans, int64_t m, int64_t p, double alpha, const double* a, int64_t lda,
          double* b, int64_t ldb) {
  CallTr(scipy_cblas_dtrsm, right, lower, trans, m, p, alpha, a, lda, b, ldb);
}
void Trmm(bool right, bool lower, bool trans, int64_t m, int64_t p, float alpha, const float* a, int64_t lda,
          float* b, int64_t ldb) {
  CallTr(scipy_cblas_strmm, right, lower, trans, m, p, alpha, a, lda, b, ldb);
}
void Trmm(bool right, bool lower, bool trans, int64_t m, int64_t p, double alpha, const double* a, int64_t lda,
          double* b, int64_t ldb) {
  CallTr(scipy_cblas_dtrmm, right, lower, trans, m, p, alpha, a, lda, b, ldb);
}

void SyrkLower(bool trans, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, float beta, float* c,
               int64_t ldc) {
  if (n == 0) return;
  scipy_cblas_ssyrk(kRowMajor, kLower, trans ? kTrans : kNoTrans, I(n), I(k), alpha, a, Ld(lda), beta, c, Ld(ldc));
}
void SyrkLower(bool trans, int64_t n, int64_t k, double alpha, const double* a, int64_t lda, double beta,
               double* c, int64_t ldc) {
  if (n == 0) return;
  scipy_cblas_dsyrk(kRowMajor, kLower, trans ? kTrans : kNoTrans, I(n), I(k), alpha, a, Ld(lda), beta, c, Ld(ldc));
}

int Potrf(bool lower, int64_t n, float* a, int64_t lda) {
  int info = 0;
  const int nn = I(n), ld = Ld(lda);
  if (n > 0) scipy_spotrf_(ColumnUplo(lower), &nn, a, &ld, &info, 1);
  return info;
}
int Potrf(bool lower, int64_t n, double* a, int64_t lda) {
  int info = 0;
  const int nn = I(n), ld = Ld(lda);
  if (n > 0) scipy_dpotrf_(ColumnUplo(lower), &nn, a, &ld, &info, 1);
  return info;
}
int Potri(bool lower, int64_t n, float* a, int64_t lda) {
  int info = 0;
  const int nn = I(n), ld = Ld(lda);
  if (n > 0) scipy_spotri_(ColumnUplo(lower), &nn, a, &ld, &info, 1);
  return info;
}
int Potri(bool lower, int64_t n, double* a, int64_t lda) {
  int info = 0;
  const int nn = I(n), ld = Ld(lda);
  if (n > 0) scipy_dpotri_(ColumnUplo(lower), &nn, a, &ld, &info, 1);
  return info;
}

int GetrfTransposed(int64_t n, float* a, int64_t lda, int32_t* ipiv) {
  int info = 0;
  const int nn = I(n), ld = Ld(lda);
  if (n > 0) scipy_sgetrf_(&nn, &nn, a, &ld, ipiv, &info);
  return info;
}
int GetrfTransposed(int64_t n, double* a, int64_t lda, int32_t* ipiv) {
  int info = 0;
  const int nn = I(n), ld = Ld(lda);
  if (n > 0) scipy_dgetrf_(&nn, &nn, a, &ld, ipiv, &info);
  return info;
}
int GetriTransposed(int64_t n, float* a, int64_t lda, const int32_t* ipiv) {
  return CallGetri(scipy_sgetri_, n, a, lda, ipiv);
}
int GetriTransposed(int64_t n, double* a, int64_t lda, const int32_t* ipiv) {
  return CallGetri(scipy_dgetri_, n, a, lda, ipiv);
}

void Lq(int64_t m, int64_t n, float* a, int64_t lda, float* tau) { CallGeqrf(scipy_sgeqrf_, m, n, a, lda, tau); }
void Lq(int64_t m, int64_t n, double* a, int64_t lda, double* tau) { CallGeqrf(scipy_dgeqrf_, m, n, a, lda, tau); }
void LqOrthonormal(int64_t m, int64_t n, float* a, int64_t lda, const float* tau) {
  CallOrgqr(scipy_sorgqr_, m, n, a, lda, tau);
}
void LqOrthonormal(int64_t m, int64_t n, double* a, int64_t lda, const double* tau) {
  CallOrgqr(scipy_dorgqr_, m, n, a, lda, tau);
}

int Syevd(int64_t n, float* a, int64_t lda, float* w) { return CallSyevd(scipy_ssyevd_, n, a, lda, w); }
int Syevd(int64_t n, double* a, int64_t lda, double* w) { return CallSyevd(scipy_dsyevd_, n, a, lda, w); }

}  // namespace flowmod::ops::lapack
