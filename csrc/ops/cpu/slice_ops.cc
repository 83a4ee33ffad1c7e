// Window operators: slice, slice_axis, tile, repeat and flip (reverse), with MXNet 1.9's
// legacy (non-numpy) semantics. Each reads its input through a strided window (Window below)
// and its gradient adds back through the same window.
#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

std::string OptionalTupleString(const std::vector<std::optional<int64_t>>& v) {
  std::string out = "(";
  for (size_t i = 0; i < v.size(); ++i)
    out += (i ? ", " : "") + (v[i] ? std::to_string(*v[i]) : std::string("None"));
  return out + (v.size() == 1 ? ",)" : ")");
}

// ---- slice / slice_axis ------------------------------------------------------------------

// A strided window of the input: the output's shape, and where each output element is read
// from in the input (strides and first offset).
struct Window {
  Shape shape;
  std::vector<int64_t> strides;
  int64_t base = 0;
};

// dst gets src read through the window `w`.
void GatherWindow(const TensorRef& src, const Window& w, const TensorRef& dst, OpReq req) {
  FLOWMOD_DTYPE_SWITCH(src.dtype, T, Gather(src.ptr<T>(), w.shape, w.strides, w.base, dst.ptr<T>(), req));
}

struct SliceAttrs : OpAttrs {
  std::vector<std::optional<int64_t>> begin, end, step;
};

Window SliceWindow(const std::string& op, const SliceAttrs& a, const Shape& d) {
  if (d.empty()) throw OpArgumentError(op, "data", "an array of shape ()", "an array with at least one dimension");
  if (a.begin.size() > d.size())
    throw OpArgumentError(op, "begin", OptionalTupleString(a.begin),
                          "at most " + std::to_string(d.size()) + " entries for data of shape " + ShapeString(d));
  Window w;
  w.shape = d;
  w.strides = Strides(d);
  const auto row = w.strides;
  for (size_t i = 0; i < a.begin.size(); ++i) {
    const int64_t s = a.step.empty() || !a.step[i] ? 1 : *a.step[i];
    const int64_t len = d[i];
    int64_t b = 0, e = 0;
    if (len > 0) {
      // MXNet's rules: None begins at the start (the end for negative steps); negative
      // indices count from the end; out-of-range bounds clip to the array.
      b = a.begin[i] ? *a.begin[i] : (s < 0 ? len - 1 : 0);
      e = a.end[i] ? *a.end[i] : (s < 0 ? -1 : len);
      if (b < 0) b += len;
      if (e < 0 && a.end[i]) e += len;
      if (b < 0 && s > 0) b = 0;
      if (b > len - 1 && s < 0) b = len - 1;
      if (b < 0 || b > len - 1) b = -1;
      e = std::min(std::max(e, int64_t{-1}), len);
    }
    int64_t n = 0;
    if (len > 0 && b >= 0 && e != b)
      n = s > 0 ? (e > b ? (e - b - 1) / s + 1 : 0) : (e < b ? (b - e - 1) / (-s) + 1 : 0);
    w.shape[i] = n;
    w.strides[i] = row[i] * s;
    if (n > 0) w.base += b * row[i];
  }
  return w;
}

