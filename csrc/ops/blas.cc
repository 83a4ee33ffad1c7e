#include "ops/blas.h"

#include "engine.h"
#include "ops/dnnl_gemm.h"
#include "ops/parallel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

extern "C" {
// From scipy-openblas32 (symbols prefixed scipy_, 32-bit integers).
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
void scipy_cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, float,
                       const float*, int, const float*, int, float, float*, int);
void scipy_cblas_dgemm(CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, int, int, int, double,
                       const double*, int, const double*, int, double, double*, int);
void scipy_openblas_set_num_threads(int);
int scipy_openblas_get_num_threads(void);
}

namespace flowmod::ops::blas {

namespace {

int Configure() {
  // The decision is documented in blas.h: the cores are shared out among the compute workers.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int workers = std::max(1, engine::Engine::Get()->NumWorkers(engine::DeviceId::Cpu(0),
                                                                    engine::Lane::kCompute));
  int threads = std::max(1, cores / workers);
  if (const char* env = std::getenv("FLOWMOD_BLAS_NTHREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1) threads = static_cast<int>(v);
  }
  scipy_openblas_set_num_threads(threads);
  return threads;
}

int Threads() {
  static const int threads = Configure();
  return threads;
}

int Checked(int64_t v) {
  // 32-bit BLAS: larger dimensions would wrap. Shape inference keeps arrays far below this,
  // so reaching it is a bug, reported as the operator's failure.
  if (v > std::numeric_limits<int>::max()) throw std::length_error("matrix dimension too large for BLAS");
  return static_cast<int>(v);
}

// A product of at least this many multiply-adds is worth splitting across threads.
constexpr int64_t kSplitWork = int64_t{1} << 21;

// Smaller float32 products stay on OpenBLAS, whose call costs less than oneDNN's.
constexpr int64_t kOneDnnWork = int64_t{1} << 15;

bool UseOneDnn() {
  static const bool use = [] {
    if (!dnnl_gemm::Available()) return false;
    const char* env = std::getenv("FLOWMOD_GEMM");
    return !(env && std::strcmp(env, "openblas") == 0);
  }();
  return use;
}

// How many parts to split an m x n x k product into: one per core, when BLAS itself runs one
// thread and the product is large enough. The parts no idle worker takes run on the caller,
// so a worker that is busy when the product starts still joins in once it is done.
int PartsFor(int64_t m, int64_t n, int64_t k, int cores) {
  if (Threads() != 1 || m * n * k < kSplitWork) return 1;
  const int64_t by_work = m * n * k / kSplitWork;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(cores, by_work)));
}

// One row-major product through `gemm` (scipy_cblas_sgemm or _dgemm). Leading dimensions
// are at least 1 even for empty matrices, as BLAS requires. A large product on otherwise idle
// cores is split into blocks of C's rows or columns, one per core.
template <class T, class Fn>
void CallGemm(Fn gemm, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  Threads();
  auto ld = [](int64_t v) { return Checked(std::max<int64_t>(v, 1)); };
  auto product = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const T* ap = ta ? a + m0 : a + m0 * lda;  // rows m0.. of op(A)
    const T* bp = tb ? b + n0 * ldb : b + n0;  // columns n0.. of op(B)
    if constexpr (std::is_same_v<T, float>) {
      // oneDNN computes C = op(A) op(B) (+ C); other alphas and betas are OpenBLAS's.
      if (UseOneDnn() && alpha == 1 && (beta == 0 || beta == 1) && k > 0 && (m1 - m0) * (n1 - n0) * k >= kOneDnnWork &&
          dnnl_gemm::Gemm(ta, tb, m1 - m0, n1 - n0, k, ap, ld(lda), bp, ld(ldb), beta == 1, c + m0 * ldc + n0,
                          ld(ldc)))
        return;
    }
    gemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
         Checked(m1 - m0), Checked(n1 - n0), Checked(k), alpha, ap, ld(lda), bp, ld(ldb), beta,
         c + m0 * ldc + n0, ld(ldc));
  };
  const int parts = PartsFor(m, n, k, parallel::Cores());
  if (parts <= 1) {
    product(0, m, 0, n);
    return;
  }
  // A block of rows reads all of op(B) (k x n), a block of columns all of op(A) (m x k): the
  // split leaves whole the smaller of the two, so that each core's operands stay in its cache.
  // A classifier's forward product (800 x 3000 x 200) took 3.0-3.5 ms split by columns
  // against 3.7-4.0 ms by rows, on 2 cores.
  const bool by_rows = m >= n;
  const int64_t extent = by_rows ? m : n;
  parallel::Run(parts, [&](int i) {
    const int64_t lo = extent * i / parts, hi = extent * (i + 1) / parts;
    if (by_rows) product(lo, hi, 0, n);
    else product(0, m, lo, hi);
  });
}

}  // namespace

