// Joining and splitting operators: Concat, stack and SliceChannel (split), with MXNet 1.9's
// legacy (non-numpy) semantics. All move whole rows: the arrays are read as (outer, axis,
// inner) and each input or output owns a run of every outer row.
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// dst[r * dst_stride + k] gets src[r * src_stride + k] for r < rows, k < len.
template <class T>
void CopyRows(const T* src, int64_t src_stride, T* dst, int64_t dst_stride, int64_t rows,
              int64_t len, OpReq req) {
  if (req == OpReq::kNull || len == 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = src + r * src_stride;
    T* d = dst + r * dst_stride;
    if (req == OpReq::kAdd) {
      for (int64_t k = 0; k < len; ++k) d[k] = static_cast<T>(d[k] + p[k]);
    } else {
      std::copy(p, p + len, d);
    }
  }
}

// ---- Concat / stack ----------------------------------------------------------------------

struct ConcatAttrs : OpAttrs {
  int num_args = 1;
  int64_t axis = 1;  // Concat's dim, stack's axis
};

std::vector<std::string> ArgNames(const OpAttrs& attrs) {
  const int n = static_cast<const ConcatAttrs&>(attrs).num_args;
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("arg" + std::to_string(i));
  return names;
}

ParseFn ConcatParse(const std::string& name, const char* axis_key, int64_t axis_default) {
  return [name, axis_key, axis_default](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"num_args", axis_key});
    auto a = std::make_shared<ConcatAttrs>();
    const int64_t n = GetInt(name, attrs, "num_args");
    if (n < 1) throw OpArgumentError(name, "num_args", std::to_string(n), "at least 1");
    a->num_args = static_cast<int>(n);
    a->axis = GetInt(name, attrs, axis_key, axis_default);
    return std::shared_ptr<const OpAttrs>(a);
  };
}

// Every input and the output have one type; errors name the input (arg0, arg1, ...).
InferTypeFn VariadicType(const std::string& name) {
  return [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    DType common = DType::kUnknown;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] != DType::kUnknown && common != DType::kUnknown && in[i] != common)
        throw OpArgumentError(name, "arg" + std::to_string(i), std::string("an array of type ") + DTypeName(in[i]),
                              std::string(DTypeName(common)) + ", the type of the other inputs");
      if (common == DType::kUnknown) common = in[i];
    }
    MergeType(name, "output", common, out[0]);
    for (auto& t : in) t = common;
    out[0] = common;
  };
}

// Two shapes agree except along `axis` (unknown dimensions agree with anything).
bool AgreeOffAxis(const Shape& a, const Shape& b, size_t axis) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (i != axis && a[i] >= 0 && b[i] >= 0 && a[i] != b[i]) return false;
  return true;
}

void ConcatShape(const std::string& name, const ConcatAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
  // The first input of known rank is the reference the others must match off the axis.
  int ref = -1;
  for (size_t i = 0; i < in.size() && ref < 0; ++i)
    if (ShapeKnownRank(in[i])) ref = static_cast<int>(i);
  Shape common = ref >= 0 ? in[ref] : out[0];
  if (!ShapeKnownRank(common)) return;
  const std::string ref_name = ref >= 0 ? "arg" + std::to_string(ref) : "output";
  const size_t axis = static_cast<size_t>(AxisOf(name, "dim", a.axis, common, ref_name));
  common[axis] = -1;
  auto merge = [&](const std::string& arg, const Shape& s) {
    if (!AgreeOffAxis(common, s, axis))
      throw OpArgumentError(name, arg, "an array of shape " + ShapeString(s),
                            "the shape of " + ref_name + ", " + ShapeString(ref >= 0 ? in[ref] : out[0]) +
                                ", except along dim=" + std::to_string(a.axis));
    for (size_t i = 0; i < s.size(); ++i)
      if (i != axis && common[i] < 0) common[i] = s[i];
  };
  int64_t sum = 0;
  int unknown = -1, n_unknown = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!ShapeKnownRank(in[i])) {
      unknown = static_cast<int>(i);
      ++n_unknown;
      continue;
    }
    merge("arg" + std::to_string(i), in[i]);
    if (in[i][axis] < 0) {
      unknown = static_cast<int>(i);
      ++n_unknown;
    } else {
      sum += in[i][axis];
    }
  }
  if (ShapeKnownRank(out[0])) merge("output", out[0]);
  for (size_t i = 0; i < in.size(); ++i) {
    Shape s = common;
    s[axis] = ShapeKnownRank(in[i]) ? in[i][axis] : -1;
    // One input's length along the axis follows from the output's.
    if (n_unknown == 1 && static_cast<int>(i) == unknown && ShapeKnownRank(out[0]) && out[0][axis] >= 0)
      s[axis] = out[0][axis] - sum;
    if (ShapeKnownRank(in[i])) {
      for (size_t k = 0; k < s.size(); ++k)
        if (in[i][k] < 0) in[i][k] = s[k];
    } else {
      in[i] = s;
    }
  }
  Shape o = common;
  o[axis] = n_unknown == 0 ? sum : -1;
  MergeShape(name, "output", out[0], o);
}

