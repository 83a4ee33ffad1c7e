// Convolution and Deconvolution (1-D NCW and 2-D NCHW), as MXNet 1.9 defines them.
//
// Both are built from three batched primitives of one convolution geometry (input C x H x W,
// output M x Ho x Wo, num_group groups):
//   forward          y  = conv(x, w)          im2col, then weight . col
//   data gradient    dx = conv^T(dy, w)       weight^T . dy, then col2im
//   weight gradient  dw = sum_b dy_b . col_b^T
// Deconvolution is the transpose of a convolution whose input is the deconvolution's output:
// its forward is that convolution's data gradient, and its data gradient that convolution's
// forward. Its weight (C_in, num_filter/num_group, kh, kw) is exactly the weight of the
// transposed convolution (M = C_in filters over num_filter channels).
//
// Several images share one column buffer (columns ordered image by image), so each product
// runs over images * Ho * Wo columns instead of one image's; the buffer is per worker thread
// and capped, which bounds how many images go in one product. 1-D is 2-D with height 1.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ops/blas.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

// ---- Geometry and scratch ------------------------------------------------------------------

struct ConvGeom {
  int64_t batch = 0;
  int64_t C = 0, H = 0, W = 0;     // convolution input
  int64_t M = 0, Ho = 0, Wo = 0;   // convolution output
  int64_t kh = 1, kw = 1, ph = 0, pw = 0, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t groups = 1;

  int64_t Cg() const { return C / groups; }
  int64_t Mg() const { return M / groups; }
  int64_t Kg() const { return Cg() * kh * kw; }
  int64_t K() const { return C * kh * kw; }
  int64_t P() const { return Ho * Wo; }
  int64_t HW() const { return H * W; }
  // A 1x1 kernel with unit stride and no padding reads the input as its own column matrix.
  bool Pointwise() const { return kh == 1 && kw == 1 && ph == 0 && pw == 0 && sh == 1 && sw == 1; }
};

// Bytes of per-thread scratch kept between calls. A few MB keeps a chunk's columns in cache
// between im2col and the product while still giving the product thousands of columns; a
// single image needing more gets a buffer of its own that is freed after the call.
constexpr size_t kScratchBytes = size_t{4} << 20;

template <typename T>
class Workspace {
 public:
  explicit Workspace(size_t n) {
    if (n * sizeof(T) <= kScratchBytes) {
      std::vector<T>& kept = Kept();
      if (kept.size() < n) kept.resize(n);
      ptr_ = kept.data();
    } else {
      own_.resize(n);
      ptr_ = own_.data();
    }
  }
  T* data() const { return ptr_; }

 private:
  static std::vector<T>& Kept() {
    thread_local std::vector<T> buffer;
    return buffer;
  }
  std::vector<T> own_;
  T* ptr_ = nullptr;
};

// How many images share one column buffer of `per_image` elements: as many as fit, spread
// evenly over the chunks the batch needs (64 images that fit 29 at a time go 22, 22, 20).
template <typename T>
int64_t ImagesPerChunk(int64_t per_image, int64_t batch) {
  const int64_t fit = std::clamp<int64_t>(
      static_cast<int64_t>(kScratchBytes / sizeof(T)) / std::max<int64_t>(per_image, 1), 1, std::max<int64_t>(batch, 1));
  const int64_t chunks = (batch + fit - 1) / fit;
  return chunks <= 1 ? fit : (batch + chunks - 1) / chunks;
}

// For kernel offset `k` along an axis: the output positions o in [lo, hi) whose input
// position o * stride - pad + k * dilate lies inside [0, size).
void ValidRange(int64_t k, int64_t size, int64_t out, int64_t stride, int64_t pad, int64_t dilate,
                int64_t* lo, int64_t* hi) {
  const int64_t offset = k * dilate - pad;  // input position of output 0
  *lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t end = size - offset;        // o * stride < end
  *hi = end <= 0 ? 0 : (end + stride - 1) / stride;
  *lo = std::min(*lo, out);
  *hi = std::clamp(*hi, *lo, out);
}

struct Ranges {
  std::vector<int64_t> row_lo, row_hi, col_lo, col_hi;
  explicit Ranges(const ConvGeom& g) : row_lo(g.kh), row_hi(g.kh), col_lo(g.kw), col_hi(g.kw) {
    for (int64_t i = 0; i < g.kh; ++i) ValidRange(i, g.H, g.Ho, g.sh, g.ph, g.dh, &row_lo[i], &row_hi[i]);
    for (int64_t j = 0; j < g.kw; ++j) ValidRange(j, g.W, g.Wo, g.sw, g.pw, g.dw, &col_lo[j], &col_hi[j]);
  }
};

