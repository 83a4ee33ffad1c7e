// Pooling (1-D NCW and 2-D NCHW): max, avg, sum and lp, with MXNet 1.9's output sizes for the
// valid, full and same conventions, global pooling, and count_include_pad for avg.
//
// Windows follow MXNet: a window starts at o * stride - pad and is clipped to the input. For
// avg, the divisor is the window clipped only to the padded input (count_include_pad, the
// default) or to the input itself; max starts from the lowest finite value, so a window lying
// wholly in the padding gives that value. The max gradient goes to the first element of the
// window (row-major) that equals the output, as MXNet's CPU kernel routes it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

enum class PoolType { kMax, kAvg, kSum, kLp };
enum class Convention { kValid, kFull, kSame };

struct PoolAttrs : OpAttrs {
  std::vector<int64_t> kernel, stride, pad;  // empty kernel: global pooling of any rank
  PoolType type = PoolType::kMax;
  Convention convention = Convention::kValid;
  bool global_pool = false;
  int p_value = 1;
  bool count_include_pad = true;
  size_t layout_nd = 0;  // spatial dimensions named by layout; 0: any
};

std::shared_ptr<const OpAttrs> ParsePooling(const AttrMap& attrs) {
  const std::string op = "Pooling";
  CheckAttrs(op, attrs, {"kernel", "pool_type", "global_pool", "cudnn_off", "pooling_convention", "stride", "pad",
                         "p_value", "count_include_pad", "layout"});
  auto a = std::make_shared<PoolAttrs>();
  a->global_pool = GetBool(op, attrs, "global_pool", false);
  a->kernel = GetTuple(op, attrs, "kernel", {});
  const std::string type = GetEnum(op, attrs, "pool_type", {"max", "avg", "sum", "lp"}, "max");
  a->type = type == "max" ? PoolType::kMax : type == "avg" ? PoolType::kAvg : type == "sum" ? PoolType::kSum
                                                                                          : PoolType::kLp;
  const std::string conv = GetEnum(op, attrs, "pooling_convention", {"valid", "full", "same"}, "valid");
  a->convention = conv == "valid" ? Convention::kValid : conv == "full" ? Convention::kFull : Convention::kSame;
  GetBool(op, attrs, "cudnn_off", false);
  if (a->global_pool) {
    // The kernel, stride and padding are ignored: the window is the whole input.
    for (const char* key : {"stride", "pad"}) GetTuple(op, attrs, key, {});
    a->kernel.clear();
  } else {
    if (a->kernel.empty())
      throw OpArgumentError(op, "kernel", Has(attrs, "kernel") ? "'" + attrs.at("kernel") + "'" : "(missing)",
                            "(w,) or (h, w), unless global_pool=True");
    if (a->kernel.size() > 2)
      throw OpArgumentError(op, "kernel", ShapeString(a->kernel),
                            "(w,) or (h, w): 1-D (NCW) or 2-D (NCHW) pooling");
    for (int64_t k : a->kernel)
      if (k <= 0) throw OpArgumentError(op, "kernel", ShapeString(a->kernel), "every kernel size > 0");
    const size_t nd = a->kernel.size();
    a->stride = GetTuple(op, attrs, "stride", {});
    if (a->stride.empty()) a->stride.assign(nd, 1);
    a->pad = GetTuple(op, attrs, "pad", {});
    if (a->pad.empty()) a->pad.assign(nd, 0);
    if (a->stride.size() != nd)
      throw OpArgumentError(op, "stride", ShapeString(a->stride), std::to_string(nd) + " values, as many as kernel");
    if (a->pad.size() != nd)
      throw OpArgumentError(op, "pad", ShapeString(a->pad), std::to_string(nd) + " values, as many as kernel");
    for (int64_t s : a->stride)
      if (s <= 0) throw OpArgumentError(op, "stride", ShapeString(a->stride), "every stride > 0");
    for (int64_t p : a->pad)
      if (p < 0) throw OpArgumentError(op, "pad", ShapeString(a->pad), "every padding >= 0");
    if (a->convention == Convention::kSame) {
      if (nd != 1)
        throw OpArgumentError(op, "pooling_convention", "'same'", "'valid' or 'full' for 2-D pooling ('same' is 1-D only)");
      if (a->pad[0] != 0)
        throw OpArgumentError(op, "pad", ShapeString(a->pad), "no padding with pooling_convention='same'");
    }
  }
  const auto p = GetOptionalInt(op, attrs, "p_value");
  if (a->type == PoolType::kLp) {
    if (!p) throw OpArgumentError(op, "p_value", "None", "1, 2 or 3 with pool_type='lp'");
    if (*p < 1 || *p > 3) throw OpArgumentError(op, "p_value", std::to_string(*p), "1, 2 or 3");
    a->p_value = static_cast<int>(*p);
  }
  auto cip = attrs.find("count_include_pad");
  if (cip != attrs.end() && cip->second != "None") a->count_include_pad = GetBool(op, attrs, "count_include_pad", true);
  const std::string layout =
      GetEnum(op, attrs, "layout", {"None", "NCW", "NCHW", "NCDHW", "NWC", "NHWC", "NDHWC"}, "None");
  if (layout != "None") {
    if (layout != "NCW" && layout != "NCHW")
      throw OpArgumentError(op, "layout", "'" + layout + "'", "NCW or NCHW (the layouts supported on CPU)");
    const size_t nd = layout == "NCW" ? 1 : 2;
    if (!a->kernel.empty() && a->kernel.size() != nd)
      throw OpArgumentError(op, "layout", "'" + layout + "'",
                            std::string(a->kernel.size() == 1 ? "NCW" : "NCHW") + " for kernel " +
                                ShapeString(a->kernel));
    a->layout_nd = nd;
  }
  return a;
}

