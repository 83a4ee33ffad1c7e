// The kernel shared by the normalizations that subtract a mean and divide by a standard
// deviation computed over part of each sample (InstanceNorm, LayerNorm, GroupNorm), then scale
// and shift by learned parameters.
//
// The data is viewed as (outer, k, inner): the statistics of each (o, i) are taken over its
// k elements x[o, :, i]. The scale and shift of an element come either from its position
// along k (LayerNorm: gamma has one entry per channel of the normalized axis) or from its
// row o, as gamma[o % params] (InstanceNorm: one per channel; GroupNorm: one per group).
// Sums run in double whatever the element type.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"
#include "ops/parallel.h"

namespace flowmod::ops::moments {

struct Layout {
  int64_t outer = 1, k = 1, inner = 1;
  bool param_along_k = false;  // else gamma[o % params]
  int64_t params = 1;
  int64_t ParamIndex(int64_t o, int64_t kk) const { return param_along_k ? kk : o % params; }
};

// What the second statistic output holds: the variance (InstanceNorm's "var") or the
// standard deviation sqrt(var + eps) (LayerNorm's and GroupNorm's "std").
enum class Spread { kVariance, kStd };

// Sums f(j) for j in [0, n) in double, in eight independent partial sums: each lane of the
// accumulator is its own running sum, so the compiler keeps them in vector registers without
// reordering any addition.
template <class F>
double Sum8(int64_t n, F f) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; ++u) acc[u] += f(j + u);
  double rest = 0;
  for (; j < n; ++j) rest += f(j);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + rest;
}

// Forward over contiguous rows (inner == 1, as LayerNorm over the last axis, InstanceNorm and
// GroupNorm have it): the statistics in double, the normalization in the element type's
// arithmetic (float for float32 and float16), loops that vectorize; large inputs split their
// rows across the cores.
template <class T>
void ForwardRowRange(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* beta, T* y,
                     T* mean_out, T* spread_out, int64_t lo, int64_t hi) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const double n = static_cast<double>(l.k);
  for (int64_t o = lo; o < hi; ++o) {
    const T* xo = x + o * l.k;
    T* yo = y + o * l.k;
    const double mean = Sum8(l.k, [xo](int64_t j) { return static_cast<double>(xo[j]); }) / n;
    const double var = Sum8(l.k, [xo, mean](int64_t j) {
                         const double d = static_cast<double>(xo[j]) - mean;
                         return d * d;
                       }) / n;
    const double sd = std::sqrt(var + eps);
    mean_out[o] = static_cast<T>(mean);
    spread_out[o] = static_cast<T>(spread == Spread::kStd ? sd : var);
    const A m = static_cast<A>(mean), inv = static_cast<A>(1 / sd);
    if (l.param_along_k) {
      for (int64_t j = 0; j < l.k; ++j)
        yo[j] = static_cast<T>((static_cast<A>(xo[j]) - m) * inv * static_cast<A>(gamma[j]) +
                               static_cast<A>(beta[j]));
    } else {
      const int64_t p = o % l.params;
      const A scale = inv * static_cast<A>(gamma[p]), shift = static_cast<A>(beta[p]) - m * scale;
      for (int64_t j = 0; j < l.k; ++j) yo[j] = static_cast<T>(static_cast<A>(xo[j]) * scale + shift);
    }
  }
}

template <class T>
void ForwardRows(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* beta, T* y,
                 T* mean_out, T* spread_out) {
  // Rows are independent: a large input (each part at least 64k elements) splits across cores.
  const int64_t total = l.outer * l.k;
  const int parts = static_cast<int>(std::min<int64_t>({parallel::Cores(), l.outer, total >> 16}));
  parallel::For(l.outer, std::max(parts, 1), [&](int64_t lo, int64_t hi) {
    ForwardRowRange(l, eps, spread, x, gamma, beta, y, mean_out, spread_out, lo, hi);
  });
}