// col[(c, i, j), b * P + oh * Wo + ow] = x[b, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside),
// for `nb` images from `x`; `ld` is the row stride of col. Rows are short (Wo elements), so
// the loops keep the geometry in locals and walk pointers: per-row overhead is what counts.
template <bool kUnitStride, typename T>
void Im2ColImpl(const ConvGeom& g, const Ranges& r, const T* x, int64_t nb, T* col, int64_t ld) {
  const int64_t C = g.C, kh = g.kh, kw = g.kw, W = g.W, Wo = g.Wo, P = g.P(), HW = g.HW();
  const int64_t sw = g.sw, row_step = g.sh * W;
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t rlo = r.row_lo[i], rhi = r.row_hi[i];
      const int64_t first_row = rlo * g.sh - g.ph + i * g.dh;  // input row of output row rlo
      for (int64_t j = 0; j < kw; ++j) {
        const int64_t clo = r.col_lo[j], chi = r.col_hi[j], n = chi - clo;
        const int64_t first_col = clo * sw - g.pw + j * g.dw;  // input column of output column clo
        T* row = col + ((c * kh + i) * kw + j) * ld;
        for (int64_t b = 0; b < nb; ++b) {
          T* dst = row + b * P;
          // Zeros where the window is in the padding: everything when some columns are (one
          // contiguous fill), else the rows above and below.
          if (n < Wo || rlo >= rhi) {
            std::fill(dst, dst + P, T(0));
          } else {
            std::fill(dst, dst + rlo * Wo, T(0));
            std::fill(dst + rhi * Wo, dst + P, T(0));
          }
          if (n <= 0 || rlo >= rhi) continue;
          const T* src = x + (b * C + c) * HW + first_row * W + first_col;
          // The row loop's body is a single copy, which the compiler vectorizes in place
          // (with zero fills beside it, it would call memcpy and memset for every row).
          T* d = dst + rlo * Wo + clo;
          for (int64_t oh = rlo; oh < rhi; ++oh, src += row_step, d += Wo) {
            if constexpr (kUnitStride) {
              for (int64_t k = 0; k < n; ++k) d[k] = src[k];
            } else {
              for (int64_t k = 0; k < n; ++k) d[k] = src[k * sw];
            }
          }
        }
      }
    }
  }
}

template <typename T>
void Im2Col(const ConvGeom& g, const Ranges& r, const T* x, int64_t nb, T* col, int64_t ld) {
  if (g.sw == 1) Im2ColImpl<true>(g, r, x, nb, col, ld);
  else Im2ColImpl<false>(g, r, x, nb, col, ld);
}

// The adjoint of Im2Col: adds every column entry back to the input position it came from.
template <bool kUnitStride, typename T>
void Col2ImAddImpl(const ConvGeom& g, const Ranges& r, const T* col, int64_t ld, int64_t nb, T* x) {
  const int64_t C = g.C, kh = g.kh, kw = g.kw, W = g.W, Wo = g.Wo, P = g.P(), HW = g.HW();
  const int64_t sw = g.sw, row_step = g.sh * W;
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t rlo = r.row_lo[i], rhi = r.row_hi[i];
      const int64_t first_row = rlo * g.sh - g.ph + i * g.dh;
      for (int64_t j = 0; j < kw; ++j) {
        const int64_t clo = r.col_lo[j], chi = r.col_hi[j], n = chi - clo;
        if (n <= 0 || rlo >= rhi) continue;
        const int64_t first_col = clo * sw - g.pw + j * g.dw;
        const T* row = col + ((c * kh + i) * kw + j) * ld;
        for (int64_t b = 0; b < nb; ++b) {
          const T* __restrict s = row + b * P + rlo * Wo + clo;
          T* __restrict dst = x + (b * C + c) * HW + first_row * W + first_col;
          for (int64_t oh = rlo; oh < rhi; ++oh, dst += row_step, s += Wo) {
            if constexpr (kUnitStride) {
              for (int64_t k = 0; k < n; ++k) dst[k] += s[k];
            } else {
              for (int64_t k = 0; k < n; ++k) dst[k * sw] += s[k];
            }
          }
        }
      }
    }
  }
}

