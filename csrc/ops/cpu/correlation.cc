// Correlation: FlowNet's correlation layer, as MXNet 1.9.1 computes it on the CPU. For each
// output position (i, j) and each displacement q of the (2 * max_displacement / stride2 + 1)^2
// grid, the mean over a kernel_size x kernel_size patch and every channel of
// data1 * data2 (is_multiply) or |data1 - data2|, the data2 patch displaced by
// ((q mod grid) - radius, (q div grid) - radius) * stride2. Both inputs are first padded by
// pad_size and laid out channel-last; those padded copies (tmp1, tmp2) are hidden outputs
// that backward reads, as MXNet keeps them. The patch of position (i, j) starts at
// (i * stride1 + max_displacement, j * stride1 + max_displacement) of the padded arrays:
// MXNet's CPU kernel anchors patches at their corner, not their centre.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "Correlation";

struct CorrelationAttrs : OpAttrs {
  int64_t kernel_size = 1, max_displacement = 1, stride1 = 1, stride2 = 1, pad_size = 0;
  bool is_multiply = true;
};

int64_t NonNegative(const AttrMap& attrs, const char* key, int64_t def) {
  const int64_t v = GetInt(kOp, attrs, key, def);
  if (v < 0) throw OpArgumentError(kOp, key, attrs.at(key), "an integer >= 0");
  return v;
}

std::shared_ptr<const OpAttrs> ParseCorrelation(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"kernel_size", "max_displacement", "stride1", "stride2", "pad_size", "is_multiply"});
  auto a = std::make_shared<CorrelationAttrs>();
  a->kernel_size = NonNegative(attrs, "kernel_size", 1);
  a->max_displacement = NonNegative(attrs, "max_displacement", 1);
  a->stride1 = NonNegative(attrs, "stride1", 1);
  a->stride2 = NonNegative(attrs, "stride2", 1);
  a->pad_size = NonNegative(attrs, "pad_size", 0);
  a->is_multiply = GetBool(kOp, attrs, "is_multiply", true);
  if (a->kernel_size % 2 == 0)
    throw OpArgumentError(kOp, "kernel_size", std::to_string(a->kernel_size), "an odd number");
  if (a->stride1 == 0) throw OpArgumentError(kOp, "stride1", "0", "an integer >= 1");
  if (a->stride2 == 0) throw OpArgumentError(kOp, "stride2", "0", "an integer >= 1");
  return a;
}

// The sizes one call works with, from the attributes and data1's shape (N, C, H, W).
struct Geometry {
  int64_t num, channels, height, width, padded_h, padded_w;
  int64_t top_h, top_w, radius, grid, top_channels;
  Geometry(const CorrelationAttrs& a, const Shape& s)
      : num(s[0]), channels(s[1]), height(s[2]), width(s[3]),
        padded_h(s[2] + 2 * a.pad_size), padded_w(s[3] + 2 * a.pad_size) {
    const int64_t border = a.max_displacement + (a.kernel_size - 1) / 2;
    // MXNet rounds up in float: ceil((padded - 2 * border) / stride1).
    top_w = static_cast<int64_t>(std::ceil(static_cast<float>(padded_w - 2 * border) / static_cast<float>(a.stride1)));
    top_h = static_cast<int64_t>(std::ceil(static_cast<float>(padded_h - 2 * border) / static_cast<float>(a.stride1)));
    radius = a.max_displacement / a.stride2;
    grid = 2 * radius + 1;
    top_channels = grid * grid;
  }
};

void CorrelationInferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const CorrelationAttrs&>(attrs);
  for (int k = 0; k < 2; ++k) {
    const char* arg = k == 0 ? "data1" : "data2";
    if (in[k] != kUnknownShape && in[k].size() != 4)
      throw OpArgumentError(kOp, arg, "an array of shape " + ShapeString(in[k]), "4 dimensions (batch, channel, height, width)");
  }
  MergeShape(kOp, "data2", in[1], in[0]);
  MergeShape(kOp, "data1", in[0], in[1]);
  if (!IsKnown(in[0])) return;
  const Geometry g(a, in[0]);
  if (g.top_w < 1 || g.top_h < 1)
    throw OpArgumentError(kOp, "data1", "an array of shape " + ShapeString(in[0]),
                          "height and width + 2 * pad_size of at least 2 * (max_displacement + kernel_size / 2) + 1, "
                          "for the neighbourhood and kernel to fit");
  MergeShape(kOp, "output", out[0], Shape{g.num, g.top_channels, g.top_h, g.top_w});
  MergeShape(kOp, "tmp1", out[1], Shape{g.num, g.padded_h, g.padded_w, g.channels});
  MergeShape(kOp, "tmp2", out[2], Shape{g.num, g.padded_h, g.padded_w, g.channels});
}

