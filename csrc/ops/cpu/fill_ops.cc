// Constant fills with no inputs: _zeros, _ones and _full (value), MXNet's operators behind
// mx.sym.zeros / ones / full. A 0 in `shape` is a dimension not known yet, which shape
// inference takes from the node's consumers (an RNN cell's begin state of shape
// (0, num_hidden) gets the batch size of the data it meets). Having no inputs, they have
// no gradient to pass on.
#include <algorithm>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct FillAttrs : OpAttrs {
  Shape shape;  // -1 where the attribute had 0
  DType dtype = DType::kFloat32;
  double value = 0;
};

OpDef FillOp(const std::string& name, double fixed, bool has_value) {
  OpDef def;
  def.name = name;
  def.inputs = {};
  def.parse = [name, fixed, has_value](const AttrMap& attrs) {
    if (has_value) CheckAttrs(name, attrs, {"shape", "ctx", "dtype", "value"});
    else CheckAttrs(name, attrs, {"shape", "ctx", "dtype"});
    auto p = std::make_shared<FillAttrs>();
    for (int64_t d : GetTuple(name, attrs, "shape", {})) {
      if (d < 0) throw OpArgumentError(name, "shape", attrs.at("shape"), "a tuple of non-negative integers");
      p->shape.push_back(d == 0 ? -1 : d);
    }
    const std::string t = GetEnum(name, attrs, "dtype",
                                  {"None", "float16", "float32", "float64", "uint8", "int8", "int32", "int64", "bool"},
                                  "None");
    if (t != "None") p->dtype = GetDType(name, AttrMap{{"dtype", t}}, "dtype");
    p->value = has_value ? GetFloat(name, attrs, "value") : fixed;
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    MergeShape(name, "output", out[0], static_cast<const FillAttrs&>(attrs).shape);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], static_cast<const FillAttrs&>(attrs).dtype);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef>,
                   std::span<const TensorRef> out) {
    const double v = static_cast<const FillAttrs&>(attrs).value;
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, { std::fill_n(out[0].ptr<T>(), out[0].size(), static_cast<T>(v)); });
  };
  return def;
}

FLOWMOD_REGISTER_OP(FillOp("_zeros", 0.0, false));
FLOWMOD_REGISTER_OP(FillOp("_ones", 1.0, false));
FLOWMOD_REGISTER_OP(FillOp("_full", 0.0, true));

}  // namespace

}  // namespace flowmod::ops
