// Index helpers of MXNet's contrib namespace:
// - _contrib_arange_like: start, start + step, ... (each `repeat` times) in data's shape and
//   type, or along one axis of it (a 1-D result); start and step are taken in data's type
//   first, as MXNet computes them;
// - _contrib_index_array: each element's coordinates (all of them, or those along `axes`) as
//   an int64 array of shape data.shape + (number of axes,);
// - _contrib_index_copy: old_tensor with the rows index_vector names replaced by the rows of
//   new_tensor (an index outside the rows fails the operation).
// Only index_copy passes a gradient on: to old_tensor where rows were kept, to new_tensor
// from the rows written; the others' outputs depend on data's shape alone.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct ArangeLikeAttrs : OpAttrs {
  double start = 0, step = 1;
  int64_t repeat = 1;
  std::optional<int64_t> axis;
};

OpDef ArangeLike() {
  const std::string name = "_contrib_arange_like";
  OpDef def;
  def.name = name;
  def.description = "Evenly spaced values (each repeated repeat times) in the shape of data, or along one of its "
                    "axes.";
  def.inputs = {"data"};
  def.input_docs = {{"data", "The array whose shape (and type) the result takes; its values are not read."}};
  def.params = {
      Optional("start", "double", "0", "The first value."),
      Optional("step", "double", "1", "The spacing between values."),
      Optional("repeat", "int", "'1'", "How many times each value appears in a row."),
      Optional("ctx", "string", "''", "The device (set by the front ends)."),
      Optional("axis", "int or None", "'None'", "The axis whose length the 1-D result takes; None: data's shape."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"start", "step", "repeat", "ctx", "axis"});
    auto p = std::make_shared<ArangeLikeAttrs>();
    p->start = GetFloat(name, attrs, "start", 0);
    p->step = GetFloat(name, attrs, "step", 1);
    p->repeat = GetInt(name, attrs, "repeat", 1);
    if (p->repeat < 1) throw OpArgumentError(name, "repeat", attrs.at("repeat"), "an integer >= 1");
    p->axis = GetOptionalInt(name, attrs, "axis");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    const auto& a = static_cast<const ArangeLikeAttrs&>(attrs);
    if (a.axis) MergeShape(name, "output", out[0], Shape{in[0][AxisOf(name, "axis", *a.axis, in[0])]});
    else MergeShape(name, "output", out[0], in[0]);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { ElemwiseType(name, in, out); };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef>, std::span<const TensorRef> out) {
    const auto& a = static_cast<const ArangeLikeAttrs&>(attrs);
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      const T start = CastTo<T>(a.start), step = CastTo<T>(a.step);
      T* y = out[0].ptr<T>();
      for (int64_t i = 0, n = out[0].size(); i < n; ++i)
        y[i] = static_cast<T>(start + static_cast<T>(i / a.repeat) * step);
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { ZeroGradients(io); };
  return def;
}

struct IndexArrayAttrs : OpAttrs {
  std::optional<std::vector<int64_t>> axes;
};

std::vector<int> IndexAxes(const std::string& name, const IndexArrayAttrs& a, const Shape& shape) {
  std::vector<int> axes;
  if (!a.axes) {
    for (size_t i = 0; i < shape.size(); ++i) axes.push_back(static_cast<int>(i));
    return axes;
  }
  for (int64_t axis : *a.axes) axes.push_back(NormalizeAxis(name, "axes", axis, static_cast<int>(shape.size())));
  return axes;
}

OpDef IndexArray() {
  const std::string name = "_contrib_index_array";
  OpDef def;
  def.name = name;
  def.description = "The coordinates of each element of data (along every axis, or those in axes), as int64 along "
                    "a new last axis.";
  def.inputs = {"data"};
  def.input_docs = {{"data", "The array whose shape gives the coordinates; its values are not read."}};
  def.params = {Optional("axes", "Shape or None", "None", "The axes whose coordinates are listed; None: all of them.")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axes"});
    auto p = std::make_shared<IndexArrayAttrs>();
    if (Has(attrs, "axes") && Trim(attrs.at("axes")) != "None") p->axes = GetTuple(name, attrs, "axes");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    Shape target = in[0];
    target.push_back(static_cast<int64_t>(IndexAxes(name, static_cast<const IndexArrayAttrs&>(attrs), in[0]).size()));
    MergeShape(name, "output", out[0], target);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], DType::kInt64);
  };
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Shape& shape = in[0].shape;
    const std::vector<int> axes = IndexAxes(name, static_cast<const IndexArrayAttrs&>(attrs), shape);
    const std::vector<int64_t> strides = Strides(shape);
    int64_t* y = out[0].ptr<int64_t>();
    const size_t k = axes.size();
    for (int64_t i = 0, n = NumElements(shape); i < n; ++i)
      for (size_t j = 0; j < k; ++j) y[i * k + j] = (i / strides[axes[j]]) % shape[axes[j]];
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { ZeroGradients(io); };
  return def;
}

