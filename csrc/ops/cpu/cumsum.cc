// cumsum (MXNet's _np_cumsum and its alias cumsum): running sums along an axis, or along the
// flattened array when axis is None (a 1-D result). The sums accumulate in the output's type,
// which is `dtype` when given and otherwise the input's (int64 for bool), as MXNet 1.9's
// kernel does. The gradient is the running sum of the head gradient taken from the far end.
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct CumsumAttrs : OpAttrs {
  std::optional<int64_t> axis;  // nullopt: the flattened array
  DType dtype = DType::kUnknown;  // kUnknown: the input's
};

struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};

Lines LinesOf(const CumsumAttrs& a, const Shape& shape) {
  Lines l;
  if (!a.axis) {
    l.n = NumElements(shape);
    return l;
  }
  const int nd = static_cast<int>(shape.size());
  const int ax = static_cast<int>(*a.axis < 0 ? *a.axis + nd : *a.axis);
  for (int i = 0; i < ax; ++i) l.outer *= shape[i];
  for (int i = ax + 1; i < nd; ++i) l.inner *= shape[i];
  l.n = shape[ax];
  return l;
}

// y[k] = x[0] + ... + x[k] along each line, in O; `reverse` runs from the last element.
template <class I, class O>
void RunningSum(const Lines& l, const I* x, O* y, bool reverse, OpReq req) {
  std::vector<O> acc(l.inner);
  for (int64_t o = 0; o < l.outer; ++o) {
    std::fill(acc.begin(), acc.end(), O(0));
    for (int64_t s = 0; s < l.n; ++s) {
      const int64_t k = reverse ? l.n - 1 - s : s;
      const int64_t base = (o * l.n + k) * l.inner;
      for (int64_t j = 0; j < l.inner; ++j) {
        acc[j] = static_cast<O>(acc[j] + static_cast<O>(x[base + j]));
        Store(y[base + j], acc[j], req);
      }
    }
  }
}

std::shared_ptr<const OpAttrs> ParseCumsum(const std::string& name, const AttrMap& attrs) {
  CheckAttrs(name, attrs, {"axis", "dtype"});
  auto p = std::make_shared<CumsumAttrs>();
  p->axis = GetOptionalInt(name, attrs, "axis");
  const std::string dt = GetEnum(name, attrs, "dtype",
                                 {"None", "float16", "float32", "float64", "int32", "int64", "int8"}, "None");
  if (dt != "None") p->dtype = GetDType(name, AttrMap{{"dtype", dt}}, "dtype");
  return p;
}

OpDef CumsumDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.description = "The cumulative sum of the elements along an axis (of the flattened array when axis is None).";
  def.inputs = {"a"};
  def.input_docs = {{"a", "The input array."}};
  def.params = {
      Optional("axis", "int or None", "'None'", "The axis to sum along; None sums the flattened array."),
      Optional("dtype", "{None, 'float16', 'float32', 'float64', 'int32', 'int64', 'int8'}", "'None'",
               "The type of the result and of the sums; None keeps the input's (int64 for bool)."),
  };
  def.parse = [name](const AttrMap& attrs) { return ParseCumsum(name, attrs); };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const CumsumAttrs&>(attrs);
    if (a.axis) MergeShape(name, "a", in[0], out[0]);
    if (!ShapeKnownRank(in[0]) || !IsKnown(in[0])) return;
    if (a.axis) AxisOf(name, "axis", *a.axis, in[0], "a");
    MergeShape(name, "output", out[0], a.axis ? in[0] : Shape{NumElements(in[0])});
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const CumsumAttrs&>(attrs);
    if (a.dtype != DType::kUnknown) {
      MergeType(name, "output", out[0], a.dtype);
    } else if (in[0] != DType::kUnknown) {
      MergeType(name, "output", out[0], in[0] == DType::kBool ? DType::kInt64 : in[0]);
    } else if (out[0] != DType::kUnknown && out[0] != DType::kInt64) {
      MergeType(name, "a", in[0], out[0]);
    }
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const Lines l = LinesOf(static_cast<const CumsumAttrs&>(attrs), in[0].shape);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, I, {
      FLOWMOD_DTYPE_SWITCH(out[0].dtype, O, {
        if constexpr (!std::is_same_v<O, bool>)
          RunningSum<I, O>(l, in[0].ptr<I>(), out[0].ptr<O>(), false, OpReq::kWrite);
      });
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const Lines l = LinesOf(static_cast<const CumsumAttrs&>(attrs), io.inputs[0].shape);
    FLOWMOD_DTYPE_SWITCH(io.out_grads[0].dtype, G, {
      FLOWMOD_DTYPE_SWITCH(io.in_grads[0].dtype, I, {
        if constexpr (!std::is_same_v<I, bool>)
          RunningSum<G, I>(l, io.out_grads[0].ptr<G>(), io.in_grads[0].ptr<I>(), true, io.req[0]);
      });
    });
  };
  return def;
}

FLOWMOD_REGISTER_OP(CumsumDef("_np_cumsum"));
FLOWMOD_REGISTER_OP(CumsumDef("cumsum"));

}  // namespace

}  // namespace flowmod::ops