template <typename T>
void Col2ImAdd(const ConvGeom& g, const Ranges& r, const T* col, int64_t ld, int64_t nb, T* x) {
  if (g.sw == 1) Col2ImAddImpl<true>(g, r, col, ld, nb, x);
  else Col2ImAddImpl<false>(g, r, col, ld, nb, x);
}

// ---- The three primitives ----------------------------------------------------------------

// y = conv(x, w) (+ bias), stored under `req`.
template <typename T>
void ConvForward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, OpReq req) {
  if (req == OpReq::kNull) return;
  const int64_t P = g.P(), M = g.M, Mg = g.Mg(), Kg = g.Kg(), Cg = g.Cg();
  const T beta = req == OpReq::kAdd ? T(1) : T(0);
  if (g.Pointwise()) {
    for (int64_t b = 0; b < g.batch; ++b) {
      for (int64_t grp = 0; grp < g.groups; ++grp)
        blas::Gemm(false, false, Mg, P, Cg, T(1), w + grp * Mg * Kg, Kg, x + (b * g.C + grp * Cg) * P, P, beta,
                   y + (b * M + grp * Mg) * P, P);
      if (bias != nullptr)
        for (int64_t m = 0; m < M; ++m) {
          T* out = y + (b * M + m) * P;
          const T v = bias[m];
          for (int64_t j = 0; j < P; ++j) out[j] += v;
        }
    }
    return;
  }
  const Ranges ranges(g);
  const int64_t K = g.K();
  const int64_t chunk = ImagesPerChunk<T>((K + M) * P, g.batch);
  Workspace<T> ws(static_cast<size_t>((K + M) * P * chunk));
  for (int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
    const int64_t nb = std::min(chunk, g.batch - b0);
    const int64_t ld = nb * P;
    T* col = ws.data();
    T* tmp = col + K * ld;
    Im2Col(g, ranges, x + b0 * g.C * g.HW(), nb, col, ld);
    for (int64_t grp = 0; grp < g.groups; ++grp)
      blas::Gemm(false, false, Mg, ld, Kg, T(1), w + grp * Mg * Kg, Kg, col + grp * Kg * ld, ld, T(0),
                 tmp + grp * Mg * ld, ld);
    // tmp is (M, images, P); y is (images, M, P).
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t m = 0; m < M; ++m) {
        const T* src = tmp + m * ld + b * P;
        T* out = y + ((b0 + b) * M + m) * P;
        const T v = bias != nullptr ? bias[m] : T(0);
        if (req == OpReq::kWrite) {
          for (int64_t j = 0; j < P; ++j) out[j] = src[j] + v;
        } else {
          for (int64_t j = 0; j < P; ++j) out[j] += src[j] + v;
        }
      }
  }
}

