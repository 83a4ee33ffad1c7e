// gather_nd, scatter_nd and _scatter_set_nd: N-dimensional indexing by an index array whose
// first axis lists coordinates. With indices of shape (M, Y0, ..., Yk) and data of shape
// (X0, ..., Xn), gather_nd gives out[y0, ..., yk, x_M, ..., x_n] =
// data[indices[0, y...], ..., indices[M-1, y...], x_M, ..., x_n]; scatter_nd is its transpose
// into a zero array of `shape` (duplicates: the last write wins, as in MXNet, whose gradient
// then is not exact either), and _scatter_set_nd writes into a copy of lhs. Indices may be of
// any type (truncated toward zero); negative ones count from the end as in MXNet's gather_nd,
// and one outside the axis fails the operation with IndexError's message.
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct ScatterAttrs : OpAttrs {
  Shape shape;
};

// The coordinates' layout: m coordinates for each of `count` positions, each addressing a
// block of `block` contiguous elements of an array of shape `target`.
struct IndexPlan {
  int64_t m = 0, count = 0, block = 1;
  std::vector<int64_t> dims, strides;  // of the indexed axes of target
};

IndexPlan PlanFor(const Shape& target, const Shape& indices) {
  IndexPlan p;
  p.m = indices[0];
  p.count = Product(indices, 1, indices.size());
  p.block = Product(target, static_cast<size_t>(p.m), target.size());
  const std::vector<int64_t> strides = Strides(target);
  for (int64_t j = 0; j < p.m; ++j) {
    p.dims.push_back(target[j]);
    p.strides.push_back(strides[j]);
  }
  return p;
}

// The element offset of position i's block, checking each coordinate.
template <class I>
int64_t BlockOffset(const std::string& op, const IndexPlan& p, const I* idx, int64_t i) {
  int64_t offset = 0;
  for (int64_t j = 0; j < p.m; ++j) {
    const double raw = static_cast<double>(idx[j * p.count + i]);
    int64_t v = static_cast<int64_t>(raw);
    if (v < -p.dims[j] || v >= p.dims[j])
      throw std::out_of_range(op + ": IndexError: index " + std::to_string(v) + " is out of bounds for axis " +
                              std::to_string(j) + " with size " + std::to_string(p.dims[j]));
    if (v < 0) v += p.dims[j];
    offset += v * p.strides[j];
  }
  return offset;
}

// Checks indices of shape (M, Y...) against an array `target` of rank >= M; returns the
// shape of the gathered values (Y..., target[M:]).
Shape ValuesShape(const std::string& op, const std::string& target_name, const Shape& target,
                  const Shape& indices) {
  if (indices.size() < 2)
    throw OpArgumentError(op, "indices", "an array of shape " + ShapeString(indices),
                          "at least 2 dimensions (the coordinates along the first)");
  if (indices[0] > static_cast<int64_t>(target.size()) || indices[0] > 10)
    throw OpArgumentError(op, "indices", "an array of shape " + ShapeString(indices),
                          "at most " + std::to_string(std::min<size_t>(target.size(), 10)) +
                              " coordinates (the rank of " + target_name + " " + ShapeString(target) +
                              ", and at most 10)");
  Shape values(indices.begin() + 1, indices.end());
  values.insert(values.end(), target.begin() + indices[0], target.end());
  return values;
}

template <class T, class I>
void GatherKernel(const std::string& op, const IndexPlan& p, const T* data, const I* idx, T* out, OpReq req) {
  for (int64_t i = 0; i < p.count; ++i) {
    const T* src = data + BlockOffset(op, p, idx, i);
    T* dst = out + i * p.block;
    for (int64_t k = 0; k < p.block; ++k) Store(dst[k], src[k], req);
  }
}

