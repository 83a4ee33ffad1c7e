// float32 matrix products through oneDNN's matmul (the onednn-cpu-gomp wheel), where the build
// has it (FLOWMOD_WITH_ONEDNN): its kernels are JIT-compiled for the machine and run small
// products (an RNN step: 32 x 800 x 200) about three times and large ones about 15% faster
// than OpenBLAS on one thread. oneDNN runs each product on the calling thread; blas.cc splits
// large products across the engine's workers as it does for OpenBLAS.
#pragma once

#include <cstdint>
#include <memory>

namespace flowmod::ops::dnnl_gemm {

// Whether this build has oneDNN.
bool Available();

// C = op(A) · op(B) (+ C when accumulate), row-major with row strides lda, ldb, ldc, on the
// calling thread. Returns false (having done nothing) when oneDNN is not available.
bool Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, bool accumulate, float* c, int64_t ldc);

// A product whose B and shape stay fixed while A and C change, as in every step of an RNN:
// B is copied once into the layout oneDNN's kernel reads (the copy is this object's), so no
// step repacks it. Only a build with oneDNN constructs one.
class PackedB {
 public:
  // op(A) is m x k (row stride lda), op(B) k x n (tb: B is stored n x k; row stride ldb), C
  // m x n (row stride ldc).
  PackedB(int64_t m, int64_t n, int64_t k, int64_t lda, bool tb, const float* b, int64_t ldb, int64_t ldc,
          bool accumulate);
  ~PackedB();
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;

  // C = A · op(B) (+ C), on the calling thread.
  void Run(const float* a, float* c) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowmod::ops::dnnl_gemm
