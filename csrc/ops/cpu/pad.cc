// Pad (also pad): pads the spatial axes of 4-D or 5-D data as numpy.pad does in its
// 'constant', 'edge' and 'reflect' modes, MXNet 1.9's restrictions kept: pad_width holds
// (before, after) for every axis, the batch and channel axes take none, and reflection needs
// each width below the axis' length. Every output element reads one input element (or the
// constant), so the gradient adds each output gradient onto the element it read.
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

enum class PadMode { kConstant, kEdge, kReflect };

struct PadAttrs : OpAttrs {
  PadMode mode = PadMode::kConstant;
  std::vector<int64_t> width;
  double value = 0;
};

ParseFn ParsePad(const std::string& name) {
  return [name](const AttrMap& attrs) -> std::shared_ptr<const OpAttrs> {
    CheckAttrs(name, attrs, {"mode", "pad_width", "constant_value"});
    auto a = std::make_shared<PadAttrs>();
    const std::string mode = GetEnum(name, attrs, "mode", {"constant", "edge", "reflect"});
    a->mode = mode == "constant" ? PadMode::kConstant : mode == "edge" ? PadMode::kEdge : PadMode::kReflect;
    a->width = GetTuple(name, attrs, "pad_width");
    a->value = GetFloat(name, attrs, "constant_value", 0.0);
    const std::string given = attrs.at("pad_width");
    if (a->width.size() != 8 && a->width.size() != 10)
      throw OpArgumentError(name, "pad_width", given, "8 or 10 widths, (before, after) for each axis of 4-D or 5-D data");
    for (size_t i = 0; i < 4; ++i)
      if (a->width[i] != 0)
        throw OpArgumentError(name, "pad_width", given, "no padding of the batch and channel axes (its first four entries 0)");
    for (int64_t w : a->width)
      if (w < 0) throw OpArgumentError(name, "pad_width", given, "non-negative widths");
    return a;
  };
}

InferShapeFn PadShape(const std::string& name) {
  return [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const PadAttrs&>(attrs);
    const size_t rank = a.width.size() / 2;
    auto check_rank = [&](const std::string& arg, const Shape& s) {
      if (ShapeKnownRank(s) && s.size() != rank)
        throw OpArgumentError(name, arg, "an array of shape " + ShapeString(s),
                              std::to_string(rank) + " dimensions, as pad_width gives widths for");
    };
    check_rank("data", in[0]);
    check_rank("output", out[0]);
    if (ShapeKnownRank(out[0])) {
      Shape s(rank, -1);
      for (size_t d = 0; d < rank; ++d)
        if (out[0][d] >= 0) s[d] = out[0][d] - a.width[2 * d] - a.width[2 * d + 1];
      MergeShape(name, "data", in[0], s);
    }
    if (!ShapeKnownRank(in[0])) return;
    Shape o(rank, -1);
    for (size_t d = 0; d < rank; ++d) {
      const int64_t n = in[0][d];
      if (n < 0) continue;
      if (a.mode == PadMode::kReflect && d >= 2 && (a.width[2 * d] >= n || a.width[2 * d + 1] >= n))
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]),
                              "each axis longer than its reflect padding (axis " + std::to_string(d) + " is " +
                                  std::to_string(n) + " long)");
      if (a.mode == PadMode::kEdge && d >= 2 && n == 0 && (a.width[2 * d] > 0 || a.width[2 * d + 1] > 0))
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]),
                              "non-empty axes to pad in mode='edge'");
      o[d] = n + a.width[2 * d] + a.width[2 * d + 1];
    }
    MergeShape(name, "output", out[0], o);
  };
}

