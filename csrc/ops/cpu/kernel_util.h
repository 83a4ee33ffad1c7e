// Kernel building blocks shared by several operator families.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <limits>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"

namespace flowmod::ops {

// Accumulation type of gradients that sum several terms: float16 sums in float, as MXNet's
// safe accumulation does.
template <class T>
using AccT = std::conditional_t<std::is_same_v<T, _Float16>, float, T>;

// Runs body(acc) on an accumulator holding the gradient's starting value (0 for kWrite, the
// array for kAdd) and stores the result in `grad`.
template <class T, class Body>
void Accumulate(T* grad, int64_t n, OpReq req, Body&& body) {
  if (req == OpReq::kNull) return;
  if constexpr (std::is_same_v<T, _Float16>) {
    std::vector<float> acc(n, 0.0f);
    if (req == OpReq::kAdd)
      for (int64_t i = 0; i < n; ++i) acc[i] = static_cast<float>(grad[i]);
    body(acc.data());
    for (int64_t i = 0; i < n; ++i) grad[i] = static_cast<T>(acc[i]);
  } else {
    if (req == OpReq::kWrite) std::fill(grad, grad + n, T(0));
    body(grad);
  }
}

// Converts a computed value to an element type; integer results of NaN or out-of-range
// values saturate instead of being undefined.
template <class O, class A>
O CastTo(A v) {
  if constexpr (std::is_same_v<O, bool>) {
    return v != A(0);
  } else if constexpr (std::is_integral_v<O> && std::is_floating_point_v<A>) {
    if (v != v) return O(0);
    if (v <= static_cast<A>(std::numeric_limits<O>::lowest())) return std::numeric_limits<O>::lowest();
    if (v >= static_cast<A>(std::numeric_limits<O>::max())) return std::numeric_limits<O>::max();
    return static_cast<O>(v);
  } else {
    return static_cast<O>(v);
  }
}

// Sums f(j) for j in [0, n) in double, in four interleaved partial sums: one running sum
// would wait on the previous addition at every element.
template <class F>
double Sum4(int64_t n, F f) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    s0 += f(j);
    s1 += f(j + 1);
    s2 += f(j + 2);
    s3 += f(j + 3);
  }
  for (; j < n; ++j) s0 += f(j);
  return (s0 + s1) + (s2 + s3);
}

// ---- Strided copies (layout operators) ----------------------------------------------------

// Row-major strides of `shape`, in elements.
inline std::vector<int64_t> Strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

