// Resizing NCHW data to a given height and width, as MXNet 1.9's contrib operators do:
// - _contrib_AdaptiveAvgPooling2D: output cell (i, j) of an oh x ow output averages input rows
//   [floor(i * H / oh), ceil((i + 1) * H / oh)) and the columns alike.
// - _contrib_BilinearResize2D: bilinear interpolation at source coordinate scale * dst
//   (align_corners, scale (in - 1) / (out - 1)) or scale * (dst + 0.5) - 0.5 clamped at 0
//   (scale in / out), the output size given by height/width, scale_height/scale_width, the
//   `like` input, or rounded to even or odd sizes (mode). `like` gets a zero gradient.
// Both are linear in the data: each output is a weighted sum of input cells, and the gradient
// scatters the output gradient back with the same weights.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

void Check4D(const std::string& op, const std::string& arg, const Shape& s) {
  if (ShapeKnownRank(s) && s.size() != 4)
    throw OpArgumentError(op, arg, "an array of shape " + ShapeString(s), "4 dimensions (batch, channel, height, width)");
}

// For each output index along one axis, its (input index, weight) sources.
using Weights = std::vector<std::vector<std::pair<int64_t, double>>>;

// Calls fn(out_index, in_index, weight) for every contribution within one plane.
template <class Fn>
void ForEachWeight(const Weights& rows, const Weights& cols, int64_t in_w, Fn&& fn) {
  const int64_t ow = static_cast<int64_t>(cols.size());
  for (size_t i = 0; i < rows.size(); ++i)
    for (int64_t j = 0; j < ow; ++j)
      for (const auto& [r, wr] : rows[i])
        for (const auto& [c, wc] : cols[static_cast<size_t>(j)])
          fn(static_cast<int64_t>(i) * ow + j, r * in_w + c, wr * wc);
}

template <class T>
void Resample(const Weights& rows, const Weights& cols, const TensorRef& in, const TensorRef& out) {
  const Shape& d = in.shape;
  const int64_t planes = d[0] * d[1], in_plane = d[2] * d[3], out_plane = out.shape[2] * out.shape[3];
  const T* x = in.ptr<T>();
  T* y = out.ptr<T>();
  std::vector<AccT<T>> acc(static_cast<size_t>(out_plane));
  for (int64_t p = 0; p < planes; ++p) {
    std::fill(acc.begin(), acc.end(), AccT<T>(0));
    const T* xp = x + p * in_plane;
    ForEachWeight(rows, cols, d[3], [&](int64_t o, int64_t i, double w) {
      acc[o] += static_cast<AccT<T>>(xp[i]) * static_cast<AccT<T>>(w);
    });
    for (int64_t o = 0; o < out_plane; ++o) y[p * out_plane + o] = static_cast<T>(acc[o]);
  }
}

template <class T>
void ResampleBackward(const Weights& rows, const Weights& cols, const TensorRef& dy, const TensorRef& dx, OpReq req) {
  const Shape& d = dx.shape;
  const int64_t planes = d[0] * d[1], in_plane = d[2] * d[3], out_plane = dy.shape[2] * dy.shape[3];
  const T* g = dy.ptr<T>();
  Accumulate(dx.ptr<T>(), dx.size(), req, [&](auto* acc) {
    using A = std::remove_pointer_t<decltype(acc)>;
    for (int64_t p = 0; p < planes; ++p) {
      const T* gp = g + p * out_plane;
      A* ap = acc + p * in_plane;
      ForEachWeight(rows, cols, d[3], [&](int64_t o, int64_t i, double w) {
        ap[i] += static_cast<A>(gp[o]) * static_cast<A>(w);
      });
    }
  });
}

void ZeroFill(const TensorRef& t) {
  if (t.size() > 0) std::memset(t.data, 0, static_cast<size_t>(t.size()) * DTypeSize(t.dtype));
}

// ---- AdaptiveAvgPooling2D ----------------------------------------------------------------------

const char* const kAdaptive = "_contrib_AdaptiveAvgPooling2D";

