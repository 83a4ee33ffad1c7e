// Deformable position-sensitive region-of-interest pooling (Deformable ConvNets), as MXNet
// 1.9's _contrib_DeformablePSROIPooling: as PSROIPooling, each of pooled_size x pooled_size bins
// of a region (rounded to whole pixels, scaled, shifted by half a cell) reads its own channel
// group, but averages sample_per_part^2 bilinear samples, the bin moved by trans (a (dx, dy) pair
// per part_size x part_size part and class, scaled by trans_std and the region's size). Samples
// outside the map by more than half a cell are skipped; the hidden output top_count holds how
// many each bin averaged. Gradients go to data and trans; rois get zeros, as in MXNet.
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

const char* const kOp = "_contrib_DeformablePSROIPooling";

struct DPsRoiAttrs : OpAttrs {
  double scale = 1, trans_std = 0;
  int64_t output_dim = 1, group = 1, pooled = 1, part = 1, samples = 1;
  bool no_trans = false;
};

std::shared_ptr<const OpAttrs> ParseDPsRoi(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"data", "rois", "trans", "spatial_scale", "output_dim", "group_size", "pooled_size",
                          "part_size", "sample_per_part", "trans_std", "no_trans"});
  for (const char* key : {"data", "rois", "trans"})
    if (Has(attrs, key))
      throw OpArgumentError(kOp, key, Quoted(attrs.at(key)), std::string("an array given as the input ") + key);
  auto a = std::make_shared<DPsRoiAttrs>();
  a->scale = GetFloat(kOp, attrs, "spatial_scale");
  if (!(a->scale >= 0 && a->scale <= 1))
    throw OpArgumentError(kOp, "spatial_scale", attrs.at("spatial_scale"), "a scale in [0, 1]");
  const auto positive = [&](const char* key, int64_t v) {
    if (v < 1) throw OpArgumentError(kOp, key, attrs.at(key), "a positive integer");
    return v;
  };
  a->output_dim = positive("output_dim", GetInt(kOp, attrs, "output_dim"));
  a->group = positive("group_size", GetInt(kOp, attrs, "group_size"));
  a->pooled = positive("pooled_size", GetInt(kOp, attrs, "pooled_size"));
  a->part = GetInt(kOp, attrs, "part_size", 0);
  if (a->part < 0) throw OpArgumentError(kOp, "part_size", attrs.at("part_size"), "a positive integer, or 0 for pooled_size");
  if (a->part == 0) a->part = a->pooled;
  a->samples = Has(attrs, "sample_per_part") ? positive("sample_per_part", GetInt(kOp, attrs, "sample_per_part")) : 1;
  a->trans_std = GetFloat(kOp, attrs, "trans_std", 0);
  if (!(a->trans_std >= 0 && a->trans_std <= 1))
    throw OpArgumentError(kOp, "trans_std", attrs.at("trans_std"), "a value in [0, 1]");
  a->no_trans = GetBool(kOp, attrs, "no_trans", false);
  return a;
}

std::vector<std::string> DPsRoiArguments(const OpAttrs& attrs) {
  if (static_cast<const DPsRoiAttrs&>(attrs).no_trans) return {"data", "rois"};
  return {"data", "rois", "trans"};
}

void DPsRoiShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const DPsRoiAttrs&>(attrs);
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
  for (const Shape& o : out)
    if (ShapeKnownRank(o) && o.size() == 4) MergeShape(kOp, "rois", in[1], Shape{o[0], 5});
  if (!a.no_trans) {
    const Shape& t = in[2];
    if (ShapeKnownRank(t)) {
      if (t.size() != 4 || (t[1] >= 0 && (t[1] < 2 || t[1] % 2 != 0 || a.output_dim % (t[1] / 2) != 0)))
        throw OpArgumentError(kOp, "trans", "an array of shape " + ShapeString(t),
                              "(num_rois, 2 * classes, part_size, part_size), classes dividing output_dim=" +
                                  std::to_string(a.output_dim));
      MergeShape(kOp, "trans", in[2], Shape{t[0], t[1], a.part, a.part});
      MergeShape(kOp, "rois", in[1], Shape{in[2][0], 5});
    }
  }
  if (!ShapeKnownRank(in[1])) return;
  MergeShape(kOp, "rois", in[1], Shape{in[1][0], 5});
  if (!a.no_trans) MergeShape(kOp, "trans", in[2], Shape{in[1][0], -1, a.part, a.part});
  const Shape o{in[1][0], a.output_dim, a.pooled, a.pooled};
  MergeShape(kOp, "output", out[0], o);
  MergeShape(kOp, "top_count", out[1], o);
}

