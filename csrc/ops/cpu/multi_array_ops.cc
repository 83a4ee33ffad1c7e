// Operators over a list of arrays given by position, as MXNet 1.9.1's mixed-precision and
// large-batch training uses them (each takes its count as an attribute, inputs array_0..):
// - multi_sum_sq: the sum of squares of each array, float32 (num_arrays,);
// - multi_all_finite: 1 (float32 (1,)) when every element of every array is finite, else 0;
//   init_output=False only ever clears the output, to combine several calls in one;
// - amp_multicast: each float16/float32 array cast to the widest floating type among them
//   (cast_narrow: the narrowest), other types passed through; the gradient is cast back;
// - reset_arrays: every array set to zero in place (no output).
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct CountAttrs : OpAttrs {
  int count = 1;
  bool flag = false;  // multi_all_finite's init_output, amp_multicast's cast_narrow
};

std::vector<std::string> ArrayNames(const OpAttrs& attrs) {
  std::vector<std::string> names;
  for (int i = 0; i < static_cast<const CountAttrs&>(attrs).count; ++i) names.push_back("array_" + std::to_string(i));
  return names;
}

// The definition every operator here shares: `count_key` inputs by position, named array_i.
OpDef ListDef(const std::string& name, const std::string& count_key, std::optional<int64_t> count_default,
              const std::string& flag_key, bool flag_default) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.variadic = true;
  def.list_inputs = &ArrayNames;
  def.parse = [=](const AttrMap& attrs) {
    std::vector<std::string> known{count_key};
    if (!flag_key.empty()) known.push_back(flag_key);
    CheckAttrs(name, attrs, known);
    auto a = std::make_shared<CountAttrs>();
    const int64_t n = count_default ? GetInt(name, attrs, count_key, *count_default) : GetInt(name, attrs, count_key);
    if (n < 1) throw OpArgumentError(name, count_key, std::to_string(n), "an integer >= 1 (the number of arrays)");
    a->count = static_cast<int>(n);
    if (!flag_key.empty()) a->flag = GetBool(name, attrs, flag_key, flag_default);
    return std::shared_ptr<const OpAttrs>(a);
  };
  return def;
}

// Every input of one floating type (array_0's); throws naming the first that differs.
void SameFloatType(const std::string& op, std::vector<DType>& in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == DType::kUnknown) continue;
    if (in[i] != DType::kFloat32 && in[i] != DType::kFloat64 && in[i] != DType::kFloat16)
      throw OpArgumentError(op, "array_" + std::to_string(i), std::string("an array of type ") + DTypeName(in[i]),
                            "a floating-point array");
  }
  for (size_t i = 1; i < in.size(); ++i) MergeType(op, "array_" + std::to_string(i), in[i], in[0]);
}

OpDef MultiSumSq() {
  const std::string name = "multi_sum_sq";
  OpDef def = ListDef(name, "num_arrays", std::nullopt, "", false);
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    MergeShape(name, "output", out[0], Shape{static_cast<const CountAttrs&>(attrs).count});
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, in);
    MergeType(name, "output", out[0], DType::kFloat32);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    float* y = out[0].ptr<float>();
    for (size_t k = 0; k < in.size(); ++k)
      FLOWMOD_FLOAT_SWITCH(in[k].dtype, T, {
        const T* x = in[k].ptr<T>();
        y[k] = static_cast<float>(Sum4(in[k].size(), [x](int64_t j) {
          const double v = static_cast<double>(x[j]);
          return v * v;
        }));
      });
  };
  return Described(std::move(def), "The sum of squares of each of num_arrays arrays, as a float32 array of num_arrays "
                                   "elements.",
                   {{"data", "Arrays"}}, {Required("num_arrays", "int", "number of input arrays.")});
}

OpDef MultiAllFinite() {
  const std::string name = "multi_all_finite";
  OpDef def = ListDef(name, "num_arrays", 1, "init_output", true);
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>&, std::vector<Shape>& out) {
    MergeShape(name, "output", out[0], Shape{1});
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] != DType::kUnknown && in[i] != DType::kFloat32 && in[i] != DType::kFloat64 && in[i] != DType::kFloat16)
        throw OpArgumentError(name, "array_" + std::to_string(i), std::string("an array of type ") + DTypeName(in[i]),
                              "a floating-point array");
    MergeType(name, "output", out[0], DType::kFloat32);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    bool finite = true;
    for (size_t k = 0; k < in.size() && finite; ++k)
      FLOWMOD_FLOAT_SWITCH(in[k].dtype, T, {
        const T* x = in[k].ptr<T>();
        // x - x is 0 for finite x and NaN for infinities and NaN: one branch-free pass.
        double acc = 0;
        for (int64_t i = 0, n = in[k].size(); i < n; ++i) acc += static_cast<double>(x[i]) - static_cast<double>(x[i]);
        finite = acc == 0;
      });
    float* y = out[0].ptr<float>();
    if (static_cast<const CountAttrs&>(attrs).flag) y[0] = finite ? 1.0f : 0.0f;
    else if (!finite) y[0] = 0.0f;
  };
  return Described(std::move(def), "1 when every element of each of num_arrays arrays is finite, else 0 (float32, "
                                   "one element).",
                   {{"data", "Arrays"}},
                   {Optional("num_arrays", "int", "'1'", "Number of arrays."),
                    Optional("init_output", "boolean", "1",
                             "Whether the output starts at 1; False only clears it, to combine several checks in one "
                             "output.")});
}

