// Region-of-interest pooling of NCHW feature maps to a fixed pooled_size, one output map per
// row of rois = (batch index, x1, y1, x2, y2) in image coordinates (scaled by spatial_scale):
// - ROIPooling (Fast R-CNN): the box is rounded to whole cells and cut into ph x pw bins, each
//   the max over its cells (an empty bin, or a batch index outside the batch, gives 0). The
//   hidden output maxidx records which cell won, so the gradient goes to it alone.
// - _contrib_ROIAlign (Mask R-CNN): no rounding; each bin averages sample_ratio^2 (adaptive:
//   ceil(bin size)) bilinear samples; `aligned` shifts the box by half a cell (Detectron2);
//   position_sensitive takes channel (c, ph, pw) for bin (ph, pw) (R-FCN). Rows with a
//   negative batch index give 0.
// rois get no gradient (zero), as in MXNet.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct RoiAttrs : OpAttrs {
  int64_t ph = 1, pw = 1;
  double scale = 1;
  int64_t sample_ratio = -1;
  bool position_sensitive = false, aligned = false;
};

void ParseCommon(const std::string& op, const AttrMap& attrs, RoiAttrs& a) {
  const auto size = GetTuple(op, attrs, "pooled_size");
  if (size.size() != 2 || size[0] < 1 || size[1] < 1)
    throw OpArgumentError(op, "pooled_size", attrs.at("pooled_size"), "two positive integers (height, width)");
  a.ph = size[0];
  a.pw = size[1];
  a.scale = GetFloat(op, attrs, "spatial_scale");
}

void ZeroFill(const TensorRef& t) {
  if (t.size() > 0) std::memset(t.data, 0, static_cast<size_t>(t.size()) * DTypeSize(t.dtype));
}

void RoiShape(const std::string& op, const RoiAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (ShapeKnownRank(in[0]) && in[0].size() != 4)
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(in[0]), "4 dimensions (batch, channel, height, width)");
  if (ShapeKnownRank(in[1]) && (in[1].size() != 2 || (in[1][1] >= 0 && in[1][1] != 5)))
    throw OpArgumentError(op, "rois", "an array of shape " + ShapeString(in[1]),
                          "(num_rois, 5): rows of (batch index, x1, y1, x2, y2)");
  if (ShapeKnownRank(in[1])) MergeShape(op, "rois", in[1], Shape{in[1][0], 5});
  if (!ShapeKnownRank(in[0]) || !ShapeKnownRank(in[1])) return;
  int64_t channels = in[0][1];
  if (a.position_sensitive && channels >= 0) {
    if (channels % (a.ph * a.pw) != 0)
      throw OpArgumentError(op, "data", "an array of shape " + ShapeString(in[0]),
                            "channels divisible by pooled_size's " + std::to_string(a.ph * a.pw) +
                                " bins (position_sensitive)");
    channels /= a.ph * a.pw;
  }
  const Shape o{in[1][0], channels, a.ph, a.pw};
  for (size_t i = 0; i < out.size(); ++i) MergeShape(op, i == 0 ? "output" : "maxidx", out[i], o);
}

InferTypeFn RoiType(const std::string& op, bool maxidx) {
  return [op, maxidx](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    DType t = in[0] != DType::kUnknown ? in[0] : in[1] != DType::kUnknown ? in[1] : out[0];
    if (t == DType::kUnknown) return;
    if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
      throw OpArgumentError(op, "data", std::string("an array of type ") + DTypeName(t), "a floating point type");
    MergeType(op, "data", in[0], t);
    MergeType(op, "rois", in[1], t);
    MergeType(op, "output", out[0], t);
    if (maxidx) MergeType(op, "maxidx", out[1], DType::kInt64);
  };
}

// ---- ROIPooling ---------------------------------------------------------------------------------

const char* const kPool = "ROIPooling";

std::shared_ptr<const OpAttrs> ParseRoiPooling(const AttrMap& attrs) {
  CheckAttrs(kPool, attrs, {"pooled_size", "spatial_scale"});
  auto a = std::make_shared<RoiAttrs>();
  ParseCommon(kPool, attrs, *a);
  if (!(a->scale > 0)) throw OpArgumentError(kPool, "spatial_scale", attrs.at("spatial_scale"), "a positive scale");
  return a;
}

