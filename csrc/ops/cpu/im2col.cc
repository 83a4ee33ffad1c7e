// im2col and col2im, as MXNet 1.9 defines them for 1-D (NCW) and 2-D (NCHW) data:
// im2col lays every kernel-sized patch of the (zero-padded) input out as a column,
//   col[n, (c * kh + i) * kw + j, oy * ow + ox] = x[n, c, oy * sh - ph + i * dh, ox * sw - pw + j * dw],
// giving (N, C * kh * kw, oh * ow); col2im is its transpose (overlapping entries summed) onto
// an image of output_size. Each is the other's gradient.
#include <algorithm>
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

struct PatchAttrs : OpAttrs {
  std::vector<int64_t> kernel, stride, dilate, pad, output_size;
};

std::vector<int64_t> SpatialTuple(const std::string& op, const AttrMap& attrs, const char* key, size_t nd,
                                  int64_t def, int64_t min, const char* what) {
  auto t = GetTuple(op, attrs, key, {});
  if (t.empty()) t.assign(nd, def);
  if (t.size() != nd)
    throw OpArgumentError(op, key, attrs.at(key), std::to_string(nd) + " values, one per kernel dimension");
  for (int64_t v : t)
    if (v < min) throw OpArgumentError(op, key, attrs.at(key), what);
  return t;
}

ParseFn ParsePatch(const std::string& op, bool to_image) {
  return [op, to_image](const AttrMap& attrs) -> std::shared_ptr<const OpAttrs> {
    if (to_image) CheckAttrs(op, attrs, {"output_size", "kernel", "stride", "dilate", "pad"});
    else CheckAttrs(op, attrs, {"kernel", "stride", "dilate", "pad"});
    auto a = std::make_shared<PatchAttrs>();
    a->kernel = GetTuple(op, attrs, "kernel");
    if (a->kernel.size() != 1 && a->kernel.size() != 2)
      throw OpArgumentError(op, "kernel", attrs.at("kernel"), "(w,) or (h, w): 1-D (NCW) or 2-D (NCHW) patches");
    for (int64_t k : a->kernel)
      if (k < 1) throw OpArgumentError(op, "kernel", attrs.at("kernel"), "every kernel size >= 1");
    const size_t nd = a->kernel.size();
    a->stride = SpatialTuple(op, attrs, "stride", nd, 1, 1, "every stride >= 1");
    a->dilate = SpatialTuple(op, attrs, "dilate", nd, 1, 1, "every dilation >= 1");
    a->pad = SpatialTuple(op, attrs, "pad", nd, 0, 0, "every padding >= 0");
    if (to_image) {
      a->output_size = GetTuple(op, attrs, "output_size");
      if (a->output_size.size() != nd)
        throw OpArgumentError(op, "output_size", attrs.at("output_size"),
                              std::to_string(nd) + " sizes, one per kernel dimension");
      for (int64_t v : a->output_size)
        if (v < 1) throw OpArgumentError(op, "output_size", attrs.at("output_size"), "sizes >= 1");
    }
    return a;
  };
}

// Patch positions along one axis of an image of `size`; 0 or less when the kernel does not fit.
int64_t Positions(const PatchAttrs& a, size_t i, int64_t size) {
  const int64_t span = a.dilate[i] * (a.kernel[i] - 1) + 1;
  return (size + 2 * a.pad[i] - span) / a.stride[i] + 1;
}

// The geometry with 1-D patches seen as 2-D of height 1.
struct Geom {
  int64_t N, C, H, W, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow;
};

Geom GeomOf(const PatchAttrs& a, const Shape& image) {
  const bool one = a.kernel.size() == 1;
  Geom g;
  g.N = image[0];
  g.C = image[1];
  g.H = one ? 1 : image[2];
  g.W = image.back();
  const size_t last = a.kernel.size() - 1;
  g.kh = one ? 1 : a.kernel[0];
  g.kw = a.kernel[last];
  g.sh = one ? 1 : a.stride[0];
  g.sw = a.stride[last];
  g.dh = one ? 1 : a.dilate[0];
  g.dw = a.dilate[last];
  g.ph = one ? 0 : a.pad[0];
  g.pw = a.pad[last];
  g.oh = one ? 1 : Positions(a, 0, g.H);
  g.ow = Positions(a, last, g.W);
  return g;
}

// Calls fn(col_index, image_index) for every column entry that reads the image (not the padding).
template <class Fn>
void ForEachEntry(const Geom& g, Fn&& fn) {
  const int64_t L = g.oh * g.ow, rows = g.C * g.kh * g.kw;
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t row = (c * g.kh + i) * g.kw + j;
          const int64_t col_base = (n * rows + row) * L;
          const int64_t img_base = (n * g.C + c) * g.H * g.W;
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const int64_t y = oy * g.sh - g.ph + i * g.dh;
            if (y < 0 || y >= g.H) continue;
            for (int64_t ox = 0; ox < g.ow; ++ox) {
              const int64_t x = ox * g.sw - g.pw + j * g.dw;
              if (x < 0 || x >= g.W) continue;
              fn(col_base + oy * g.ow + ox, img_base + y * g.W + x);
            }
          }
        }
}

// col (zero where the patch reads padding) from the image.
template <class T>
void ToColumns(const Geom& g, const T* img, T* col, int64_t col_size) {
  std::fill(col, col + col_size, T(0));
  ForEachEntry(g, [&](int64_t c, int64_t i) { col[c] = img[i]; });
}

