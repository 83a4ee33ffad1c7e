// slice_like: data cut, from the start of each axis, to the size shape_like has there; on
// every axis when `axes` is empty (the ranks must then agree), on the listed axes otherwise.
// The gradient of data is the head gradient in that corner and zero elsewhere; shape_like
// contributes only its shape, so its gradient is zero.
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "slice_like";

struct SliceLikeAttrs : OpAttrs {
  std::vector<int64_t> axes;
};

Shape SlicedShape(const SliceLikeAttrs& a, const Shape& data, const Shape& like) {
  Shape out = data;
  auto cut = [&](int axis) {
    if (like[axis] > data[axis])
      throw OpArgumentError(kOp, "shape_like", "an array of shape " + ShapeString(like),
                            "at most " + std::to_string(data[axis]) + " elements on axis " + std::to_string(axis) +
                                " (data's shape is " + ShapeString(data) + ")");
    out[axis] = like[axis];
  };
  if (a.axes.empty()) {
    if (data.size() != like.size())
      throw OpArgumentError(kOp, "shape_like", "an array of shape " + ShapeString(like),
                            "the rank of data " + ShapeString(data) + " (axes is empty: every axis is cut)");
    for (size_t i = 0; i < data.size(); ++i) cut(static_cast<int>(i));
    return out;
  }
  for (int64_t axis : a.axes) {
    const int ax = AxisOf(kOp, "axes", axis, data);
    if (ax >= static_cast<int>(like.size()))
      throw OpArgumentError(kOp, "axes", std::to_string(axis),
                            "axes that shape_like " + ShapeString(like) + " has too");
    cut(ax);
  }
  return out;
}

void SliceLikeForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T,
                       Gather(in[0].ptr<T>(), out[0].shape, Strides(in[0].shape), 0, out[0].ptr<T>(), OpReq::kWrite));
}

void SliceLikeBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  if (io.req[1] == OpReq::kWrite && io.in_grads[1].size() > 0)
    std::memset(io.in_grads[1].data, 0, static_cast<size_t>(io.in_grads[1].size()) * DTypeSize(io.in_grads[1].dtype));
  const TensorRef& gx = io.in_grads[0];
  if (io.req[0] == OpReq::kNull) return;
  if (io.req[0] == OpReq::kWrite && gx.size() > 0)
    std::memset(gx.data, 0, static_cast<size_t>(gx.size()) * DTypeSize(gx.dtype));
  FLOWMOD_DTYPE_SWITCH(gx.dtype, T,
                       ScatterAdd(io.out_grads[0].ptr<T>(), io.out_grads[0].shape, Strides(gx.shape), 0, gx.ptr<T>()));
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data", "shape_like"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kOp, attrs, {"axes"});
    auto p = std::make_shared<SliceLikeAttrs>();
    p->axes = GetTuple(kOp, attrs, "axes", {});
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0]) || !ShapeKnownRank(in[1]) || !IsKnown(in[1])) return;
    if (in[0].empty())
      throw OpArgumentError(kOp, "data", "an array of shape ()", "an array of at least one dimension");
    MergeShape(kOp, "output", out[0], SlicedShape(static_cast<const SliceLikeAttrs&>(attrs), in[0], in[1]));
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(kOp, "data", in[0], out[0]);
    MergeType(kOp, "output", out[0], in[0]);
  };
  def.forward = &SliceLikeForward;
  def.backward = &SliceLikeBackward;
  Registry::Add(Described(std::move(def), "data sliced from the start of each axis to the size of shape_like there (on every axis, or on those listed in axes).", {{"data", "The array to slice."}, {"shape_like", "The array whose shape gives the sizes (its values are not read)."}}, {Optional("axes", "Shape(tuple)", "[]", "The axes to cut; empty: every axis.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
