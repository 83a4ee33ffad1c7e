// Deformable convolution (2-D, NCHW), as MXNet 1.9 defines it:
// - _contrib_DeformableConvolution (DCNv1): every kernel tap (i, j) at output position p reads
//   the input at p * stride - pad + (i, j) * dilate + offset, bilinearly; offset holds a (dy, dx)
//   pair per tap and output position for each of num_deformable_group channel groups. A sample
//   outside [0, H) x [0, W) is 0; one in the last row or column reads that row or column.
// - _contrib_ModulatedDeformableConvolution (DCNv2): the same with each sample multiplied by
//   mask (one per tap, position and deformable group), samples in (-1, H) x (-1, W), and the
//   corners outside the map 0.
// Both sample into a column matrix (C * kh * kw rows, Ho * Wo columns per image) and multiply
// it by the weight, as Convolution's im2col does; the gradients are the adjoint products plus
// the derivatives of the bilinear samples with respect to offset (and mask). All-zero offsets
// (and unit masks) give Convolution.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/blas.h"
#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct DcnAttrs : OpAttrs {
  std::string op;
  bool modulated = false;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
  int64_t num_filter = 1, groups = 1, dgroups = 1;
  bool no_bias = false;
};

std::vector<int64_t> Pair(const std::string& op, const AttrMap& attrs, const char* key, int64_t def, int64_t lo) {
  std::vector<int64_t> v = GetTuple(op, attrs, key, {});
  if (v.empty()) v = {def, def};
  if (v.size() != 2 || v[0] < lo || v[1] < lo)
    throw OpArgumentError(op, key, attrs.at(key),
                          "two integers >= " + std::to_string(lo) + " (height, width) for a 2-D kernel");
  return v;
}

std::shared_ptr<const OpAttrs> ParseDcn(const std::string& op, bool modulated, const AttrMap& attrs) {
  std::vector<std::string> known = {"kernel", "stride", "dilate", "pad", "num_filter", "num_group",
                                    "num_deformable_group", "workspace", "no_bias", "layout"};
  if (modulated) known.push_back("im2col_step");
  CheckAttrs(op, attrs, known);
  auto a = std::make_shared<DcnAttrs>();
  a->op = op;
  a->modulated = modulated;
  const auto kernel = GetTuple(op, attrs, "kernel");
  if (kernel.size() != 2 || kernel[0] < 1 || kernel[1] < 1)
    throw OpArgumentError(op, "kernel", attrs.at("kernel"), "two positive integers (height, width): 2-D only");
  a->kh = kernel[0];
  a->kw = kernel[1];
  const auto stride = Pair(op, attrs, "stride", 1, 1), dilate = Pair(op, attrs, "dilate", 1, 1);
  const auto pad = Pair(op, attrs, "pad", 0, 0);
  a->sh = stride[0];
  a->sw = stride[1];
  a->dh = dilate[0];
  a->dw = dilate[1];
  a->ph = pad[0];
  a->pw = pad[1];
  a->num_filter = GetInt(op, attrs, "num_filter");
  if (a->num_filter < 1) throw OpArgumentError(op, "num_filter", attrs.at("num_filter"), "a positive integer");
  a->groups = GetInt(op, attrs, "num_group", 1);
  if (a->groups < 1) throw OpArgumentError(op, "num_group", attrs.at("num_group"), "a positive integer");
  if (a->num_filter % a->groups != 0)
    throw OpArgumentError(op, "num_filter", attrs.at("num_filter"),
                          "a multiple of num_group=" + std::to_string(a->groups));
  a->dgroups = GetInt(op, attrs, "num_deformable_group", 1);
  if (a->dgroups < 1)
    throw OpArgumentError(op, "num_deformable_group", attrs.at("num_deformable_group"), "a positive integer");
  if (GetInt(op, attrs, "workspace", 1024) < 0)
    throw OpArgumentError(op, "workspace", attrs.at("workspace"), "a non-negative size in MB");
  if (modulated && GetInt(op, attrs, "im2col_step", 64) < 1)
    throw OpArgumentError(op, "im2col_step", attrs.at("im2col_step"), "a positive integer");
  a->no_bias = GetBool(op, attrs, "no_bias", false);
  const std::string layout = GetEnum(op, attrs, "layout", {"None", "NCW", "NCHW", "NCDHW"}, "None");
  if (layout != "None" && layout != "NCHW")
    throw OpArgumentError(op, "layout", Quoted(layout), "NCHW (or None) for a 2-D kernel");
  return a;
}

