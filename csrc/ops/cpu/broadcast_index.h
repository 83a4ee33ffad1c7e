// Walking an output shape while following where each element comes from in an input that
// broadcasts to it (numpy's rules: shapes aligned on the right, 1 stretches), and walking an
// array through arbitrary strides. Shared by the broadcast and layout operators.
#pragma once

#include <cstdint>
#include <vector>

#include "ops/op_registry.h"

namespace flowmod::ops::bcast {

// Row-major strides of `shape`, in elements.
inline std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// Strides of `in` (in elements) seen from an output of shape `out`: 0 along the axes `in`
// broadcasts along (its size 1, or missing on the left).
inline std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const size_t i = in.size() - 1 - k, o = out.size() - 1 - k;
    strides[o] = in[i] == 1 ? 0 : stride;
    stride *= in[i];
  }
  return strides;
}

// Calls f(i, offset) for every element i of an array of shape `shape`, in row-major order,
// with offset = sum of index[d] * strides[d].
template <class F>
void ForEachOffset(const Shape& shape, const std::vector<int64_t>& strides, F&& f) {
  const int64_t n = NumElements(shape);
  if (n == 0) return;
  const size_t nd = shape.size();
  if (nd == 0) {
    f(int64_t{0}, int64_t{0});
    return;
  }
  std::vector<int64_t> index(nd, 0);
  const int64_t inner = shape[nd - 1], inner_stride = strides[nd - 1];
  int64_t offset = 0;
  for (int64_t base = 0; base < n; base += inner) {
    for (int64_t i = 0; i < inner; ++i) f(base + i, offset + i * inner_stride);
    // Next row: an odometer over the outer axes.
    for (size_t d = nd - 1; d-- > 0;) {
      offset += strides[d];
      if (++index[d] < shape[d]) break;
      offset -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace flowmod::ops::bcast