// Calls row(dst, src, n, src_stride) for every innermost row of a row-major array of shape
// `shape` (dst: its offset there), where a second array is addressed from `base` with
// `strides` (src: the row's first offset there).
template <class Row>
void ForEachRow(const Shape& shape, const std::vector<int64_t>& strides, int64_t base, Row&& row) {
  const int64_t total = NumElements(shape);
  if (total == 0) return;
  const size_t nd = shape.size();
  if (nd == 0) {
    row(int64_t{0}, base, int64_t{1}, int64_t{0});
    return;
  }
  const int64_t inner = shape[nd - 1], inner_stride = strides[nd - 1];
  std::vector<int64_t> index(nd, 0);
  int64_t src = base;
  for (int64_t dst = 0; dst < total; dst += inner) {
    row(dst, src, inner, inner_stride);
    for (size_t d = nd - 1; d-- > 0;) {
      src += strides[d];
      if (++index[d] < shape[d]) break;
      src -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

// Strides of `in` (in elements) seen from an output of shape `out` that `in` broadcasts to
// (numpy's rules: shapes aligned on the right, 1 stretches): 0 along the broadcast axes.
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
  ForEachRow(shape, strides, 0, [&](int64_t dst, int64_t src, int64_t n, int64_t st) {
    for (int64_t j = 0; j < n; ++j) f(dst + j, src + j * st);
  });
}

// dst (contiguous, of shape `shape`) gets src read through `strides` from `base`.
template <class T>
void Gather(const T* src, const Shape& shape, const std::vector<int64_t>& strides, int64_t base,
            T* dst, OpReq req) {
  if (req == OpReq::kNull) return;
  ForEachRow(shape, strides, base, [&](int64_t o, int64_t s, int64_t n, int64_t st) {
    T* d = dst + o;
    const T* p = src + s;
    if (req == OpReq::kAdd) {
      for (int64_t j = 0; j < n; ++j) d[j] = static_cast<T>(d[j] + p[j * st]);
    } else if (st == 1) {
      std::copy(p, p + n, d);
    } else {
      for (int64_t j = 0; j < n; ++j) d[j] = p[j * st];
    }
  });
}

// The transpose of Gather: dst, read through `strides` from `base`, accumulates src
// (contiguous, of shape `shape`). Several elements of src may land on one of dst.
template <class A, class T>
void ScatterAdd(const T* src, const Shape& shape, const std::vector<int64_t>& strides, int64_t base,
                A* dst) {
  ForEachRow(shape, strides, base, [&](int64_t o, int64_t s, int64_t n, int64_t st) {
    const T* p = src + o;
    A* d = dst + s;
    for (int64_t j = 0; j < n; ++j) d[j * st] = static_cast<A>(d[j * st] + static_cast<A>(p[j]));
  });
}

// dst gets src (same size and type); nothing to do when the executor placed dst on src.
inline void CopyData(const TensorRef& src, const TensorRef& dst) {
  if (src.data != dst.data && src.size() > 0)
    std::memcpy(dst.data, src.data, static_cast<size_t>(src.size()) * DTypeSize(src.dtype));
}

// dst gets src under `req`: written, added to, or left alone.
inline void CopyWithReq(const TensorRef& src, const TensorRef& dst, OpReq req) {
  if (req == OpReq::kNull) return;
  if (req == OpReq::kWrite) {
    CopyData(src, dst);
    return;
  }
  FLOWMOD_DTYPE_SWITCH(dst.dtype, T, {
    const T* s = src.ptr<T>();
    T* d = dst.ptr<T>();
    const int64_t n = dst.size();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(d[i] + s[i]);
  });
}

// A zero gradient (of an input only read for its shape, or of a piecewise constant
// function): zeros under kWrite; kAdd adds nothing.
inline void ZeroWithReq(const TensorRef& grad, OpReq req) {
  if (req == OpReq::kWrite && grad.size() > 0)
    std::memset(grad.data, 0, static_cast<size_t>(grad.size()) * DTypeSize(grad.dtype));
}

// NaN test for any element type (integers are never NaN).
template <class T>
inline bool IsNan(T v) {
  if constexpr (std::is_integral_v<T>) return false;
  else return v != v;
}

// The gradient of an operator MXNet gives none to pass on (indices, comparisons, constants):
// zeros into every gradient asked for under kWrite; the others are left alone.
inline void ZeroGradients(const BackwardIO& io) {
  for (size_t i = 0; i < io.in_grads.size(); ++i) ZeroWithReq(io.in_grads[i], io.req[i]);
}

// A rank-0 array reduces as the one-element array it holds.
inline Shape AsReduceInput(const Shape& s) { return s.empty() ? Shape{1} : s; }

// (outer, n, inner) of an array seen along one axis (nullopt: the flattened array, n every
// element); the axis already validated, negative counting from the end.
inline void AxisExtents(const Shape& in, std::optional<int64_t> axis, int64_t* outer, int64_t* n, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  if (!axis) {
    *n = NumElements(in);
    return;
  }
  const int ndim = static_cast<int>(in.size());
  const int ax = static_cast<int>(*axis < 0 ? *axis + ndim : *axis);
  for (int i = 0; i < ax; ++i) *outer *= in[i];
  for (int i = ax + 1; i < ndim; ++i) *inner *= in[i];
  *n = in[ax];
}

}  // namespace flowmod::ops