// `name`: slice, or crop (MXNet's alias of slice).
OpDef SliceDef(const std::string& name) {
  OpDef def = UnaryDef(name);
  def.description = "A slice of the input: begin to end by step along each of the leading axes.";
  def.params = {
      Required("begin", "Shape(tuple)", "The first index along each sliced axis (None: from the start)."),
      Required("end", "Shape(tuple)", "The index past the last along each sliced axis (None: to the end)."),
      Optional("step", "Shape(tuple)", "[]", "The step along each sliced axis; 1 by default; negative walks backwards."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"begin", "end", "step"});
    auto a = std::make_shared<SliceAttrs>();
    a->begin = GetOptionalTuple(name, attrs, "begin", true);
    a->end = GetOptionalTuple(name, attrs, "end", true);
    a->step = GetOptionalTuple(name, attrs, "step", false);
    if (a->end.size() != a->begin.size())
      throw OpArgumentError(name, "end", OptionalTupleString(a->end),
                            std::to_string(a->begin.size()) + " entries, as many as begin");
    if (!a->step.empty() && a->step.size() != a->begin.size())
      throw OpArgumentError(name, "step", OptionalTupleString(a->step),
                            "() or " + std::to_string(a->begin.size()) + " entries, as many as begin");
    for (const auto& s : a->step)
      if (s && *s == 0) throw OpArgumentError(name, "step", OptionalTupleString(a->step), "non-zero steps");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    MergeShape(name, "output", out[0], SliceWindow(name, static_cast<const SliceAttrs&>(attrs), in[0]).shape);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const Window w = SliceWindow("slice", static_cast<const SliceAttrs&>(attrs), in[0].shape);
    GatherWindow(in[0], w, out[0], OpReq::kWrite);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const TensorRef& g = io.in_grads[0];
    const Window w = SliceWindow("slice", static_cast<const SliceAttrs&>(attrs), g.shape);
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Accumulate(g.ptr<T>(), g.size(), io.req[0], [&](auto* acc) {
                           ScatterAdd(io.out_grads[0].ptr<T>(), w.shape, w.strides, w.base, acc);
                         }));
  };
  return def;
}

struct SliceAxisAttrs : OpAttrs {
  int64_t axis = 0, begin = 0;
  std::optional<int64_t> end;
};

Window SliceAxisWindow(const std::string& op, const SliceAxisAttrs& a, const Shape& d) {
  const size_t axis = static_cast<size_t>(AxisOf(op, "axis", a.axis, d));
  const int64_t len = d[axis];
  int64_t b = a.begin < 0 ? a.begin + len : a.begin;
  int64_t e = 0;
  auto end_string = [&] { return a.end ? std::to_string(*a.end) : std::string("None"); };
  if (len > 0) {
    e = !a.end ? len : (*a.end < 0 ? *a.end + len : *a.end);
    if (e > len || e < 0)
      throw OpArgumentError(op, "end", end_string(),
                            "an index in [" + std::to_string(-len) + ", " + std::to_string(len) + "] for axis " +
                                std::to_string(a.axis) + " of data of shape " + ShapeString(d));
    if (b < 0 || b >= e)
      throw OpArgumentError(op, "begin", std::to_string(a.begin),
                            "an index before end=" + end_string() + " in axis " + std::to_string(a.axis) +
                                " of data of shape " + ShapeString(d));
  } else {
    b = e = 0;
  }
  Window w;
  w.shape = d;
  w.shape[axis] = e - b;
  w.strides = Strides(d);
  w.base = b * w.strides[axis];
  return w;
}

OpDef SliceAxisDef() {
  const std::string name = "slice_axis";
  OpDef def = UnaryDef(name);
  def.description = "A slice of the input along one axis, from begin to end.";
  def.params = {
      Required("axis", "int", "The axis to slice."),
      Required("begin", "int", "The first index; negative counts from the end."),
      Required("end", "int or None", "The index past the last; negative counts from the end, None is the end."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "begin", "end"});
    auto a = std::make_shared<SliceAxisAttrs>();
    a->axis = GetInt(name, attrs, "axis");
    a->begin = GetInt(name, attrs, "begin");
    // MXNet requires end; it is optional here because the front ends drop None arguments.
    a->end = GetOptionalInt(name, attrs, "end");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    const auto& a = static_cast<const SliceAxisAttrs&>(attrs);
    MergeShape(name, "output", out[0], SliceAxisWindow(name, a, in[0]).shape);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const Window w = SliceAxisWindow("slice_axis", static_cast<const SliceAxisAttrs&>(attrs), in[0].shape);
    GatherWindow(in[0], w, out[0], OpReq::kWrite);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const TensorRef& g = io.in_grads[0];
    const Window w = SliceAxisWindow("slice_axis", static_cast<const SliceAxisAttrs&>(attrs), g.shape);
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Accumulate(g.ptr<T>(), g.size(), io.req[0], [&](auto* acc) {
                           ScatterAdd(io.out_grads[0].ptr<T>(), w.shape, w.strides, w.base, acc);
                         }));
  };
  return def;
}

