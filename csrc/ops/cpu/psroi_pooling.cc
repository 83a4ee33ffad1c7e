// Position-sensitive region-of-interest pooling (R-FCN), as MXNet 1.9's _contrib_PSROIPooling:
// each row of rois = (batch index, x1, y1, x2, y2) in image coordinates is rounded to whole
// pixels, scaled by spatial_scale and cut into pooled_size x pooled_size bins; bin (i, j) of
// output channel c averages the cells of input channel (c * group_size + gi) * group_size + gj
// that it covers, (gi, gj) being the bin's cell in a group_size x group_size grid. An empty bin
// gives 0. The gradient spreads each output's gradient evenly over its cells; rois get a zero
// gradient, as in MXNet.
#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_contrib_PSROIPooling";

struct PsRoiAttrs : OpAttrs {
  double scale = 1;
  int64_t output_dim = 1, pooled = 1, group = 1;
};

std::shared_ptr<const OpAttrs> ParsePsRoi(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"data", "rois", "spatial_scale", "output_dim", "pooled_size", "group_size"});
  for (const char* key : {"data", "rois"})
    if (Has(attrs, key))
      throw OpArgumentError(kOp, key, Quoted(attrs.at(key)), std::string("an array given as the input ") + key);
  auto a = std::make_shared<PsRoiAttrs>();
  a->scale = GetFloat(kOp, attrs, "spatial_scale");
  if (!(a->scale >= 0 && a->scale <= 1))
    throw OpArgumentError(kOp, "spatial_scale", attrs.at("spatial_scale"), "a scale in [0, 1]");
  a->output_dim = GetInt(kOp, attrs, "output_dim");
  if (a->output_dim < 1) throw OpArgumentError(kOp, "output_dim", attrs.at("output_dim"), "a positive integer");
  a->pooled = GetInt(kOp, attrs, "pooled_size");
  if (a->pooled < 1) throw OpArgumentError(kOp, "pooled_size", attrs.at("pooled_size"), "a positive integer");
  a->group = GetInt(kOp, attrs, "group_size", 0);
  if (a->group < 0)
    throw OpArgumentError(kOp, "group_size", attrs.at("group_size"), "a positive integer, or 0 for pooled_size");
  if (a->group == 0) a->group = a->pooled;
  return a;
}

void PsRoiShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const PsRoiAttrs&>(attrs);
  if (ShapeKnownRank(in[0]) && in[0].size() != 4)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(in[0]),
                          "4 dimensions (batch, channel, height, width)");
  if (ShapeKnownRank(in[1]) && (in[1].size() != 2 || (in[1][1] >= 0 && in[1][1] != 5)))
    throw OpArgumentError(kOp, "rois", "an array of shape " + ShapeString(in[1]),
                          "(num_rois, 5): rows of (batch index, x1, y1, x2, y2)");
  const int64_t need = a.output_dim * a.group * a.group;
  if (ShapeKnownRank(in[0]) && in[0][1] >= 0 && in[0][1] < need)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(in[0]),
                          "at least output_dim * group_size^2 = " + std::to_string(need) + " channels");
  if (ShapeKnownRank(out[0]) && out[0].size() == 4) MergeShape(kOp, "rois", in[1], Shape{out[0][0], 5});
  if (ShapeKnownRank(in[1])) {
    MergeShape(kOp, "rois", in[1], Shape{in[1][0], 5});
    MergeShape(kOp, "output", out[0], Shape{in[1][0], a.output_dim, a.pooled, a.pooled});
  }
}

void PsRoiType(const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
  DType t = in[0] != DType::kUnknown ? in[0] : in[1] != DType::kUnknown ? in[1] : out[0];
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64)
    throw OpArgumentError(kOp, "data", std::string("an array of type ") + DTypeName(t), "float32 or float64");
  MergeType(kOp, "data", in[0], t);
  MergeType(kOp, "rois", in[1], t);
  MergeType(kOp, "output", out[0], t);
}