// Output size along one axis.
int64_t PooledSize(const PoolAttrs& a, int64_t size, int i) {
  const int64_t span = size + 2 * a.pad[i];
  switch (a.convention) {
    case Convention::kValid: return 1 + (span - a.kernel[i]) / a.stride[i];
    case Convention::kFull: return 1 + (span - a.kernel[i] + a.stride[i] - 1) / a.stride[i];
    case Convention::kSame: return (span + a.stride[i] - 1) / a.stride[i];
  }
  return 0;
}

void PoolingInferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const std::string op = "Pooling";
  const auto& a = static_cast<const PoolAttrs&>(attrs);
  if (in[0] == kUnknownShape) return;
  const Shape& d = in[0];
  // Rank: from the kernel, from layout for global pooling, else 3-D or 4-D data.
  const size_t want = !a.kernel.empty() ? a.kernel.size() + 2 : a.layout_nd != 0 ? a.layout_nd + 2 : 0;
  if ((want != 0 && d.size() != want) || (want == 0 && d.size() != 3 && d.size() != 4))
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(d),
                          want == 3   ? "a 3-D array (batch, channel, width) for 1-D pooling"
                          : want == 4 ? "a 4-D array (batch, channel, height, width) for 2-D pooling"
                                      : "a 3-D (NCW) or 4-D (NCHW) array");
  Shape o{d[0], d[1]};
  for (size_t i = 2; i < d.size(); ++i) {
    const int ax = static_cast<int>(i - 2);
    if (a.global_pool) {
      o.push_back(1);
    } else if (d[i] < 0) {
      o.push_back(-1);
    } else {
      if (a.kernel[ax] > d[i] + 2 * a.pad[ax])
        throw OpArgumentError(op, "kernel", ShapeString(a.kernel),
                              "a kernel no larger than the padded input: " + std::to_string(a.kernel[ax]) + " > " +
                                  std::to_string(d[i]) + " + 2 * pad " + std::to_string(a.pad[ax]) +
                                  " along spatial axis " + std::to_string(ax));
      o.push_back(PooledSize(a, d[i], ax));
    }
  }
  MergeShape(op, "output", out[0], o);
  Shape back = in[0];
  back[0] = out[0][0];
  back[1] = out[0][1];
  MergeShape(op, "data", in[0], back);
}