struct AdaptiveAttrs : OpAttrs {
  int64_t oh = 1, ow = 1;
};

std::shared_ptr<const OpAttrs> ParseAdaptive(const AttrMap& attrs) {
  CheckAttrs(kAdaptive, attrs, {"output_size"});
  auto a = std::make_shared<AdaptiveAttrs>();
  const auto size = GetTuple(kAdaptive, attrs, "output_size", {});
  if (size.size() > 2)
    throw OpArgumentError(kAdaptive, "output_size", attrs.at("output_size"), "(), (size,) or (height, width)");
  for (int64_t v : size)
    if (v < 1) throw OpArgumentError(kAdaptive, "output_size", attrs.at("output_size"), "sizes >= 1");
  if (size.size() == 1) a->oh = a->ow = size[0];
  if (size.size() == 2) {
    a->oh = size[0];
    a->ow = size[1];
  }
  return a;
}

// MXNet's window bounds, computed in float as it does.
Weights AdaptiveWeights(int64_t in, int64_t out) {
  Weights w(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t lo = static_cast<int64_t>(std::floor(static_cast<float>(o * in) / static_cast<float>(out)));
    const int64_t hi = static_cast<int64_t>(std::ceil(static_cast<float>((o + 1) * in) / static_cast<float>(out)));
    for (int64_t i = lo; i < hi; ++i) w[static_cast<size_t>(o)].push_back({i, 1.0 / static_cast<double>(hi - lo)});
  }
  return w;
}

// ---- BilinearResize2D -------------------------------------------------------------------------

const char* const kBilinear = "_contrib_BilinearResize2D";

enum class ResizeMode { kSize, kOddScale, kLike, kToEvenDown, kToEvenUp, kToOddDown, kToOddUp };

struct ResizeAttrs : OpAttrs {
  int64_t height = 1, width = 1;
  std::optional<double> scale_h, scale_w;
  ResizeMode mode = ResizeMode::kSize;
  bool align_corners = true;
};

std::shared_ptr<const OpAttrs> ParseResize(const AttrMap& attrs) {
  CheckAttrs(kBilinear, attrs, {"height", "width", "scale_height", "scale_width", "mode", "align_corners"});
  auto a = std::make_shared<ResizeAttrs>();
  a->height = GetInt(kBilinear, attrs, "height", 1);
  a->width = GetInt(kBilinear, attrs, "width", 1);
  if (a->height < 1) throw OpArgumentError(kBilinear, "height", attrs.at("height"), "an integer >= 1");
  if (a->width < 1) throw OpArgumentError(kBilinear, "width", attrs.at("width"), "an integer >= 1");
  a->scale_h = GetOptionalFloat(kBilinear, attrs, "scale_height");
  a->scale_w = GetOptionalFloat(kBilinear, attrs, "scale_width");
  const std::string mode = GetEnum(kBilinear, attrs, "mode",
                                   {"size", "odd_scale", "like", "to_even_down", "to_even_up", "to_odd_down", "to_odd_up"},
                                   "size");
  static const std::pair<const char*, ResizeMode> modes[] = {
      {"size", ResizeMode::kSize},           {"odd_scale", ResizeMode::kOddScale}, {"like", ResizeMode::kLike},
      {"to_even_down", ResizeMode::kToEvenDown}, {"to_even_up", ResizeMode::kToEvenUp},
      {"to_odd_down", ResizeMode::kToOddDown},   {"to_odd_up", ResizeMode::kToOddUp}};
  for (const auto& [name, m] : modes)
    if (mode == name) a->mode = m;
  a->align_corners = GetBool(kBilinear, attrs, "align_corners", true);
  // MXNet takes the scaled width only along with a scaled height, and needs both to scale.
  const bool scaled = a->mode == ResizeMode::kOddScale || (a->mode == ResizeMode::kSize && a->scale_h);
  if (scaled && (!a->scale_h || !a->scale_w))
    throw OpArgumentError(kBilinear, a->scale_h ? "scale_width" : "scale_height", "None",
                          "a scale, given with " + std::string(a->scale_h ? "scale_height" : "scale_width") +
                              (a->mode == ResizeMode::kOddScale ? " in mode='odd_scale'" : ""));
  for (const auto& s : {a->scale_h, a->scale_w})
    if (s && !(*s > 0)) throw OpArgumentError(kBilinear, "scale_height", std::to_string(*s), "a positive scale");
  return a;
}

