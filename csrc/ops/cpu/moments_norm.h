// The kernel shared by the normalizations that subtract a mean and divide by a standard
// deviation computed over part of each sample (InstanceNorm, LayerNorm, GroupNorm), then scale
// and shift by learned parameters.
//
// The data is viewed as (outer, k, inner): the statistics of each (o, i) are taken over its
// k elements x[o, :, i]. The scale and shift of an element come either from its position
// along k (LayerNorm: gamma has one entry per channel of the normalized axis) or from its
// row o, as gamma[o % params] (InstanceNorm: one per channel; GroupNorm: one per group).
// Sums run in double, except over the rows of float32 data, which sum in float lanes (RowSum).
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

// Sums f(j) for j in [0, n) in S, in kLanes independent partial sums: each lane of the
// accumulator is its own running sum, so the compiler keeps them in vector registers without
// reordering any addition.
template <class S = double, int kLanes = 8, class F>
[[gnu::always_inline]] inline S LaneSum(int64_t n, F f) {
  S acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int u = 0; u < kLanes; ++u) acc[u] += f(j + u);
  S rest = 0;
  for (; j < n; ++j) rest += f(j);
  for (int w = kLanes / 2; w > 0; w /= 2)
    for (int u = 0; u < w; ++u) acc[u] += acc[u + w];
  return acc[0] + rest;
}

template <class F>
[[gnu::always_inline]] inline double Sum8(int64_t n, F f) {
  return LaneSum<double, 8>(n, f);
}

// The type the row kernels sum in: float for float32 rows, in 16 lanes (two AVX2 vectors, one
// AVX-512 vector), as PyTorch's CPU kernels do; double otherwise. A row of n float32 elements
// then carries a relative rounding error of about n / 16 * 2^-24 in its sums (6e-6 at n = 1024).
template <class T>
using RowSum = std::conditional_t<std::is_same_v<T, float>, float, double>;