template <class T>
void RoiPoolForward(const RoiAttrs& a, const TensorRef& data, const TensorRef& rois, const TensorRef& out,
                    const TensorRef& maxidx) {
  const Shape& d = data.shape;
  const int64_t C = d[1], H = d[2], W = d[3], R = rois.shape[0], bins = a.ph * a.pw;
  const T* x = data.ptr<T>();
  const T* box = rois.ptr<T>();
  T* y = out.ptr<T>();
  int64_t* arg = maxidx.ptr<int64_t>();
  const T scale = static_cast<T>(a.scale);
  for (int64_t r = 0; r < R; ++r) {
    const T* b = box + r * 5;
    const int64_t batch = static_cast<int64_t>(b[0]);
    const int64_t x0 = std::lround(static_cast<double>(b[1] * scale)), y0 = std::lround(static_cast<double>(b[2] * scale));
    const int64_t x1 = std::lround(static_cast<double>(b[3] * scale)), y1 = std::lround(static_cast<double>(b[4] * scale));
    const T bin_h = static_cast<T>(std::max<int64_t>(y1 - y0 + 1, 1)) / static_cast<T>(a.ph);
    const T bin_w = static_cast<T>(std::max<int64_t>(x1 - x0 + 1, 1)) / static_cast<T>(a.pw);
    const bool valid = batch >= 0 && batch < d[0];
    for (int64_t c = 0; c < C; ++c) {
      const int64_t plane = ((valid ? batch : 0) * C + c) * H * W;
      T* yc = y + (r * C + c) * bins;
      int64_t* ac = arg + (r * C + c) * bins;
      for (int64_t i = 0; i < a.ph; ++i)
        for (int64_t j = 0; j < a.pw; ++j) {
          const int64_t h0 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<double>(i * bin_h))) + y0, 0, H);
          const int64_t h1 = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>((i + 1) * bin_h))) + y0, 0, H);
          const int64_t w0 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<double>(j * bin_w))) + x0, 0, W);
          const int64_t w1 = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(static_cast<double>((j + 1) * bin_w))) + x0, 0, W);
          T best = static_cast<T>(-FLT_MAX);
          int64_t where = -1;
          if (!valid || h1 <= h0 || w1 <= w0) best = T(0);
          else
            for (int64_t h = h0; h < h1; ++h)
              for (int64_t w = w0; w < w1; ++w) {
                const int64_t k = plane + h * W + w;
                if (x[k] > best) {
                  best = x[k];
                  where = k;
                }
              }
          yc[i * a.pw + j] = best;
          ac[i * a.pw + j] = where;
        }
    }
  }
}

void RoiPoolingForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
  const auto& a = static_cast<const RoiAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, RoiPoolForward<T>(a, in[0], in[1], out[0], out[1]));
}

void RoiPoolingBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    const int64_t* arg = io.outputs[1].ptr<int64_t>();
    const int64_t n = io.out_grads[0].size();
    Accumulate(io.in_grads[0].ptr<T>(), io.in_grads[0].size(), io.req[0], [&](auto* acc) {
      using A = std::remove_pointer_t<decltype(acc)>;
      for (int64_t i = 0; i < n; ++i)
        if (arg[i] >= 0) acc[arg[i]] += static_cast<A>(dy[i]);
    });
  });
  if (io.req[1] == OpReq::kWrite) ZeroFill(io.in_grads[1]);
}

// ---- ROIAlign -------------------------------------------------------------------------------------

const char* const kAlign = "_contrib_ROIAlign";

std::shared_ptr<const OpAttrs> ParseRoiAlign(const AttrMap& attrs) {
  CheckAttrs(kAlign, attrs, {"pooled_size", "spatial_scale", "sample_ratio", "position_sensitive", "aligned"});
  auto a = std::make_shared<RoiAttrs>();
  ParseCommon(kAlign, attrs, *a);
  if (!(a->scale >= 0 && a->scale <= 1))
    throw OpArgumentError(kAlign, "spatial_scale", attrs.at("spatial_scale"), "a scale in [0, 1]");
  a->sample_ratio = GetInt(kAlign, attrs, "sample_ratio", -1);
  a->position_sensitive = GetBool(kAlign, attrs, "position_sensitive", false);
  a->aligned = GetBool(kAlign, attrs, "aligned", false);
  return a;
}