void CorrelationInferType(const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
  FloatElemwiseType(kOp, in, out);
}

// dst (N, H + 2p, W + 2p, C) = src (N, C, H, W) moved channel-last into the interior; the
// border stays zero.
template <class T>
void PadChannelLast(const Geometry& g, int64_t pad, const T* src, T* dst) {
  std::fill(dst, dst + g.num * g.padded_h * g.padded_w * g.channels, T(0));
  for (int64_t n = 0; n < g.num; ++n)
    for (int64_t c = 0; c < g.channels; ++c)
      for (int64_t h = 0; h < g.height; ++h)
        for (int64_t w = 0; w < g.width; ++w)
          dst[((n * g.padded_h + h + pad) * g.padded_w + w + pad) * g.channels + c] =
              src[((n * g.channels + c) * g.height + h) * g.width + w];
}

// Where output (i, j, q) reads: the corner of its data1 patch and of its data2 patch.
struct Patch {
  int64_t y1, x1, y2, x2;
};
inline Patch PatchOf(const CorrelationAttrs& a, const Geometry& g, int64_t i, int64_t j, int64_t q) {
  const int64_t y1 = i * a.stride1 + a.max_displacement, x1 = j * a.stride1 + a.max_displacement;
  return {y1, x1, y1 + (q / g.grid - g.radius) * a.stride2, x1 + (q % g.grid - g.radius) * a.stride2};
}

template <class T>
void Forward(const CorrelationAttrs& a, const Geometry& g, const T* t1, const T* t2, T* y) {
  using A = AccT<T>;
  const int64_t k = a.kernel_size, c = g.channels, row = g.padded_w * c;
  const A count = static_cast<A>(k * k * c);
  for (int64_t n = 0; n < g.num; ++n)
    for (int64_t q = 0; q < g.top_channels; ++q)
      for (int64_t i = 0; i < g.top_h; ++i)
        for (int64_t j = 0; j < g.top_w; ++j) {
          const Patch p = PatchOf(a, g, i, j, q);
          const T* base1 = t1 + ((n * g.padded_h + p.y1) * g.padded_w + p.x1) * c;
          const T* base2 = t2 + ((n * g.padded_h + p.y2) * g.padded_w + p.x2) * c;
          A sum = 0;
          for (int64_t h = 0; h < k; ++h)
            for (int64_t e = 0; e < k * c; ++e) {
              const A u = static_cast<A>(base1[h * row + e]), v = static_cast<A>(base2[h * row + e]);
              sum += a.is_multiply ? u * v : std::abs(u - v);
            }
          y[((n * g.top_channels + q) * g.top_h + i) * g.top_w + j] = static_cast<T>(sum / count);
        }
}

// Adds the gradient of one output element to the patch elements it read, those inside the
// unpadded data: d/d data1 = dy * data2 / count (or dy * sign(data1 - data2) / count, sign 1
// at equality, as MXNet), and the mirror for data2.
template <class A>
struct Grads {
  A* g1;
  A* g2;
  bool want1, want2;
};

template <class T, class A>
void BackwardOne(const CorrelationAttrs& a, const Geometry& g, const T* t1, const T* t2, int64_t n, const Patch& p,
                 A dy, const Grads<A>& out) {
  const int64_t k = a.kernel_size, pad = a.pad_size;
  for (int64_t h = 0; h < k; ++h)
    for (int64_t w = 0; w < k; ++w) {
      const int64_t r1 = p.y1 + h - pad, s1 = p.x1 + w - pad, r2 = p.y2 + h - pad, s2 = p.x2 + w - pad;
      const bool in1 = out.want1 && r1 >= 0 && s1 >= 0 && r1 < g.height && s1 < g.width;
      const bool in2 = out.want2 && r2 >= 0 && s2 >= 0 && r2 < g.height && s2 < g.width;
      if (!in1 && !in2) continue;
      const T* u = t1 + ((n * g.padded_h + p.y1 + h) * g.padded_w + p.x1 + w) * g.channels;
      const T* v = t2 + ((n * g.padded_h + p.y2 + h) * g.padded_w + p.x2 + w) * g.channels;
      const int64_t plane = g.height * g.width;
      const int64_t at1 = n * g.channels * plane + r1 * g.width + s1, at2 = n * g.channels * plane + r2 * g.width + s2;
      for (int64_t c = 0; c < g.channels; ++c) {
        const A x = static_cast<A>(u[c]), z = static_cast<A>(v[c]);
        const A sign = x >= z ? A(1) : A(-1);
        if (in1) out.g1[at1 + c * plane] += a.is_multiply ? dy * z : dy * sign;
        if (in2) out.g2[at2 + c * plane] += a.is_multiply ? dy * x : -dy * sign;
      }
    }
}

