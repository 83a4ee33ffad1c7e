// Softmax along one axis and its gradient, shared by softmax, log_softmax, softmin,
// SoftmaxActivation and SoftmaxOutput. An array is viewed as (outer, n, inner) with the
// softmax axis in the middle; when inner > 1 the loops run over the contiguous inner
// positions, keeping one running maximum and sum per position.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "ops/cpu/fast_math.h"
#include "ops/op_util.h"

namespace flowmod::ops::softmax {

// Sums and exponentials in float for float16 and float32, in double when either side is double.
template <class A, class B>
using Acc = std::conditional_t<std::is_same_v<A, double> || std::is_same_v<B, double>, double, float>;

struct View {
  int64_t outer = 1, n = 1, inner = 1;
};

// `shape` seen with `axis` in the middle.
inline View AxisView(const Shape& shape, int axis) {
  View v;
  for (int i = 0; i < axis; ++i) v.outer *= shape[i];
  v.n = shape.empty() ? 1 : shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) v.inner *= shape[i];
  return v;
}

// Softmax of one contiguous row of n values (of -x for kNeg) into floats, written to
// vectorize: the max and the sum in kLanes lanes, the exponentials without library calls.
// Below -87 the exponential underflows to 0, as std::exp's does; NaN stays NaN. Always
// inlined, so that it is compiled for each target clone of FloatRows.
template <bool kNeg, class DType>
[[gnu::always_inline]] inline void FloatRow(const DType* x, float* y, int64_t n) {
  constexpr int kLanes = 16;
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  auto val = [](DType v) { return kNeg ? -static_cast<float>(v) : static_cast<float>(v); };
  float lane[kLanes];
  for (float& m : lane) m = kLowest;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      const float a = val(x[j + k]);
      lane[k] = lane[k] > a ? lane[k] : a;
    }
  float mx = kLowest;
  for (float m : lane) mx = std::max(mx, m);
  for (; j < n; ++j) mx = std::max(mx, val(x[j]));
  for (j = 0; j < n; ++j) {
    const float d = val(x[j]) - mx;
    y[j] = d != d ? d : d < -87.0f ? 0.0f : ExpFloat(d);
  }
  for (float& s : lane) s = 0;
  for (j = 0; j + kLanes <= n; j += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] += y[j + k];
  float sum = 0;
  for (float s : lane) sum += s;
  for (; j < n; ++j) sum += y[j];
  for (j = 0; j < n; ++j) y[j] /= sum;
}

// FloatRow over `rows` rows of float data (softmin with negate), bound by its exponentials: in
// the machine's widest vectors (softmax_kernel.cc, see target_clones.h).
void FloatRows(const float* x, float* y, int64_t rows, int64_t n, bool negate);