// ---- tile / repeat -----------------------------------------------------------------------

// Both read the input through a view with an extra axis of stride 0 per repetition; the
// output, in row-major order, is that view. The gradient sums over the repetitions.
OpDef ReplicateDef(const std::string& name, ParseFn parse,
                   std::function<Shape(const OpAttrs&, const Shape&)> out_shape,
                   std::function<Window(const OpAttrs&, const Shape&)> view) {
  OpDef def = UnaryDef(name);
  def.parse = std::move(parse);
  def.infer_shape = [name, out_shape](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    MergeShape(name, "output", out[0], out_shape(attrs, in[0]));
  };
  def.forward = [view](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    if (out[0].size() == 0) return;
    const Window w = view(attrs, in[0].shape);
    GatherWindow(in[0], w, out[0], OpReq::kWrite);
  };
  def.backward = [view](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const TensorRef& g = io.in_grads[0];
    const TensorRef& og = io.out_grads[0];
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Accumulate(g.ptr<T>(), g.size(), io.req[0], [&](auto* acc) {
                           if (og.size() == 0) return;
                           const Window w = view(attrs, g.shape);
                           ScatterAdd(og.ptr<T>(), w.shape, w.strides, w.base, acc);
                         }));
  };
  return def;
}

struct TileAttrs : OpAttrs {
  std::vector<int64_t> reps;
};

OpDef TileDef() {
  const std::string name = "tile";
  auto parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"reps"});
    auto a = std::make_shared<TileAttrs>();
    a->reps = GetTuple(name, attrs, "reps");
    for (int64_t r : a->reps)
      if (r < 0) throw OpArgumentError(name, "reps", ShapeString(a->reps), "non-negative repetition counts");
    return std::shared_ptr<const OpAttrs>(a);
  };
  // The input and reps, both padded with leading 1s to the output's rank.
  auto padded = [](const TileAttrs& a, const Shape& d, Shape* dims, Shape* reps) {
    const size_t n = std::max(d.size(), a.reps.size());
    dims->assign(n - d.size(), 1);
    dims->insert(dims->end(), d.begin(), d.end());
    reps->assign(n - a.reps.size(), 1);
    reps->insert(reps->end(), a.reps.begin(), a.reps.end());
  };
  auto out_shape = [padded](const OpAttrs& attrs, const Shape& d) {
    Shape dims, reps;
    padded(static_cast<const TileAttrs&>(attrs), d, &dims, &reps);
    for (size_t i = 0; i < dims.size(); ++i) dims[i] *= reps[i];
    return dims;
  };
  auto view = [padded](const OpAttrs& attrs, const Shape& d) {
    Shape dims, reps;
    padded(static_cast<const TileAttrs&>(attrs), d, &dims, &reps);
    const auto strides = Strides(dims);
    Window w;
    for (size_t i = 0; i < dims.size(); ++i) {
      w.shape.push_back(reps[i]);
      w.strides.push_back(0);
      w.shape.push_back(dims[i]);
      w.strides.push_back(strides[i]);
    }
    return w;
  };
  OpDef def = ReplicateDef(name, parse, out_shape, view);
  def.description = "The input repeated reps[i] times along each axis i.";
  def.params = {
      Required("reps", "Shape(tuple)", "How many times along each axis; a shorter tuple applies to the last axes."),
  };
  return def;
}

struct RepeatAttrs : OpAttrs {
  int64_t repeats = 1;
  std::optional<int64_t> axis;
};