// Accumulation type: float16 sums in float.
template <typename T> struct Acc { using type = T; };
template <> struct Acc<_Float16> { using type = float; };

template <typename T>
T Lowest() {
  if constexpr (std::is_same_v<T, _Float16>) return static_cast<T>(-65504.0f);
  else return std::numeric_limits<T>::lowest();
}

// The windows of one axis: clipped start and end, and the avg divisor's factor.
struct Windows {
  std::vector<int64_t> start, end, count;
  Windows(int64_t out, int64_t size, int64_t k, int64_t s, int64_t p, bool include_pad)
      : start(out), end(out), count(out) {
    for (int64_t o = 0; o < out; ++o) {
      const int64_t lo = o * s - p;
      const int64_t hi_padded = std::min(lo + k, size + p);
      start[o] = std::max<int64_t>(lo, 0);
      end[o] = std::min(hi_padded, size);
      count[o] = include_pad ? hi_padded - lo : std::max<int64_t>(end[o] - start[o], 0);
    }
  }
};

struct PoolGeom {
  int64_t planes, H, W, Ho, Wo;
  Windows rows, cols;
  bool small_windows;  // every window fits in 8 x 8
};

PoolGeom Geometry(const PoolAttrs& a, const Shape& in, const Shape& out) {
  const bool one_d = in.size() == 3;
  const int64_t H = one_d ? 1 : in[2], W = in.back();
  const int64_t Ho = one_d ? 1 : out[2], Wo = out.back();
  int64_t kh = 1, kw, sh = 1, sw = 1, ph = 0, pw = 0;
  if (a.global_pool) {
    kh = H;
    kw = W;
  } else {
    kw = a.kernel.back();
    sw = a.stride.back();
    pw = a.pad.back();
    if (!one_d) kh = a.kernel[0], sh = a.stride[0], ph = a.pad[0];
  }
  return PoolGeom{in[0] * in[1], H, W, Ho, Wo, Windows(Ho, H, kh, sh, ph, a.count_include_pad),
                  Windows(Wo, W, kw, sw, pw, a.count_include_pad), kh <= 8 && kw <= 8};
}

template <typename A, int P>
A PowP(A v) {
  if constexpr (P == 1) return v;
  else if constexpr (P == 2) return v * v;
  else return v * v * v;
}

template <typename A, int P>
A RootP(A v) {
  if constexpr (P == 1) return v;
  else if constexpr (P == 2) return std::sqrt(v);
  else return std::cbrt(v);
}

// sum, avg (P = 1, divided) and lp (P = 1..3, not divided).
template <typename T, int P>
void SumPoolForward(const PoolGeom& g, const T* x, T* y, bool average) {
  using A = typename Acc<T>::type;
  for (int64_t n = 0; n < g.planes; ++n) {
    const T* in = x + n * g.H * g.W;
    T* out = y + n * g.Ho * g.Wo;
    for (int64_t oh = 0; oh < g.Ho; ++oh)
      for (int64_t ow = 0; ow < g.Wo; ++ow) {
        A sum = 0;
        for (int64_t h = g.rows.start[oh]; h < g.rows.end[oh]; ++h) {
          const T* r = in + h * g.W;
          for (int64_t w = g.cols.start[ow]; w < g.cols.end[ow]; ++w) sum += PowP<A, P>(static_cast<A>(r[w]));
        }
        A v;
        if (average) {
          const int64_t size = g.rows.count[oh] * g.cols.count[ow];
          v = size == 0 ? std::numeric_limits<A>::quiet_NaN() : sum / static_cast<A>(size);
        } else {
          v = RootP<A, P>(sum);
        }
        out[oh * g.Wo + ow] = static_cast<T>(v);
      }
  }
}

template <typename T>
void MaxPoolForward(const PoolGeom& g, const T* x, T* y) {
  for (int64_t n = 0; n < g.planes; ++n) {
    const T* in = x + n * g.H * g.W;
    T* out = y + n * g.Ho * g.Wo;
    for (int64_t oh = 0; oh < g.Ho; ++oh)
      for (int64_t ow = 0; ow < g.Wo; ++ow) {
        T best = Lowest<T>();
        for (int64_t h = g.rows.start[oh]; h < g.rows.end[oh]; ++h) {
          const T* r = in + h * g.W;
          for (int64_t w = g.cols.start[ow]; w < g.cols.end[ow]; ++w)
            if (r[w] > best) best = r[w];
        }
        out[oh * g.Wo + ow] = best;
      }
  }
}