void DPsRoiType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto names = DPsRoiArguments(attrs);
  DType t = DType::kUnknown;
  for (size_t i = 0; i < in.size() && t == DType::kUnknown; ++i) t = in[i];
  if (t == DType::kUnknown) t = out[0];
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64)
    throw OpArgumentError(kOp, "data", std::string("an array of type ") + DTypeName(t), "float32 or float64");
  for (size_t i = 0; i < in.size(); ++i) MergeType(kOp, names[i], in[i], t);
  MergeType(kOp, "output", out[0], t);
  MergeType(kOp, "top_count", out[1], t);
}

// What one output element samples: its first sample, steps, plane and trans entry.
template <class T>
struct Bin {
  T wstart, hstart, sub_w, sub_h, roi_w, roi_h;
  int64_t plane;      // offset of the channel plane read
  int64_t trans = -1; // offset of the bin's dx in trans (dy is part^2 further); -1 without trans
};


template <class T>
bool SampleAt(T h, T w, int64_t H, int64_t W, int64_t* x0, int64_t* x1, int64_t* y0, int64_t* y1, T* fx, T* fy) {
  if (w < T(-0.5) || w > static_cast<T>(W) - T(0.5) || h < T(-0.5) || h > static_cast<T>(H) - T(0.5)) return false;
  w = std::min(std::max(w, T(0)), static_cast<T>(W - 1));
  h = std::min(std::max(h, T(0)), static_cast<T>(H - 1));
  *x0 = static_cast<int64_t>(std::floor(w));
  *x1 = static_cast<int64_t>(std::ceil(w));
  *y0 = static_cast<int64_t>(std::floor(h));
  *y1 = static_cast<int64_t>(std::ceil(h));
  *fx = w - static_cast<T>(*x0);
  *fy = h - static_cast<T>(*y0);
  return true;
}

// Calls fn(out_index, bin) for every output element.
template <class T, class Fn>
void ForEachBin(const DPsRoiAttrs& a, const Shape& d, const T* rois, const T* trans, int64_t num_classes, int64_t R,
                Fn&& fn) {
  const int64_t C = d[1], H = d[2], W = d[3], P = a.pooled, G = a.group, S = a.samples, Q = a.part;
  const T scale = static_cast<T>(a.scale), tstd = static_cast<T>(a.trans_std);
  const int64_t per_class = a.output_dim / num_classes;
  for (int64_t r = 0; r < R; ++r) {
    const T* b = rois + r * 5;
    const int64_t batch = static_cast<int64_t>(b[0]);
    if (batch < 0 || batch >= d[0])
      throw std::out_of_range(std::string(kOp) + ": rois row " + std::to_string(r) + " has batch index " +
                              std::to_string(batch) + ", outside the batch of " + std::to_string(d[0]));
    const T x0 = static_cast<T>(std::round(b[1])) * scale - T(0.5), y0 = static_cast<T>(std::round(b[2])) * scale - T(0.5);
    const T x1 = static_cast<T>(std::round(b[3]) + T(1)) * scale - T(0.5);
    const T y1 = static_cast<T>(std::round(b[4]) + T(1)) * scale - T(0.5);
    const T rw = std::max(x1 - x0, static_cast<T>(0.1)), rh = std::max(y1 - y0, static_cast<T>(0.1));
    const T bh = rh / static_cast<T>(P), bw = rw / static_cast<T>(P);
    for (int64_t c = 0; c < a.output_dim; ++c)
      for (int64_t i = 0; i < P; ++i)
        for (int64_t j = 0; j < P; ++j) {
          Bin<T> bin{};
          const int64_t part_h = static_cast<int64_t>(std::floor(static_cast<T>(i) / static_cast<T>(P) * static_cast<T>(Q)));
          const int64_t part_w = static_cast<int64_t>(std::floor(static_cast<T>(j) / static_cast<T>(P) * static_cast<T>(Q)));
          T tx = 0, ty = 0;
          if (trans != nullptr) {
            bin.trans = (((r * num_classes + c / per_class) * 2) * Q + part_h) * Q + part_w;
            tx = trans[bin.trans] * tstd;
            ty = trans[bin.trans + Q * Q] * tstd;
          }
          bin.wstart = static_cast<T>(j) * bw + x0 + tx * rw;
          bin.hstart = static_cast<T>(i) * bh + y0 + ty * rh;
          bin.sub_w = bw / static_cast<T>(S);
          bin.sub_h = bh / static_cast<T>(S);
          bin.roi_w = rw;
          bin.roi_h = rh;
          const int64_t gw = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<T>(j * G) / static_cast<T>(P))), 0, G - 1);
          const int64_t gh = std::clamp<int64_t>(static_cast<int64_t>(std::floor(static_cast<T>(i * G) / static_cast<T>(P))), 0, G - 1);
          bin.plane = (batch * C + (c * G + gh) * G + gw) * H * W;
          fn(((r * a.output_dim + c) * P + i) * P + j, bin);
        }
  }
}

