// Random sampling: _random_uniform, _random_normal, _random_randint (no inputs; they run on
// the device of their output and draw from that device's generator) and _shuffle (a random
// permutation of the first axis). Calls on one device are ordered by its generator's var, so
// a seed gives a reproducible stream. No gradient.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

enum class Dist { kUniform, kNormal, kRandInt };

struct SampleAttrs : OpAttrs {
  double a = 0, b = 1;         // uniform: low, high; normal: loc, scale
  int64_t ilow = 0, ihigh = 0;  // randint
  Shape shape;                 // empty: taken from the output
  DType dtype = DType::kUnknown;
};

// Uniform in [low, high): a draw that rounds up to `high` in a narrower type is drawn again.
template <class T>
void FillUniform(std::mt19937_64& gen, T* y, int64_t n, double low, double high) {
  std::uniform_real_distribution<double> dist(low, high);
  const bool reject = low < high && static_cast<double>(static_cast<T>(low)) < high;
  for (int64_t i = 0; i < n; ++i) {
    T v = static_cast<T>(dist(gen));
    while (reject && !(static_cast<double>(v) < high)) v = static_cast<T>(dist(gen));
    y[i] = v;
  }
}

template <class T>
void FillNormal(std::mt19937_64& gen, T* y, int64_t n, double loc, double scale) {
  if (scale == 0) {
    std::fill(y, y + n, static_cast<T>(loc));
    return;
  }
  std::normal_distribution<double> dist(loc, scale);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(dist(gen));
}

template <class T>
void FillRandInt(std::mt19937_64& gen, T* y, int64_t n, int64_t low, int64_t high) {
  std::uniform_int_distribution<int64_t> dist(low, high - 1);
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(dist(gen));
}

OpDef SampleOp(const std::string& name, Dist dist) {
  OpDef def;
  def.name = name;
  def.description = dist == Dist::kUniform  ? "Samples from the uniform distribution on [low, high)."
                    : dist == Dist::kNormal ? "Samples from the normal distribution of mean loc and deviation scale."
                                            : "Samples integers uniformly from [low, high).";
  if (dist == Dist::kUniform) {
    def.params = {Optional("low", "float", "0", "The lower bound."), Optional("high", "float", "1", "The upper bound (excluded).")};
  } else if (dist == Dist::kNormal) {
    def.params = {Optional("loc", "float", "0", "The mean."), Optional("scale", "float", "1", "The standard deviation.")};
  } else {
    def.params = {Required("low", "long", "The lower bound."), Required("high", "long", "The upper bound (excluded).")};
  }
  def.params.push_back(Optional("shape", "Shape(tuple)", "None", "The output's shape."));
  def.params.push_back(Optional("ctx", "string", "''", "The device (set by the front ends)."));
  def.params.push_back(dist == Dist::kRandInt
                           ? Optional("dtype", "{'None', 'int32', 'int64'}", "'None'", "The output's type; None is int32.")
                           : Optional("dtype", "{'None', 'float16', 'float32', 'float64'}", "'None'",
                                      "The output's type; None is float32."));
  def.inputs = {};
  def.needs_rng = true;
  def.parse = [name, dist](const AttrMap& attrs) {
    auto p = std::make_shared<SampleAttrs>();
    switch (dist) {
      case Dist::kUniform:
        CheckAttrs(name, attrs, {"low", "high", "shape", "ctx", "dtype"});
        p->a = GetFloat(name, attrs, "low", 0.0);
        p->b = GetFloat(name, attrs, "high", 1.0);
        if (!(p->a <= p->b))
          throw OpArgumentError(name, "high", attrs.count("high") ? attrs.at("high") : "1",
                                "a number >= low (" + std::to_string(p->a) + ")");
        break;
      case Dist::kNormal:
        CheckAttrs(name, attrs, {"loc", "scale", "shape", "ctx", "dtype"});
        p->a = GetFloat(name, attrs, "loc", 0.0);
        p->b = GetFloat(name, attrs, "scale", 1.0);
        if (!(p->b >= 0)) throw OpArgumentError(name, "scale", attrs.at("scale"), "a number >= 0");
        break;
      case Dist::kRandInt:
        CheckAttrs(name, attrs, {"low", "high", "shape", "ctx", "dtype"});
        p->ilow = GetInt(name, attrs, "low");
        p->ihigh = GetInt(name, attrs, "high");
        if (!(p->ilow < p->ihigh))
          throw OpArgumentError(name, "high", attrs.at("high"), "an integer > low (" + std::to_string(p->ilow) + ")");
        break;
    }
    p->shape = GetTuple(name, attrs, "shape", {});
    for (int64_t d : p->shape)
      if (d < 0) throw OpArgumentError(name, "shape", attrs.at("shape"), "a tuple of non-negative integers");
    // "ctx" names the device in MXNet's imperative calls; here the output's device decides.
    const std::string t = dist == Dist::kRandInt
                              ? GetEnum(name, attrs, "dtype", {"None", "int32", "int64"}, "None")
                              : GetEnum(name, attrs, "dtype", {"None", "float16", "float32", "float64"}, "None");
    if (t != "None") p->dtype = GetDType(name, AttrMap{{"dtype", t}}, "dtype");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
    const auto& a = static_cast<const SampleAttrs&>(attrs);
    if (!a.shape.empty()) MergeShape(name, "output", out[0], a.shape);
  };
  def.infer_type = [name, dist](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    const auto& a = static_cast<const SampleAttrs&>(attrs);
    if (a.dtype != DType::kUnknown) MergeType(name, "output", out[0], a.dtype);
    if (out[0] == DType::kUnknown) out[0] = dist == Dist::kRandInt ? DType::kInt32 : DType::kFloat32;
    const bool ok = dist == Dist::kRandInt
                        ? out[0] == DType::kInt32 || out[0] == DType::kInt64
                        : out[0] == DType::kFloat32 || out[0] == DType::kFloat64 || out[0] == DType::kFloat16;
    if (!ok)
      throw OpArgumentError(name, "dtype", DTypeName(out[0]),
                            dist == Dist::kRandInt ? "int32 or int64" : "float16, float32 or float64");
  };
  def.forward = [dist](const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef>,
                       std::span<const TensorRef> out) {
    const auto& a = static_cast<const SampleAttrs&>(attrs);
    std::mt19937_64& gen = *ctx.rng;
    const int64_t n = out[0].size();
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      T* y = out[0].ptr<T>();
      switch (dist) {
        case Dist::kUniform: FillUniform<T>(gen, y, n, a.a, a.b); break;
        case Dist::kNormal: FillNormal<T>(gen, y, n, a.a, a.b); break;
        case Dist::kRandInt: FillRandInt<T>(gen, y, n, a.ilow, a.ihigh); break;
      }
    });
  };
  def.backward = nullptr;
  return def;
}