// The gradient of each output goes to the first element of its window (row-major) equal to
// the output. Where a maximum lies is unpredictable, so branching on comparisons mispredicts
// most of the time: windows of at most 8 x 8 collect the matches as bits of a mask instead,
// (row, column) at bit row * 8 + column, and the lowest set bit is the first match. NaN never
// matches, and a window wholly in the padding (output the lowest value) may match nothing.
template <typename T>
void MaxPoolBackward(const PoolGeom& g, const T* x, const T* y, const T* dy, T* dx, bool small_windows) {
  for (int64_t n = 0; n < g.planes; ++n) {
    const T* in = x + n * g.H * g.W;
    T* grad = dx + n * g.H * g.W;
    const T* out = y + n * g.Ho * g.Wo;
    const T* og = dy + n * g.Ho * g.Wo;
    for (int64_t oh = 0; oh < g.Ho; ++oh) {
      const int64_t h0 = g.rows.start[oh], h1 = g.rows.end[oh];
      for (int64_t ow = 0; ow < g.Wo; ++ow) {
        const int64_t w0 = g.cols.start[ow], w1 = g.cols.end[ow];
        const T best = out[oh * g.Wo + ow];
        int64_t at = -1;
        if (small_windows) {
          uint64_t hits = 0;
          for (int64_t h = h0; h < h1; ++h) {
            const T* r = in + h * g.W;
            const int shift = static_cast<int>((h - h0) * 8 - w0);
            for (int64_t w = w0; w < w1; ++w) hits |= static_cast<uint64_t>(r[w] == best) << (shift + w);
          }
          if (hits != 0) {
            const int bit = __builtin_ctzll(hits);
            at = (h0 + (bit >> 3)) * g.W + w0 + (bit & 7);
          }
        } else {
          for (int64_t h = h0; h < h1 && at < 0; ++h) {
            const T* r = in + h * g.W;
            for (int64_t w = w0; w < w1; ++w)
              if (r[w] == best) {
                at = h * g.W + w;
                break;
              }
          }
        }
        if (at >= 0) grad[at] += og[oh * g.Wo + ow];
      }
    }
  }
}

// Max pooling whose windows tile the input without overlapping: kernel 2x2 (or 2 in 1-D),
// stride equal to the kernel, no padding, every window inside the input. Each input element
// lies in at most one window, so the backward pass writes every gradient element once instead
// of clearing the gradient and scattering into it, and both passes run over fixed-size
// windows in loops that vectorize. The results are those of the general kernels above: the
// same comparisons in the same (row-major) order; rows and columns past the last window get
// no gradient.
struct TiledMax {
  int kh = 0, kw = 0;  // 0: the windows overlap, are padded or are clipped
};

TiledMax TiledWindows(const PoolAttrs& a, const PoolGeom& g) {
  if (a.type != PoolType::kMax || a.global_pool) return {};
  const size_t nd = a.kernel.size();
  for (size_t i = 0; i < nd; ++i)
    if (a.pad[i] != 0 || a.stride[i] != a.kernel[i]) return {};
  const int64_t kh = nd == 2 ? a.kernel[0] : 1, kw = a.kernel.back();
  if (g.Ho * kh > g.H || g.Wo * kw > g.W) return {};
  return {static_cast<int>(kh), static_cast<int>(kw)};
}

