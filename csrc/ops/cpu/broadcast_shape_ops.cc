// Broadcasting and shape-reading operators of MXNet 1.9:
// - broadcast_to(data; shape): to `shape`, where 0 keeps the input's dimension; same rank.
// - broadcast_axis / broadcast_axes(data; axis=(), size=()): the size-1 axes `axis` to `size`.
// - broadcast_like(lhs, rhs; lhs_axes=None, rhs_axes=None): lhs to rhs's shape, or only
//   lhs_axes to the sizes of rhs's rhs_axes.
// - reshape_like(lhs, rhs; lhs_begin=None, lhs_end=None, rhs_begin=None, rhs_end=None): lhs's
//   values with lhs's dimensions [lhs_begin, lhs_end) replaced by rhs's [rhs_begin, rhs_end).
// - SwapAxis / swapaxes(data; dim1=0, dim2=0): two axes exchanged.
// - shape_array(data), size_array(data): the shape (int64, one entry per axis) and the
//   element count (int64, shape (1,)).
// The broadcasts' gradients sum over the broadcast axes; rhs (whose values are not read) and
// the shape readers get zero gradients.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

// ---- Kernels ----------------------------------------------------------------------------------

// out = in broadcast to out's shape.
void BroadcastForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
  const auto strides = BroadcastStrides(in[0].shape, out[0].shape);
  FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    ForEachOffset(out[0].shape, strides, [&](int64_t i, int64_t off) { y[i] = x[off]; });
  });
}

// d(in) = the head gradient summed over the axes `in` was broadcast along; the other
// arguments (broadcast_like's rhs) get zeros.
void BroadcastBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  for (size_t i = 1; i < io.in_grads.size(); ++i) ZeroWithReq(io.in_grads[i], io.req[i]);
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  const TensorRef& g = io.out_grads[0];
  const TensorRef& gx = io.in_grads[0];
  const auto strides = BroadcastStrides(gx.shape, g.shape);
  FLOWMOD_DTYPE_SWITCH(gx.dtype, T, {
    using A = std::conditional_t<std::is_integral_v<T>, int64_t, double>;
    std::vector<A> acc(gx.size(), A(0));
    const T* pg = g.ptr<T>();
    ForEachOffset(g.shape, strides, [&](int64_t i, int64_t off) { acc[off] += static_cast<A>(pg[i]); });
    T* out = gx.ptr<T>();
    for (int64_t j = 0; j < gx.size(); ++j) Store(out[j], CastTo<T>(acc[j]), req);
  });
}

[[noreturn]] void ShapeMismatch(const std::string& op, const std::string& arg, const Shape& from, const Shape& to) {
  throw OpArgumentError(op, arg, "an array of shape " + ShapeString(from),
                        "a shape that broadcasts to " + ShapeString(to) + " (each dimension 1 or equal)");
}

// The output shape must match `target` (with -1 for unknown) where `in` broadcasts.
void CheckBroadcast(const std::string& op, const std::string& arg, const Shape& in, const Shape& target) {
  for (size_t i = 0; i < in.size(); ++i)
    if (target[i] >= 0 && in[i] >= 0 && in[i] != 1 && in[i] != target[i]) ShapeMismatch(op, arg, in, target);
}

OpDef UnaryShapeDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  return def;
}

// ---- broadcast_to -----------------------------------------------------------------------------

struct ShapeAttrs : OpAttrs {
  std::vector<int64_t> shape;
};

OpDef BroadcastToDef() {
  const std::string name = "broadcast_to";
  OpDef def = UnaryShapeDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"shape"});
    auto a = std::make_shared<ShapeAttrs>();
    a->shape = GetTuple(name, attrs, "shape", {});
    for (int64_t d : a->shape)
      if (d < 0) throw OpArgumentError(name, "shape", attrs.at("shape"), "a tuple of non-negative integers");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& target = static_cast<const ShapeAttrs&>(attrs).shape;
    if (in[0] == kUnknownShape) return;
    if (in[0].size() != target.size())
      throw OpArgumentError(name, "shape", ShapeString(target),
                            "a shape of the data's rank " + std::to_string(in[0].size()) + " (data " +
                                ShapeString(in[0]) + "; 0 keeps a dimension)");
    Shape o(target.begin(), target.end());
    for (size_t i = 0; i < o.size(); ++i)
      if (o[i] == 0) o[i] = in[0][i];
    CheckBroadcast(name, "data", in[0], o);
    MergeShape(name, "output", out[0], o);
  };
  def.forward = &BroadcastForward;
  def.backward = &BroadcastBackward;
  return def;
}

// ---- broadcast_axis ---------------------------------------------------------------------------