int NumThreads() { return Threads(); }

const char* Float32Backend() { return UseOneDnn() ? "onednn" : "openblas"; }

template <typename T>
FixedB<T>::FixedB(int64_t m, int64_t n, int64_t k, int64_t lda, bool tb, const T* b, int64_t ldb, int64_t ldc,
                  bool accumulate, bool split)
    : m_(m), n_(n), k_(k), lda_(lda), ldb_(ldb), ldc_(ldc), tb_(tb), accumulate_(accumulate), b_(b) {
  (void)split;  // used only by the oneDNN packing below
  if constexpr (std::is_same_v<T, float>) {
#ifdef FLOWMOD_WITH_ONEDNN
    if (!UseOneDnn() || m == 0 || n == 0 || k == 0) return;
    // Column blocks, one per part, each packed for the worker that will run it; blocks are
    // multiples of 16 columns, the kernel's vector width.
    const int parts =
        split ? static_cast<int>(std::min<int64_t>(PartsFor(m, n, k, parallel::Cores()), std::max<int64_t>(1, n / 16)))
              : 1;
    for (int i = 0; i <= parts; ++i) bounds_.push_back(i == parts ? n : (n * i / parts) / 16 * 16);
    try {
      for (int i = 0; i < parts; ++i) {
        const int64_t n0 = bounds_[i], n1 = bounds_[i + 1];
        packed_.push_back(std::make_unique<dnnl_gemm::PackedB>(m, n1 - n0, k, lda, tb, tb ? b + n0 * ldb : b + n0,
                                                               ldb, ldc, accumulate));
      }
    } catch (const std::exception&) {
      // No kernel for this shape, or no memory for the packed copy: every Run is a Gemm.
      packed_.clear();
      bounds_.clear();
    }
#endif
  }
}

template <typename T>
FixedB<T>::~FixedB() = default;

template <typename T>
void FixedB<T>::Run(const T* a, T* c) const {
#ifdef FLOWMOD_WITH_ONEDNN
  if (!packed_.empty()) {
    if constexpr (std::is_same_v<T, float>) {
      const int parts = static_cast<int>(packed_.size());
      auto part = [&](int i) { packed_[i]->Run(a, c + bounds_[i]); };
      if (parts == 1) part(0);
      else parallel::Run(parts, part);
    }
    return;
  }
#endif
  Gemm(false, tb_, m_, n_, k_, T(1), a, lda_, b_, ldb_, accumulate_ ? T(1) : T(0), c, ldc_);
}

template class FixedB<float>;
template class FixedB<double>;

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  CallGemm(scipy_cblas_sgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  CallGemm(scipy_cblas_dgemm, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, _Float16 alpha, const _Float16* a,
          int64_t lda, const _Float16* b, int64_t ldb, _Float16 beta, _Float16* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  // Dense float copies of op(A) (m x k), op(B) (k x n) and C (m x n).
  std::vector<float> fa(static_cast<size_t>(m * k)), fb(static_cast<size_t>(k * n)), fc(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) fa[i * k + j] = static_cast<float>(ta ? a[j * lda + i] : a[i * lda + j]);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) fb[i * n + j] = static_cast<float>(tb ? b[j * ldb + i] : b[i * ldb + j]);
  const float fbeta = static_cast<float>(beta);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) fc[i * n + j] = fbeta == 0 ? 0.f : static_cast<float>(c[i * ldc + j]);
  Gemm(false, false, m, n, k, static_cast<float>(alpha), fa.data(), k, fb.data(), n, fbeta, fc.data(), n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = static_cast<_Float16>(fc[i * n + j]);
}

}  // namespace flowmod::ops::blas