template <int KH, int KW, typename T>
void MaxPoolTiledForward(const PoolGeom& g, const T* x, T* y) {
  const int64_t W = g.W, Ho = g.Ho, Wo = g.Wo;
  for (int64_t n = 0; n < g.planes; ++n) {
    const T* in = x + n * g.H * W;
    T* out = y + n * Ho * Wo;
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const T* r = in + oh * KH * W;
      T* o = out + oh * Wo;
      for (int64_t ow = 0; ow < Wo; ++ow) {
        T best = Lowest<T>();
        for (int i = 0; i < KH; ++i)
          for (int j = 0; j < KW; ++j) {
            const T v = r[i * W + ow * KW + j];
            best = v > best ? v : best;
          }
        o[ow] = best;
      }
    }
  }
}

// The gradient of each 2-wide window (of KH = 1 or 2 rows) goes to its first element equal
// to the output, picked by comparisons combined without branches so that the loop over
// windows vectorizes. kAdd: the gradient is added to dx (req add); else dx is overwritten.
template <int KH, bool kAdd, typename T>
void MaxPoolTiledBackward(const PoolGeom& g, const T* x, const T* y, const T* dy, T* dx) {
  static_assert(KH == 1 || KH == 2);
  const int64_t H = g.H, W = g.W, Ho = g.Ho, Wo = g.Wo;
  for (int64_t n = 0; n < g.planes; ++n) {
    const T* in = x + n * H * W;
    T* grad = dx + n * H * W;
    for (int64_t oh = 0; oh < Ho; ++oh) {
      const T* __restrict r0 = in + oh * KH * W;
      const T* __restrict r1 = r0 + (KH - 1) * W;
      T* __restrict d0 = grad + oh * KH * W;
      T* __restrict d1 = d0 + (KH - 1) * W;
      const T* __restrict out = y + (n * Ho + oh) * Wo;
      const T* __restrict og = dy + (n * Ho + oh) * Wo;
      for (int64_t ow = 0; ow < Wo; ++ow) {
        const T best = out[ow], gv = og[ow];
        const bool a = r0[2 * ow] == best, hb = r0[2 * ow + 1] == best;
        const bool b = !a & hb;
        const T va = a ? gv : T(0), vb = b ? gv : T(0);
        // 0 + gradient, not the gradient itself: the general kernel's sum, to the sign of zero.
        if constexpr (kAdd) {
          d0[2 * ow] += va;
          d0[2 * ow + 1] += vb;
        } else {
          d0[2 * ow] = T(0) + va;
          d0[2 * ow + 1] = T(0) + vb;
        }
        if constexpr (KH == 2) {
          const bool hc = r1[2 * ow] == best, he = r1[2 * ow + 1] == best;
          const bool c = !a & !hb & hc, e = !a & !hb & !hc & he;
          const T vc = c ? gv : T(0), ve = e ? gv : T(0);
          if constexpr (kAdd) {
            d1[2 * ow] += vc;
            d1[2 * ow + 1] += ve;
          } else {
            d1[2 * ow] = T(0) + vc;
            d1[2 * ow + 1] = T(0) + ve;
          }
        }
      }
      if (!kAdd)
        for (int i = 0; i < KH; ++i) std::fill(d0 + i * W + Wo * 2, d0 + (i + 1) * W, T(0));
    }
    if (!kAdd) std::fill(grad + Ho * KH * W, grad + H * W, T(0));
  }
}

template <typename T>
bool MaxPoolTiledForwardFor(const TiledMax& t, const PoolGeom& g, const T* x, T* y) {
  if (t.kh == 2 && t.kw == 2) MaxPoolTiledForward<2, 2>(g, x, y);
  else if (t.kh == 1 && t.kw == 2) MaxPoolTiledForward<1, 2>(g, x, y);
  else return false;
  return true;
}

template <bool kAdd, typename T>
bool MaxPoolTiledBackwardFor(const TiledMax& t, const PoolGeom& g, const T* x, const T* y, const T* dy, T* dx) {
  if (t.kh == 2 && t.kw == 2) MaxPoolTiledBackward<2, kAdd>(g, x, y, dy, dx);
  else if (t.kh == 1 && t.kw == 2) MaxPoolTiledBackward<1, kAdd>(g, x, y, dy, dx);
  else return false;
  return true;
}

