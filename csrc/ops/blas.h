// Matrix products, row-major: float32 through oneDNN's matmul where the build has it (see
// dnnl_gemm.h; products below 2^15 multiply-adds, alphas other than 1 and betas other than 0
// and 1 stay on OpenBLAS), everything else through OpenBLAS from the scipy-openblas32 wheel.
// The splitting below applies to both.
//
// Threads: an engine CPU device runs FLOWMOD_CPU_WORKER_NTHREADS compute workers (default:
// one per core), and independent operators (the gradients of different layers, the updates
// of different parameters) run on them at once. BLAS gets the cores divided among those
// workers: cores / workers threads per product (FLOWMOD_BLAS_NTHREADS overrides), so workers
// and BLAS threads never outnumber the cores. Splitting one product across threads that
// compete with busy workers is far worse than not splitting it: measured on 2 cores with both
// workers busy, a 256x64x32 product took 30 us on one BLAS thread and 450 us on two.
// But a chain of large products (a wide MLP, a convolution's GEMM) leaves the other workers
// idle; so when BLAS runs one thread per product, a product of at least 2^21 multiply-adds
// is split into blocks of C, one per core: the calling worker computes one, and compute
// workers with nothing else to run take the others while they wait (ops/parallel.h).
// OpenBLAS's own threading would not do: its thread count is process-wide, and its callers
// share one thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace flowmod::ops::dnnl_gemm {
class PackedB;
}

namespace flowmod::ops::blas {

// C = alpha * op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is k x n; lda, ldb and
// ldc are the row strides of A, B and C as stored.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
// float16 has no BLAS: converted to float32, multiplied, converted back.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, _Float16 alpha, const _Float16* a,
          int64_t lda, const _Float16* b, int64_t ldb, _Float16 beta, _Float16* c, int64_t ldc);

// `batch` products with the matrices `stride_*` elements apart.
template <typename T>
void GemmBatched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha,
                 const T* a, int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b,
                 T beta, T* c, int64_t ldc, int64_t stride_c) {
  for (int64_t i = 0; i < batch; ++i)
    Gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
         c + i * stride_c, ldc);
}

// The number of threads BLAS uses.
int NumThreads();

// Which library runs float32 products: "onednn" or "openblas" (FLOWMOD_GEMM=openblas keeps
// them on OpenBLAS in a build with oneDNN).
const char* Float32Backend();

// C = A · op(B) (+ C when accumulate) for many A and C of the same shapes and strides, with B
// fixed: an RNN's recurrent weights over its steps. op(A) is m x k (row stride lda), op(B)
// k x n (tb: B is stored n x k; row stride ldb), C m x n (row stride ldc). With oneDNN, a
// float32 B is packed once for its kernel (a large product in column blocks, one per core);
// otherwise every Run is a Gemm. B must not change while this object is in use.
template <typename T>
class FixedB {
 public:
  // split: whether a large product may run in column blocks on several cores (false when the
  // caller runs it inside a part of a split of its own: a Gemm there runs inline anyway).
  FixedB(int64_t m, int64_t n, int64_t k, int64_t lda, bool tb, const T* b, int64_t ldb, int64_t ldc,
         bool accumulate, bool split = true);
  ~FixedB();
  FixedB(const FixedB&) = delete;
  FixedB& operator=(const FixedB&) = delete;

  void Run(const T* a, T* c) const;

 private:
  int64_t m_, n_, k_, lda_, ldb_, ldc_;
  bool tb_, accumulate_;
  const T* b_;
  std::vector<int64_t> bounds_;  // the packed column blocks: block i is [bounds_[i], bounds_[i+1])
  std::vector<std::unique_ptr<dnnl_gemm::PackedB>> packed_;
};

extern template class FixedB<float>;
extern template class FixedB<double>;

}  // namespace flowmod::ops::blas
