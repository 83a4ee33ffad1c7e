// Fills with no inputs: _zeros, _ones and _full (value), MXNet's operators behind
// mx.sym.zeros / ones / full, and _arange behind mx.sym.arange. A 0 in `shape` is a
// dimension not known yet, which shape inference takes from the node's consumers (an RNN
// cell's begin state of shape (0, num_hidden) gets the batch size of the data it meets).
// Having no inputs, they have no gradient to pass on.
#include <algorithm>
#include <cmath>
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
  def.description = has_value ? "An array of the given shape filled with one value."
                              : fixed == 0 ? "An array of zeros of the given shape." : "An array of ones of the given shape.";
  def.params = {
      Optional("shape", "Shape(tuple)", has_value ? "None" : "[]", "The output's shape."),
      Optional("ctx", "string", "''", "The device (set by the front ends)."),
      Optional("dtype", "{'bfloat16', 'bool', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}",
               "'float32'", "The output's element type."),
  };
  if (has_value) def.params.push_back(Required("value", "double", "The value of every element."));
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

// _arange (mx.sym.arange): start, start + step, ... below stop, each value `repeat` times.
struct ArangeAttrs : OpAttrs {
  double start = 0, step = 1;
  int64_t repeat = 1, count = 0;  // count: distinct values
  DType dtype = DType::kFloat32;
};

OpDef ArangeOp() {
  const std::string name = "_arange";
  OpDef def;
  def.name = name;
  def.description = "Evenly spaced values from start (0 when stop is None) up to stop, each repeated repeat times.";
  def.params = {
      Required("start", "double", "The first value; the end when stop is None (the values then start at 0)."),
      Optional("stop", "double or None", "None", "The end, not included."),
      Optional("step", "double", "1", "The spacing between values."),
      Optional("repeat", "int", "'1'", "How many times each value appears in a row."),
      Optional("infer_range", "boolean", "0", "Whether stop is inferred from the consumer's shape (not supported)."),
      Optional("ctx", "string", "''", "The device (set by the front ends)."),
      Optional("dtype", "{'bfloat16', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}",
               "'float32'", "The output's element type."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"start", "stop", "step", "repeat", "infer_range", "ctx", "dtype"});
    auto p = std::make_shared<ArangeAttrs>();
    double start = GetFloat(name, attrs, "start");
    double stop = 0;
    if (auto s = GetOptionalFloat(name, attrs, "stop")) stop = *s;
    else std::swap(start, stop);
    p->start = start;
    p->step = GetFloat(name, attrs, "step", 1.0);
    if (p->step == 0) throw OpArgumentError(name, "step", "0", "a non-zero step");
    p->repeat = GetInt(name, attrs, "repeat", 1);
    if (p->repeat < 1) throw OpArgumentError(name, "repeat", std::to_string(p->repeat), "an integer >= 1");
    if (GetBool(name, attrs, "infer_range", false))
      throw OpArgumentError(name, "infer_range", "True", "False (inferring the range from the graph is not supported)");
    const double n = std::ceil((stop - start) / p->step);
    p->count = n > 0 ? static_cast<int64_t>(n) : 0;
    p->dtype = GetDType(name, attrs, "dtype", DType::kFloat32);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    const auto& a = static_cast<const ArangeAttrs&>(attrs);
    MergeShape(name, "output", out[0], Shape{a.count * a.repeat});
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], static_cast<const ArangeAttrs&>(attrs).dtype);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef>,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const ArangeAttrs&>(attrs);
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      T* y = out[0].ptr<T>();
      for (int64_t i = 0; i < a.count; ++i)
        std::fill_n(y + i * a.repeat, a.repeat, static_cast<T>(a.start + static_cast<double>(i) * a.step));
    });
  };
  return def;
}

FLOWMOD_REGISTER_OP(ArangeOp());
FLOWMOD_REGISTER_OP(FillOp("_zeros", 0.0, false));
FLOWMOD_REGISTER_OP(FillOp("_ones", 1.0, false));
FLOWMOD_REGISTER_OP(FillOp("_full", 0.0, true));

}  // namespace

}  // namespace flowmod::ops