template <typename T, int P>
void SumPoolBackward(const PoolGeom& g, const T* x, const T* y, const T* dy, T* dx, bool average) {
  using A = typename Acc<T>::type;
  for (int64_t n = 0; n < g.planes; ++n) {
    const T* in = x + n * g.H * g.W;
    T* grad = dx + n * g.H * g.W;
    const T* out = y + n * g.Ho * g.Wo;
    const T* og = dy + n * g.Ho * g.Wo;
    for (int64_t oh = 0; oh < g.Ho; ++oh)
      for (int64_t ow = 0; ow < g.Wo; ++ow) {
        A gv = static_cast<A>(og[oh * g.Wo + ow]);
        if (average) gv /= static_cast<A>(g.rows.count[oh] * g.cols.count[ow]);
        const A ov = static_cast<A>(out[oh * g.Wo + ow]);
        for (int64_t h = g.rows.start[oh]; h < g.rows.end[oh]; ++h) {
          T* r = grad + h * g.W;
          const T* xr = in + h * g.W;
          for (int64_t w = g.cols.start[ow]; w < g.cols.end[ow]; ++w) {
            if constexpr (P == 1) {
              r[w] = static_cast<T>(static_cast<A>(r[w]) + gv);
            } else {
              // d out / d x = (x / out)^(P-1); zero where the output underflowed to 0.
              const A ratio = static_cast<A>(xr[w]) / ov;
              const A d = ov == A(0) ? A(0) : gv * (P == 2 ? ratio : ratio * ratio);
              r[w] = static_cast<T>(static_cast<A>(r[w]) + d);
            }
          }
        }
      }
  }
}

void PoolingForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                    std::span<const TensorRef> out) {
  const auto& a = static_cast<const PoolAttrs&>(attrs);
  const PoolGeom g = Geometry(a, in[0].shape, out[0].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    if (MaxPoolTiledForwardFor(TiledWindows(a, g), g, x, y)) return;
    switch (a.type) {
      case PoolType::kMax: MaxPoolForward<T>(g, x, y); break;
      case PoolType::kAvg: SumPoolForward<T, 1>(g, x, y, true); break;
      case PoolType::kSum: SumPoolForward<T, 1>(g, x, y, false); break;
      case PoolType::kLp:
        if (a.p_value == 1) SumPoolForward<T, 1>(g, x, y, false);
        else if (a.p_value == 2) SumPoolForward<T, 2>(g, x, y, false);
        else SumPoolForward<T, 3>(g, x, y, false);
        break;
    }
  });
}

void PoolingBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const PoolAttrs&>(attrs);
  if (io.req[0] == OpReq::kNull) return;
  const PoolGeom g = Geometry(a, io.inputs[0].shape, io.outputs[0].shape);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* x = io.inputs[0].ptr<T>();
    const T* y = io.outputs[0].ptr<T>();
    const T* dy = io.out_grads[0].ptr<T>();
    T* dx = io.in_grads[0].ptr<T>();
    const TiledMax tiled = TiledWindows(a, g);
    if (io.req[0] == OpReq::kAdd ? MaxPoolTiledBackwardFor<true>(tiled, g, x, y, dy, dx)
                                 : MaxPoolTiledBackwardFor<false>(tiled, g, x, y, dy, dx))
      return;
    if (io.req[0] == OpReq::kWrite) std::fill(dx, dx + io.inputs[0].size(), T(0));
    switch (a.type) {
      case PoolType::kMax: MaxPoolBackward<T>(g, x, y, dy, dx, g.small_windows); break;
      case PoolType::kAvg: SumPoolBackward<T, 1>(g, x, y, dy, dx, true); break;
      case PoolType::kSum: SumPoolBackward<T, 1>(g, x, y, dy, dx, false); break;
      case PoolType::kLp:
        if (a.p_value == 1) SumPoolBackward<T, 1>(g, x, y, dy, dx, false);
        else if (a.p_value == 2) SumPoolBackward<T, 2>(g, x, y, dy, dx, false);
        else SumPoolBackward<T, 3>(g, x, y, dy, dx, false);
        break;
    }
  });
}