int64_t NumClasses(const DPsRoiAttrs& a, std::span<const TensorRef> in) {
  return a.no_trans ? 1 : in[2].shape[1] / 2;
}

template <class T>
void ForwardT(const DPsRoiAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const T* x = in[0].ptr<T>();
  const int64_t H = in[0].shape[2], W = in[0].shape[3];
  T* y = out[0].ptr<T>();
  T* count = out[1].ptr<T>();
  ForEachBin<T>(a, in[0].shape, in[1].ptr<T>(), a.no_trans ? nullptr : in[2].ptr<T>(), NumClasses(a, in),
                in[1].shape[0], [&](int64_t o, const Bin<T>& bin) {
                  T sum = 0;
                  int64_t n = 0;
                  for (int64_t ih = 0; ih < a.samples; ++ih)
                    for (int64_t iw = 0; iw < a.samples; ++iw) {
                      int64_t x0, x1, y0, y1;
                      T fx, fy;
                      if (!SampleAt<T>(bin.hstart + static_cast<T>(ih) * bin.sub_h, bin.wstart + static_cast<T>(iw) * bin.sub_w,
                                       H, W, &x0, &x1, &y0, &y1, &fx, &fy))
                        continue;
                      const T* p = x + bin.plane;
                      sum += (1 - fx) * (1 - fy) * p[y0 * W + x0] + (1 - fx) * fy * p[y1 * W + x0] +
                             fx * (1 - fy) * p[y0 * W + x1] + fx * fy * p[y1 * W + x1];
                      ++n;
                    }
                  y[o] = n == 0 ? T(0) : sum / static_cast<T>(n);
                  count[o] = static_cast<T>(n);
                });
}