OpDef RepeatDef() {
  const std::string name = "repeat";
  auto parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"repeats", "axis"});
    auto a = std::make_shared<RepeatAttrs>();
    a->repeats = GetInt(name, attrs, "repeats");
    if (a->repeats < 0)
      throw OpArgumentError(name, "repeats", std::to_string(a->repeats), "a non-negative integer");
    a->axis = GetOptionalInt(name, attrs, "axis");
    return std::shared_ptr<const OpAttrs>(a);
  };
  auto out_shape = [name](const OpAttrs& attrs, const Shape& d) {
    const auto& a = static_cast<const RepeatAttrs&>(attrs);
    if (a.axis) AxisOf(name, "axis", *a.axis, d);
    // MXNet gives (0,) for zero repeats, whatever the axis.
    if (a.repeats == 0) return Shape{0};
    if (!a.axis) return Shape{NumElements(d) * a.repeats};
    Shape o = d;
    o[NormalizeAxis(name, "axis", *a.axis, static_cast<int>(d.size()))] *= a.repeats;
    return o;
  };
  auto view = [name](const OpAttrs& attrs, const Shape& d) {
    const auto& a = static_cast<const RepeatAttrs&>(attrs);
    Window w;
    if (!a.axis) {
      w.shape = {NumElements(d), a.repeats};
      w.strides = {1, 0};
      return w;
    }
    const int axis = NormalizeAxis(name, "axis", *a.axis, static_cast<int>(d.size()));
    w.shape = d;
    w.strides = Strides(d);
    w.shape.insert(w.shape.begin() + axis + 1, a.repeats);
    w.strides.insert(w.strides.begin() + axis + 1, 0);
    return w;
  };
  OpDef def = ReplicateDef(name, parse, out_shape, view);
  def.description = "Each element repeated along an axis (of the flattened input by default).";
  def.params = {
      Required("repeats", "int", "How many times each element appears."),
      Optional("axis", "int or None", "'None'", "The axis to repeat along; None flattens the input first."),
  };
  return def;
}

// ---- flip --------------------------------------------------------------------------------

struct FlipAttrs : OpAttrs {
  std::vector<int64_t> axes;
};

// Reads the input with negative strides along the flipped axes. An axis listed twice is
// flipped twice, as MXNet applies each entry in turn.
Window FlipWindow(const std::string& op, const FlipAttrs& a, const Shape& d) {
  Window w;
  w.shape = d;
  w.strides = Strides(d);
  std::vector<bool> flipped(d.size(), false);
  for (int64_t axis : a.axes) {
    if (d.empty())
      throw OpArgumentError(op, "data", "an array of shape ()", "an array with at least one dimension");
    const int64_t ndim = static_cast<int64_t>(d.size());
    if (axis < -ndim || axis >= ndim)
      throw OpArgumentError(op, "axis", ShapeString(a.axes),
                            "axes in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) +
                                ") for data of shape " + ShapeString(d));
    const size_t k = static_cast<size_t>(axis < 0 ? axis + ndim : axis);
    flipped[k] = !flipped[k];
  }
  for (size_t k = 0; k < d.size(); ++k) {
    if (!flipped[k] || d[k] == 0) continue;
    w.base += (d[k] - 1) * w.strides[k];
    w.strides[k] = -w.strides[k];
  }
  return w;
}

OpDef FlipDef(const std::string& name) {
  OpDef def = UnaryDef(name);
  def.description = "The input with the order of its elements reversed along the given axes.";
  def.params = {
      Required("axis", "Shape(tuple)", "The axes to reverse."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis"});
    auto a = std::make_shared<FlipAttrs>();
    a->axes = GetTuple(name, attrs, "axis");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
    if (IsKnown(in[0])) FlipWindow(name, static_cast<const FlipAttrs&>(attrs), in[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Window w = FlipWindow(name, static_cast<const FlipAttrs&>(attrs), in[0].shape);
    GatherWindow(in[0], w, out[0], OpReq::kWrite);
  };
  // Flipping is its own inverse: the gradient is the head gradient flipped back.
  def.backward = [name](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const TensorRef& g = io.in_grads[0];
    const Window w = FlipWindow(name, static_cast<const FlipAttrs&>(attrs), g.shape);
    GatherWindow(io.out_grads[0], w, g, io.req[0]);
  };
  return def;
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  Registry::Add(SliceDef("slice"));
  Registry::Add(SliceDef("crop"));
  Registry::Add(SliceAxisDef());
  Registry::Add(TileDef());
  Registry::Add(RepeatDef());
  Registry::Add(FlipDef("flip"));
  Registry::Add(FlipDef("reverse"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