template <class T>
void Forward(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* beta, T* y,
             T* mean_out, T* spread_out) {
  if (l.inner == 1) {
    ForwardRows(l, eps, spread, x, gamma, beta, y, mean_out, spread_out);
    return;
  }
  std::vector<double> mean(l.inner), sq(l.inner);
  const double n = static_cast<double>(l.k);
  for (int64_t o = 0; o < l.outer; ++o) {
    const T* xo = x + o * l.k * l.inner;
    T* yo = y + o * l.k * l.inner;
    std::fill(mean.begin(), mean.end(), 0.0);
    std::fill(sq.begin(), sq.end(), 0.0);
    for (int64_t kk = 0; kk < l.k; ++kk)
      for (int64_t i = 0; i < l.inner; ++i) mean[i] += static_cast<double>(xo[kk * l.inner + i]);
    for (auto& m : mean) m /= n;
    // The variance from the centred values, not E[x^2] - E[x]^2, which cancels.
    for (int64_t kk = 0; kk < l.k; ++kk)
      for (int64_t i = 0; i < l.inner; ++i) {
        const double d = static_cast<double>(xo[kk * l.inner + i]) - mean[i];
        sq[i] += d * d;
      }
    for (int64_t i = 0; i < l.inner; ++i) {
      const double var = sq[i] / n;
      const double sd = std::sqrt(var + eps);
      mean_out[o * l.inner + i] = static_cast<T>(mean[i]);
      spread_out[o * l.inner + i] = static_cast<T>(spread == Spread::kStd ? sd : var);
      sq[i] = 1 / sd;  // reused as the inverse standard deviation
    }
    for (int64_t kk = 0; kk < l.k; ++kk) {
      const int64_t p = l.ParamIndex(o, kk);
      const double g = static_cast<double>(gamma[p]), b = static_cast<double>(beta[p]);
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t j = kk * l.inner + i;
        yo[j] = static_cast<T>((static_cast<double>(xo[j]) - mean[i]) * sq[i] * g + b);
      }
    }
  }
}

// With xhat = (x - mean) / sd and dxhat = dy * gamma, over the k elements of each (o, i):
// dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sd; dgamma sums dy * xhat and
// dbeta sums dy over the elements that share the parameter.
template <class T>
void Backward(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* saved_mean,
              const T* saved_spread, const T* dy, T* dx, OpReq req_dx, T* dgamma, OpReq req_gamma, T* dbeta,
              OpReq req_beta, int64_t num_params) {
  std::vector<double> acc_gamma(num_params, 0.0), acc_beta(num_params, 0.0);
  std::vector<double> mean(l.inner), invsd(l.inner), sum_d(l.inner), sum_dx(l.inner);
  const double n = static_cast<double>(l.k);
  for (int64_t o = 0; o < l.outer; ++o) {
    const int64_t base = o * l.k * l.inner;
    for (int64_t i = 0; i < l.inner; ++i) {
      mean[i] = static_cast<double>(saved_mean[o * l.inner + i]);
      const double s = static_cast<double>(saved_spread[o * l.inner + i]);
      invsd[i] = spread == Spread::kStd ? 1 / s : 1 / std::sqrt(s + eps);
      sum_d[i] = sum_dx[i] = 0;
    }
    for (int64_t kk = 0; kk < l.k; ++kk) {
      const int64_t p = l.ParamIndex(o, kk);
      const double g = static_cast<double>(gamma[p]);
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t j = base + kk * l.inner + i;
        const double xhat = (static_cast<double>(x[j]) - mean[i]) * invsd[i];
        const double d = static_cast<double>(dy[j]);
        sum_d[i] += d * g;
        sum_dx[i] += d * g * xhat;
        acc_gamma[p] += d * xhat;
        acc_beta[p] += d;
      }
    }
    if (req_dx == OpReq::kNull) continue;
    for (int64_t kk = 0; kk < l.k; ++kk) {
      const double g = static_cast<double>(gamma[l.ParamIndex(o, kk)]);
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t j = base + kk * l.inner + i;
        const double xhat = (static_cast<double>(x[j]) - mean[i]) * invsd[i];
        const double v = (static_cast<double>(dy[j]) * g - sum_d[i] / n - xhat * sum_dx[i] / n) * invsd[i];
        Store(dx[j], static_cast<T>(v), req_dx);
      }
    }
  }
  for (int64_t p = 0; p < num_params; ++p) {
    if (req_gamma != OpReq::kNull) Store(dgamma[p], static_cast<T>(acc_gamma[p]), req_gamma);
    if (req_beta != OpReq::kNull) Store(dbeta[p], static_cast<T>(acc_beta[p]), req_beta);
  }
}

}  // namespace flowmod::ops::moments
