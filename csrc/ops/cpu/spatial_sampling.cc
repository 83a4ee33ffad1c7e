// Spatial transformer networks' layers, as MXNet 1.9 defines them on NCHW data:
// - GridGenerator: a sampling grid (N, 2, H, W) of normalized (x, y) in [-1, 1], from an affine
//   transform (data (N, 6) = theta (2 x 3) applied to the target grid of target_shape) or a
//   warp (data (N, 2, H, W), an optical flow in pixels added to each pixel's coordinates).
// - BilinearSampler: data sampled at grid (N, 2, Ho, Wo): x_real = (x + 1) (W - 1) / 2 and
//   y alike, bilinear between the four neighbours, those outside the input counting as 0.
// - SpatialTransformer: BilinearSampler(data, GridGenerator(loc, affine, target_shape)).
// Gradients reach the data, the grid and through it loc, as in MXNet.
#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

// ---- Sampling kernels -------------------------------------------------------------------------

// The four neighbours of a sample point and their bilinear weights.
struct Corners {
  int64_t x0, y0;
  double wx, wy;  // the weights of the top-left corner along x and y
};

template <class T>
Corners CornersAt(T gx, T gy, int64_t H, int64_t W) {
  const T x = (gx + T(1)) * static_cast<T>(W - 1) / T(2);
  const T y = (gy + T(1)) * static_cast<T>(H - 1) / T(2);
  const int64_t x0 = static_cast<int64_t>(std::floor(static_cast<double>(x)));
  const int64_t y0 = static_cast<int64_t>(std::floor(static_cast<double>(y)));
  return {x0, y0, 1.0 - (static_cast<double>(x) - static_cast<double>(x0)),
          1.0 - (static_cast<double>(y) - static_cast<double>(y0))};
}

inline bool Inside(int64_t v, int64_t n) { return v >= 0 && v < n; }

// y[n, c, i, j] = data sampled at grid[n, :, i, j].
template <class T>
void SampleForward(const TensorRef& data, const TensorRef& grid, const TensorRef& out) {
  const Shape& d = data.shape;
  const int64_t N = d[0], C = d[1], H = d[2], W = d[3], Ho = out.shape[2], Wo = out.shape[3], P = Ho * Wo;
  const T* x = data.ptr<T>();
  const T* g = grid.ptr<T>();
  T* y = out.ptr<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < P; ++k) {
      const Corners c = CornersAt(g[n * 2 * P + k], g[n * 2 * P + P + k], H, W);
      for (int64_t ch = 0; ch < C; ++ch) {
        const T* plane = x + (n * C + ch) * H * W;
        auto at = [&](int64_t yy, int64_t xx) {
          return Inside(yy, H) && Inside(xx, W) ? static_cast<double>(plane[yy * W + xx]) : 0.0;
        };
        const double v = at(c.y0, c.x0) * c.wy * c.wx + at(c.y0, c.x0 + 1) * c.wy * (1 - c.wx) +
                         at(c.y0 + 1, c.x0) * (1 - c.wy) * c.wx + at(c.y0 + 1, c.x0 + 1) * (1 - c.wy) * (1 - c.wx);
        y[(n * C + ch) * P + k] = static_cast<T>(v);
      }
    }
}

