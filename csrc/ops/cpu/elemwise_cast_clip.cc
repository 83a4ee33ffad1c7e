// Elementwise operators with attributes: Cast (any type to any other) and clip. clip may run
// in place when the executor plans it.
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

struct CastAttrs : OpAttrs {
  DType dtype = DType::kFloat32;
};

// dst (type of `dst`) gets src converted, under `req`.
void Convert(const TensorRef& src, const TensorRef& dst, OpReq req) {
  if (req == OpReq::kNull) return;
  const int64_t n = src.size();
  FLOWMOD_DTYPE_SWITCH(src.dtype, S, {
    FLOWMOD_DTYPE_SWITCH(dst.dtype, D, {
      const S* s = src.ptr<S>();
      D* d = dst.ptr<D>();
      if (req == OpReq::kAdd) {
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(d[i] + static_cast<D>(s[i]));
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(s[i]);
      }
    });
  });
}

OpDef CastDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"dtype"});
    auto a = std::make_shared<CastAttrs>();
    a->dtype = GetDType(name, attrs, "dtype");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  // Any type converts to any other; the input's type is not constrained.
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], static_cast<const CastAttrs&>(attrs).dtype);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) { Convert(in[0], out[0], OpReq::kWrite); };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    Convert(io.out_grads[0], io.in_grads[0], io.req[0]);
  };
  return def;
}

struct ClipAttrs : OpAttrs {
  // MXNet keeps the bounds as float (real_t) and compares in the data's type.
  float a_min = 0, a_max = 0;
};

template <class T>
void ClipTyped(const ClipAttrs& a, const TensorRef& x, const TensorRef& y) {
  const T* px = x.ptr<T>();
  T* py = y.ptr<T>();
  const int64_t n = x.size();
  const T lo = static_cast<T>(a.a_min), hi = static_cast<T>(a.a_max);
  for (int64_t i = 0; i < n; ++i) {
    const T v = px[i];
    py[i] = v > a.a_max ? hi : (v < a.a_min ? lo : v);
  }
}

OpDef ClipDef() {
  const std::string name = "clip";
  OpDef def = UnaryDef(name);
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"a_min", "a_max"});
    auto a = std::make_shared<ClipAttrs>();
    a->a_min = static_cast<float>(GetFloat(name, attrs, "a_min"));
    a->a_max = static_cast<float>(GetFloat(name, attrs, "a_max"));
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
    if (in[0] == DType::kBool)
      throw OpArgumentError(name, "data", "an array of type bool",
                            "a numeric type (MXNet's clip has no bool kernel)");
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const ClipAttrs&>(attrs);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      if constexpr (!std::is_same_v<T, bool>) ClipTyped<T>(a, in[0], out[0]);
    });
  };
  // The gradient passes where a_min <= x <= a_max, and is 0 where x was clipped.
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const ClipAttrs&>(attrs);
    if (io.req[0] == OpReq::kNull) return;
    FLOWMOD_DTYPE_SWITCH(io.inputs[0].dtype, T, {
      if constexpr (!std::is_same_v<T, bool>) {
        const T* x = io.inputs[0].ptr<T>();
        const T* og = io.out_grads[0].ptr<T>();
        T* g = io.in_grads[0].ptr<T>();
        const int64_t n = io.inputs[0].size();
        for (int64_t i = 0; i < n; ++i) {
          const bool pass = !(x[i] > a.a_max) && !(x[i] < a.a_min);
          Store(g[i], pass ? og[i] : T(0), io.req[0]);
        }
      }
    });
  };
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  Registry::Add(CastDef("Cast"));
  Registry::Add(CastDef("cast"));
  Registry::Add(ClipDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