template <class T>
void BackwardT(const DPsRoiAttrs& a, const BackwardIO& io) {
  const T* x = io.inputs[0].ptr<T>();
  const int64_t H = io.inputs[0].shape[2], W = io.inputs[0].shape[3], Q = a.part;
  const T* dy = io.out_grads[0].ptr<T>();
  const T* count = io.outputs[1].ptr<T>();
  const T tstd = static_cast<T>(a.trans_std);
  const bool want_x = io.req[0] != OpReq::kNull, want_t = !a.no_trans && io.req[2] != OpReq::kNull;
  if (io.req[0] == OpReq::kWrite) ZeroWithReq(io.in_grads[0], OpReq::kWrite);
  if (!a.no_trans && io.req[2] == OpReq::kWrite) ZeroWithReq(io.in_grads[2], OpReq::kWrite);
  T* dx = want_x ? io.in_grads[0].ptr<T>() : nullptr;
  T* dt = want_t ? io.in_grads[2].ptr<T>() : nullptr;
  if (want_x || want_t)
    ForEachBin<T>(a, io.inputs[0].shape, io.inputs[1].ptr<T>(), a.no_trans ? nullptr : io.inputs[2].ptr<T>(),
                  NumClasses(a, io.inputs), io.inputs[1].shape[0], [&](int64_t o, const Bin<T>& bin) {
                    if (count[o] <= 0) return;
                    const T g = dy[o] / count[o];
                    for (int64_t ih = 0; ih < a.samples; ++ih)
                      for (int64_t iw = 0; iw < a.samples; ++iw) {
                        int64_t x0, x1, y0, y1;
                        T fx, fy;
                        if (!SampleAt<T>(bin.hstart + static_cast<T>(ih) * bin.sub_h,
                                         bin.wstart + static_cast<T>(iw) * bin.sub_w, H, W, &x0, &x1, &y0, &y1, &fx, &fy))
                          continue;
                        if (dx != nullptr) {
                          T* p = dx + bin.plane;
                          p[y0 * W + x0] += (1 - fx) * (1 - fy) * g;
                          p[y1 * W + x0] += (1 - fx) * fy * g;
                          p[y0 * W + x1] += fx * (1 - fy) * g;
                          p[y1 * W + x1] += fx * fy * g;
                        }
                        if (dt == nullptr) continue;
                        const T* p = x + bin.plane;
                        const T u00 = p[y0 * W + x0], u01 = p[y1 * W + x0], u10 = p[y0 * W + x1], u11 = p[y1 * W + x1];
                        const T ddx = (u11 * fy + u10 * (1 - fy) - u01 * fy - u00 * (1 - fy)) * tstd * g * bin.roi_w;
                        const T ddy = (u11 * fx + u01 * (1 - fx) - u10 * fx - u00 * (1 - fx)) * tstd * g * bin.roi_h;
                        dt[bin.trans] += ddx;
                        dt[bin.trans + Q * Q] += ddy;
                      }
                  });
  ZeroWithReq(io.in_grads[1], io.req[1]);
}

void DPsRoiForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
  const auto& a = static_cast<const DPsRoiAttrs&>(attrs);
  if (in[0].dtype == DType::kFloat64) ForwardT<double>(a, in, out);
  else ForwardT<float>(a, in, out);
}

void DPsRoiBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const DPsRoiAttrs&>(attrs);
  if (io.inputs[0].dtype == DType::kFloat64) BackwardT<double>(a, io);
  else BackwardT<float>(a, io);
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.list_inputs = &DPsRoiArguments;
  def.num_outputs = 2;
  def.num_visible_outputs = 1;
  def.parse = &ParseDPsRoi;
  def.infer_shape = &DPsRoiShape;
  def.infer_type = &DPsRoiType;
  def.forward = &DPsRoiForward;
  def.backward = &DPsRoiBackward;
  Registry::Add(Described(
      std::move(def),
      "Deformable position-sensitive region-of-interest pooling: each bin of each region averages bilinear samples "
      "of its own group of channels, the bin moved by a learned offset (trans).",
      {},
      {Undocumented("data", "Symbol", "The feature maps, NCHW, output_dim * group_size^2 channels (an input)."),
       Undocumented("rois", "Symbol", "The regions, (num_rois, 5): batch index, x1, y1, x2, y2 (an input)."),
       Undocumented("trans", "Symbol",
                    "The bin offsets, (num_rois, 2 * classes, part_size, part_size) (an input; absent with no_trans)."),
       Required("spatial_scale", "float", "The ratio of the feature map's size to the image's (1 / total stride)."),
       Required("output_dim", "int", "The number of output channels."),
       Required("group_size", "int", "The side of the grid of channel groups."),
       Required("pooled_size", "int", "The output's height and width in bins."),
       Optional("part_size", "int", "'0'", "The side of trans's grid of parts; 0 means pooled_size."),
       Optional("sample_per_part", "int", "'1'", "Samples per bin along each axis."),
       Optional("trans_std", "float", "0", "The scale of trans."),
       Optional("no_trans", "boolean", "0", "Whether there is no trans input (no deformation).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