// ---- Pooling_v1 ---------------------------------------------------------------------------------
// MXNet's first Pooling, 2-D only, differs from Pooling in two places, both a factor per
// output position applied around Pooling's kernels: max pads with zeros (a window touching
// the padding is at least 0, and then passes no gradient when it is 0), and avg always
// divides by the whole kernel (Pooling divides a window cut off by the padded input's end,
// under pooling_convention='full', by what is left of it).

std::shared_ptr<const OpAttrs> ParsePoolingV1(const AttrMap& attrs) {
  const std::string op = "Pooling_v1";
  CheckAttrs(op, attrs, {"kernel", "pool_type", "global_pool", "pooling_convention", "stride", "pad"});
  GetEnum(op, attrs, "pool_type", {"max", "avg", "sum"}, "max");
  GetEnum(op, attrs, "pooling_convention", {"valid", "full"}, "valid");
  const bool global = GetBool(op, attrs, "global_pool", false);
  const auto kernel = GetTuple(op, attrs, "kernel", {});
  if (!global && kernel.size() != 2)
    throw OpArgumentError(op, "kernel", Has(attrs, "kernel") ? attrs.at("kernel") : "(missing)",
                          "(h, w): Pooling_v1 is 2-D (NCHW) only, unless global_pool=True");
  AttrMap modern = attrs;
  modern["layout"] = "NCHW";
  auto parsed = ParsePooling(modern);
  return parsed;
}

// Per output position along one axis: the window's start and end in the padded input.
struct V1Axis {
  std::vector<int64_t> start, end;
};

V1Axis WindowsAlong(const PoolAttrs& a, int ax, int64_t size, int64_t out) {
  V1Axis w;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t s = o * a.stride[ax];
    w.start.push_back(s);
    w.end.push_back(std::min(s + a.kernel[ax], size + 2 * a.pad[ax]));
  }
  return w;
}

// Calls fn(plane_offset, touches_padding, clipped_fraction) for every output position of
// one plane; nothing when no position differs from Pooling.
template <class Fn>
void ForEachV1Position(const PoolAttrs& a, const Shape& d, const Shape& o, Fn&& fn) {
  if (a.global_pool) return;
  const V1Axis h = WindowsAlong(a, 0, d[2], o[2]), w = WindowsAlong(a, 1, d[3], o[3]);
  const double whole = static_cast<double>(a.kernel[0] * a.kernel[1]);
  for (int64_t i = 0; i < o[2]; ++i)
    for (int64_t j = 0; j < o[3]; ++j) {
      const bool pads = h.start[i] < a.pad[0] || h.end[i] > d[2] + a.pad[0] || w.start[j] < a.pad[1] ||
                        w.end[j] > d[3] + a.pad[1];
      const double fraction = static_cast<double>((h.end[i] - h.start[i]) * (w.end[j] - w.start[j])) / whole;
      fn(i * o[3] + j, pads, fraction);
    }
}

void PoolingV1Forward(const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
  PoolingForward(ctx, attrs, in, out);
  const auto& a = static_cast<const PoolAttrs&>(attrs);
  if (a.type == PoolType::kSum) return;
  const Shape& o = out[0].shape;
  const int64_t planes = o[0] * o[1], plane = o[2] * o[3];
  FLOWMOD_FLOAT_SWITCH(out[0].dtype, T, {
    T* y = out[0].ptr<T>();
    ForEachV1Position(a, in[0].shape, o, [&](int64_t k, bool pads, double fraction) {
      for (int64_t p = 0; p < planes; ++p) {
        T& v = y[p * plane + k];
        if (a.type == PoolType::kMax) {
          if (pads && v < T(0)) v = T(0);
        } else if (fraction != 1.0) {
          v = static_cast<T>(static_cast<double>(v) * fraction);
        }
      }
    });
  });
}

