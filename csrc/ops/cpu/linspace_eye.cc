// _linspace and _eye, the operators behind mx.nd/mx.sym linspace and eye: arrays made from
// their attributes alone (no inputs, so no gradient).
//
// MXNet 1.9 documents _linspace with arange's attributes (start, stop, step, repeat,
// infer_range) but parses linspace's own (start, stop, num, endpoint): the schema here is the
// documented one, so that signatures and docstrings match MXNet's, and the parser takes what
// MXNet's takes, refusing arange's step, repeat and infer_range with a message saying so.
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

struct LinspaceAttrs : OpAttrs {
  double start = 0, stop = 0;
  int64_t num = 0;
  bool endpoint = true;
  DType dtype = DType::kFloat32;
};

std::shared_ptr<const OpAttrs> ParseLinspace(const AttrMap& attrs) {
  const std::string name = "_linspace";
  CheckAttrs(name, attrs, {"start", "stop", "num", "endpoint", "ctx", "dtype", "step", "repeat", "infer_range"});
  for (const char* key : {"step", "repeat", "infer_range"})
    if (Has(attrs, key))
      throw OpArgumentError(name, key, attrs.at(key),
                            "no such attribute: linspace takes start, stop, num and endpoint (" + std::string(key) +
                                " belongs to arange)");
  auto p = std::make_shared<LinspaceAttrs>();
  p->start = GetFloat(name, attrs, "start");
  const auto stop = GetOptionalFloat(name, attrs, "stop");
  if (!stop) throw OpArgumentError(name, "stop", Has(attrs, "stop") ? attrs.at("stop") : "(missing)", "a number");
  p->stop = *stop;
  p->num = GetInt(name, attrs, "num");
  if (p->num < 0) throw OpArgumentError(name, "num", attrs.at("num"), "a non-negative number of samples");
  p->endpoint = GetBool(name, attrs, "endpoint", true);
  p->dtype = GetDType(name, attrs, "dtype", DType::kFloat32);
  return p;
}

OpDef Linspace() {
  const std::string name = "_linspace";
  OpDef def;
  def.name = name;
  def.description = "num evenly spaced numbers from start to stop (stop included unless endpoint=False), as "
                    "numpy.linspace.";
  def.params = {
      Required("start", "double", "The first value."),
      Optional("stop", "double or None", "None", "The last value (or the bound, with endpoint=False)."),
      Optional("step", "double", "1", "Not taken (arange's; MXNet documents it here): give num instead."),
      Optional("repeat", "int", "'1'", "Not taken (arange's; MXNet documents it here)."),
      Optional("infer_range", "boolean", "0", "Not taken (arange's; MXNet documents it here)."),
      Optional("ctx", "string", "''", "The device (set by the front ends)."),
      Optional("dtype", "{'bfloat16', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}",
               "'float32'", "The output's element type."),
  };
  def.parse = &ParseLinspace;
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    MergeShape(name, "output", out[0], Shape{static_cast<const LinspaceAttrs&>(attrs).num});
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], static_cast<const LinspaceAttrs&>(attrs).dtype);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef>,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const LinspaceAttrs&>(attrs);
    const int64_t intervals = a.endpoint ? a.num - 1 : a.num;
    const double step = intervals > 0 ? (a.stop - a.start) / static_cast<double>(intervals) : 0.0;
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      T* y = out[0].ptr<T>();
      for (int64_t i = 0; i < a.num; ++i) y[i] = CastTo<T>(a.start + step * static_cast<double>(i));
    });
  };
  return def;
}

struct EyeAttrs : OpAttrs {
  int64_t n = 0, m = 0, k = 0;
  DType dtype = DType::kFloat32;
};

OpDef Eye() {
  const std::string name = "_eye";
  OpDef def;
  def.name = name;
  def.description = "A 2-D array with ones on diagonal k and zeros elsewhere.";
  def.params = {
      Required("N", "long", "The number of rows."),
      Optional("M", "long", "0", "The number of columns; 0: N."),
      Optional("k", "long", "0", "The diagonal: 0 the main one, positive above it, negative below."),
      Optional("ctx", "string", "''", "The device (set by the front ends)."),
      Optional("dtype", "{'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}", "'float32'",
               "The output's element type."),
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"N", "M", "k", "ctx", "dtype"});
    auto p = std::make_shared<EyeAttrs>();
    p->n = GetInt(name, attrs, "N");
    if (p->n < 0) throw OpArgumentError(name, "N", attrs.at("N"), "a non-negative number of rows");
    p->m = GetInt(name, attrs, "M", 0);
    if (p->m < 0) throw OpArgumentError(name, "M", attrs.at("M"), "a non-negative number of columns (0: N)");
    if (p->m == 0) p->m = p->n;
    p->k = GetInt(name, attrs, "k", 0);
    const std::string dt = GetEnum(name, attrs, "dtype", {"float16", "float32", "float64", "int32", "int64", "int8", "uint8"},
                                   "float32");
    p->dtype = GetDType(name, AttrMap{{"dtype", dt}}, "dtype");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    const auto& a = static_cast<const EyeAttrs&>(attrs);
    MergeShape(name, "output", out[0], Shape{a.n, a.m});
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], static_cast<const EyeAttrs&>(attrs).dtype);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef>,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const EyeAttrs&>(attrs);
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      T* y = out[0].ptr<T>();
      std::fill_n(y, out[0].size(), T(0));
      for (int64_t r = std::max<int64_t>(0, -a.k); r < a.n && r + a.k < a.m; ++r) y[r * a.m + r + a.k] = T(1);
    });
  };
  return def;
}

FLOWMOD_REGISTER_OP(Linspace());
FLOWMOD_REGISTER_OP(Eye());

}  // namespace

}  // namespace flowmod::ops
