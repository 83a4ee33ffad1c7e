// add_n (alias ElementWiseSum)(arg0, ..., arg{num_args-1}; num_args): the elementwise sum of
// arrays of one shape and type; each input's gradient is the head gradient.
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct SumAttrs : OpAttrs {
  int num_args = 1;
};

std::string ArgName(size_t i) { return "arg" + std::to_string(i); }

OpDef AddNDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.list_inputs = [](const OpAttrs& attrs) {
    std::vector<std::string> names;
    for (int i = 0; i < static_cast<const SumAttrs&>(attrs).num_args; ++i) names.push_back(ArgName(i));
    return names;
  };
  def.key_var_num_args = "num_args";
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"num_args"});
    auto a = std::make_shared<SumAttrs>();
    const int64_t n = GetInt(name, attrs, "num_args");
    if (n < 1) throw OpArgumentError(name, "num_args", attrs.at("num_args"), "at least 1");
    a->num_args = static_cast<int>(n);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    Shape common = out[0];
    for (size_t i = 0; i < in.size(); ++i) MergeShape(name, ArgName(i), common, in[i]);
    for (auto& s : in) s = common;
    out[0] = common;
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    DType common = out[0];
    for (size_t i = 0; i < in.size(); ++i) MergeType(name, ArgName(i), common, in[i]);
    for (auto& t : in) t = common;
    out[0] = common;
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      using A = std::conditional_t<std::is_same_v<T, _Float16>, float, T>;
      T* y = out[0].ptr<T>();
      const int64_t n = out[0].size();
      // The first input is read before the output is written: it may be the output's storage.
      for (int64_t j = 0; j < n; ++j) {
        A s = static_cast<A>(in[0].ptr<T>()[j]);
        for (size_t i = 1; i < in.size(); ++i) s = static_cast<A>(s + static_cast<A>(in[i].ptr<T>()[j]));
        y[j] = static_cast<T>(s);
      }
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    for (size_t i = 0; i < io.in_grads.size(); ++i) CopyWithReq(io.out_grads[0], io.in_grads[i], io.req[i]);
  };
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  Registry::Add(Described(AddNDef("add_n"), "The elementwise sum of all its inputs.", {{"args", "The arrays to add, all of one shape."}}, {}));
  Registry::Add(Described(AddNDef("ElementWiseSum"), "The elementwise sum of all its inputs.", {{"args", "The arrays to add, all of one shape."}}, {}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