void PoolingV1Backward(const OpContext& ctx, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const PoolAttrs&>(attrs);
  if (a.type == PoolType::kSum || a.global_pool) return PoolingBackward(ctx, attrs, io);
  const Shape& o = io.out_grads[0].shape;
  const int64_t planes = o[0] * o[1], plane = o[2] * o[3];
  FLOWMOD_FLOAT_SWITCH(io.out_grads[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    const T* y = io.outputs[0].ptr<T>();
    std::vector<T> g(dy, dy + io.out_grads[0].size());
    ForEachV1Position(a, io.inputs[0].shape, o, [&](int64_t k, bool pads, double fraction) {
      for (int64_t p = 0; p < planes; ++p) {
        const int64_t idx = p * plane + k;
        if (a.type == PoolType::kMax) {
          if (pads && y[idx] == T(0)) g[idx] = T(0);
        } else if (fraction != 1.0) {
          g[idx] = static_cast<T>(static_cast<double>(g[idx]) * fraction);
        }
      }
    });
    TensorRef scaled = io.out_grads[0];
    scaled.data = g.data();
    BackwardIO copy = io;
    copy.out_grads = std::span<const TensorRef>(&scaled, 1);
    PoolingBackward(ctx, attrs, copy);
  });
}

const bool registered = [] {
  OpDef def;
  def.name = "Pooling";
  def.description = "Pooling over 1-D, 2-D or 3-D windows: maximum, average, sum or p-norm of each window.";
  def.input_docs = {{"data", "The input array, batch and channel axes first."}};
  def.params = {
      Optional("kernel", "Shape(tuple)", "[]", "The window size, one entry per spatial axis."),
      Optional("pool_type", "{'avg', 'lp', 'max', 'sum'}", "'max'", "What each window is reduced to."),
      Optional("global_pool", "boolean", "0", "Whether one window covers the whole spatial extent (kernel ignored)."),
      Optional("cudnn_off", "boolean", "0", "Whether to avoid cuDNN (accepted for compatibility; no effect on CPU)."),
      Optional("pooling_convention", "{'full', 'same', 'valid'}", "'valid'",
               "How the output size rounds: valid floors, full ceils, same keeps ceil(input / stride)."),
      Optional("stride", "Shape(tuple)", "[]", "The step between windows; 1 along each axis by default."),
      Optional("pad", "Shape(tuple)", "[]", "The implicit padding on both sides of each axis; 0 by default."),
      Optional("p_value", "int or None", "'None'", "The p of lp pooling."),
      Optional("count_include_pad", "boolean or None", "None",
               "Whether average pooling divides by the window size including the padding (the default) or not."),
      Optional("layout", "{None, 'NCDHW', 'NCHW', 'NCW', 'NDHWC', 'NHWC', 'NWC'}", "'None'",
               "The data layout; None is channels first."),
  };
  def.inputs = {"data"};
  def.parse = &ParsePooling;
  def.infer_shape = &PoolingInferShape;
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType("Pooling", in, out);
  };
  def.forward = &PoolingForward;
  def.backward = &PoolingBackward;
  Registry::Add(std::move(def));

  OpDef v1;
  v1.name = "Pooling_v1";
  v1.description = "2-D pooling: maximum, average or sum of each window (MXNet's first Pooling: zero padding for max, "
                   "the whole kernel as the divisor of avg).";
  v1.input_docs = {{"data", "The input array, NCHW."}};
  v1.params = {
      Optional("kernel", "Shape(tuple)", "[]", "The window size (h, w)."),
      Optional("pool_type", "{'avg', 'max', 'sum'}", "'max'", "What each window is reduced to."),
      Optional("global_pool", "boolean", "0", "Whether one window covers the whole spatial extent (kernel ignored)."),
      Optional("pooling_convention", "{'full', 'valid'}", "'valid'", "How the output size rounds: valid floors, full ceils."),
      Optional("stride", "Shape(tuple)", "[]", "The step between windows; 1 along each axis by default."),
      Optional("pad", "Shape(tuple)", "[]", "The zero padding on both sides of each axis; 0 by default."),
  };
  v1.inputs = {"data"};
  v1.parse = &ParsePoolingV1;
  v1.infer_shape = &PoolingInferShape;
  v1.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType("Pooling_v1", in, out);
  };
  v1.forward = &PoolingV1Forward;
  v1.backward = &PoolingV1Backward;
  Registry::Add(std::move(v1));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