// Argument positions: data, offset, [mask], weight, [bias].
int WeightIndex(const DcnAttrs& a) { return a.modulated ? 3 : 2; }

std::vector<std::string> DcnArguments(const OpAttrs& attrs) {
  const auto& a = static_cast<const DcnAttrs&>(attrs);
  std::vector<std::string> names = {"data", "offset"};
  if (a.modulated) names.push_back("mask");
  names.push_back("weight");
  if (!a.no_bias) names.push_back("bias");
  return names;
}

void DcnShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const DcnAttrs&>(attrs);
  const std::string& op = a.op;
  const int wi = WeightIndex(a);
  const auto rank4 = [&](const Shape& s, const char* name) {
    if (ShapeKnownRank(s) && s.size() != 4)
      throw OpArgumentError(op, name, "an array of shape " + ShapeString(s), "4 dimensions (NCHW)");
  };
  rank4(in[0], "data");
  rank4(in[1], "offset");
  if (a.modulated) rank4(in[2], "mask");
  rank4(in[wi], "weight");
  rank4(out[0], "output");
  Shape d = ShapeKnownRank(in[0]) ? in[0] : Shape{-1, -1, -1, -1};
  if (ShapeKnownRank(out[0])) d[0] = d[0] >= 0 ? d[0] : out[0][0];
  if (ShapeKnownRank(in[1])) d[0] = d[0] >= 0 ? d[0] : in[1][0];
  if (d[1] < 0 && ShapeKnownRank(in[wi]) && in[wi][1] >= 0) d[1] = in[wi][1] * a.groups;
  const int64_t dkh = a.dh * (a.kh - 1) + 1, dkw = a.dw * (a.kw - 1) + 1;
  // Sizes back from the output along unit strides.
  if (ShapeKnownRank(out[0])) {
    if (d[2] < 0 && a.sh == 1 && out[0][2] >= 0) d[2] = out[0][2] + dkh - 1 - 2 * a.ph;
    if (d[3] < 0 && a.sw == 1 && out[0][3] >= 0) d[3] = out[0][3] + dkw - 1 - 2 * a.pw;
  }
  if (d[1] >= 0 && d[1] % a.groups != 0)
    throw OpArgumentError(op, "num_group", std::to_string(a.groups),
                          "a divisor of the data's " + std::to_string(d[1]) + " channels");
  if (d[1] >= 0 && d[1] % a.dgroups != 0)
    throw OpArgumentError(op, "num_deformable_group", std::to_string(a.dgroups),
                          "a divisor of the data's " + std::to_string(d[1]) + " channels");
  MergeShape(op, "data", in[0], d);
  MergeShape(op, "weight", in[wi], Shape{a.num_filter, d[1] >= 0 ? d[1] / a.groups : -1, a.kh, a.kw});
  if (!a.no_bias) MergeShape(op, "bias", in[wi + 1], Shape{a.num_filter});
  int64_t ho = -1, wo = -1;
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t size = d[2 + axis], dk = axis == 0 ? dkh : dkw, p = axis == 0 ? a.ph : a.pw;
    if (size < 0) continue;
    if (dk > size + 2 * p)
      throw OpArgumentError(op, "kernel", "(" + std::to_string(a.kh) + ", " + std::to_string(a.kw) + ")",
                            "a (dilated) kernel no larger than the padded input along spatial axis " +
                                std::to_string(axis) + " (" + std::to_string(dk) + " > " + std::to_string(size) +
                                " + 2 * " + std::to_string(p) + ")");
    (axis == 0 ? ho : wo) = (size + 2 * p - dk) / (axis == 0 ? a.sh : a.sw) + 1;
  }
  MergeShape(op, "output", out[0], Shape{d[0], a.num_filter, ho, wo});
  const Shape& o = out[0];
  MergeShape(op, "offset", in[1], Shape{o[0], 2 * a.dgroups * a.kh * a.kw, o[2], o[3]});
  if (a.modulated) MergeShape(op, "mask", in[2], Shape{o[0], a.dgroups * a.kh * a.kw, o[2], o[3]});
}