struct AxisSizeAttrs : OpAttrs {
  std::vector<int64_t> axis, size;
};

OpDef BroadcastAxisDef(const std::string& name) {
  OpDef def = UnaryShapeDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "size"});
    auto a = std::make_shared<AxisSizeAttrs>();
    a->axis = GetTuple(name, attrs, "axis", {});
    a->size = GetTuple(name, attrs, "size", {});
    if (a->axis.size() != a->size.size())
      throw OpArgumentError(name, "size", ShapeString(Shape(a->size.begin(), a->size.end())),
                            "one size for each of the " + std::to_string(a->axis.size()) + " axes");
    for (int64_t s : a->size)
      if (s < 1) throw OpArgumentError(name, "size", attrs.at("size"), "sizes >= 1");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const AxisSizeAttrs&>(attrs);
    if (in[0] == kUnknownShape) return;
    Shape o = in[0];
    for (size_t i = 0; i < a.axis.size(); ++i) {
      const int ax = NormalizeAxis(name, "axis", a.axis[i], static_cast<int>(o.size()));
      if (in[0][ax] >= 0 && in[0][ax] != 1)
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]),
                              "size 1 along axis " + std::to_string(a.axis[i]) + " to broadcast it");
      o[ax] = a.size[i];
    }
    MergeShape(name, "output", out[0], o);
  };
  def.forward = &BroadcastForward;
  def.backward = &BroadcastBackward;
  return def;
}

// ---- broadcast_like ---------------------------------------------------------------------------

struct LikeAxesAttrs : OpAttrs {
  std::optional<std::vector<int64_t>> lhs_axes, rhs_axes;
};

std::optional<std::vector<int64_t>> OptionalAxes(const std::string& op, const AttrMap& attrs, const char* key) {
  auto it = attrs.find(key);
  if (it == attrs.end() || it->second == "None") return std::nullopt;
  return GetTuple(op, attrs, key);
}

Shape BroadcastLikeShape(const std::string& name, const LikeAxesAttrs& a, const Shape& lhs, const Shape& rhs) {
  if (!a.lhs_axes || !a.rhs_axes) {
    if (lhs.size() != rhs.size())
      throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(rhs),
                            "the rank of lhs " + ShapeString(lhs));
    Shape o = rhs;
    for (size_t i = 0; i < o.size(); ++i)
      if (o[i] < 0) o[i] = lhs[i];
    CheckBroadcast(name, "lhs", lhs, o);
    return o;
  }
  if (a.lhs_axes->size() != a.rhs_axes->size() || a.lhs_axes->empty())
    throw OpArgumentError(name, "rhs_axes", ShapeString(Shape(a.rhs_axes->begin(), a.rhs_axes->end())),
                          "as many axes as lhs_axes " +
                              ShapeString(Shape(a.lhs_axes->begin(), a.lhs_axes->end())) + ", at least one");
  Shape o = lhs;
  for (size_t i = 0; i < a.lhs_axes->size(); ++i) {
    const int from = NormalizeAxis(name, "lhs_axes", (*a.lhs_axes)[i], static_cast<int>(lhs.size()));
    const int to = NormalizeAxis(name, "rhs_axes", (*a.rhs_axes)[i], static_cast<int>(rhs.size()));
    if (lhs[from] >= 0 && lhs[from] != 1)
      throw OpArgumentError(name, "lhs", "an array of shape " + ShapeString(lhs),
                            "size 1 along lhs axis " + std::to_string((*a.lhs_axes)[i]));
    o[from] = rhs[to];
  }
  return o;
}

OpDef BroadcastLikeDef() {
  const std::string name = "broadcast_like";
  OpDef def;
  def.name = name;
  def.inputs = {"lhs", "rhs"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"lhs_axes", "rhs_axes"});
    auto a = std::make_shared<LikeAxesAttrs>();
    a->lhs_axes = OptionalAxes(name, attrs, "lhs_axes");
    a->rhs_axes = OptionalAxes(name, attrs, "rhs_axes");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (in[0] == kUnknownShape || in[1] == kUnknownShape) return;
    MergeShape(name, "output", out[0], BroadcastLikeShape(name, static_cast<const LikeAxesAttrs&>(attrs), in[0], in[1]));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    // rhs gives only its shape; its type may differ.
    MergeType(name, "lhs", in[0], out[0]);
    out[0] = in[0];
  };
  def.forward = &BroadcastForward;
  def.backward = &BroadcastBackward;
  return def;
}

// ---- reshape_like -----------------------------------------------------------------------------