// Accumulates the data gradient into ddata (when given) and the grid gradient into dgrid (when
// given), both in double.
template <class T>
void SampleBackward(const TensorRef& data, const TensorRef& grid, const TensorRef& dy, double* ddata,
                    double* dgrid) {
  const Shape& d = data.shape;
  const int64_t N = d[0], C = d[1], H = d[2], W = d[3], Ho = dy.shape[2], Wo = dy.shape[3], P = Ho * Wo;
  const T* x = data.ptr<T>();
  const T* g = grid.ptr<T>();
  const T* gy = dy.ptr<T>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < P; ++k) {
      const Corners c = CornersAt(g[n * 2 * P + k], g[n * 2 * P + P + k], H, W);
      double gwx = 0, gwy = 0;
      for (int64_t ch = 0; ch < C; ++ch) {
        const int64_t base = (n * C + ch) * H * W;
        const double go = static_cast<double>(gy[(n * C + ch) * P + k]);
        double v[2][2];
        for (int dy2 = 0; dy2 < 2; ++dy2)
          for (int dx2 = 0; dx2 < 2; ++dx2) {
            const int64_t yy = c.y0 + dy2, xx = c.x0 + dx2;
            const bool in = Inside(yy, H) && Inside(xx, W);
            v[dy2][dx2] = in ? static_cast<double>(x[base + yy * W + xx]) : 0.0;
            if (in && ddata) {
              const double w = (dy2 ? 1 - c.wy : c.wy) * (dx2 ? 1 - c.wx : c.wx);
              ddata[base + yy * W + xx] += go * w;
            }
          }
        // d out / d wx and d wy, the weights of the top-left corner.
        gwx += go * (c.wy * (v[0][0] - v[0][1]) + (1 - c.wy) * (v[1][0] - v[1][1]));
        gwy += go * (c.wx * (v[0][0] - v[1][0]) + (1 - c.wx) * (v[0][1] - v[1][1]));
      }
      if (dgrid) {
        // wx = 1 - (x - x0), x = (gx + 1) (W - 1) / 2.
        dgrid[n * 2 * P + k] -= gwx * static_cast<double>(W - 1) / 2;
        dgrid[n * 2 * P + P + k] -= gwy * static_cast<double>(H - 1) / 2;
      }
    }
}

// Stores a double accumulator into a gradient under req.
template <class T>
void StoreAll(const std::vector<double>& acc, T* dst, OpReq req) {
  for (size_t i = 0; i < acc.size(); ++i) Store(dst[i], static_cast<T>(acc[i]), req);
}

// ---- Affine grids ---------------------------------------------------------------------------------

// grid[n, 0/1, i, j] = theta[n] (2 x 3) applied to (x_j, y_i, 1), x_j = -1 + 2 j / (W - 1).
template <class T>
void AffineGrid(const T* theta, int64_t N, int64_t H, int64_t W, T* grid) {
  const int64_t P = H * W;
  for (int64_t n = 0; n < N; ++n) {
    const T* t = theta + n * 6;
    for (int64_t i = 0; i < H; ++i)
      for (int64_t j = 0; j < W; ++j) {
        const double xs = -1.0 + 2.0 * static_cast<double>(j) / static_cast<double>(W - 1);
        const double ys = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(H - 1);
        for (int r = 0; r < 2; ++r)
          grid[(n * 2 + r) * P + i * W + j] = static_cast<T>(static_cast<double>(t[r * 3]) * xs +
                                                             static_cast<double>(t[r * 3 + 1]) * ys +
                                                             static_cast<double>(t[r * 3 + 2]));
      }
  }
}

template <class T>
void AffineGridBackward(const double* dgrid, int64_t N, int64_t H, int64_t W, T* dtheta, OpReq req) {
  const int64_t P = H * W;
  for (int64_t n = 0; n < N; ++n)
    for (int r = 0; r < 2; ++r) {
      double s[3] = {0, 0, 0};
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          const double g = dgrid[(n * 2 + r) * P + i * W + j];
          s[0] += g * (-1.0 + 2.0 * static_cast<double>(j) / static_cast<double>(W - 1));
          s[1] += g * (-1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(H - 1));
          s[2] += g;
        }
      for (int q = 0; q < 3; ++q) Store(dtheta[n * 6 + r * 3 + q], static_cast<T>(s[q]), req);
    }
}

std::vector<int64_t> ParseTarget(const std::string& op, const AttrMap& attrs, bool required) {
  auto t = GetTuple(op, attrs, "target_shape", {0, 0});
  if (t.size() != 2) throw OpArgumentError(op, "target_shape", attrs.at("target_shape"), "(height, width)");
  if (required && (t[0] < 2 || t[1] < 2))
    throw OpArgumentError(op, "target_shape", Has(attrs, "target_shape") ? attrs.at("target_shape") : "(0, 0)",
                          "a height and width >= 2 for an affine grid");
  return t;
}