void DcnType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto& a = static_cast<const DcnAttrs&>(attrs);
  const auto names = DcnArguments(attrs);
  DType t = DType::kUnknown;
  for (size_t i = 0; i < in.size() && t == DType::kUnknown; ++i) t = in[i];
  if (t == DType::kUnknown) t = out[0];
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64)
    throw OpArgumentError(a.op, "data", std::string("an array of type ") + DTypeName(t), "float32 or float64");
  for (size_t i = 0; i < in.size(); ++i) MergeType(a.op, names[i], in[i], t);
  MergeType(a.op, "output", out[0], t);
}

// ---- Sampling -----------------------------------------------------------------------------------

// One bilinear sample: four cells of a plane, their weights, and the weights' derivatives
// along y and x (all zero for cells that do not count).
template <class T>
struct Sample {
  int64_t pos[4] = {0, 0, 0, 0};
  T w[4] = {0, 0, 0, 0}, wy[4] = {0, 0, 0, 0}, wx[4] = {0, 0, 0, 0};
  T Value(const T* p) const { return w[0] * p[pos[0]] + w[1] * p[pos[1]] + w[2] * p[pos[2]] + w[3] * p[pos[3]]; }
  T DerivY(const T* p) const {
    return wy[0] * p[pos[0]] + wy[1] * p[pos[1]] + wy[2] * p[pos[2]] + wy[3] * p[pos[3]];
  }
  T DerivX(const T* p) const {
    return wx[0] * p[pos[0]] + wx[1] * p[pos[1]] + wx[2] * p[pos[2]] + wx[3] * p[pos[3]];
  }
};

template <class T>
void SetWeights(Sample<T>& s, T ly, T lx) {
  const T hy = 1 - ly, hx = 1 - lx;
  const T w[4] = {hy * hx, hy * lx, ly * hx, ly * lx};
  const T wy[4] = {-hx, -lx, hx, lx}, wx[4] = {-hy, hy, -ly, ly};
  for (int k = 0; k < 4; ++k) {
    s.w[k] = w[k];
    s.wy[k] = wy[k];
    s.wx[k] = wx[k];
  }
}

// DCNv1: inside [0, H) x [0, W); the last row (column) is read alone, with no slope.
template <class T>
Sample<T> SampleV1(T y, T x, int64_t H, int64_t W) {
  Sample<T> s;
  if (!(y >= 0 && x >= 0 && y < static_cast<T>(H) && x < static_cast<T>(W))) return s;
  int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x)), y1, x1;
  if (y0 >= H - 1) {
    y0 = y1 = H - 1;
    y = static_cast<T>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= W - 1) {
    x0 = x1 = W - 1;
    x = static_cast<T>(x0);
  } else {
    x1 = x0 + 1;
  }
  s.pos[0] = y0 * W + x0;
  s.pos[1] = y0 * W + x1;
  s.pos[2] = y1 * W + x0;
  s.pos[3] = y1 * W + x1;
  SetWeights(s, y - static_cast<T>(y0), x - static_cast<T>(x0));
  return s;
}

// DCNv2: inside (-1, H) x (-1, W); corners outside the map count as 0.
template <class T>
Sample<T> SampleV2(T y, T x, int64_t H, int64_t W) {
  Sample<T> s;
  if (!(y > -1 && x > -1 && y < static_cast<T>(H) && x < static_cast<T>(W))) return s;
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  SetWeights(s, y - static_cast<T>(y0), x - static_cast<T>(x0));
  const int64_t ys[4] = {y0, y0, y0 + 1, y0 + 1}, xs[4] = {x0, x0 + 1, x0, x0 + 1};
  for (int k = 0; k < 4; ++k) {
    if (ys[k] >= 0 && ys[k] < H && xs[k] >= 0 && xs[k] < W) {
      s.pos[k] = ys[k] * W + xs[k];
    } else {
      s.w[k] = s.wy[k] = s.wx[k] = 0;
    }
  }
  return s;
}