// For each axis, the input index each output index reads (-1: the constant).
std::vector<std::vector<int64_t>> SourceIndices(const PadAttrs& a, const Shape& in) {
  std::vector<std::vector<int64_t>> maps(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t n = in[d], before = a.width[2 * d], len = n + before + a.width[2 * d + 1];
    auto& m = maps[d];
    m.resize(static_cast<size_t>(len));
    for (int64_t o = 0; o < len; ++o) {
      int64_t i = o - before;
      if (i < 0 || i >= n) {
        if (a.mode == PadMode::kConstant) i = -1;
        else if (a.mode == PadMode::kEdge) i = std::clamp<int64_t>(i, 0, n - 1);
        else i = i < 0 ? -i : 2 * (n - 1) - i;  // widths below n: one reflection suffices
      }
      m[static_cast<size_t>(o)] = i;
    }
  }
  return maps;
}

// Calls fn(out_offset, in_offset or -1) for every output element, in order.
template <class Fn>
void ForEachElement(const PadAttrs& a, const Shape& in, Fn&& fn) {
  const auto maps = SourceIndices(a, in);
  const auto strides = Strides(in);
  const size_t nd = in.size();
  Shape out(nd);
  for (size_t d = 0; d < nd; ++d) out[d] = static_cast<int64_t>(maps[d].size());
  const int64_t total = NumElements(out);
  if (total == 0) return;
  // base[d]: the input offset of the outer indices up to d, or -1 once one of them reads the
  // constant.
  std::vector<int64_t> index(nd, 0), base(nd + 1, 0);
  auto rebase = [&](size_t from) {
    for (size_t d = from; d < nd - 1; ++d) {
      const int64_t s = maps[d][static_cast<size_t>(index[d])];
      base[d + 1] = (base[d] < 0 || s < 0) ? -1 : base[d] + s * strides[d];
    }
  };
  rebase(0);
  const auto& inner = maps[nd - 1];
  const int64_t inner_len = out[nd - 1];
  for (int64_t o = 0; o < total; o += inner_len) {
    const int64_t b = base[nd - 1];
    for (int64_t j = 0; j < inner_len; ++j) {
      const int64_t s = inner[static_cast<size_t>(j)];
      fn(o + j, (b < 0 || s < 0) ? -1 : b + s);
    }
    size_t d = nd - 1;
    while (d-- > 0) {
      if (++index[d] < out[d]) break;
      index[d] = 0;
    }
    if (d < nd) rebase(d);
  }
}

template <class T>
void PadForward(const PadAttrs& a, const TensorRef& in, const TensorRef& out) {
  const T* x = in.ptr<T>();
  T* y = out.ptr<T>();
  const T c = static_cast<T>(a.value);
  ForEachElement(a, in.shape, [&](int64_t o, int64_t i) { y[o] = i < 0 ? c : x[i]; });
}

template <class T>
void PadBackward(const PadAttrs& a, const TensorRef& dy, const TensorRef& dx, OpReq req) {
  const T* g = dy.ptr<T>();
  Accumulate(dx.ptr<T>(), dx.size(), req, [&](auto* acc) {
    using A = std::remove_pointer_t<decltype(acc)>;
    ForEachElement(a, dx.shape, [&](int64_t o, int64_t i) {
      if (i >= 0) acc[i] += static_cast<A>(g[o]);
    });
  });
}

OpDef PadDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = ParsePad(name);
  def.infer_shape = PadShape(name);
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, PadForward<T>(static_cast<const PadAttrs&>(attrs), in[0], out[0]));
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         PadBackward<T>(static_cast<const PadAttrs&>(attrs), io.out_grads[0], io.in_grads[0], io.req[0]));
  };
  return Described(
      std::move(def),
      "Pads the spatial axes of 4-D or 5-D data with a constant, the edge values, or their reflection, as numpy.pad does.",
      {{"data", "The array to pad (4-D or 5-D, batch and channel axes first)."}},
      {Required("mode", "{'constant', 'edge', 'reflect'}", "How the padding is filled."),
       Required("pad_width", "Shape(tuple)",
                "(before, after) widths for every axis, flattened; the batch and channel axes take 0."),
       Optional("constant_value", "double", "0", "The value of the padding in mode='constant'.")});
}

const bool registered = [] {
  Registry::Add(PadDef("Pad"));
  Registry::Add(PadDef("pad"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