// dst's blocks get (accumulate=false) or add (true) the values' blocks.
template <class T, class I>
void ScatterKernel(const std::string& op, const IndexPlan& p, const T* values, const I* idx, T* dst,
                   bool accumulate) {
  for (int64_t i = 0; i < p.count; ++i) {
    T* d = dst + BlockOffset(op, p, idx, i);
    const T* s = values + i * p.block;
    for (int64_t k = 0; k < p.block; ++k) d[k] = accumulate ? static_cast<T>(d[k] + s[k]) : s[k];
  }
}

void ZeroFill(const TensorRef& t) {
  if (t.size() > 0) std::memset(t.data, 0, static_cast<size_t>(t.size()) * DTypeSize(t.dtype));
}

// ---- gather_nd ----------------------------------------------------------------------------

OpDef GatherND() {
  const std::string name = "gather_nd";
  OpDef def;
  def.name = name;
  def.description = "Gathers blocks of data at the coordinates listed along the first axis of indices.";
  def.inputs = {"data", "indices"};
  def.input_docs = {{"data", "The array to gather from."},
                    {"indices", "The coordinates, of shape (M, ...): M axes of data indexed."}};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0]) || !IsKnown(in[1])) return;
    MergeShape(name, "output", out[0], ValuesShape(name, "data", in[0], in[1]));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "data", in[0], out[0]);
    MergeType(name, "output", out[0], in[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const IndexPlan p = PlanFor(in[0].shape, in[1].shape);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      FLOWMOD_DTYPE_SWITCH(in[1].dtype, I, {
        GatherKernel<T, I>(name, p, in[0].ptr<T>(), in[1].ptr<I>(), out[0].ptr<T>(), OpReq::kWrite);
      });
    });
  };
  // data's gradient: the head gradient added back at the gathered positions; none for indices.
  def.backward = [name](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const TensorRef& gx = io.in_grads[0];
    if (io.req[1] == OpReq::kWrite) ZeroFill(io.in_grads[1]);
    if (io.req[0] == OpReq::kNull) return;
    if (io.req[0] == OpReq::kWrite) ZeroFill(gx);
    const IndexPlan p = PlanFor(io.inputs[0].shape, io.inputs[1].shape);
    FLOWMOD_DTYPE_SWITCH(gx.dtype, T, {
      FLOWMOD_DTYPE_SWITCH(io.inputs[1].dtype, I, {
        ScatterKernel<T, I>(name, p, io.out_grads[0].ptr<T>(), io.inputs[1].ptr<I>(), gx.ptr<T>(), true);
      });
    });
  };
  return def;
}

// ---- scatter_nd, _scatter_set_nd ------------------------------------------------------------

std::shared_ptr<const OpAttrs> ParseScatter(const std::string& name, const AttrMap& attrs) {
  CheckAttrs(name, attrs, {"shape"});
  auto p = std::make_shared<ScatterAttrs>();
  p->shape = GetTuple(name, attrs, "shape");
  if (p->shape.empty())
    throw OpArgumentError(name, "shape", attrs.at("shape"), "the output's shape, of at least one dimension");
  for (int64_t d : p->shape)
    if (d < 0) throw OpArgumentError(name, "shape", attrs.at("shape"), "a tuple of non-negative integers");
  return p;
}

// Checks data (the values) of shape (Y..., shape[M:]) against indices (M, Y...).
void CheckScatterShapes(const std::string& op, const std::string& values_name, const Shape& target,
                        const Shape& values, const Shape& indices) {
  const Shape expected = ValuesShape(op, "the output", target, indices);
  if (values != expected)
    throw OpArgumentError(op, values_name, "an array of shape " + ShapeString(values),
                          "shape " + ShapeString(expected) + " (indices " + ShapeString(indices) +
                              " into an output of shape " + ShapeString(target) + ")");
}