// The gradients of y = conv(x, w) given dy: dx (when not null) and dw (when not null).
template <typename T>
void ConvBackward(const ConvGeom& g, const T* x, const T* w, const T* dy, T* dx, OpReq req_dx, T* dw,
                  OpReq req_dw) {
  if (req_dx == OpReq::kNull) dx = nullptr;
  if (req_dw == OpReq::kNull) dw = nullptr;
  if (dx == nullptr && dw == nullptr) return;
  const int64_t P = g.P(), M = g.M, Mg = g.Mg(), Kg = g.Kg(), Cg = g.Cg();
  // The first product into dw overwrites it under kWrite; every later one accumulates.
  bool dw_started = req_dw == OpReq::kAdd;
  if (g.Pointwise()) {
    const T beta_dx = req_dx == OpReq::kAdd ? T(1) : T(0);
    for (int64_t b = 0; b < g.batch; ++b) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* dyb = dy + (b * M + grp * Mg) * P;
        if (dw != nullptr)
          blas::Gemm(false, true, Mg, Cg, P, T(1), dyb, P, x + (b * g.C + grp * Cg) * P, P,
                     dw_started ? T(1) : T(0), dw + grp * Mg * Kg, Kg);
        if (dx != nullptr)
          blas::Gemm(true, false, Cg, P, Mg, T(1), w + grp * Mg * Kg, Kg, dyb, P, beta_dx,
                     dx + (b * g.C + grp * Cg) * P, P);
      }
      dw_started = true;
    }
  } else {
    if (dx != nullptr && req_dx == OpReq::kWrite) std::fill(dx, dx + g.batch * g.C * g.HW(), T(0));
    const Ranges ranges(g);
    const int64_t K = g.K();
    const int64_t chunk = ImagesPerChunk<T>((K + M) * P, g.batch);
    Workspace<T> ws(static_cast<size_t>((K + M) * P * chunk));
    for (int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
      const int64_t nb = std::min(chunk, g.batch - b0);
      const int64_t ld = nb * P;
      T* col = ws.data();
      // dy of these images as (M, images, P); one image's dy already is.
      const T* dyr = dy + b0 * M * P;
      if (nb > 1) {
        T* gathered = col + K * ld;
        for (int64_t b = 0; b < nb; ++b)
          for (int64_t m = 0; m < M; ++m)
            std::memcpy(gathered + m * ld + b * P, dy + ((b0 + b) * M + m) * P, static_cast<size_t>(P) * sizeof(T));
        dyr = gathered;
      }
      if (dw != nullptr) {
        Im2Col(g, ranges, x + b0 * g.C * g.HW(), nb, col, ld);
        for (int64_t grp = 0; grp < g.groups; ++grp)
          blas::Gemm(false, true, Mg, Kg, ld, T(1), dyr + grp * Mg * ld, ld, col + grp * Kg * ld, ld,
                     dw_started ? T(1) : T(0), dw + grp * Mg * Kg, Kg);
        dw_started = true;
      }
      if (dx != nullptr) {
        for (int64_t grp = 0; grp < g.groups; ++grp)
          blas::Gemm(true, false, Kg, ld, Mg, T(1), w + grp * Mg * Kg, Kg, dyr + grp * Mg * ld, ld, T(0),
                     col + grp * Kg * ld, ld);
        Col2ImAdd(g, ranges, col, ld, nb, dx + b0 * g.C * g.HW());
      }
    }
  }
  // An empty batch contributes nothing; kWrite still means the gradient is zero.
  if (dw != nullptr && !dw_started) std::fill(dw, dw + M * Kg, T(0));
}

// d(bias) = dy summed over images and positions, as products with a vector of ones.
template <typename T>
void BiasGradient(const T* dy, int64_t batch, int64_t M, int64_t P, T* db, OpReq req) {
  if (req == OpReq::kNull) return;
  thread_local std::vector<T> ones;
  if (static_cast<int64_t>(ones.size()) < P) ones.assign(static_cast<size_t>(P), T(1));
  bool started = req == OpReq::kAdd;
  for (int64_t b = 0; b < batch; ++b) {
    blas::Gemm(false, false, M, 1, P, T(1), dy + b * M * P, P, ones.data(), 1, started ? T(1) : T(0), db, 1);
    started = true;
  }
  if (!started) std::fill(db, db + M, T(0));
}

// ---- Attributes ----------------------------------------------------------------------------

struct ConvAttrs : OpAttrs {
  bool deconv = false;
  int nd = 2;  // spatial dimensions
  std::vector<int64_t> kernel, stride, dilate, pad, adj, target_shape;
  int64_t num_filter = 0;
  int64_t num_group = 1;
  bool no_bias = false;

  int64_t DilatedKernel(int i) const { return dilate[i] * (kernel[i] - 1) + 1; }
};

std::string TupleString(const std::vector<int64_t>& t) { return ShapeString(t); }

std::vector<int64_t> SpatialTuple(const std::string& op, const AttrMap& attrs, const char* key, size_t nd,
                                  int64_t def, int64_t min, const char* what) {
  std::vector<int64_t> t = GetTuple(op, attrs, key, std::vector<int64_t>(nd, def));
  if (t.empty()) t.assign(nd, def);  // "()" is MXNet's default: one per kernel dimension
  if (t.size() != nd)
    throw OpArgumentError(op, key, TupleString(t),
                          std::to_string(nd) + " values, one per kernel dimension");
  for (int64_t v : t)
    if (v < min) throw OpArgumentError(op, key, TupleString(t), what);
  return t;
}

