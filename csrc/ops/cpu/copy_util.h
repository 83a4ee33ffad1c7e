// Copying whole arrays under an OpReq, for the operators whose forward or gradient is a copy
// (reshapes, identities) and the zero gradients of inputs that are only read for their shape.
#pragma once

#include <cstring>

#include "ops/op_registry.h"

namespace flowmod::ops::copy {

// dst = src, same size and type; nothing to do when they are one buffer (in place).
inline void Data(const TensorRef& src, const TensorRef& dst) {
  if (src.data != dst.data && src.size() > 0)
    std::memcpy(dst.data, src.data, static_cast<size_t>(src.size()) * DTypeSize(src.dtype));
}

// dst = src (kWrite), dst += src (kAdd), or nothing (kNull).
inline void WithReq(const TensorRef& src, const TensorRef& dst, OpReq req) {
  if (req == OpReq::kNull) return;
  if (req == OpReq::kWrite) {
    Data(src, dst);
    return;
  }
  FLOWMOD_DTYPE_SWITCH(dst.dtype, T, {
    const T* s = src.ptr<T>();
    T* d = dst.ptr<T>();
    const int64_t n = dst.size();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] + s[i]);
  });
}

// A zero gradient: zeros under kWrite; kAdd adds nothing.
inline void ZeroWithReq(const TensorRef& grad, OpReq req) {
  if (req == OpReq::kWrite && grad.size() > 0)
    std::memset(grad.data, 0, static_cast<size_t>(grad.size()) * DTypeSize(grad.dtype));
}

}  // namespace flowmod::ops::copy