// Calls fn(out_index, plane_offset, h0, h1, w0, w1) for every output element: the cells
// [h0, h1) x [w0, w1) of the input plane it averages (possibly empty).
template <class T, class Fn>
void ForEachBin(const PsRoiAttrs& a, const Shape& d, const T* rois, int64_t R, Fn&& fn) {
  const int64_t C = d[1], H = d[2], W = d[3], P = a.pooled, G = a.group;
  const T scale = static_cast<T>(a.scale);
  for (int64_t r = 0; r < R; ++r) {
    const T* b = rois + r * 5;
    const int64_t batch = static_cast<int64_t>(b[0]);
    if (batch < 0 || batch >= d[0])
      throw std::out_of_range(std::string(kOp) + ": rois row " + std::to_string(r) + " has batch index " +
                              std::to_string(batch) + ", outside the batch of " + std::to_string(d[0]));
    const T x0 = static_cast<T>(std::round(b[1])) * scale, y0 = static_cast<T>(std::round(b[2])) * scale;
    const T x1 = static_cast<T>(std::round(b[3]) + T(1)) * scale, y1 = static_cast<T>(std::round(b[4]) + T(1)) * scale;
    const T rw = std::max(x1 - x0, static_cast<T>(0.1)), rh = std::max(y1 - y0, static_cast<T>(0.1));
    const T bh = rh / static_cast<T>(P), bw = rw / static_cast<T>(P);
    for (int64_t c = 0; c < a.output_dim; ++c)
      for (int64_t i = 0; i < P; ++i)
        for (int64_t j = 0; j < P; ++j) {
          const int64_t h0 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<T>(i) * bh + y0)), 0, H);
          const int64_t h1 = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(static_cast<T>(i + 1) * bh + y0)), 0, H);
          const int64_t w0 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<T>(j) * bw + x0)), 0, W);
          const int64_t w1 = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(static_cast<T>(j + 1) * bw + x0)), 0, W);
          const int64_t gi = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<T>(i * G) / static_cast<T>(P))), 0, G - 1);
          const int64_t gj = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<T>(j * G) / static_cast<T>(P))), 0, G - 1);
          const int64_t channel = (c * G + gi) * G + gj;
          fn(((r * a.output_dim + c) * P + i) * P + j, (batch * C + channel) * H * W, h0, h1, w0, w1);
        }
  }
}

#define PSROI_SWITCH(dtype, T, ...)                                                          \
  switch (dtype) {                                                                          \
    case DType::kFloat32: { using T = float; __VA_ARGS__; break; }                          \
    case DType::kFloat64: { using T = double; __VA_ARGS__; break; }                         \
    default: throw std::logic_error(std::string(kOp) + ": kernel called on a non-float array"); \
  }

void PsRoiForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                  std::span<const TensorRef> out) {
  const auto& a = static_cast<const PsRoiAttrs&>(attrs);
  PSROI_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    const int64_t W = in[0].shape[3];
    ForEachBin<T>(a, in[0].shape, in[1].ptr<T>(), in[1].shape[0],
                  [&](int64_t o, int64_t plane, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
                    if (h1 <= h0 || w1 <= w0) {
                      y[o] = T(0);
                      return;
                    }
                    T sum = 0;
                    for (int64_t h = h0; h < h1; ++h)
                      for (int64_t w = w0; w < w1; ++w) sum += x[plane + h * W + w];
                    y[o] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
                  });
  });
}

void PsRoiBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const PsRoiAttrs&>(attrs);
  PSROI_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    const int64_t W = io.inputs[0].shape[3];
    Accumulate(io.in_grads[0].ptr<T>(), io.in_grads[0].size(), io.req[0], [&](T* dx) {
      ForEachBin<T>(a, io.inputs[0].shape, io.inputs[1].ptr<T>(), io.inputs[1].shape[0],
                    [&](int64_t o, int64_t plane, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
                      if (h1 <= h0 || w1 <= w0) return;
                      const T g = dy[o] / static_cast<T>((h1 - h0) * (w1 - w0));
                      for (int64_t h = h0; h < h1; ++h)
                        for (int64_t w = w0; w < w1; ++w) dx[plane + h * W + w] += g;
                    });
    });
  });
  ZeroWithReq(io.in_grads[1], io.req[1]);
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data", "rois"};
  def.parse = &ParsePsRoi;
  def.infer_shape = &PsRoiShape;
  def.infer_type = &PsRoiType;
  def.forward = &PsRoiForward;
  def.backward = &PsRoiBackward;
  Registry::Add(Described(
      std::move(def),
      "Position-sensitive region-of-interest pooling (R-FCN): each bin of each region averages its own group of "
      "channels of NCHW feature maps.",
      {},
      {Undocumented("data", "Symbol", "The feature maps, NCHW, output_dim * group_size^2 channels (an input)."),
       Undocumented("rois", "Symbol", "The regions, (num_rois, 5): batch index, x1, y1, x2, y2 (an input)."),
       Required("spatial_scale", "float", "The ratio of the feature map's size to the image's (1 / total stride)."),
       Required("output_dim", "int", "The number of output channels."),
       Required("pooled_size", "int", "The output's height and width in bins."),
       Optional("group_size", "int", "'0'", "The side of the grid of channel groups; 0 means pooled_size.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