std::shared_ptr<const OpAttrs> ParseConv(const std::string& op, const AttrMap& attrs, bool deconv) {
  if (deconv)
    CheckAttrs(op, attrs, {"kernel", "stride", "dilate", "pad", "adj", "target_shape", "num_filter", "num_group",
                           "workspace", "no_bias", "cudnn_tune", "cudnn_off", "layout"});
  else
    CheckAttrs(op, attrs, {"kernel", "stride", "dilate", "pad", "num_filter", "num_group", "workspace", "no_bias",
                           "cudnn_tune", "cudnn_off", "layout"});
  auto a = std::make_shared<ConvAttrs>();
  a->deconv = deconv;
  a->kernel = GetTuple(op, attrs, "kernel");
  if (a->kernel.size() != 1 && a->kernel.size() != 2)
    throw OpArgumentError(op, "kernel", TupleString(a->kernel),
                          "(w,) or (h, w): 1-D (NCW) or 2-D (NCHW) " + std::string(deconv ? "deconvolution" : "convolution"));
  a->nd = static_cast<int>(a->kernel.size());
  for (int64_t k : a->kernel)
    if (k <= 0) throw OpArgumentError(op, "kernel", TupleString(a->kernel), "every kernel size > 0");
  const size_t nd = a->kernel.size();
  a->stride = SpatialTuple(op, attrs, "stride", nd, 1, 1, "every stride > 0");
  a->dilate = SpatialTuple(op, attrs, "dilate", nd, 1, 1, "every dilation > 0");
  a->pad = SpatialTuple(op, attrs, "pad", nd, 0, 0, "every padding >= 0");
  if (deconv) {
    a->adj = SpatialTuple(op, attrs, "adj", nd, 0, 0, "every adjustment >= 0");
    a->target_shape = GetTuple(op, attrs, "target_shape", {});
    if (!a->target_shape.empty()) {
      bool any = false, all = true;
      for (int64_t v : a->target_shape) {
        if (v < 0) throw OpArgumentError(op, "target_shape", TupleString(a->target_shape), "sizes >= 0");
        any = any || v != 0;
        all = all && v != 0;
      }
      if (!any) {
        a->target_shape.clear();  // all zeros means not set, as in MXNet
      } else if (a->target_shape.size() != nd || !all) {
        throw OpArgumentError(op, "target_shape", TupleString(a->target_shape),
                              std::to_string(nd) + " output sizes > 0, one per kernel dimension");
      }
    }
  }
  a->num_filter = GetInt(op, attrs, "num_filter");
  if (a->num_filter < 1 || a->num_filter > 100000)
    throw OpArgumentError(op, "num_filter", std::to_string(a->num_filter), "an integer in [1, 100000]");
  a->num_group = GetInt(op, attrs, "num_group", 1);
  if (a->num_group < 1) throw OpArgumentError(op, "num_group", std::to_string(a->num_group), "an integer >= 1");
  if (a->num_filter % a->num_group != 0)
    throw OpArgumentError(op, "num_filter", std::to_string(a->num_filter),
                          "a multiple of num_group=" + std::to_string(a->num_group));
  const int64_t workspace = GetInt(op, attrs, "workspace", deconv ? 512 : 1024);
  if (workspace < 0 || workspace > 8192)
    throw OpArgumentError(op, "workspace", std::to_string(workspace), "a size in MB in [0, 8192]");
  a->no_bias = GetBool(op, attrs, "no_bias", deconv);
  GetEnum(op, attrs, "cudnn_tune", {"None", "off", "limited_workspace", "fastest"}, "None");
  GetBool(op, attrs, "cudnn_off", false);
  const std::string layout =
      GetEnum(op, attrs, "layout", {"None", "NCW", "NCHW", "NCDHW", "NWC", "NHWC", "NDHWC"}, "None");
  const char* expected_layout = nd == 1 ? "NCW" : "NCHW";
  if (layout != "None" && layout != expected_layout)
    throw OpArgumentError(op, "layout", "'" + layout + "'",
                          std::string(expected_layout) + " for a " + std::to_string(nd) +
                              "-D kernel (the layout supported on CPU)");
  return a;
}

std::vector<std::string> ConvArguments(const OpAttrs& attrs) {
  if (static_cast<const ConvAttrs&>(attrs).no_bias) return {"data", "weight"};
  return {"data", "weight", "bias"};
}

// Checks the data's rank and channel count against the attributes.
void CheckData(const std::string& op, const ConvAttrs& a, const Shape& d) {
  if (static_cast<int>(d.size()) != a.nd + 2)
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(d),
                          a.nd == 1 ? "a 3-D array (batch, channel, width) for a 1-D kernel"
                                    : "a 4-D array (batch, channel, height, width) for a 2-D kernel");
  if (d[1] >= 0 && d[1] % a.num_group != 0)
    throw OpArgumentError(op, "num_group", std::to_string(a.num_group),
                          "a divisor of the data's " + std::to_string(d[1]) + " channels");
}