OpDef ConcatDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.list_inputs = &ArgNames;
  def.key_var_num_args = "num_args";
  def.parse = ConcatParse(name, "dim", 1);
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    ConcatShape(name, static_cast<const ConcatAttrs&>(attrs), in, out);
  };
  def.infer_type = VariadicType(name);
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Shape& os = out[0].shape;
    const size_t axis = static_cast<size_t>(NormalizeAxis(name, "dim", static_cast<const ConcatAttrs&>(attrs).axis,
                                                          static_cast<int>(os.size())));
    const int64_t leading = Product(os, 0, axis), trailing = Product(os, axis + 1, os.size());
    const int64_t row = os[axis] * trailing;
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      int64_t offset = 0;
      for (const TensorRef& x : in) {
        const int64_t len = x.shape[axis] * trailing;
        CopyRows(x.ptr<T>(), len, out[0].ptr<T>() + offset, row, leading, len, OpReq::kWrite);
        offset += len;
      }
    });
  };
  def.backward = [name](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const Shape& os = io.out_grads[0].shape;
    const size_t axis = static_cast<size_t>(NormalizeAxis(name, "dim", static_cast<const ConcatAttrs&>(attrs).axis,
                                                          static_cast<int>(os.size())));
    const int64_t leading = Product(os, 0, axis), trailing = Product(os, axis + 1, os.size());
    const int64_t row = os[axis] * trailing;
    FLOWMOD_DTYPE_SWITCH(io.out_grads[0].dtype, T, {
      int64_t offset = 0;
      for (size_t i = 0; i < io.inputs.size(); ++i) {
        const int64_t len = io.inputs[i].shape[axis] * trailing;
        if (io.req[i] != OpReq::kNull)
          CopyRows(io.out_grads[0].ptr<T>() + offset, row, io.in_grads[i].ptr<T>(), len, leading, len, io.req[i]);
        offset += len;
      }
    });
  };
  return def;
}

OpDef StackDef() {
  const std::string name = "stack";
  OpDef def;
  def.name = name;
  def.list_inputs = &ArgNames;
  def.key_var_num_args = "num_args";
  def.parse = ConcatParse(name, "axis", 0);
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const ConcatAttrs&>(attrs);
    Shape common = kUnknownShape;
    int ref = -1;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!ShapeKnownRank(in[i])) continue;
      if (ref < 0) ref = static_cast<int>(i);
      if (!AgreeOffAxis(in[ref], in[i], in[i].size()))
        throw OpArgumentError(name, "arg" + std::to_string(i), "an array of shape " + ShapeString(in[i]),
                              "the shape of arg" + std::to_string(ref) + ", " + ShapeString(in[ref]));
      MergeShape(name, "arg" + std::to_string(i), common, in[i]);
    }
    if (ShapeKnownRank(out[0]) && !out[0].empty()) {
      // The inputs' shape is the output's without the stacking axis.
      const int axis = NormalizeAxis(name, "axis", a.axis, static_cast<int>(out[0].size()));
      Shape d = out[0];
      d.erase(d.begin() + axis);
      MergeShape(name, "output", common, d);
    }
    if (!ShapeKnownRank(common)) return;
    for (auto& s : in) MergeShape(name, "data", s, common);
    const int axis = NormalizeAxis(name, "axis", a.axis, static_cast<int>(common.size()) + 1);
    Shape o = common;
    o.insert(o.begin() + axis, a.num_args);
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = VariadicType(name);
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const Shape& os = out[0].shape;
    const size_t axis = static_cast<size_t>(
        NormalizeAxis("stack", "axis", static_cast<const ConcatAttrs&>(attrs).axis, static_cast<int>(os.size())));
    const int64_t leading = Product(os, 0, axis), trailing = Product(os, axis + 1, os.size());
    const int64_t n = static_cast<int64_t>(in.size());
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      for (int64_t i = 0; i < n; ++i)
        CopyRows(in[i].ptr<T>(), trailing, out[0].ptr<T>() + i * trailing, n * trailing, leading, trailing,
                 OpReq::kWrite);
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const Shape& os = io.out_grads[0].shape;
    const size_t axis = static_cast<size_t>(
        NormalizeAxis("stack", "axis", static_cast<const ConcatAttrs&>(attrs).axis, static_cast<int>(os.size())));
    const int64_t leading = Product(os, 0, axis), trailing = Product(os, axis + 1, os.size());
    const int64_t n = static_cast<int64_t>(io.in_grads.size());
    FLOWMOD_DTYPE_SWITCH(io.out_grads[0].dtype, T, {
      for (int64_t i = 0; i < n; ++i)
        CopyRows(io.out_grads[0].ptr<T>() + i * trailing, n * trailing, io.in_grads[i].ptr<T>(), trailing, leading,
                 trailing, io.req[i]);
    });
  };
  return def;
}