// The rows (first-axis slices) of data in a random order; a 1-d array's elements.
OpDef ShuffleOp(const std::string& name) {
  OpDef def;
  def.name = name;
  def.description = "The input with its first axis randomly permuted.";
  def.input_docs = {{"data", "The input array."}};
  def.inputs = {"data"};
  def.needs_rng = true;
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const OpAttrs>();
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = [](const OpContext& ctx, const OpAttrs&, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const TensorRef& x = in[0];
    const size_t bytes = static_cast<size_t>(x.size()) * DTypeSize(x.dtype);
    if (bytes == 0) return;
    const int64_t rows = x.shape.empty() ? 1 : x.shape[0];
    const size_t row_bytes = bytes / static_cast<size_t>(rows);
    std::vector<int64_t> order(rows);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), *ctx.rng);
    // Writing into the input itself (out=data) reads from a copy.
    std::vector<char> copy;
    const char* src = static_cast<const char*>(x.data);
    if (x.data == out[0].data) {
      copy.assign(src, src + bytes);
      src = copy.data();
    }
    char* dst = static_cast<char*>(out[0].data);
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * row_bytes, src + order[r] * row_bytes, row_bytes);
  };
  def.backward = nullptr;
  return def;
}

const bool registered = [] {
  // MXNet's aliases: random_uniform and uniform, random_normal and normal, random_randint, shuffle.
  for (const char* name : {"_random_uniform", "random_uniform", "uniform"}) Registry::Add(SampleOp(name, Dist::kUniform));
  for (const char* name : {"_random_normal", "random_normal", "normal"}) Registry::Add(SampleOp(name, Dist::kNormal));
  for (const char* name : {"_random_randint", "random_randint"}) Registry::Add(SampleOp(name, Dist::kRandInt));
  Registry::Add(ShuffleOp("_shuffle"));
  Registry::Add(ShuffleOp("shuffle"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