bool AmpCasts(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }

// dst gets src converted to dst's type, under `req`.
void ConvertWithReq(const TensorRef& src, const TensorRef& dst, OpReq req) {
  if (req == OpReq::kNull) return;
  FLOWMOD_DTYPE_SWITCH(src.dtype, S, {
    FLOWMOD_DTYPE_SWITCH(dst.dtype, D, {
      const S* s = src.ptr<S>();
      D* d = dst.ptr<D>();
      for (int64_t i = 0, n = dst.size(); i < n; ++i) Store(d[i], static_cast<D>(s[i]), req);
    });
  });
}

OpDef AmpMultiCast() {
  const std::string name = "amp_multicast";
  OpDef def = ListDef(name, "num_outputs", std::nullopt, "cast_narrow", false);
  def.count_outputs = [](const OpAttrs& attrs) { return static_cast<const CountAttrs&>(attrs).count; };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    for (size_t i = 0; i < in.size(); ++i) {
      MergeShape(name, "output" + std::to_string(i), out[i], in[i]);
      MergeShape(name, "array_" + std::to_string(i), in[i], out[i]);
    }
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const bool narrow = static_cast<const CountAttrs&>(attrs).flag;
    // MXNet's rule: widest starts at array_0's type (cast_narrow: float32); any float32 makes
    // it float32 (cast_narrow: any float16 makes it float16).
    DType target = narrow ? DType::kFloat32 : in[0];
    for (size_t i = 0; i < in.size(); ++i) {
      if (!narrow && (in[i] == DType::kFloat32 || out[i] == DType::kFloat32)) target = DType::kFloat32;
      if (narrow && (in[i] == DType::kFloat16 || out[i] == DType::kFloat16)) target = DType::kFloat16;
    }
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == DType::kUnknown) continue;
      const DType t = AmpCasts(in[i]) ? target : in[i];
      if (t != DType::kUnknown) MergeType(name, "output" + std::to_string(i), out[i], t);
    }
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].data == out[i].data) continue;
      if (in[i].dtype == out[i].dtype) CopyData(in[i], out[i]);
      else ConvertWithReq(in[i], out[i], OpReq::kWrite);
    }
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    for (size_t i = 0; i < io.in_grads.size(); ++i) ConvertWithReq(io.out_grads[i], io.in_grads[i], io.req[i]);
  };
  return Described(std::move(def),
                   "Each of num_outputs arrays cast, when float16 or float32, to the widest floating type among them "
                   "(float32 if any is float32; with cast_narrow, the narrowest: float16 if any is float16); other "
                   "types pass through unchanged.",
                   {{"data", "Weights"}},
                   {Required("num_outputs", "int", "Number of input/output pairs to be casted to the widest type."),
                    Optional("cast_narrow", "boolean", "0", "Whether to cast to the narrowest type")});
}

OpDef ResetArrays() {
  const std::string name = "reset_arrays";
  OpDef def = ListDef(name, "num_arrays", std::nullopt, "", false);
  def.num_outputs = 0;
  def.writes_argument = [](const OpAttrs&, int) { return true; };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>&, std::vector<Shape>&) {};
  def.infer_type = [](const OpAttrs&, std::vector<DType>&, std::vector<DType>&) {};
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef>) {
    for (const TensorRef& a : in)
      if (a.size() > 0) std::memset(a.data, 0, static_cast<size_t>(a.size()) * DTypeSize(a.dtype));
  };
  return Described(std::move(def), "Sets each of num_arrays arrays to zero, in place.", {{"data", "Arrays"}},
                   {Required("num_arrays", "int", "number of input arrays.")});
}

FLOWMOD_REGISTER_OP(MultiSumSq());
FLOWMOD_REGISTER_OP(MultiAllFinite());
FLOWMOD_REGISTER_OP(AmpMultiCast());
FLOWMOD_REGISTER_OP(ResetArrays());

}  // namespace

}  // namespace flowmod::ops