struct Geom {
  int64_t C, H, W, F, Ho, Wo;
  int64_t P() const { return Ho * Wo; }
  int64_t K() const { return C * taps; }
  int64_t taps;
};

// Calls fn(g, k, p, sample, mask) for every deformable group g, tap k and output position p
// of one image (offset and mask pointing at that image's).
template <class T, class Fn>
void ForEachSample(const DcnAttrs& a, const Geom& g, const T* offset, const T* mask, Fn&& fn) {
  const int64_t P = g.P();
  for (int64_t dg = 0; dg < a.dgroups; ++dg)
    for (int64_t i = 0; i < a.kh; ++i)
      for (int64_t j = 0; j < a.kw; ++j) {
        const int64_t k = i * a.kw + j;
        const T* off_y = offset + (dg * 2 * g.taps + 2 * k) * P;
        const T* off_x = off_y + P;
        const T* m = mask != nullptr ? mask + (dg * g.taps + k) * P : nullptr;
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            const int64_t p = oh * g.Wo + ow;
            const T y = static_cast<T>(oh * a.sh - a.ph + i * a.dh) + off_y[p];
            const T x = static_cast<T>(ow * a.sw - a.pw + j * a.dw) + off_x[p];
            const Sample<T> s = a.modulated ? SampleV2(y, x, g.H, g.W) : SampleV1(y, x, g.H, g.W);
            fn(dg, k, p, s, m != nullptr ? m[p] : T(1));
          }
      }
}

// col[(c * taps + k), p] = mask * sample of channel c of image x.
template <class T>
void DeformIm2Col(const DcnAttrs& a, const Geom& g, const T* x, const T* offset, const T* mask, T* col) {
  const int64_t cpg = g.C / a.dgroups, P = g.P(), HW = g.H * g.W;
  ForEachSample<T>(a, g, offset, mask, [&](int64_t dg, int64_t k, int64_t p, const Sample<T>& s, T m) {
    for (int64_t c = dg * cpg; c < (dg + 1) * cpg; ++c) col[(c * g.taps + k) * P + p] = m * s.Value(x + c * HW);
  });
}

Geom GeomOf(const DcnAttrs& a, const Shape& data, const Shape& out) {
  return Geom{data[1], data[2], data[3], out[1], out[2], out[3], a.kh * a.kw};
}

template <class T>
void DcnForwardT(const DcnAttrs& a, std::span<const TensorRef> in, const TensorRef& out) {
  const Geom g = GeomOf(a, in[0].shape, out.shape);
  const int wi = WeightIndex(a);
  const int64_t N = in[0].shape[0], P = g.P(), K = g.K(), Kg = K / a.groups, Fg = g.F / a.groups;
  const int64_t off_n = 2 * a.dgroups * g.taps * P, mask_n = a.dgroups * g.taps * P;
  const T* w = in[wi].ptr<T>();
  const T* bias = a.no_bias ? nullptr : in[wi + 1].ptr<T>();
  std::vector<T> col(static_cast<size_t>(K * P));
  for (int64_t b = 0; b < N; ++b) {
    DeformIm2Col<T>(a, g, in[0].ptr<T>() + b * g.C * g.H * g.W, in[1].ptr<T>() + b * off_n,
                    a.modulated ? in[2].ptr<T>() + b * mask_n : nullptr, col.data());
    T* y = out.ptr<T>() + b * g.F * P;
    for (int64_t grp = 0; grp < a.groups; ++grp)
      blas::Gemm(false, false, Fg, P, Kg, T(1), w + grp * Fg * Kg, Kg, col.data() + grp * Kg * P, P, T(0),
                 y + grp * Fg * P, P);
    if (bias != nullptr)
      for (int64_t f = 0; f < g.F; ++f)
        for (int64_t p = 0; p < P; ++p) y[f * P + p] += bias[f];
  }
}

void DcnForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                std::span<const TensorRef> out) {
  const auto& a = static_cast<const DcnAttrs&>(attrs);
  if (in[0].dtype == DType::kFloat64) DcnForwardT<double>(a, in, out[0]);
  else DcnForwardT<float>(a, in, out[0]);
}