// Forward over contiguous rows (inner == 1, as LayerNorm over the last axis, InstanceNorm and
// GroupNorm have it): the statistics in double, the normalization in the element type's
// arithmetic (float for float32 and float16), loops that vectorize; large inputs split their
// rows across the cores.
template <class T>
[[gnu::always_inline]] inline void ForwardRowRange(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* beta, T* y,
                     T* mean_out, T* spread_out, int64_t lo, int64_t hi) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  using S = RowSum<T>;
  const double n = static_cast<double>(l.k);
  for (int64_t o = lo; o < hi; ++o) {
    const T* xo = x + o * l.k;
    T* yo = y + o * l.k;
    const double mean = static_cast<double>(LaneSum<S, 16>(l.k, [xo](int64_t j) { return static_cast<S>(xo[j]); })) / n;
    const S ms = static_cast<S>(mean);
    const double var = static_cast<double>(LaneSum<S, 16>(l.k, [xo, ms](int64_t j) {
                         const S d = static_cast<S>(xo[j]) - ms;
                         return d * d;
                       })) / n;
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

// The float32 row kernels, compiled once per vector width (moments_rows.cc, target_clones.h).
void ForwardRowRangeF(const Layout& l, double eps, Spread spread, const float* x, const float* gamma,
                      const float* beta, float* y, float* mean_out, float* spread_out, int64_t lo, int64_t hi);
void BackwardRowRangeF(const Layout& l, double eps, Spread spread, const float* x, const float* gamma,
                       const float* saved_mean, const float* saved_spread, const float* dy, float* dx, OpReq req_dx,
                       float* acc_gamma, float* acc_beta, int64_t lo, int64_t hi);

template <class T>
void ForwardRows(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* beta, T* y,
                 T* mean_out, T* spread_out) {
  // Rows are independent: a large input (each part at least 64k elements) splits across cores.
  const int64_t total = l.outer * l.k;
  const int parts = static_cast<int>(std::min<int64_t>({parallel::Cores(), l.outer, total >> 16}));
  parallel::For(l.outer, std::max(parts, 1), [&](int64_t lo, int64_t hi) {
    if constexpr (std::is_same_v<T, float>) ForwardRowRangeF(l, eps, spread, x, gamma, beta, y, mean_out, spread_out, lo, hi);
    else ForwardRowRange(l, eps, spread, x, gamma, beta, y, mean_out, spread_out, lo, hi);
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
//
// Over contiguous rows (inner == 1) BackwardRowRange does rows [lo, hi): their dx, and their
// shares of dgamma and dbeta added into acc_gamma and acc_beta (double; l.k entries when the
// parameters run along k, else l.params). The row sums run in double in eight lanes, dx in the
// element type's arithmetic, as the forward's normalization.
template <class T>
[[gnu::always_inline]] inline void BackwardRowRange(const Layout& l, double eps, Spread spread, const T* x,
                                                    const T* gamma, const T* saved_mean, const T* saved_spread,
                                                    const T* dy, T* dx, OpReq req_dx, RowSum<T>* acc_gamma,
                                                    RowSum<T>* acc_beta, int64_t lo, int64_t hi) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  using S = RowSum<T>;
  const int64_t k = l.k;
  const double n = static_cast<double>(k);
  for (int64_t o = lo; o < hi; ++o) {
    const T* xo = x + o * k;
    const T* dyo = dy + o * k;
    const double mean = static_cast<double>(saved_mean[o]);
    const double s = static_cast<double>(saved_spread[o]);
    const double invsd = spread == Spread::kStd ? 1 / s : 1 / std::sqrt(s + eps);
    // sum_d = sum(dy * g), sum_dx = sum(dy * g * xhat).
    const S ms = static_cast<S>(mean), is = static_cast<S>(invsd);
    double sum_d = 0, sum_dx = 0;
    if (l.param_along_k) {
      constexpr int kLanes = 16;
      S ld[kLanes] = {}, lx[kLanes] = {};
      int64_t j = 0;
      for (; j + kLanes <= k; j += kLanes)
        for (int u = 0; u < kLanes; ++u) {
          const S xh = (static_cast<S>(xo[j + u]) - ms) * is;
          const S d = static_cast<S>(dyo[j + u]);
          const S dg = d * static_cast<S>(gamma[j + u]);
          ld[u] += dg;
          lx[u] += dg * xh;
          acc_gamma[j + u] += d * xh;
          acc_beta[j + u] += d;
        }
      for (; j < k; ++j) {
        const S xh = (static_cast<S>(xo[j]) - ms) * is;
        const S d = static_cast<S>(dyo[j]);
        const S dg = d * static_cast<S>(gamma[j]);
        sum_d += static_cast<double>(dg);
        sum_dx += static_cast<double>(dg * xh);
        acc_gamma[j] += d * xh;
        acc_beta[j] += d;
      }
      for (int w = kLanes / 2; w > 0; w /= 2)
        for (int u = 0; u < w; ++u) ld[u] += ld[u + w], lx[u] += lx[u + w];
      sum_d += static_cast<double>(ld[0]);
      sum_dx += static_cast<double>(lx[0]);
    } else {
      const int64_t p = o % l.params;
      const double g = static_cast<double>(gamma[p]);
      const double sdy = static_cast<double>(LaneSum<S, 16>(k, [dyo](int64_t j) { return static_cast<S>(dyo[j]); }));
      const double sdyx = static_cast<double>(LaneSum<S, 16>(k, [xo, dyo, ms, is](int64_t j) {
        return static_cast<S>(dyo[j]) * ((static_cast<S>(xo[j]) - ms) * is);
      }));
      acc_gamma[p] += sdyx;
      acc_beta[p] += sdy;
      sum_d = sdy * g;
      sum_dx = sdyx * g;
    }
    if (req_dx == OpReq::kNull) continue;
    T* dxo = dx + o * k;
    const A m = static_cast<A>(mean), inv = static_cast<A>(invsd);
    const A c_d = static_cast<A>(sum_d / n), c_x = static_cast<A>(sum_dx / n);
    // dx = (dy * g - sum_d / n - xhat * sum_dx / n) / sd
    auto value = [&](int64_t j, A g) {
      const A xh = (static_cast<A>(xo[j]) - m) * inv;
      return static_cast<T>((static_cast<A>(dyo[j]) * g - c_d - xh * c_x) * inv);
    };
    const bool add = req_dx == OpReq::kAdd;
    if (l.param_along_k) {
      if (add) for (int64_t j = 0; j < k; ++j) dxo[j] = static_cast<T>(dxo[j] + value(j, static_cast<A>(gamma[j])));
      else for (int64_t j = 0; j < k; ++j) dxo[j] = value(j, static_cast<A>(gamma[j]));
    } else {
      const A g = static_cast<A>(gamma[o % l.params]);
      if (add) for (int64_t j = 0; j < k; ++j) dxo[j] = static_cast<T>(dxo[j] + value(j, g));
      else for (int64_t j = 0; j < k; ++j) dxo[j] = value(j, g);
    }
  }
}

template <class T>
void BackwardRows(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* saved_mean,
                  const T* saved_spread, const T* dy, T* dx, OpReq req_dx, T* dgamma, OpReq req_gamma, T* dbeta,
                  OpReq req_beta, int64_t num_params) {
  // Rows split across cores as in the forward; each part sums its rows' parameter gradients
  // on its own, and the parts are added in order, so the result does not depend on timing.
  const int64_t total = l.outer * l.k;
  const int parts = std::max(1, static_cast<int>(std::min<int64_t>({parallel::Cores(), l.outer, total >> 16})));
  const int64_t width = l.param_along_k ? l.k : num_params;
  std::vector<RowSum<T>> acc(static_cast<size_t>(2 * width * parts), 0);
  const int64_t chunk = (l.outer + parts - 1) / parts;
  parallel::Run(parts, [&](int part) {
    const int64_t lo = part * chunk, hi = std::min(l.outer, lo + chunk);
    if (lo >= hi) return;
    RowSum<T>* ag = acc.data() + 2 * width * part;
    RowSum<T>* ab = ag + width;
    if constexpr (std::is_same_v<T, float>)
      BackwardRowRangeF(l, eps, spread, x, gamma, saved_mean, saved_spread, dy, dx, req_dx, ag, ab, lo, hi);
    else
      BackwardRowRange(l, eps, spread, x, gamma, saved_mean, saved_spread, dy, dx, req_dx, ag, ab, lo, hi);
  });
  for (int64_t p = 0; p < width; ++p) {
    double g = 0, b = 0;
    for (int part = 0; part < parts; ++part) {
      g += static_cast<double>(acc[static_cast<size_t>(2 * width * part + p)]);
      b += static_cast<double>(acc[static_cast<size_t>(2 * width * part + width + p)]);
    }
    if (req_gamma != OpReq::kNull) Store(dgamma[p], static_cast<T>(g), req_gamma);
    if (req_beta != OpReq::kNull) Store(dbeta[p], static_cast<T>(b), req_beta);
  }
}

template <class T>
void Backward(const Layout& l, double eps, Spread spread, const T* x, const T* gamma, const T* saved_mean,
              const T* saved_spread, const T* dy, T* dx, OpReq req_dx, T* dgamma, OpReq req_gamma, T* dbeta,
              OpReq req_beta, int64_t num_params) {
  if (l.inner == 1) {
    BackwardRows(l, eps, spread, x, gamma, saved_mean, saved_spread, dy, dx, req_dx, dgamma, req_gamma, dbeta,
                 req_beta, num_params);
    return;
  }
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