std::vector<std::string> ResizeArguments(const OpAttrs& attrs) {
  if (static_cast<const ResizeAttrs&>(attrs).mode == ResizeMode::kLike) return {"data", "like"};
  return {"data"};
}

int64_t Rounded(ResizeMode m, int64_t n) {
  const bool even = n % 2 == 0;
  switch (m) {
    case ResizeMode::kToEvenDown: return even ? n : n - 1;
    case ResizeMode::kToEvenUp: return even ? n : n + 1;
    case ResizeMode::kToOddDown: return even ? n - 1 : n;
    case ResizeMode::kToOddUp: return even ? n + 1 : n;
    default: return n;
  }
}

void ResizeShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const ResizeAttrs&>(attrs);
  Check4D(kBilinear, "data", in[0]);
  if (a.mode == ResizeMode::kLike) Check4D(kBilinear, "like", in[1]);
  if (!IsKnown(in[0]) || !ShapeKnownRank(in[0])) return;
  const Shape& d = in[0];
  int64_t h = 0, w = 0;
  switch (a.mode) {
    case ResizeMode::kSize:
      h = a.scale_h ? static_cast<int64_t>(static_cast<float>(*a.scale_h) * static_cast<float>(d[2])) : a.height;
      w = a.scale_h ? static_cast<int64_t>(static_cast<float>(*a.scale_w) * static_cast<float>(d[3])) : a.width;
      break;
    case ResizeMode::kOddScale:
      h = d[2] % 2 == 0 ? static_cast<int64_t>(static_cast<float>(d[2]) * static_cast<float>(*a.scale_h))
                        : static_cast<int64_t>(static_cast<float>(d[2] - 1) * static_cast<float>(*a.scale_h)) + 1;
      w = d[3] % 2 == 0 ? static_cast<int64_t>(static_cast<float>(d[3]) * static_cast<float>(*a.scale_w))
                        : static_cast<int64_t>(static_cast<float>(d[3] - 1) * static_cast<float>(*a.scale_w)) + 1;
      break;
    case ResizeMode::kLike:
      if (!IsKnown(in[1]) || !ShapeKnownRank(in[1])) return;
      h = in[1][2];
      w = in[1][3];
      break;
    default:
      h = Rounded(a.mode, d[2]);
      w = Rounded(a.mode, d[3]);
  }
  if (h < 1 || w < 1)
    throw OpArgumentError(kBilinear, "data", "an array of shape " + ShapeString(d),
                          "an output of at least 1x1 (this gives " + std::to_string(h) + "x" + std::to_string(w) + ")");
  MergeShape(kBilinear, "output", out[0], Shape{d[0], d[1], h, w});
}

Weights BilinearWeights(int64_t in, int64_t out, bool align_corners) {
  Weights w(static_cast<size_t>(out));
  if (in == out) {
    for (int64_t o = 0; o < out; ++o) w[static_cast<size_t>(o)].push_back({o, 1.0});
    return w;
  }
  // In float, as MXNet computes the coordinates.
  const float scale = out > 1 ? (align_corners ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                                               : static_cast<float>(in) / static_cast<float>(out))
                              : 0.0f;
  for (int64_t o = 0; o < out; ++o) {
    float src = align_corners ? scale * static_cast<float>(o) : scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    if (!align_corners && src < 0) src = 0;
    const int64_t lo = static_cast<int64_t>(src);
    const int64_t step = lo < in - 1 ? 1 : 0;
    const float lambda = src - static_cast<float>(lo);
    auto& taps = w[static_cast<size_t>(o)];
    taps.push_back({lo, 1.0 - static_cast<double>(lambda)});
    taps.push_back({lo + step, static_cast<double>(lambda)});
  }
  return w;
}