void ConvInferShape(const std::string& op, const ConvAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (in[0] == kUnknownShape) return;
  Shape d = in[0];
  CheckData(op, a, d);
  // The channel count from the weight when the data does not give it.
  if (d[1] < 0 && in[1] != kUnknownShape && in[1].size() == d.size() && in[1][1] >= 0) {
    d[1] = in[1][1] * a.num_group;
    MergeShape(op, "data", in[0], d);
  }
  Shape w{a.num_filter, d[1] >= 0 ? d[1] / a.num_group : -1};
  w.insert(w.end(), a.kernel.begin(), a.kernel.end());
  MergeShape(op, "weight", in[1], w);
  if (!a.no_bias) MergeShape(op, "bias", in[2], Shape{a.num_filter});
  Shape o{d[0], a.num_filter};
  for (int i = 0; i < a.nd; ++i) {
    const int64_t size = d[2 + i], dk = a.DilatedKernel(i);
    if (size < 0) {
      o.push_back(-1);
      continue;
    }
    if (dk > size + 2 * a.pad[i])
      throw OpArgumentError(op, "kernel", TupleString(a.kernel),
                            "a (dilated) kernel no larger than the padded input: size " + std::to_string(dk) +
                                " > " + std::to_string(size) + " + 2 * pad " + std::to_string(a.pad[i]) +
                                " along spatial axis " + std::to_string(i));
    o.push_back((size + 2 * a.pad[i] - dk) / a.stride[i] + 1);
  }
  MergeShape(op, "output", out[0], o);
  // From the output back to the data: the batch, and sizes along unit strides.
  const Shape& os = out[0];
  Shape back = in[0];
  back[0] = os[0];
  for (int i = 0; i < a.nd; ++i)
    if (back[2 + i] < 0 && os[2 + i] >= 0 && a.stride[i] == 1)
      back[2 + i] = os[2 + i] + a.DilatedKernel(i) - 1 - 2 * a.pad[i];
  MergeShape(op, "data", in[0], back);
}

// Deconvolution's padding and adjustment for an input of spatial sizes `size` (-1 unknown):
// from target_shape when it is set, else from pad and adj.
void DeconvPadding(const std::string& op, const ConvAttrs& a, const int64_t* size, std::vector<int64_t>* pad,
                   std::vector<int64_t>* adj) {
  *pad = a.pad;
  *adj = a.adj;
  if (a.target_shape.empty()) return;
  for (int i = 0; i < a.nd; ++i) {
    if (size[i] < 0) continue;
    const int64_t full = a.stride[i] * (size[i] - 1) + a.DilatedKernel(i);
    if (full < a.target_shape[i])
      throw OpArgumentError(op, "target_shape", TupleString(a.target_shape),
                            "sizes no larger than stride * (input - 1) + dilated kernel = " + std::to_string(full) +
                                " along spatial axis " + std::to_string(i));
    const int64_t excess = full - a.target_shape[i];
    (*adj)[i] = excess % 2;
    (*pad)[i] = (excess + 1) / 2;
  }
}

void DeconvInferShape(const std::string& op, const ConvAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (in[0] == kUnknownShape) return;
  Shape d = in[0];
  CheckData(op, a, d);
  if (d[1] < 0 && in[1] != kUnknownShape && in[1].size() == d.size() && in[1][0] >= 0) {
    d[1] = in[1][0];
    CheckData(op, a, d);
    MergeShape(op, "data", in[0], d);
  }
  Shape w{d[1], a.num_filter / a.num_group};
  w.insert(w.end(), a.kernel.begin(), a.kernel.end());
  MergeShape(op, "weight", in[1], w);
  if (!a.no_bias) MergeShape(op, "bias", in[2], Shape{a.num_filter});
  std::vector<int64_t> pad, adj;
  DeconvPadding(op, a, d.data() + 2, &pad, &adj);
  Shape o{d[0], a.num_filter};
  for (int i = 0; i < a.nd; ++i) {
    if (adj[i] >= a.stride[i])
      throw OpArgumentError(op, a.target_shape.empty() ? "adj" : "target_shape",
                            TupleString(a.target_shape.empty() ? a.adj : a.target_shape),
                            "an adjustment smaller than the stride " + TupleString(a.stride) +
                                " along every axis");
    if (d[2 + i] < 0) {
      o.push_back(-1);
      continue;
    }
    const int64_t size = a.stride[i] * (d[2 + i] - 1) + a.DilatedKernel(i) - 2 * pad[i] + adj[i];
    if (size <= 0)
      throw OpArgumentError(op, "pad", TupleString(a.pad),
                            "a padding that leaves a positive output size along spatial axis " + std::to_string(i) +
                                " (got " + std::to_string(size) + ")");
    o.push_back(size);
  }
  MergeShape(op, "output", out[0], o);
  Shape back = in[0];
  back[0] = out[0][0];
  MergeShape(op, "data", in[0], back);
}