// The row of old_tensor that index_vector[i] names, checked.
template <class I>
int64_t RowOf(const I* idx, int64_t i, int64_t rows) {
  const int64_t r = static_cast<int64_t>(idx[i]);
  if (r < 0 || r >= rows)
    throw std::out_of_range("_contrib_index_copy: index_vector[" + std::to_string(i) + "]=" + std::to_string(r) +
                            " is outside the " + std::to_string(rows) + " rows of old_tensor");
  return r;
}

OpDef IndexCopy() {
  const std::string name = "_contrib_index_copy";
  OpDef def;
  def.name = name;
  def.description = "old_tensor with the rows named by index_vector replaced by the rows of new_tensor, in order.";
  def.inputs = {"old_tensor", "index_vector", "new_tensor"};
  def.input_docs = {{"old_tensor", "The array copied."},
                    {"index_vector", "The rows of old_tensor to replace (1-D, of integers)."},
                    {"new_tensor", "The replacing rows: shape (len(index_vector),) + old_tensor.shape[1:]."}};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "old_tensor", in[0], out[0]);
    MergeShape(name, "output", out[0], in[0]);
    if (!IsKnown(in[0]) || !IsKnown(in[1]) || !IsKnown(in[2])) return;
    if (in[0].empty())
      throw OpArgumentError(name, "old_tensor", "an array of shape ()", "an array of at least one dimension");
    if (in[1].size() != 1)
      throw OpArgumentError(name, "index_vector", "an array of shape " + ShapeString(in[1]), "a 1-D array");
    Shape expected = in[0];
    expected[0] = in[1][0];
    if (in[2] != expected)
      throw OpArgumentError(name, "new_tensor", "an array of shape " + ShapeString(in[2]),
                            "shape " + ShapeString(expected) + " (a row for each index, rows of old_tensor's shape)");
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "old_tensor", in[0], out[0]);
    MergeType(name, "new_tensor", in[2], in[0]);
    MergeType(name, "old_tensor", in[0], in[2]);
    MergeType(name, "output", out[0], in[0]);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
    const int64_t rows = in[0].shape[0], width = rows ? in[0].size() / rows : 0, count = in[1].size();
    const size_t bytes = static_cast<size_t>(width) * DTypeSize(in[0].dtype);
    FLOWMOD_DTYPE_SWITCH(in[1].dtype, I, {
      const I* idx = in[1].ptr<I>();
      for (int64_t i = 0; i < count; ++i) {
        const int64_t r = RowOf(idx, i, rows);
        std::memcpy(static_cast<char*>(out[0].data) + r * bytes, static_cast<const char*>(in[2].data) + i * bytes, bytes);
      }
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const TensorRef& dy = io.out_grads[0];
    const int64_t rows = dy.shape[0], width = rows ? dy.size() / rows : 0, count = io.inputs[1].size();
    if (io.req[1] == OpReq::kWrite && io.in_grads[1].size() > 0)
      std::memset(io.in_grads[1].data, 0, static_cast<size_t>(io.in_grads[1].size()) * DTypeSize(io.in_grads[1].dtype));
    FLOWMOD_DTYPE_SWITCH(dy.dtype, T, {
      const T* g = dy.ptr<T>();
      FLOWMOD_DTYPE_SWITCH(io.inputs[1].dtype, I, {
        const I* idx = io.inputs[1].ptr<I>();
        if (io.req[0] != OpReq::kNull) {
          // The rows written come from new_tensor: old_tensor gets no gradient there.
          std::vector<char> replaced(rows, 0);
          for (int64_t i = 0; i < count; ++i) replaced[RowOf(idx, i, rows)] = 1;
          T* d_old = io.in_grads[0].ptr<T>();
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t k = 0; k < width; ++k) Store(d_old[r * width + k], replaced[r] ? T(0) : g[r * width + k], io.req[0]);
        }
        if (io.req[2] != OpReq::kNull) {
          T* d_new = io.in_grads[2].ptr<T>();
          for (int64_t i = 0; i < count; ++i) {
            const int64_t r = RowOf(idx, i, rows);
            for (int64_t k = 0; k < width; ++k) Store(d_new[i * width + k], g[r * width + k], io.req[2]);
          }
        }
      });
    });
  };
  return def;
}

FLOWMOD_REGISTER_OP(ArangeLike());
FLOWMOD_REGISTER_OP(IndexArray());
FLOWMOD_REGISTER_OP(IndexCopy());

}  // namespace

}  // namespace flowmod::ops