// ---- SliceChannel ------------------------------------------------------------------------

struct SplitAttrs : OpAttrs {
  int num_outputs = 1;
  int64_t axis = 1;
  bool squeeze_axis = false;
};

OpDef SplitDef(const std::string& name) {
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"num_outputs", "axis", "squeeze_axis"});
    auto a = std::make_shared<SplitAttrs>();
    const int64_t n = GetInt(name, attrs, "num_outputs");
    if (n < 1) throw OpArgumentError(name, "num_outputs", std::to_string(n), "at least 1");
    a->num_outputs = static_cast<int>(n);
    a->axis = GetInt(name, attrs, "axis", 1);
    a->squeeze_axis = GetBool(name, attrs, "squeeze_axis", false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.count_outputs = [](const OpAttrs& attrs) { return static_cast<const SplitAttrs&>(attrs).num_outputs; };
  def.list_outputs = [](const OpAttrs& attrs) {
    std::vector<std::string> names;
    for (int i = 0; i < static_cast<const SplitAttrs&>(attrs).num_outputs; ++i)
      names.push_back("output" + std::to_string(i));
    return names;
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SplitAttrs&>(attrs);
    const int64_t n = a.num_outputs;
    if (!ShapeKnownRank(in[0])) {
      // Data from a known output, as MXNet infers it back.
      for (const Shape& o : out) {
        if (!IsKnown(o)) continue;
        Shape d = o;
        if (a.squeeze_axis) {
          const int64_t r = static_cast<int64_t>(d.size()) + 1;
          const int64_t k = a.axis < 0 ? a.axis + r : a.axis;
          if (k < 0 || k >= r) return;
          d.insert(d.begin() + k, n);
        } else {
          if (d.empty()) return;
          const int k = NormalizeAxis(name, "axis", a.axis, static_cast<int>(d.size()));
          d[k] *= n;
        }
        in[0] = d;
        break;
      }
      if (!ShapeKnownRank(in[0])) return;
    }
    const Shape& d = in[0];
    const size_t axis = static_cast<size_t>(AxisOf(name, "axis", a.axis, d));
    const int64_t len = d[axis];
    if (len >= 0 && len % n != 0)
      throw OpArgumentError(name, "num_outputs", std::to_string(n),
                            "a divisor of " + std::to_string(len) + ", the size of axis " +
                                std::to_string(a.axis) + " of data of shape " + ShapeString(d));
    if (a.squeeze_axis && len >= 0 && len != n)
      throw OpArgumentError(name, "squeeze_axis", "True",
                            "False, or num_outputs equal to " + std::to_string(len) + ", the size of axis " +
                                std::to_string(a.axis) + " of data of shape " + ShapeString(d));
    Shape o = d;
    if (a.squeeze_axis) o.erase(o.begin() + axis);
    else o[axis] = len < 0 ? -1 : len / n;
    for (auto& s : out) MergeShape(name, "output", s, o);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const auto& a = static_cast<const SplitAttrs&>(attrs);
    const Shape& d = in[0].shape;
    const size_t axis = static_cast<size_t>(NormalizeAxis(name, "axis", a.axis, static_cast<int>(d.size())));
    const int64_t leading = Product(d, 0, axis), trailing = Product(d, axis + 1, d.size());
    const int64_t len = d[axis] / a.num_outputs * trailing;
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      for (int i = 0; i < a.num_outputs; ++i)
        CopyRows(in[0].ptr<T>() + i * len, d[axis] * trailing, out[i].ptr<T>(), len, leading, len, OpReq::kWrite);
    });
  };
  def.backward = [name](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const SplitAttrs&>(attrs);
    const Shape& d = io.in_grads[0].shape;
    const size_t axis = static_cast<size_t>(NormalizeAxis(name, "axis", a.axis, static_cast<int>(d.size())));
    const int64_t leading = Product(d, 0, axis), trailing = Product(d, axis + 1, d.size());
    const int64_t len = d[axis] / a.num_outputs * trailing;
    FLOWMOD_DTYPE_SWITCH(io.in_grads[0].dtype, T, {
      for (int i = 0; i < a.num_outputs; ++i)
        CopyRows(io.out_grads[i].ptr<T>(), len, io.in_grads[0].ptr<T>() + i * len, d[axis] * trailing, leading,
                 len, io.req[0]);
    });
  };
  return def;
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  Registry::Add(ConcatDef("Concat"));
  Registry::Add(ConcatDef("concat"));
  Registry::Add(StackDef());
  Registry::Add(SplitDef("SliceChannel"));
  Registry::Add(SplitDef("split"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
