// Flat and multi-dimensional indices: _ravel_multi_index / _unravel_index (and their aliases
// ravel_multi_index / unravel_index) convert between coordinates into an array of `shape` and
// flat positions, in the indices' own type, as numpy.ravel_multi_index and unravel_index do
// (no range check, as in MXNet); batch_take (MXNet's deprecated pick on 2-D data) takes
// a[i, indices[i]] with int32 indices clipped to the row. None of them has a gradient to pass
// on: their results are indices, or (batch_take) MXNet defines none.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct RavelAttrs : OpAttrs {
  Shape shape;
};

std::shared_ptr<const OpAttrs> ParseRavel(const std::string& name, const AttrMap& attrs) {
  CheckAttrs(name, attrs, {"shape"});
  auto p = std::make_shared<RavelAttrs>();
  p->shape = GetTuple(name, attrs, "shape", {});
  if (p->shape.empty())
    throw OpArgumentError(name, "shape", Has(attrs, "shape") ? Quoted(attrs.at("shape")) : "(missing)",
                          "the shape the indices address, of at least one dimension");
  for (int64_t d : p->shape)
    if (d < 1) throw OpArgumentError(name, "shape", Quoted(attrs.at("shape")), "a tuple of positive integers");
  return p;
}

template <class T>
void Ravel(const Shape& shape, int64_t n, const T* coords, T* flat) {
  const size_t nd = shape.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t acc = 0;
    for (size_t j = 0; j < nd; ++j) acc = acc * shape[j] + static_cast<int64_t>(coords[j * n + i]);
    flat[i] = static_cast<T>(acc);
  }
}

template <class T>
void Unravel(const Shape& shape, int64_t n, const T* flat, T* coords) {
  const size_t nd = shape.size();
  for (int64_t i = 0; i < n; ++i) {
    int64_t idx = static_cast<int64_t>(flat[i]);
    for (size_t j = nd; j-- > 1;) {
      const int64_t q = idx / shape[j];
      coords[j * n + i] = static_cast<T>(idx - q * shape[j]);
      idx = q;
    }
    coords[i] = static_cast<T>(idx);
  }
}

OpDef RavelDef(const std::string& name, bool ravel) {
  OpDef def;
  def.name = name;
  def.description = ravel ? "The flat positions, in an array of the given shape, of the coordinates listed along the "
                            "first axis of data (numpy.ravel_multi_index)."
                          : "The coordinates, listed along the first axis of the output, of the flat positions in "
                            "data within an array of the given shape (numpy.unravel_index).";
  def.inputs = {"data"};
  def.input_docs = {{"data", ravel ? "The coordinates, of shape (ndim, N)." : "The flat positions, of shape (N,)."}};
  def.params = {Optional("shape", "Shape(tuple)", "None", "The shape of the array the indices address.")};
  def.parse = [name](const AttrMap& attrs) { return ParseRavel(name, attrs); };
  def.infer_shape = [name, ravel](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const int64_t nd = static_cast<int64_t>(static_cast<const RavelAttrs&>(attrs).shape.size());
    if (!IsKnown(in[0])) return;
    if (ravel) {
      if (in[0].size() != 2 || in[0][0] != nd)
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]),
                              "shape (" + std::to_string(nd) + ", N): one row of coordinates per axis of shape");
      MergeShape(name, "output", out[0], Shape{in[0][1]});
    } else {
      if (in[0].size() != 1)
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(in[0]), "a 1-D array of positions");
      MergeShape(name, "output", out[0], Shape{nd, in[0][0]});
    }
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = [ravel](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
    const Shape& shape = static_cast<const RavelAttrs&>(attrs).shape;
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      if (ravel) Ravel<T>(shape, out[0].size(), in[0].ptr<T>(), out[0].ptr<T>());
      else Unravel<T>(shape, in[0].size(), in[0].ptr<T>(), out[0].ptr<T>());
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { ZeroGradients(io); };
  return def;
}

OpDef BatchTake() {
  const std::string name = "batch_take";
  OpDef def;
  def.name = name;
  def.description = "a[i, indices[i]] for each row i of a (indices clipped to the row); deprecated in MXNet for "
                    "pick.";
  def.inputs = {"a", "indices"};
  def.input_docs = {{"a", "The array to take from, of at least 2 dimensions (its last axis indexed)."},
                    {"indices", "The int32 index of each row."}};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (IsKnown(in[1])) MergeShape(name, "output", out[0], in[1]);
    if (!IsKnown(in[0]) || !IsKnown(in[1])) return;
    if (in[0].size() < 2)
      throw OpArgumentError(name, "a", "an array of shape " + ShapeString(in[0]), "at least 2 dimensions");
    const int64_t rows = NumElements(in[0]) / std::max<int64_t>(1, in[0].back());
    if (NumElements(in[1]) != rows)
      throw OpArgumentError(name, "indices", "an array of shape " + ShapeString(in[1]),
                            std::to_string(rows) + " elements, one per row of a " + ShapeString(in[0]));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "a", in[0], out[0]);
    MergeType(name, "output", out[0], in[0]);
    MergeType(name, "indices", in[1], DType::kInt32);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const int64_t m = in[0].shape.back(), rows = out[0].size();
    const int32_t* idx = in[1].ptr<int32_t>();
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      const T* a = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t j = std::min<int64_t>(std::max<int64_t>(idx[i], 0), m - 1);
        y[i] = a[i * m + j];
      }
    });
  };
  return def;
}

FLOWMOD_REGISTER_OP(RavelDef("_ravel_multi_index", true));
FLOWMOD_REGISTER_OP(RavelDef("ravel_multi_index", true));
FLOWMOD_REGISTER_OP(RavelDef("_unravel_index", false));
FLOWMOD_REGISTER_OP(RavelDef("unravel_index", false));
FLOWMOD_REGISTER_OP(BatchTake());

}  // namespace

}  // namespace flowmod::ops