struct ReshapeLikeAttrs : OpAttrs {
  std::optional<int64_t> lhs_begin, lhs_end, rhs_begin, rhs_end;
};

// [begin, end) of a rank-`ndim` shape, negative values counting from the end, None the ends.
std::pair<int, int> Range(const std::string& op, const char* bkey, const char* ekey, std::optional<int64_t> b,
                          std::optional<int64_t> e, int ndim) {
  auto norm = [&](const char* key, int64_t v) {
    const int64_t r = v < 0 ? v + ndim : v;
    if (r < 0 || r > ndim)
      throw OpArgumentError(op, key, std::to_string(v),
                            "a position in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) + "]");
    return static_cast<int>(r);
  };
  const int lo = b ? norm(bkey, *b) : 0, hi = e ? norm(ekey, *e) : ndim;
  if (lo > hi)
    throw OpArgumentError(op, ekey, std::to_string(e ? *e : hi), "an end at or after " + std::string(bkey) + "=" +
                                                                       std::to_string(b ? *b : lo));
  return {lo, hi};
}

OpDef ReshapeLikeDef() {
  const std::string name = "reshape_like";
  OpDef def;
  def.name = name;
  def.inputs = {"lhs", "rhs"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"lhs_begin", "lhs_end", "rhs_begin", "rhs_end"});
    auto a = std::make_shared<ReshapeLikeAttrs>();
    a->lhs_begin = GetOptionalInt(name, attrs, "lhs_begin");
    a->lhs_end = GetOptionalInt(name, attrs, "lhs_end");
    a->rhs_begin = GetOptionalInt(name, attrs, "rhs_begin");
    a->rhs_end = GetOptionalInt(name, attrs, "rhs_end");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const ReshapeLikeAttrs&>(attrs);
    if (!IsKnown(in[0]) || !IsKnown(in[1]) || in[0] == kUnknownShape || in[1] == kUnknownShape) return;
    const auto [lb, le] = Range(name, "lhs_begin", "lhs_end", a.lhs_begin, a.lhs_end, static_cast<int>(in[0].size()));
    const auto [rb, re] = Range(name, "rhs_begin", "rhs_end", a.rhs_begin, a.rhs_end, static_cast<int>(in[1].size()));
    Shape o(in[0].begin(), in[0].begin() + lb);
    o.insert(o.end(), in[1].begin() + rb, in[1].begin() + re);
    o.insert(o.end(), in[0].begin() + le, in[0].end());
    if (NumElements(o) != NumElements(in[0]))
      throw OpArgumentError(name, "rhs", "an array of shape " + ShapeString(in[1]),
                            "a shape giving lhs " + ShapeString(in[0]) + " as many elements, not " + ShapeString(o));
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "lhs", in[0], out[0]);
    out[0] = in[0];
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    CopyWithReq(io.out_grads[0], io.in_grads[0], io.req[0]);
    ZeroWithReq(io.in_grads[1], io.req[1]);
  };
  def.inplace = {{0, 0}};
  return def;
}

// ---- SwapAxis ---------------------------------------------------------------------------------

struct SwapAttrs : OpAttrs {
  int64_t dim1 = 0, dim2 = 0;
};

// The input's strides in the order of the output's axes.
std::vector<int64_t> SwappedStrides(const Shape& in, int a, int b) {
  auto s = Strides(in);
  std::swap(s[a], s[b]);
  return s;
}

OpDef SwapAxisDef(const std::string& name) {
  OpDef def = UnaryShapeDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"dim1", "dim2"});
    auto a = std::make_shared<SwapAttrs>();
    a->dim1 = GetInt(name, attrs, "dim1", 0);
    a->dim2 = GetInt(name, attrs, "dim2", 0);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SwapAttrs&>(attrs);
    // Either side gives the other: the swap is its own inverse.
    const bool from_in = in[0] != kUnknownShape;
    const Shape& known = from_in ? in[0] : out[0];
    if (known == kUnknownShape) return;
    const int nd = static_cast<int>(known.size());
    const int d1 = NormalizeAxis(name, "dim1", a.dim1, nd), d2 = NormalizeAxis(name, "dim2", a.dim2, nd);
    Shape s = known;
    std::swap(s[d1], s[d2]);
    if (from_in) MergeShape(name, "output", out[0], s);
    else MergeShape(name, "data", in[0], s);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const SwapAttrs&>(attrs);
    const int nd = static_cast<int>(in[0].shape.size());
    const int d1 = static_cast<int>(a.dim1 < 0 ? a.dim1 + nd : a.dim1), d2 = static_cast<int>(a.dim2 < 0 ? a.dim2 + nd : a.dim2);
    const auto strides = SwappedStrides(in[0].shape, d1, d2);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      ForEachOffset(out[0].shape, strides, [&](int64_t i, int64_t off) { y[i] = x[off]; });
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const OpReq req = io.req[0];
    if (req == OpReq::kNull) return;
    const auto& a = static_cast<const SwapAttrs&>(attrs);
    const TensorRef& gx = io.in_grads[0];
    const int nd = static_cast<int>(gx.shape.size());
    const int d1 = static_cast<int>(a.dim1 < 0 ? a.dim1 + nd : a.dim1), d2 = static_cast<int>(a.dim2 < 0 ? a.dim2 + nd : a.dim2);
    const auto strides = SwappedStrides(gx.shape, d1, d2);
    FLOWMOD_DTYPE_SWITCH(gx.dtype, T, {
      const T* g = io.out_grads[0].ptr<T>();
      T* out = gx.ptr<T>();
      // A permutation: every element of gx is reached once.
      ForEachOffset(io.out_grads[0].shape, strides, [&](int64_t i, int64_t off) { Store(out[off], g[i], req); });
    });
  };
  return def;
}