// The image accumulates the columns, under req.
template <class T>
void ToImage(const Geom& g, const T* col, T* img, int64_t img_size, OpReq req) {
  Accumulate(img, img_size, req, [&](auto* acc) {
    using A = std::remove_pointer_t<decltype(acc)>;
    ForEachEntry(g, [&](int64_t c, int64_t i) { acc[i] += static_cast<A>(col[c]); });
  });
}

Shape ImageShape(const PatchAttrs& a, int64_t n, int64_t c) {
  Shape s{n, c};
  for (int64_t v : a.output_size) s.push_back(v);
  return s;
}

void Im2colShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const PatchAttrs&>(attrs);
  const std::string op = "im2col";
  if (!ShapeKnownRank(in[0])) return;
  if (in[0].size() != a.kernel.size() + 2)
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(in[0]),
                          std::to_string(a.kernel.size() + 2) + " dimensions for a " +
                              std::to_string(a.kernel.size()) + "-D kernel");
  if (!IsKnown(in[0])) return;
  int64_t L = 1;
  for (size_t i = 0; i < a.kernel.size(); ++i) {
    const int64_t p = Positions(a, i, in[0][i + 2]);
    if (p < 1)
      throw OpArgumentError(op, "kernel", ShapeString(a.kernel),
                            "a dilated kernel no larger than the padded input along spatial axis " + std::to_string(i));
    L *= p;
  }
  int64_t k = 1;
  for (int64_t v : a.kernel) k *= v;
  MergeShape(op, "output", out[0], Shape{in[0][0], in[0][1] * k, L});
}

void Col2imShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const PatchAttrs&>(attrs);
  const std::string op = "col2im";
  if (!ShapeKnownRank(in[0])) return;
  if (in[0].size() != 3)
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(in[0]), "3 dimensions (batch, C * kernel, positions)");
  int64_t k = 1, L = 1;
  for (int64_t v : a.kernel) k *= v;
  for (size_t i = 0; i < a.kernel.size(); ++i) {
    const int64_t p = Positions(a, i, a.output_size[i]);
    if (p < 1)
      throw OpArgumentError(op, "kernel", ShapeString(a.kernel), "a dilated kernel no larger than the padded output_size");
    L *= p;
  }
  const Shape& d = in[0];
  if ((d[1] >= 0 && d[1] % k != 0) || (d[2] >= 0 && d[2] != L))
    throw OpArgumentError(op, "data", "an array of shape " + ShapeString(d),
                          "(batch, C * " + std::to_string(k) + ", " + std::to_string(L) +
                              "): the columns of output_size's patches");
  MergeShape(op, "output", out[0], ImageShape(a, d[0], d[1] < 0 ? -1 : d[1] / k));
}

void FloatType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out) { FloatElemwiseType(op, in, out); }

const bool registered = [] {
  const std::vector<OpParam> common = {
      Required("kernel", "Shape(tuple)", "The patch size, one entry per spatial axis."),
      Optional("stride", "Shape(tuple)", "[]", "The step between patches; 1 along each axis by default."),
      Optional("dilate", "Shape(tuple)", "[]", "The spacing between a patch's taps; 1 along each axis by default."),
      Optional("pad", "Shape(tuple)", "[]", "The zero padding on both sides of each axis; 0 by default.")};

  OpDef im2col;
  im2col.name = "im2col";
  im2col.inputs = {"data"};
  im2col.parse = ParsePatch("im2col", false);
  im2col.infer_shape = &Im2colShape;
  im2col.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { FloatType("im2col", in, out); };
  im2col.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const Geom g = GeomOf(static_cast<const PatchAttrs&>(attrs), in[0].shape);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, ToColumns(g, in[0].ptr<T>(), out[0].ptr<T>(), out[0].size()));
  };
  im2col.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const Geom g = GeomOf(static_cast<const PatchAttrs&>(attrs), io.inputs[0].shape);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         ToImage(g, io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.in_grads[0].size(), io.req[0]));
  };
  Registry::Add(Described(std::move(im2col),
                          "Lays every kernel-sized patch of NCW or NCHW data out as a column: (N, C * prod(kernel), positions).",
                          {{"data", "The input array, NCW or NCHW."}}, common));

  OpDef col2im;
  col2im.name = "col2im";
  col2im.inputs = {"data"};
  col2im.parse = ParsePatch("col2im", true);
  col2im.infer_shape = &Col2imShape;
  col2im.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { FloatType("col2im", in, out); };
  col2im.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const Geom g = GeomOf(static_cast<const PatchAttrs&>(attrs), out[0].shape);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, ToImage(g, in[0].ptr<T>(), out[0].ptr<T>(), out[0].size(), OpReq::kWrite));
  };
  col2im.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const Geom g = GeomOf(static_cast<const PatchAttrs&>(attrs), io.out_grads[0].shape);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      std::vector<T> col(static_cast<size_t>(io.in_grads[0].size()));
      ToColumns(g, io.out_grads[0].ptr<T>(), col.data(), static_cast<int64_t>(col.size()));
      T* dst = io.in_grads[0].ptr<T>();
      for (size_t i = 0; i < col.size(); ++i) Store(dst[i], col[i], io.req[0]);
    });
  };
  std::vector<OpParam> params = {Required("output_size", "Shape(tuple)", "The image's spatial shape.")};
  params.insert(params.end(), common.begin(), common.end());
  Registry::Add(Described(std::move(col2im),
                          "Sums columns of patches back into an image of output_size (the transpose of im2col).",
                          {{"data", "The columns (N, C * prod(kernel), positions)."}}, params));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