// The gradients of one image from dcol = weight^T . dy: data, offset and mask (each when asked).
template <class T>
void SampleGradients(const DcnAttrs& a, const Geom& g, const T* x, const T* offset, const T* mask, const T* dcol,
                     T* dx, T* doffset, T* dmask) {
  const int64_t cpg = g.C / a.dgroups, P = g.P(), HW = g.H * g.W;
  ForEachSample<T>(a, g, offset, mask, [&](int64_t dg, int64_t k, int64_t p, const Sample<T>& s, T m) {
    T gy = 0, gx = 0, gm = 0;
    for (int64_t c = dg * cpg; c < (dg + 1) * cpg; ++c) {
      const T d = dcol[(c * g.taps + k) * P + p];
      if (d == T(0)) continue;
      const T* plane = x + c * HW;
      if (dx != nullptr) {
        T* gp = dx + c * HW;
        for (int q = 0; q < 4; ++q) gp[s.pos[q]] += d * m * s.w[q];
      }
      gy += d * s.DerivY(plane);
      gx += d * s.DerivX(plane);
      if (dmask != nullptr) gm += d * s.Value(plane);
    }
    if (doffset != nullptr) {
      doffset[(dg * 2 * g.taps + 2 * k) * P + p] += m * gy;
      doffset[(dg * 2 * g.taps + 2 * k + 1) * P + p] += m * gx;
    }
    if (dmask != nullptr) dmask[(dg * g.taps + k) * P + p] += gm;
  });
}

template <class T>
void DcnBackwardT(const DcnAttrs& a, const BackwardIO& io) {
  const Geom g = GeomOf(a, io.inputs[0].shape, io.out_grads[0].shape);
  const int wi = WeightIndex(a);
  const int64_t N = io.inputs[0].shape[0], P = g.P(), K = g.K(), Kg = K / a.groups, Fg = g.F / a.groups;
  const int64_t in_n = g.C * g.H * g.W, off_n = 2 * a.dgroups * g.taps * P, mask_n = a.dgroups * g.taps * P;
  const T* w = io.inputs[wi].ptr<T>();
  const T* dy = io.out_grads[0].ptr<T>();
  const T* mask = a.modulated ? io.inputs[2].ptr<T>() : nullptr;
  const auto grad = [&](int i) { return io.req[i] == OpReq::kNull ? nullptr : io.in_grads[i].ptr<T>(); };
  // Sample gradients accumulate; under kWrite the arrays start at zero.
  for (int i = 0; i <= (a.modulated ? 2 : 1); ++i)
    if (io.req[i] == OpReq::kWrite) ZeroWithReq(io.in_grads[i], OpReq::kWrite);
  T* dx = grad(0);
  T* doff = grad(1);
  T* dmask = a.modulated ? grad(2) : nullptr;
  T* dw = grad(wi);
  std::vector<T> col(static_cast<size_t>(K * P)), dcol(static_cast<size_t>(K * P));
  for (int64_t b = 0; b < N; ++b) {
    const T* xb = io.inputs[0].ptr<T>() + b * in_n;
    const T* ob = io.inputs[1].ptr<T>() + b * off_n;
    const T* mb = mask != nullptr ? mask + b * mask_n : nullptr;
    const T* dyb = dy + b * g.F * P;
    if (dx != nullptr || doff != nullptr || dmask != nullptr) {
      for (int64_t grp = 0; grp < a.groups; ++grp)
        blas::Gemm(true, false, Kg, P, Fg, T(1), w + grp * Fg * Kg, Kg, dyb + grp * Fg * P, P, T(0),
                   dcol.data() + grp * Kg * P, P);
      SampleGradients<T>(a, g, xb, ob, mb, dcol.data(), dx != nullptr ? dx + b * in_n : nullptr,
                         doff != nullptr ? doff + b * off_n : nullptr, dmask != nullptr ? dmask + b * mask_n : nullptr);
    }
    if (dw != nullptr) {
      DeformIm2Col<T>(a, g, xb, ob, mb, col.data());
      const T beta = (b > 0 || io.req[wi] == OpReq::kAdd) ? T(1) : T(0);
      for (int64_t grp = 0; grp < a.groups; ++grp)
        blas::Gemm(false, true, Fg, Kg, P, T(1), dyb + grp * Fg * P, P, col.data() + grp * Kg * P, P, beta,
                   dw + grp * Fg * Kg, Kg);
    }
  }
  if (!a.no_bias && io.req[wi + 1] != OpReq::kNull) {
    T* db = io.in_grads[wi + 1].ptr<T>();
    for (int64_t f = 0; f < g.F; ++f) {
      T s = 0;
      for (int64_t b = 0; b < N; ++b)
        for (int64_t p = 0; p < P; ++p) s += dy[(b * g.F + f) * P + p];
      Store(db[f], s, io.req[wi + 1]);
    }
  }
}

void DcnBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const DcnAttrs&>(attrs);
  if (io.inputs[0].dtype == DType::kFloat64) DcnBackwardT<double>(a, io);
  else DcnBackwardT<float>(a, io);
}

std::vector<OpParam> DcnParams(bool modulated) {
  const std::string count = modulated ? "int (non-negative)" : "int";
  std::vector<OpParam> params = {
      Required("kernel", "Shape(tuple)", "The filter size (height, width)."),
      Optional("stride", "Shape(tuple)", "[]", "The step between applications; 1 along each axis by default."),
      Optional("dilate", "Shape(tuple)", "[]", "The spacing between filter taps; 1 along each axis by default."),
      Optional("pad", "Shape(tuple)", "[]", "The implicit zero padding on both sides of each axis; 0 by default."),
      Required("num_filter", count, "The number of output channels."),
      Optional("num_group", count, modulated ? "1" : "'1'",
               "The number of groups the channels are split into, each convolved separately."),
      Optional("num_deformable_group", count, modulated ? "1" : "'1'",
               "The number of channel groups that each have their own offsets."),
      Optional("workspace", "long (non-negative)", "1024", "A scratch memory limit in MB (accepted; unused)."),
      Optional("no_bias", "boolean", "0", "Whether the operator has no bias."),
  };
  if (modulated)
    params.push_back(Optional("im2col_step", "int (non-negative)", "64",
                              "Images per column buffer in MXNet (accepted; the result does not depend on it)."));
  params.push_back(Optional("layout", "{None, 'NCDHW', 'NCHW', 'NCW'}", "'None'",
                            "The data layout; None or NCHW (the only one of a 2-D kernel)."));
  return params;
}

OpDef MakeDcnDef(const std::string& name, bool modulated) {
  OpDef def;
  def.name = name;
  def.list_inputs = &DcnArguments;
  def.parse = [name, modulated](const AttrMap& attrs) { return ParseDcn(name, modulated, attrs); };
  def.infer_shape = &DcnShape;
  def.infer_type = &DcnType;
  def.forward = &DcnForward;
  def.backward = &DcnBackward;
  std::vector<OpInputDoc> inputs = {
      {"data", "The input, NCHW."},
      {"offset", "The sampling offsets, (batch, 2 * num_deformable_group * kh * kw, out_height, out_width): "
                 "(dy, dx) per tap."}};
  if (modulated)
    inputs.push_back({"mask", "The sample weights, (batch, num_deformable_group * kh * kw, out_height, out_width)."});
  inputs.push_back({"weight", "The filters, (num_filter, channels / num_group, kh, kw)."});
  inputs.push_back({"bias", "The bias, one per filter (absent with no_bias)."});
  return Described(std::move(def),
                   modulated ? "2-D modulated deformable convolution (DCNv2): each filter tap samples the input "
                               "bilinearly at a learned offset and scales the sample by a learned mask."
                             : "2-D deformable convolution (DCNv1): each filter tap samples the input bilinearly at "
                               "a learned offset.",
                   std::move(inputs), DcnParams(modulated));
}

const bool registered = [] {
  Registry::Add(MakeDcnDef("_contrib_DeformableConvolution", false));
  Registry::Add(MakeDcnDef("_contrib_ModulatedDeformableConvolution", true));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
