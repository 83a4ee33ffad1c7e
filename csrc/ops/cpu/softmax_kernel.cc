// The float softmax rows of softmax_kernel.h, compiled once per target (see target_clones.h).
#include "ops/cpu/softmax_kernel.h"

#include "ops/cpu/target_clones.h"

namespace flowmod::ops::softmax {

FLOWMOD_TARGET_CLONES void FloatRows(const float* x, float* y, int64_t rows, int64_t n, bool negate) {
  for (int64_t o = 0; o < rows; ++o) {
    if (negate) FloatRow<true>(x + o * n, y + o * n, n);
    else FloatRow<false>(x + o * n, y + o * n, n);
  }
}

}  // namespace flowmod::ops::softmax