// out = softmax(x / temperature) along the middle axis, with x = -in for softmin (kNeg) and
// the logarithm of it for log_softmax (kLog). `length`, when not null, holds one count per
// (outer, inner) position: only the first `length` entries along the axis take part, and the
// others are set to 0.
template <bool kLog, bool kNeg, class DType, class OType, class LType>
void Forward(const DType* in, OType* out, View v, double temperature, const LType* length) {
  using A = Acc<DType, OType>;
  const A t = static_cast<A>(temperature);
  const bool scaled = temperature != 1.0;
  // The shifted, scaled input; MXNet divides by the temperature rather than multiplying.
  auto val = [](DType x) { return kNeg ? -static_cast<A>(x) : static_cast<A>(x); };
  auto arg = [&](A x, A mx) { return scaled ? (x - mx) / t : x - mx; };
  constexpr A kLowest = -std::numeric_limits<A>::infinity();
  // Exponentials can be kept in `out` and scaled afterwards when it holds them exactly.
  constexpr bool kKeep = std::is_same_v<OType, A>;
  const int64_t n = v.n, inner = v.inner;
  if (n == 0) return;

  if (length != nullptr) {
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const DType* x = in + o * n * inner + i;
        OType* y = out + o * n * inner + i;
        const int64_t len = std::clamp<int64_t>(static_cast<int64_t>(length[o * inner + i]), 0, n);
        A mx = kLowest;
        for (int64_t j = 0; j < len; ++j) mx = std::max(mx, val(x[j * inner]));
        A sum = 0;
        for (int64_t j = 0; j < len; ++j) sum += std::exp(arg(val(x[j * inner]), mx));
        const A log_sum = std::log(sum);
        for (int64_t j = 0; j < len; ++j) {
          const A a = arg(val(x[j * inner]), mx);
          y[j * inner] = static_cast<OType>(kLog ? a - log_sum : std::exp(a) / sum);
        }
        for (int64_t j = len; j < n; ++j) y[j * inner] = OType(0);
      }
    }
    return;
  }

  if constexpr (std::is_same_v<A, float> && kKeep && !kLog) {
    if (inner == 1 && !scaled) {
      if constexpr (std::is_same_v<DType, float>) {
        FloatRows(in, out, v.outer, n, kNeg);
      } else {
        for (int64_t o = 0; o < v.outer; ++o) FloatRow<kNeg>(in + o * n, out + o * n, n);
      }
      return;
    }
  }

  if (inner == 1) {
    for (int64_t o = 0; o < v.outer; ++o) {
      const DType* x = in + o * n;
      OType* y = out + o * n;
      A mx = kLowest;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, val(x[j]));
      A sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        const A e = std::exp(arg(val(x[j]), mx));
        sum += e;
        if constexpr (kKeep && !kLog) y[j] = e;
      }
      if constexpr (kLog) {
        const A log_sum = std::log(sum);
        for (int64_t j = 0; j < n; ++j) y[j] = static_cast<OType>(arg(val(x[j]), mx) - log_sum);
      } else if constexpr (kKeep) {
        for (int64_t j = 0; j < n; ++j) y[j] /= sum;
      } else {
        for (int64_t j = 0; j < n; ++j) y[j] = static_cast<OType>(std::exp(arg(val(x[j]), mx)) / sum);
      }
    }
    return;
  }

  std::vector<A> mx(inner), sum(inner);
  for (int64_t o = 0; o < v.outer; ++o) {
    const DType* x = in + o * n * inner;
    OType* y = out + o * n * inner;
    std::fill(mx.begin(), mx.end(), kLowest);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i) mx[i] = std::max(mx[i], val(x[j * inner + i]));
    std::fill(sum.begin(), sum.end(), A(0));
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < inner; ++i) {
        const A e = std::exp(arg(val(x[j * inner + i]), mx[i]));
        sum[i] += e;
        if constexpr (kKeep && !kLog) y[j * inner + i] = e;
      }
    }
    if constexpr (kLog) {
      for (int64_t i = 0; i < inner; ++i) sum[i] = std::log(sum[i]);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i)
          y[j * inner + i] = static_cast<OType>(arg(val(x[j * inner + i]), mx[i]) - sum[i]);
    } else if constexpr (kKeep) {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i) y[j * inner + i] /= sum[i];
    } else {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i)
          y[j * inner + i] = static_cast<OType>(std::exp(arg(val(x[j * inner + i]), mx[i])) / sum[i]);
    }
  }
}

// The gradient of Forward from its output y and the head gradient g:
//   softmax:     y * (g - sum(g * y)) / temperature
//   log_softmax: (g - exp(y) * sum(g)) / temperature
// negated for softmin, stored into `igrad` under `req`; zero past `length`.
template <bool kLog, bool kNeg, class DType, class OType, class LType>
void Backward(const OType* out, const OType* og, DType* igrad, OpReq req, View v, double temperature,
              const LType* length) {
  using A = Acc<DType, OType>;
  if (req == OpReq::kNull || v.n == 0) return;
  const A t = static_cast<A>(temperature);
  const bool scaled = temperature != 1.0;
  auto term = [](A g, A y) { return kLog ? g : g * y; };
  auto grad = [&](A g, A y, A sum) {
    A r = kLog ? g - std::exp(y) * sum : y * (g - sum);
    if (scaled) r /= t;
    return static_cast<DType>(kNeg ? -r : r);
  };
  const int64_t n = v.n, inner = v.inner;

  if (length != nullptr || inner == 1) {
    for (int64_t o = 0; o < v.outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t base = o * n * inner + i;
        const OType* y = out + base;
        const OType* g = og + base;
        DType* gx = igrad + base;
        const int64_t len =
            length == nullptr ? n : std::clamp<int64_t>(static_cast<int64_t>(length[o * inner + i]), 0, n);
        A sum = 0;
        for (int64_t j = 0; j < len; ++j) sum += term(static_cast<A>(g[j * inner]), static_cast<A>(y[j * inner]));
        for (int64_t j = 0; j < len; ++j)
          Store(gx[j * inner], grad(static_cast<A>(g[j * inner]), static_cast<A>(y[j * inner]), sum), req);
        for (int64_t j = len; j < n; ++j) Store(gx[j * inner], DType(0), req);
      }
    }
    return;
  }

  std::vector<A> sum(inner);
  for (int64_t o = 0; o < v.outer; ++o) {
    const int64_t base = o * n * inner;
    const OType* y = out + base;
    const OType* g = og + base;
    DType* gx = igrad + base;
    std::fill(sum.begin(), sum.end(), A(0));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i)
        sum[i] += term(static_cast<A>(g[j * inner + i]), static_cast<A>(y[j * inner + i]));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = j * inner + i;
        Store(gx[k], grad(static_cast<A>(g[k]), static_cast<A>(y[k]), sum[i]), req);
      }
  }
}

}  // namespace flowmod::ops::softmax