void Check(const std::string& op, const std::string& arg, const Shape& s, size_t rank, int64_t dim1,
           const std::string& what) {
  if (!ShapeKnownRank(s)) return;
  if (s.size() != rank || (dim1 >= 0 && s[1] >= 0 && s[1] != dim1))
    throw OpArgumentError(op, arg, "an array of shape " + ShapeString(s), what);
}

// ---- GridGenerator ---------------------------------------------------------------------------------

const char* const kGrid = "GridGenerator";

struct GridAttrs : OpAttrs {
  bool affine = true;
  std::vector<int64_t> target{0, 0};
};

std::shared_ptr<const OpAttrs> ParseGrid(const AttrMap& attrs) {
  CheckAttrs(kGrid, attrs, {"transform_type", "target_shape"});
  auto a = std::make_shared<GridAttrs>();
  a->affine = GetEnum(kGrid, attrs, "transform_type", {"affine", "warp"}) == "affine";
  a->target = ParseTarget(kGrid, attrs, a->affine);
  return a;
}

void GridShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const GridAttrs&>(attrs);
  if (a.affine) {
    Check(kGrid, "data", in[0], 2, 6, "(batch, 6): the affine parameters of each item");
    if (ShapeKnownRank(in[0])) MergeShape(kGrid, "output", out[0], Shape{in[0][0], 2, a.target[0], a.target[1]});
    if (ShapeKnownRank(out[0])) MergeShape(kGrid, "data", in[0], Shape{out[0][0], 6});
  } else {
    Check(kGrid, "data", in[0], 4, 2, "(batch, 2, height, width): the flow along x and y");
    MergeShape(kGrid, "output", out[0], in[0]);
    MergeShape(kGrid, "data", in[0], out[0]);
    if (IsKnown(in[0]) && ShapeKnownRank(in[0]) && (in[0][2] < 2 || in[0][3] < 2))
      throw OpArgumentError(kGrid, "data", "an array of shape " + ShapeString(in[0]), "a height and width >= 2");
  }
}

void GridForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const auto& a = static_cast<const GridAttrs&>(attrs);
  const Shape& o = out[0].shape;
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    if (a.affine) {
      AffineGrid(in[0].ptr<T>(), o[0], o[2], o[3], out[0].ptr<T>());
    } else {
      const T* f = in[0].ptr<T>();
      T* g = out[0].ptr<T>();
      const int64_t H = o[2], W = o[3], P = H * W;
      const double sx = (static_cast<double>(W) - 1) / 2, sy = (static_cast<double>(H) - 1) / 2;
      for (int64_t n = 0; n < o[0]; ++n)
        for (int64_t k = 0; k < P; ++k) {
          g[n * 2 * P + k] = static_cast<T>((static_cast<double>(f[n * 2 * P + k]) + static_cast<double>(k % W)) / sx - 1);
          g[n * 2 * P + P + k] =
              static_cast<T>((static_cast<double>(f[n * 2 * P + P + k]) + static_cast<double>(k / W)) / sy - 1);
        }
    }
  });
}

void GridBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  if (io.req[0] == OpReq::kNull) return;
  const auto& a = static_cast<const GridAttrs&>(attrs);
  const Shape& o = io.out_grads[0].shape;
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    T* dx = io.in_grads[0].ptr<T>();
    if (a.affine) {
      std::vector<double> g(dy, dy + io.out_grads[0].size());
      AffineGridBackward(g.data(), o[0], o[2], o[3], dx, io.req[0]);
    } else {
      const int64_t P = o[2] * o[3];
      const double sx = (static_cast<double>(o[3]) - 1) / 2, sy = (static_cast<double>(o[2]) - 1) / 2;
      for (int64_t i = 0; i < io.out_grads[0].size(); ++i)
        Store(dx[i], static_cast<T>(static_cast<double>(dy[i]) / ((i / P) % 2 == 0 ? sx : sy)), io.req[0]);
    }
  });
}

