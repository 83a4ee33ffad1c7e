// Two operators MXNet documents with NDArray attributes instead of inputs (it registers them
// for imperative calls; their schema lists the arrays among the attributes, and the front ends
// pass arrays given there on as inputs):
// - all_finite: 1 (float32, shape (1,)) when every element of data is finite, else 0; with
//   init_output=False the result is only ever cleared, so that one output can collect the
//   verdict over several arrays (`out=` given each time), as MXNet's mixed-precision loss
//   scaler uses it;
// - fill_element_0index: lhs with lhs[i, rhs[i]] = mhs[i] for each row i (an index outside
//   the row fails the operation).
// Neither has a gradient in MXNet.
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

// An array given as an attribute string: MXNet's schema lists these arrays among the
// attributes, but they are inputs.
void RefuseArrayAttribute(const std::string& op, const AttrMap& attrs, std::initializer_list<const char*> arrays) {
  for (const char* key : arrays)
    if (Has(attrs, key))
      throw OpArgumentError(op, key, Quoted(attrs.at(key)), "an NDArray given as the input " + std::string(key));
}

struct AllFiniteAttrs : OpAttrs {
  bool init_output = true;
};

OpDef AllFinite() {
  const std::string name = "all_finite";
  OpDef def;
  def.name = name;
  def.description = "1 when every element of data is finite (neither infinite nor NaN), else 0.";
  def.inputs = {"data"};
  def.params = {Undocumented("data", "NDArray", "The array checked (an input, listed here as MXNet lists it)."),
                Optional("init_output", "boolean", "1",
                         "Whether the output starts at 1; False only clears it, to combine several checks in one "
                         "output.")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"data", "init_output"});
    RefuseArrayAttribute(name, attrs, {"data"});
    auto p = std::make_shared<AllFiniteAttrs>();
    p->init_output = GetBool(name, attrs, "init_output", true);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>&, std::vector<Shape>& out) {
    MergeShape(name, "output", out[0], Shape{1});
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "output", out[0], DType::kFloat32);
    if (in[0] != DType::kUnknown && in[0] != DType::kFloat32 && in[0] != DType::kFloat64 && in[0] != DType::kFloat16)
      throw OpArgumentError(name, "data", std::string("an array of type ") + DTypeName(in[0]), "a floating-point array");
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    bool finite = true;
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      const T* x = in[0].ptr<T>();
      for (int64_t i = 0, n = in[0].size(); i < n && finite; ++i) finite = std::isfinite(static_cast<double>(x[i]));
    });
    float* y = out[0].ptr<float>();
    if (static_cast<const AllFiniteAttrs&>(attrs).init_output) y[0] = finite ? 1.0f : 0.0f;
    else if (!finite) y[0] = 0.0f;
  };
  return def;
}

OpDef FillElement0Index() {
  const std::string name = "fill_element_0index";
  OpDef def;
  def.name = name;
  def.description = "lhs with one element of each row replaced: lhs[i, rhs[i]] = mhs[i].";
  def.inputs = {"lhs", "mhs", "rhs"};
  def.params = {Undocumented("lhs", "NDArray", "The matrix copied (an input, listed here as MXNet lists it)."),
                Undocumented("mhs", "NDArray", "The value for each row (an input)."),
                Undocumented("rhs", "NDArray", "The column of each row to fill, 0-based (an input).")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"lhs", "mhs", "rhs"});
    RefuseArrayAttribute(name, attrs, {"lhs", "mhs", "rhs"});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "lhs", in[0], out[0]);
    MergeShape(name, "output", out[0], in[0]);
    if (!IsKnown(in[0])) return;
    if (in[0].size() != 2)
      throw OpArgumentError(name, "lhs", "an array of shape " + ShapeString(in[0]), "a matrix (2 dimensions)");
    MergeShape(name, "mhs", in[1], Shape{in[0][0]});
    MergeShape(name, "rhs", in[2], Shape{in[0][0]});
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "lhs", in[0], out[0]);
    MergeType(name, "mhs", in[1], in[0]);
    MergeType(name, "rhs", in[2], in[0]);
    MergeType(name, "output", out[0], in[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
    const int64_t rows = in[0].shape[0], cols = in[0].shape[1];
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      const T* value = in[1].ptr<T>();
      const T* column = in[2].ptr<T>();
      T* y = out[0].ptr<T>();
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t c = static_cast<int64_t>(column[i]);
        if (c < 0 || c >= cols)
          throw std::out_of_range(name + ": rhs[" + std::to_string(i) + "]=" + std::to_string(c) +
                                  " is outside the " + std::to_string(cols) + " columns of lhs");
        y[i * cols + c] = value[i];
      }
    });
  };
  return def;
}

FLOWMOD_REGISTER_OP(AllFinite());
FLOWMOD_REGISTER_OP(FillElement0Index());

}  // namespace

}  // namespace flowmod::ops