template <class T>
void Backward(const CorrelationAttrs& a, const Geometry& g, const BackwardIO& io) {
  using A = AccT<T>;
  const T* dy = io.out_grads[0].ptr<T>();
  const T* t1 = io.outputs[1].ptr<T>();
  const T* t2 = io.outputs[2].ptr<T>();
  const int64_t size = g.num * g.channels * g.height * g.width;
  const A count = static_cast<A>(a.kernel_size * a.kernel_size * g.channels);
  std::vector<A> g1(io.req[0] == OpReq::kNull ? 0 : size, A(0)), g2(io.req[1] == OpReq::kNull ? 0 : size, A(0));
  const Grads<A> grads{g1.data(), g2.data(), !g1.empty(), !g2.empty()};
  for (int64_t n = 0; n < g.num; ++n)
    for (int64_t q = 0; q < g.top_channels; ++q)
      for (int64_t i = 0; i < g.top_h; ++i)
        for (int64_t j = 0; j < g.top_w; ++j) {
          const A d = static_cast<A>(dy[((n * g.top_channels + q) * g.top_h + i) * g.top_w + j]) / count;
          BackwardOne(a, g, t1, t2, n, PatchOf(a, g, i, j, q), d, grads);
        }
  for (int k = 0; k < 2; ++k) {
    if (io.req[k] == OpReq::kNull) continue;
    const std::vector<A>& src = k == 0 ? g1 : g2;
    T* dst = io.in_grads[k].ptr<T>();
    for (int64_t e = 0; e < size; ++e) Store(dst[e], static_cast<T>(src[e]), io.req[k]);
  }
}

void CorrelationForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
  const auto& a = static_cast<const CorrelationAttrs&>(attrs);
  const Geometry g(a, in[0].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    PadChannelLast(g, a.pad_size, in[0].ptr<T>(), out[1].ptr<T>());
    PadChannelLast(g, a.pad_size, in[1].ptr<T>(), out[2].ptr<T>());
    Forward(a, g, out[1].ptr<T>(), out[2].ptr<T>(), out[0].ptr<T>());
  });
}

void CorrelationBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  if (io.req[0] == OpReq::kNull && io.req[1] == OpReq::kNull) return;
  const auto& a = static_cast<const CorrelationAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, Backward<T>(a, Geometry(a, io.inputs[0].shape), io));
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data1", "data2"};
  def.num_outputs = 3;
  def.num_visible_outputs = 1;
  def.parse = &ParseCorrelation;
  def.infer_shape = &CorrelationInferShape;
  def.infer_type = &CorrelationInferType;
  def.forward = &CorrelationForward;
  def.backward = &CorrelationBackward;
  Registry::Add(Described(
      std::move(def),
      "FlowNet's correlation of two feature maps: for each position of data1 and each displacement within "
      "max_displacement (in steps of stride2), the mean over a kernel_size x kernel_size patch and all channels of "
      "data1 * data2 (is_multiply) or |data1 - data2|; output (batch, (2 * (max_displacement / stride2) + 1) ** 2, "
      "out_height, out_width).",
      {{"data1", "The first feature map (batch, channel, height, width)."},
       {"data2", "The second feature map, of data1's shape."}},
      {Optional("kernel_size", "int (non-negative)", "1", "The side of the compared patches (odd)."),
       Optional("max_displacement", "int (non-negative)", "1", "The largest displacement compared."),
       Optional("stride1", "int (non-negative)", "1", "The step between the positions of data1 compared."),
       Optional("stride2", "int (non-negative)", "1", "The step between the displacements compared."),
       Optional("pad_size", "int (non-negative)", "0", "The zero padding added to both inputs on each side."),
       Optional("is_multiply", "boolean", "1", "Whether patches are compared by product (else by absolute difference).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