// ---- BilinearSampler -------------------------------------------------------------------------------

const char* const kSampler = "BilinearSampler";

std::shared_ptr<const OpAttrs> ParseSampler(const AttrMap& attrs) {
  CheckAttrs(kSampler, attrs, {"cudnn_off"});
  if (Has(attrs, "cudnn_off") && attrs.at("cudnn_off") != "None") GetBool(kSampler, attrs, "cudnn_off", false);
  return std::make_shared<NoAttrs>();
}

void SamplerShape(const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  Check(kSampler, "data", in[0], 4, -1, "4 dimensions (batch, channel, height, width)");
  Check(kSampler, "grid", in[1], 4, 2, "(batch, 2, height, width): the x and y of each output cell");
  if (!ShapeKnownRank(in[0]) || !ShapeKnownRank(in[1])) return;
  if (in[0][0] >= 0 && in[1][0] >= 0 && in[0][0] != in[1][0])
    throw OpArgumentError(kSampler, "grid", "an array of shape " + ShapeString(in[1]),
                          "the batch size of data, " + std::to_string(in[0][0]));
  MergeShape(kSampler, "output", out[0], Shape{in[0][0], in[0][1], in[1][2], in[1][3]});
}

void SamplerForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, SampleForward<T>(in[0], in[1], out[0]));
}

void SamplerBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    std::vector<double> dd(io.req[0] != OpReq::kNull ? io.inputs[0].size() : 0);
    std::vector<double> dg(io.req[1] != OpReq::kNull ? io.inputs[1].size() : 0);
    SampleBackward<T>(io.inputs[0], io.inputs[1], io.out_grads[0], dd.empty() ? nullptr : dd.data(),
                      dg.empty() ? nullptr : dg.data());
    if (!dd.empty()) StoreAll(dd, io.in_grads[0].ptr<T>(), io.req[0]);
    if (!dg.empty()) StoreAll(dg, io.in_grads[1].ptr<T>(), io.req[1]);
  });
}

// ---- SpatialTransformer -------------------------------------------------------------------------------

const char* const kTransformer = "SpatialTransformer";

struct TransformerAttrs : OpAttrs {
  std::vector<int64_t> target{0, 0};
};

std::shared_ptr<const OpAttrs> ParseTransformer(const AttrMap& attrs) {
  CheckAttrs(kTransformer, attrs, {"target_shape", "transform_type", "sampler_type", "cudnn_off"});
  auto a = std::make_shared<TransformerAttrs>();
  GetEnum(kTransformer, attrs, "transform_type", {"affine"});
  GetEnum(kTransformer, attrs, "sampler_type", {"bilinear"});
  if (Has(attrs, "cudnn_off") && attrs.at("cudnn_off") != "None") GetBool(kTransformer, attrs, "cudnn_off", false);
  a->target = ParseTarget(kTransformer, attrs, true);
  return a;
}

void TransformerShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const TransformerAttrs&>(attrs);
  Check(kTransformer, "data", in[0], 4, -1, "4 dimensions (batch, channel, height, width)");
  Check(kTransformer, "loc", in[1], 2, 6, "(batch, 6): the affine parameters of each item");
  if (ShapeKnownRank(in[0])) MergeShape(kTransformer, "loc", in[1], Shape{in[0][0], 6});
  if (!ShapeKnownRank(in[0])) return;
  MergeShape(kTransformer, "output", out[0], Shape{in[0][0], in[0][1], a.target[0], a.target[1]});
}

void TransformerForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
  const auto& a = static_cast<const TransformerAttrs&>(attrs);
  const int64_t N = in[0].shape[0], H = a.target[0], W = a.target[1];
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    std::vector<T> grid(static_cast<size_t>(N * 2 * H * W));
    AffineGrid(in[1].ptr<T>(), N, H, W, grid.data());
    TensorRef g{grid.data(), Shape{N, 2, H, W}, in[0].dtype};
    SampleForward<T>(in[0], g, out[0]);
  });
}

void TransformerBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const TransformerAttrs&>(attrs);
  const int64_t N = io.inputs[0].shape[0], H = a.target[0], W = a.target[1];
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    std::vector<T> grid(static_cast<size_t>(N * 2 * H * W));
    AffineGrid(io.inputs[1].ptr<T>(), N, H, W, grid.data());
    TensorRef g{grid.data(), Shape{N, 2, H, W}, io.inputs[0].dtype};
    std::vector<double> dd(io.req[0] != OpReq::kNull ? io.inputs[0].size() : 0);
    std::vector<double> dg(io.req[1] != OpReq::kNull ? grid.size() : 0);
    SampleBackward<T>(io.inputs[0], g, io.out_grads[0], dd.empty() ? nullptr : dd.data(),
                      dg.empty() ? nullptr : dg.data());
    if (!dd.empty()) StoreAll(dd, io.in_grads[0].ptr<T>(), io.req[0]);
    if (!dg.empty()) AffineGridBackward(dg.data(), N, H, W, io.in_grads[1].ptr<T>(), io.req[1]);
  });
}

const bool registered = [] {
  OpDef grid;
  grid.name = kGrid;
  grid.inputs = {"data"};
  grid.parse = &ParseGrid;
  grid.infer_shape = &GridShape;
  grid.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kGrid, in, out);
  };
  grid.forward = &GridForward;
  grid.backward = &GridBackward;
  Registry::Add(Described(
      std::move(grid),
      "Makes a sampling grid of normalized coordinates for BilinearSampler, from affine parameters or an optical flow.",
      {{"data", "The affine parameters (batch, 6), or the flow (batch, 2, height, width)."}},
      {Required("transform_type", "{'affine', 'warp'}", "What data holds: affine parameters or a flow in pixels."),
       Optional("target_shape", "Shape(tuple)", "[0,0]", "The grid's (height, width) for transform_type='affine'.")}));

  OpDef sampler;
  sampler.name = kSampler;
  sampler.inputs = {"data", "grid"};
  sampler.parse = &ParseSampler;
  sampler.infer_shape = &SamplerShape;
  sampler.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kSampler, in, out);
  };
  sampler.forward = &SamplerForward;
  sampler.backward = &SamplerBackward;
  Registry::Add(Described(
      std::move(sampler),
      "Samples NCHW data bilinearly at the normalized (x, y) of a grid, points outside the input counting as 0.",
      {{"data", "The input array, NCHW."}, {"grid", "The sampling points (batch, 2, height, width), x then y, in [-1, 1]."}},
      {Optional("cudnn_off", "boolean or None", "None", "Whether to avoid cuDNN (accepted; no effect on CPU).")}));

  OpDef transformer;
  transformer.name = kTransformer;
  transformer.inputs = {"data", "loc"};
  transformer.parse = &ParseTransformer;
  transformer.infer_shape = &TransformerShape;
  transformer.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kTransformer, in, out);
  };
  transformer.forward = &TransformerForward;
  transformer.backward = &TransformerBackward;
  Registry::Add(Described(
      std::move(transformer),
      "Applies an affine transform, given per item by loc, to NCHW data by bilinear sampling onto target_shape.",
      {{"data", "The input array, NCHW."}, {"loc", "The affine parameters (batch, 6) of each item."}},
      {Optional("target_shape", "Shape(tuple)", "[0,0]", "The output's (height, width)."),
       Required("transform_type", "{'affine'}", "The transform: affine."),
       Required("sampler_type", "{'bilinear'}", "The sampler: bilinear."),
       Optional("cudnn_off", "boolean or None", "None", "Whether to avoid cuDNN (accepted; no effect on CPU).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
