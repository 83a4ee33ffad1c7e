// The float32 row kernels of moments_norm.h (LayerNorm over the last axis, InstanceNorm,
// GroupNorm), compiled once per target (see target_clones.h): their sums and their
// normalization run in float vectors as wide as the machine has.
#include "ops/cpu/moments_norm.h"

#include "ops/cpu/target_clones.h"

namespace flowmod::ops::moments {

FLOWMOD_TARGET_CLONES void ForwardRowRangeF(const Layout& l, double eps, Spread spread, const float* x,
                                            const float* gamma, const float* beta, float* y, float* mean_out,
                                            float* spread_out, int64_t lo, int64_t hi) {
  ForwardRowRange<float>(l, eps, spread, x, gamma, beta, y, mean_out, spread_out, lo, hi);
}

FLOWMOD_TARGET_CLONES void BackwardRowRangeF(const Layout& l, double eps, Spread spread, const float* x,
                                             const float* gamma, const float* saved_mean, const float* saved_spread,
                                             const float* dy, float* dx, OpReq req_dx, float* acc_gamma,
                                             float* acc_beta, int64_t lo, int64_t hi) {
  BackwardRowRange<float>(l, eps, spread, x, gamma, saved_mean, saved_spread, dy, dx, req_dx, acc_gamma, acc_beta,
                          lo, hi);
}

}  // namespace flowmod::ops::moments