OpDef ScatterND() {
  const std::string name = "scatter_nd";
  OpDef def;
  def.name = name;
  def.description = "An array of the given shape, zero except for the blocks of data written at the coordinates "
                    "listed along the first axis of indices.";
  def.inputs = {"data", "indices"};
  def.input_docs = {{"data", "The values to write."},
                    {"indices", "The coordinates, of shape (M, ...): M axes of the output indexed."}};
  def.params = {Required("shape", "Shape(tuple)", "The output's shape.")};
  def.parse = [name](const AttrMap& attrs) { return ParseScatter(name, attrs); };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const Shape& target = static_cast<const ScatterAttrs&>(attrs).shape;
    MergeShape(name, "output", out[0], target);
    if (!IsKnown(in[1])) return;
    if (!IsKnown(in[0])) {
      MergeShape(name, "data", in[0], ValuesShape(name, "the output", target, in[1]));
      return;
    }
    CheckScatterShapes(name, "data", target, in[0], in[1]);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "data", in[0], out[0]);
    MergeType(name, "output", out[0], in[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    ZeroFill(out[0]);
    const IndexPlan p = PlanFor(out[0].shape, in[1].shape);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      FLOWMOD_DTYPE_SWITCH(in[1].dtype, I, {
        ScatterKernel<T, I>(name, p, in[0].ptr<T>(), in[1].ptr<I>(), out[0].ptr<T>(), false);
      });
    });
  };
  // data's gradient gathers the head gradient at the coordinates (MXNet's gather_nd).
  def.backward = [name](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    if (io.req[1] == OpReq::kWrite) ZeroFill(io.in_grads[1]);
    if (io.req[0] == OpReq::kNull) return;
    const IndexPlan p = PlanFor(io.out_grads[0].shape, io.inputs[1].shape);
    FLOWMOD_DTYPE_SWITCH(io.in_grads[0].dtype, T, {
      FLOWMOD_DTYPE_SWITCH(io.inputs[1].dtype, I, {
        GatherKernel<T, I>(name, p, io.out_grads[0].ptr<T>(), io.inputs[1].ptr<I>(), io.in_grads[0].ptr<T>(),
                           io.req[0]);
      });
    });
  };
  return def;
}

OpDef ScatterSetND() {
  const std::string name = "_scatter_set_nd";
  OpDef def;
  def.name = name;
  def.description = "A copy of lhs with the blocks of rhs written at the coordinates listed along the first axis "
                    "of indices (what assigning through an index array does).";
  def.inputs = {"lhs", "rhs", "indices"};
  def.input_docs = {{"lhs", "The array written into (its copy is the output)."},
                    {"rhs", "The values to write."},
                    {"indices", "The coordinates, of shape (M, ...): M axes of lhs indexed."}};
  def.params = {Required("shape", "Shape(tuple)", "The output's shape (that of lhs).")};
  def.parse = [name](const AttrMap& attrs) { return ParseScatter(name, attrs); };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const Shape& target = static_cast<const ScatterAttrs&>(attrs).shape;
    MergeShape(name, "output", out[0], target);
    MergeShape(name, "lhs", in[0], target);
    if (!IsKnown(in[2])) return;
    if (!IsKnown(in[1])) {
      MergeShape(name, "rhs", in[1], ValuesShape(name, "the output", target, in[2]));
      return;
    }
    CheckScatterShapes(name, "rhs", target, in[1], in[2]);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "lhs", in[0], out[0]);
    MergeType(name, "rhs", in[1], in[0]);
    MergeType(name, "lhs", in[0], in[1]);
    MergeType(name, "output", out[0], in[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
    const IndexPlan p = PlanFor(out[0].shape, in[2].shape);
    FLOWMOD_DTYPE_SWITCH(in[1].dtype, T, {
      FLOWMOD_DTYPE_SWITCH(in[2].dtype, I, {
        ScatterKernel<T, I>(name, p, in[1].ptr<T>(), in[2].ptr<I>(), out[0].ptr<T>(), false);
      });
    });
  };
  def.inplace = {{0, 0}};
  // MXNet defines no gradient for this internal assignment operator.
  return def;
}

FLOWMOD_REGISTER_OP(GatherND());
FLOWMOD_REGISTER_OP(ScatterND());
FLOWMOD_REGISTER_OP(ScatterSetND());

}  // namespace

}  // namespace flowmod::ops