// ---- shape_array, size_array ------------------------------------------------------------------

OpDef ShapeReaderDef(const std::string& name, bool size_only) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const OpAttrs>();
  };
  def.infer_shape = [name, size_only](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (size_only) MergeShape(name, "output", out[0], Shape{1});
    else if (in[0] != kUnknownShape) MergeShape(name, "output", out[0], Shape{static_cast<int64_t>(in[0].size())});
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], DType::kInt64);
  };
  def.forward = [size_only](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                            std::span<const TensorRef> out) {
    int64_t* y = out[0].ptr<int64_t>();
    if (size_only) y[0] = in[0].size();
    else std::copy(in[0].shape.begin(), in[0].shape.end(), y);
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    ZeroWithReq(io.in_grads[0], io.req[0]);
  };
  return def;
}

const bool registered = [] {
  Registry::Add(Described(BroadcastToDef(), "The input broadcast to a shape: axes of size 1 repeated; 0 keeps the input's size.", {{"data", "The input array."}}, {Optional("shape", "Shape(tuple)", "[]", "The target shape.")}));
  Registry::Add(Described(BroadcastAxisDef("broadcast_axis"), "The input broadcast along axes of size 1.", {{"data", "The input array."}}, {Optional("axis", "Shape(tuple)", "[]", "The axes to broadcast."), Optional("size", "Shape(tuple)", "[]", "The target size of each axis.")}));
  Registry::Add(Described(BroadcastAxisDef("broadcast_axes"), "The input broadcast along axes of size 1.", {{"data", "The input array."}}, {Optional("axis", "Shape(tuple)", "[]", "The axes to broadcast."), Optional("size", "Shape(tuple)", "[]", "The target size of each axis.")}));
  Registry::Add(Described(BroadcastLikeDef(), "The input broadcast to the shape of another array.", {{"lhs", "The array to broadcast."}, {"rhs", "The array whose shape is taken."}}, {Optional("lhs_axes", "Shape or None", "None", "The axes of lhs to broadcast (all, when None)."), Optional("rhs_axes", "Shape or None", "None", "The axes of rhs their sizes come from (all, when None).")}));
  Registry::Add(Described(ReshapeLikeDef(), "The input reshaped to the shape of another array (or a range of its axes).", {{"lhs", "The array to reshape."}, {"rhs", "The array whose shape is taken."}}, {Optional("lhs_begin", "int or None", "'None'", "The first axis of lhs replaced."), Optional("lhs_end", "int or None", "'None'", "One past the last axis of lhs replaced."), Optional("rhs_begin", "int or None", "'None'", "The first axis of rhs taken."), Optional("rhs_end", "int or None", "'None'", "One past the last axis of rhs taken.")}));
  Registry::Add(Described(SwapAxisDef("SwapAxis"), "The input with two axes exchanged.", {{"data", "The input array."}}, {Optional("dim1", "int", "'0'", "The first axis."), Optional("dim2", "int", "'0'", "The second axis.")}));
  Registry::Add(Described(SwapAxisDef("swapaxes"), "The input with two axes exchanged.", {{"data", "The input array."}}, {Optional("dim1", "int", "'0'", "The first axis."), Optional("dim2", "int", "'0'", "The second axis.")}));
  Registry::Add(Described(ShapeReaderDef("shape_array", false), "The shape of the input, as a 1-D int64 array.", {{"data", "The input array."}}, {}));
  Registry::Add(Described(ShapeReaderDef("size_array", true), "The number of elements of the input, as a 1-element int64 array.", {{"data", "The input array."}}, {}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