const bool registered = [] {
  OpDef adaptive;
  adaptive.name = kAdaptive;
  adaptive.inputs = {"data"};
  adaptive.parse = &ParseAdaptive;
  adaptive.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const AdaptiveAttrs&>(attrs);
    Check4D(kAdaptive, "data", in[0]);
    if (!ShapeKnownRank(in[0])) return;
    MergeShape(kAdaptive, "output", out[0], Shape{in[0][0], in[0][1], a.oh, a.ow});
  };
  adaptive.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kAdaptive, in, out);
  };
  adaptive.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const Shape& d = in[0].shape;
    const Weights rows = AdaptiveWeights(d[2], out[0].shape[2]), cols = AdaptiveWeights(d[3], out[0].shape[3]);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, Resample<T>(rows, cols, in[0], out[0]));
  };
  adaptive.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const Shape& d = io.inputs[0].shape;
    const Shape& o = io.out_grads[0].shape;
    const Weights rows = AdaptiveWeights(d[2], o[2]), cols = AdaptiveWeights(d[3], o[3]);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         ResampleBackward<T>(rows, cols, io.out_grads[0], io.in_grads[0], io.req[0]));
  };
  Registry::Add(Described(
      std::move(adaptive), "Average-pools NCHW data to a given output size, each output cell averaging its share of the input.",
      {{"data", "The input array, NCHW."}},
      {Optional("output_size", "Shape(tuple)", "[]", "The output's (height, width), or one size for both; () gives 1x1.")}));

  OpDef resize;
  resize.name = kBilinear;
  resize.list_inputs = &ResizeArguments;
  resize.parse = &ParseResize;
  resize.infer_shape = &ResizeShape;
  resize.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    // like lends only its shape: any type.
    std::vector<DType> data{in[0]};
    FloatElemwiseType(kBilinear, data, out);
    in[0] = data[0];
  };
  resize.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
    const auto& a = static_cast<const ResizeAttrs&>(attrs);
    const Shape& d = in[0].shape;
    const Weights rows = BilinearWeights(d[2], out[0].shape[2], a.align_corners);
    const Weights cols = BilinearWeights(d[3], out[0].shape[3], a.align_corners);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, Resample<T>(rows, cols, in[0], out[0]));
  };
  resize.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const ResizeAttrs&>(attrs);
    if (a.mode == ResizeMode::kLike && io.req[1] == OpReq::kWrite) ZeroFill(io.in_grads[1]);
    if (io.req[0] == OpReq::kNull) return;
    const Shape& d = io.inputs[0].shape;
    const Shape& o = io.out_grads[0].shape;
    const Weights rows = BilinearWeights(d[2], o[2], a.align_corners), cols = BilinearWeights(d[3], o[3], a.align_corners);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         ResampleBackward<T>(rows, cols, io.out_grads[0], io.in_grads[0], io.req[0]));
  };
  Registry::Add(Described(
      std::move(resize),
      "Resizes NCHW data by bilinear interpolation to a given size, a scale, the size of another array, or the "
      "nearest even or odd size.",
      {{"data", "The input array, NCHW."}, {"like", "The array whose height and width the output takes (mode='like')."}},
      {Optional("height", "int", "'1'", "The output height (mode='size', without scale_height)."),
       Optional("width", "int", "'1'", "The output width (mode='size', without scale_height)."),
       Optional("scale_height", "float or None", "None", "The height scale (modes 'size' and 'odd_scale')."),
       Optional("scale_width", "float or None", "None", "The width scale (modes 'size' and 'odd_scale')."),
       Optional("mode", "{'like', 'odd_scale', 'size', 'to_even_down', 'to_even_up', 'to_odd_down', 'to_odd_up'}",
                "'size'", "How the output size is chosen."),
       Optional("align_corners", "boolean", "1",
                "Whether the corner cells of input and output are aligned (else their areas are).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