// One bilinear sample: four cells of a plane and their weights (all zero outside the map).
template <class T>
struct Sample {
  int64_t pos[4] = {0, 0, 0, 0};
  T w[4] = {0, 0, 0, 0};
};

template <class T>
Sample<T> SampleAt(T y, T x, int64_t H, int64_t W) {
  Sample<T> s;
  if (y < -1 || y > static_cast<T>(H) || x < -1 || x > static_cast<T>(W)) return s;
  y = std::max(y, T(0));
  x = std::max(x, T(0));
  int64_t y_lo = static_cast<int64_t>(y), x_lo = static_cast<int64_t>(x), y_hi, x_hi;
  if (y_lo >= H - 1) {
    y_hi = y_lo = H - 1;
    y = static_cast<T>(y_lo);
  } else {
    y_hi = y_lo + 1;
  }
  if (x_lo >= W - 1) {
    x_hi = x_lo = W - 1;
    x = static_cast<T>(x_lo);
  } else {
    x_hi = x_lo + 1;
  }
  const T ly = y - static_cast<T>(y_lo), lx = x - static_cast<T>(x_lo), hy = 1 - ly, hx = 1 - lx;
  s.pos[0] = y_lo * W + x_lo;
  s.pos[1] = y_lo * W + x_hi;
  s.pos[2] = y_hi * W + x_lo;
  s.pos[3] = y_hi * W + x_hi;
  s.w[0] = hy * hx;
  s.w[1] = hy * lx;
  s.w[2] = ly * hx;
  s.w[3] = ly * lx;
  return s;
}

// Calls fn(r, c, bin, plane_offset, sample, 1 / count) for every sample of every output
// element (r, c, bin) of a row with a non-negative batch index.
template <class T, class Fn>
void ForEachAlignSample(const RoiAttrs& a, const Shape& d, const Shape& o, const T* box, Fn&& fn) {
  const int64_t H = d[2], W = d[3], C = o[1];
  const T scale = static_cast<T>(a.scale), shift = a.aligned ? T(0.5) : T(0);
  for (int64_t r = 0; r < o[0]; ++r) {
    const T* b = box + r * 5;
    const int64_t batch = static_cast<int64_t>(b[0]);
    if (batch < 0) continue;
    if (batch >= d[0])
      throw std::out_of_range(std::string(kAlign) + ": rois row " + std::to_string(r) + " has batch index " +
                              std::to_string(batch) + ", outside the batch of " + std::to_string(d[0]));
    const T x0 = b[1] * scale - shift, y0 = b[2] * scale - shift;
    T rw = b[3] * scale - shift - x0, rh = b[4] * scale - shift - y0;
    if (a.aligned) {
      if (!(rw > 0 && rh > 0))
        throw std::invalid_argument(std::string(kAlign) + ": rois row " + std::to_string(r) +
                                    " is empty; aligned=True needs x2 > x1 and y2 > y1");
    } else {
      rw = std::max(rw, T(1));
      rh = std::max(rh, T(1));
    }
    const T bh = rh / static_cast<T>(a.ph), bw = rw / static_cast<T>(a.pw);
    const int64_t gh = a.sample_ratio > 0 ? a.sample_ratio : static_cast<int64_t>(std::ceil(static_cast<double>(rh / static_cast<T>(a.ph))));
    const int64_t gw = a.sample_ratio > 0 ? a.sample_ratio : static_cast<int64_t>(std::ceil(static_cast<double>(rw / static_cast<T>(a.pw))));
    const T inv = gh * gw > 0 ? T(1) / static_cast<T>(gh * gw) : T(0);
    for (int64_t i = 0; i < a.ph; ++i)
      for (int64_t j = 0; j < a.pw; ++j)
        for (int64_t iy = 0; iy < gh; ++iy) {
          const T y = y0 + static_cast<T>(i) * bh + (static_cast<T>(iy) + T(0.5)) * bh / static_cast<T>(gh);
          for (int64_t ix = 0; ix < gw; ++ix) {
            const T x = x0 + static_cast<T>(j) * bw + (static_cast<T>(ix) + T(0.5)) * bw / static_cast<T>(gw);
            const Sample<T> s = SampleAt(y, x, H, W);
            for (int64_t c = 0; c < C; ++c) {
              const int64_t cu = a.position_sensitive ? (c * a.ph + i) * a.pw + j : c;
              fn(r, c, i * a.pw + j, (batch * d[1] + cu) * H * W, s, inv);
            }
          }
        }
  }
}

void RoiAlignForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                     std::span<const TensorRef> out) {
  const auto& a = static_cast<const RoiAttrs&>(attrs);
  ZeroFill(out[0]);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const int64_t C = out[0].shape[1], bins = a.ph * a.pw;
    ForEachAlignSample<T>(a, in[0].shape, out[0].shape, in[1].ptr<T>(),
                          [&](int64_t r, int64_t c, int64_t bin, int64_t plane, const Sample<T>& s, T inv) {
                            const T* p = x + plane;
                            y[(r * C + c) * bins + bin] +=
                                (s.w[0] * p[s.pos[0]] + s.w[1] * p[s.pos[1]] + s.w[2] * p[s.pos[2]] +
                                 s.w[3] * p[s.pos[3]]) * inv;
                          });
  });
}

void RoiAlignBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const RoiAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    const Shape& o = io.out_grads[0].shape;
    const int64_t C = o[1], bins = a.ph * a.pw;
    Accumulate(io.in_grads[0].ptr<T>(), io.in_grads[0].size(), io.req[0], [&](auto* acc) {
      using A = std::remove_pointer_t<decltype(acc)>;
      ForEachAlignSample<T>(a, io.inputs[0].shape, o, io.inputs[1].ptr<T>(),
                            [&](int64_t r, int64_t c, int64_t bin, int64_t plane, const Sample<T>& s, T inv) {
                              const A g = static_cast<A>(dy[(r * C + c) * bins + bin] * inv);
                              for (int k = 0; k < 4; ++k) acc[plane + s.pos[k]] += g * static_cast<A>(s.w[k]);
                            });
    });
  });
  if (io.req[1] == OpReq::kWrite) ZeroFill(io.in_grads[1]);
}

const std::vector<OpInputDoc> kInputs = {
    {"data", "The feature maps, NCHW."},
    {"rois", "The regions, (num_rois, 5): batch index, x1, y1, x2, y2 in image coordinates."}};

const bool registered = [] {
  OpDef pool;
  pool.name = kPool;
  pool.inputs = {"data", "rois"};
  pool.num_outputs = 2;
  pool.num_visible_outputs = 1;
  pool.parse = &ParseRoiPooling;
  pool.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    RoiShape(kPool, static_cast<const RoiAttrs&>(attrs), in, out);
  };
  pool.infer_type = RoiType(kPool, true);
  pool.forward = &RoiPoolingForward;
  pool.backward = &RoiPoolingBackward;
  Registry::Add(Described(
      std::move(pool), "Max-pools each region of interest of NCHW feature maps, rounded to whole cells, to pooled_size bins.",
      kInputs,
      {Required("pooled_size", "Shape(tuple)", "The output's (height, width) in bins."),
       Required("spatial_scale", "float", "The ratio of the feature map's size to the image's (1 / total stride).")}));

  OpDef align;
  align.name = kAlign;
  align.inputs = {"data", "rois"};
  align.parse = &ParseRoiAlign;
  align.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    RoiShape(kAlign, static_cast<const RoiAttrs&>(attrs), in, out);
  };
  align.infer_type = RoiType(kAlign, false);
  align.forward = &RoiAlignForward;
  align.backward = &RoiAlignBackward;
  Registry::Add(Described(
      std::move(align),
      "Average-pools bilinear samples of each region of interest of NCHW feature maps, without rounding, to pooled_size bins.",
      kInputs,
      {Required("pooled_size", "Shape(tuple)", "The output's (height, width) in bins."),
       Required("spatial_scale", "float", "The ratio of the feature map's size to the image's (1 / total stride)."),
       Optional("sample_ratio", "int", "'-1'", "Samples per bin along each axis; adaptive (ceil of the bin size) when <= 0."),
       Optional("position_sensitive", "boolean", "0",
                "Whether bin (i, j) reads its own group of channels (R-FCN's position-sensitive pooling)."),
       Optional("aligned", "boolean", "0", "Whether boxes are shifted by half a cell (Detectron2's aligned ROIAlign).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