void ConvInferType(const std::string& op, const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto names = ConvArguments(attrs);
  DType t = DType::kUnknown;
  for (size_t i = 0; i < in.size(); ++i) MergeType(op, names[i], t, in[i]);
  MergeType(op, "output", t, out[0]);
  if (t != DType::kUnknown && t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
    throw OpArgumentError(op, "data", std::string("an array of type ") + DTypeName(t), "float32, float64 or float16");
  for (auto& x : in) x = t;
  out[0] = t;
}

// The geometry of a convolution on `data` (conv input) producing `out`.
ConvGeom Geometry(const ConvAttrs& a, const Shape& data, const Shape& out, const std::vector<int64_t>& pad) {
  ConvGeom g;
  g.batch = data[0];
  g.C = data[1];
  g.M = out[1];
  g.groups = a.num_group;
  if (a.nd == 1) {
    g.W = data[2];
    g.Wo = out[2];
    g.kw = a.kernel[0];
    g.pw = pad[0];
    g.sw = a.stride[0];
    g.dw = a.dilate[0];
  } else {
    g.H = data[2];
    g.W = data[3];
    g.Ho = out[2];
    g.Wo = out[3];
    g.kh = a.kernel[0];
    g.kw = a.kernel[1];
    g.ph = pad[0];
    g.pw = pad[1];
    g.sh = a.stride[0];
    g.sw = a.stride[1];
    g.dh = a.dilate[0];
    g.dw = a.dilate[1];
  }
  if (a.nd == 1) g.H = g.Ho = 1;
  return g;
}

// ---- Kernels ---------------------------------------------------------------------------------

void ConvolutionForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
  const auto& a = static_cast<const ConvAttrs&>(attrs);
  const ConvGeom g = Geometry(a, in[0].shape, out[0].shape, a.pad);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    ConvForward<T>(g, in[0].ptr<T>(), in[1].ptr<T>(), a.no_bias ? nullptr : in[2].ptr<T>(), out[0].ptr<T>(),
                   OpReq::kWrite);
  });
}

void ConvolutionBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const ConvAttrs&>(attrs);
  const ConvGeom g = Geometry(a, io.inputs[0].shape, io.out_grads[0].shape, a.pad);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    ConvBackward<T>(g, io.inputs[0].ptr<T>(), io.inputs[1].ptr<T>(), dy, io.in_grads[0].ptr<T>(), io.req[0],
                    io.in_grads[1].ptr<T>(), io.req[1]);
    if (!a.no_bias) BiasGradient<T>(dy, g.batch, g.M, g.P(), io.in_grads[2].ptr<T>(), io.req[2]);
  });
}

// Deconvolution's transposed convolution reads the deconvolution output (N, num_filter, ...)
// and produces its input (N, C_in, ...).
ConvGeom DeconvGeometry(const ConvAttrs& a, const Shape& data, const Shape& out) {
  std::vector<int64_t> pad, adj;
  DeconvPadding("Deconvolution", a, data.data() + 2, &pad, &adj);
  return Geometry(a, out, data, pad);
}

void DeconvolutionForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                          std::span<const TensorRef> out) {
  const auto& a = static_cast<const ConvAttrs&>(attrs);
  const ConvGeom g = DeconvGeometry(a, in[0].shape, out[0].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    T* y = out[0].ptr<T>();
    ConvBackward<T>(g, nullptr, in[1].ptr<T>(), in[0].ptr<T>(), y, OpReq::kWrite, nullptr, OpReq::kNull);
    if (!a.no_bias) {
      const T* bias = in[2].ptr<T>();
      const int64_t plane = g.HW();
      for (int64_t b = 0; b < g.batch; ++b)
        for (int64_t c = 0; c < g.C; ++c) {
          T* p = y + (b * g.C + c) * plane;
          const T v = bias[c];
          for (int64_t j = 0; j < plane; ++j) p[j] += v;
        }
    }
  });
}

void DeconvolutionBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const ConvAttrs&>(attrs);
  const ConvGeom g = DeconvGeometry(a, io.inputs[0].shape, io.out_grads[0].shape);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    const T* w = io.inputs[1].ptr<T>();
    ConvForward<T>(g, dy, w, nullptr, io.in_grads[0].ptr<T>(), io.req[0]);
    ConvBackward<T>(g, dy, w, io.inputs[0].ptr<T>(), nullptr, OpReq::kNull, io.in_grads[1].ptr<T>(), io.req[1]);
    if (!a.no_bias) BiasGradient<T>(dy, g.batch, g.C, g.HW(), io.in_grads[2].ptr<T>(), io.req[2]);
  });
}

OpDef MakeConvDef(const std::string& name, bool deconv) {
  OpDef def;
  def.name = name;
  def.description = deconv ? "Transposed convolution (the gradient of a convolution with respect to its input), 1-D or 2-D."
                           : "Convolution over 1-D or 2-D inputs with learned filters, optionally grouped and dilated.";
  def.input_docs = {{"data", "The input array, batch and channel axes first."},
                    {"weight", "The filters."},
                    {"bias", "The bias, one per filter (absent with no_bias)."}};
  def.params = {
      Required("kernel", "Shape(tuple)", "The filter size, one entry per spatial axis."),
      Optional("stride", "Shape(tuple)", "[]", "The step between applications; 1 along each axis by default."),
      Optional("dilate", "Shape(tuple)", "[]", "The spacing between filter taps; 1 along each axis by default."),
      Optional("pad", "Shape(tuple)", "[]", "The implicit zero padding on both sides of each axis; 0 by default."),
  };
  if (deconv) {
    def.params.push_back(Optional("adj", "Shape(tuple)", "[]", "Extra size added to one side of the output."));
    def.params.push_back(Optional("target_shape", "Shape(tuple)", "[]",
                                  "The output's spatial shape; padding is chosen to give it (pad and adj then ignored)."));
  }
  def.params.push_back(Required("num_filter", "int (non-negative)", "The number of output channels."));
  def.params.push_back(Optional("num_group", "int (non-negative)", "1",
                                "The number of groups the channels are split into, each convolved separately."));
  def.params.push_back(Optional("workspace", "long (non-negative)", deconv ? "512" : "1024",
                                "A scratch memory limit in MB (accepted for compatibility; unused)."));
  def.params.push_back(Optional("no_bias", "boolean", deconv ? "1" : "0", "Whether the operator has no bias."));
  def.params.push_back(Optional("cudnn_tune", "{None, 'fastest', 'limited_workspace', 'off'}", "'None'",
                                "cuDNN's algorithm search (accepted for compatibility; no effect on CPU)."));
  def.params.push_back(Optional("cudnn_off", "boolean", "0",
                                "Whether to avoid cuDNN (accepted for compatibility; no effect on CPU)."));
  def.params.push_back(Optional("layout", "{None, 'NCDHW', 'NCHW', 'NCW', 'NDHWC', 'NHWC'}", "'None'",
                                "The data layout; None is channels first."));
  if (name == "Convolution_v1") {
    // MXNet's first convolution: 2-D only, with its own list of layouts.
    def.description = "2-D convolution with learned filters, optionally grouped and dilated (MXNet's first Convolution).";
    def.params.back().type = "{None, 'NCDHW', 'NCHW', 'NDHWC', 'NHWC'}";
  }
  def.list_inputs = &ConvArguments;
  def.parse = [name, deconv](const AttrMap& attrs) {
    auto parsed = ParseConv(name, attrs, deconv);
    if (name == "Convolution_v1" && static_cast<const ConvAttrs&>(*parsed).nd != 2)
      throw OpArgumentError(name, "kernel", attrs.at("kernel"), "(h, w): Convolution_v1 is 2-D (NCHW) only");
    return parsed;
  };
  def.infer_shape = [name, deconv](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const ConvAttrs&>(attrs);
    if (deconv) DeconvInferShape(name, a, in, out);
    else ConvInferShape(name, a, in, out);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    ConvInferType(name, attrs, in, out);
  };
  def.forward = deconv ? &DeconvolutionForward : &ConvolutionForward;
  def.backward = deconv ? &DeconvolutionBackward : &ConvolutionBackward;
  return def;
}

const bool registered = [] {
  Registry::Add(MakeConvDef("Convolution", false));
  Registry::Add(MakeConvDef("Deconvolution", true));
  Registry::Add(MakeConvDef("Convolution_v1", false));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
