// Elementwise operators of MXNet's contrib namespace and mixed precision:
// - _contrib_quadratic: a * x**2 + b * x + c, gradient (2 a x + b) dy;
// - _contrib_gradientmultiplier: the identity forward, the head gradient times `scalar`
//   backward (scalar = -1 reverses gradients, as domain-adversarial training does);
// - _contrib_round_ste, _contrib_sign_ste: round (halves away from zero) and sign, with the
//   straight-through estimator's gradient: the head gradient passed on unchanged;
// - _contrib_allclose: whether two arrays agree within tolerances, as numpy.allclose;
// - amp_cast: floating inputs (float16, float32) converted to `dtype`, other types passed
//   through as they are; the gradient converted back to the input's type.
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct QuadraticAttrs : OpAttrs {
  double a = 0, b = 0, c = 0;
};

struct ScaleAttrs : OpAttrs {
  double scalar = 1;
};

OpDef Quadratic() {
  const std::string name = "_contrib_quadratic";
  OpDef def = UnaryDef(name);
  def.description = "Elementwise a * data ** 2 + b * data + c.";
  def.params = {Optional("a", "float", "0", "The coefficient of the square."),
                Optional("b", "float", "0", "The coefficient of the linear term."),
                Optional("c", "float", "0", "The constant term.")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"a", "b", "c"});
    auto p = std::make_shared<QuadraticAttrs>();
    p->a = GetFloat(name, attrs, "a", 0);
    p->b = GetFloat(name, attrs, "b", 0);
    p->c = GetFloat(name, attrs, "c", 0);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) { ElemwiseShape(name, in, out); };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { FloatElemwiseType(name, in, out); };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const auto& q = static_cast<const QuadraticAttrs&>(attrs);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      using A = AccT<T>;
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      const A a = static_cast<A>(q.a), b = static_cast<A>(q.b), c = static_cast<A>(q.c);
      for (int64_t i = 0, n = in[0].size(); i < n; ++i) {
        const A v = static_cast<A>(x[i]);
        y[i] = static_cast<T>(a * v * v + b * v + c);
      }
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const auto& q = static_cast<const QuadraticAttrs&>(attrs);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      using A = AccT<T>;
      const T* x = io.inputs[0].ptr<T>();
      const T* dy = io.out_grads[0].ptr<T>();
      T* dx = io.in_grads[0].ptr<T>();
      const A a2 = static_cast<A>(2 * q.a), b = static_cast<A>(q.b);
      for (int64_t i = 0, n = io.inputs[0].size(); i < n; ++i)
        Store(dx[i], static_cast<T>((a2 * static_cast<A>(x[i]) + b) * static_cast<A>(dy[i])), io.req[0]);
    });
  };
  def.inplace = {{0, 0}};
  return def;
}

// The gradient of the identity, scaled: dx = scale * dy.
void StraightThroughBackward(const BackwardIO& io, double scale) {
  if (io.req[0] == OpReq::kNull) return;
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    T* dx = io.in_grads[0].ptr<T>();
    const AccT<T> s = static_cast<AccT<T>>(scale);
    for (int64_t i = 0, n = io.in_grads[0].size(); i < n; ++i)
      Store(dx[i], static_cast<T>(static_cast<AccT<T>>(dy[i]) * s), io.req[0]);
  });
}

OpDef GradientMultiplier() {
  const std::string name = "_contrib_gradientmultiplier";
  OpDef def = UnaryDef(name);
  def.description = "The identity forward; backward multiplies the gradient by scalar.";
  def.params = {Optional("scalar", "double", "1", "The factor of the gradient."),
                Optional("is_int", "boolean", "1", "Whether scalar is an integer (kept for MXNet's JSON files).")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"scalar", "is_int"});
    auto p = std::make_shared<ScaleAttrs>();
    p->scalar = GetFloat(name, attrs, "scalar", 1);
    GetBool(name, attrs, "is_int", true);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) { ElemwiseShape(name, in, out); };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { FloatElemwiseType(name, in, out); };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    StraightThroughBackward(io, static_cast<const ScaleAttrs&>(attrs).scalar);
  };
  def.inplace = {{0, 0}};
  return def;
}

template <bool kSign>
OpDef SteOp(const std::string& name) {
  OpDef def = UnaryDef(name);
  def.description = kSign ? "The sign of each element (-1, 0 or 1); the gradient passes straight through."
                          : "Each element rounded to the nearest integer (halves away from zero); the gradient passes "
                            "straight through.";
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) { ElemwiseShape(name, in, out); };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) { FloatElemwiseType(name, in, out); };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      for (int64_t i = 0, n = in[0].size(); i < n; ++i) {
        const double v = static_cast<double>(x[i]);
        y[i] = static_cast<T>(kSign ? static_cast<double>((v > 0) - (v < 0)) : std::round(v));
      }
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { StraightThroughBackward(io, 1.0); };
  def.inplace = {{0, 0}};
  return def;
}

struct AmpCastAttrs : OpAttrs {
  DType dtype = DType::kFloat32;
};

bool AmpCasts(DType t) { return t == DType::kFloat32 || t == DType::kFloat16; }

// dst gets src converted (both of any type), under `req`.
void Convert(const TensorRef& src, const TensorRef& dst, OpReq req) {
  if (req == OpReq::kNull) return;
  FLOWMOD_DTYPE_SWITCH(src.dtype, S, {
    FLOWMOD_DTYPE_SWITCH(dst.dtype, D, {
      const S* s = src.ptr<S>();
      D* d = dst.ptr<D>();
      for (int64_t i = 0, n = src.size(); i < n; ++i) Store(d[i], CastTo<D>(s[i]), req);
    });
  });
}

OpDef AmpCast() {
  const std::string name = "amp_cast";
  OpDef def = UnaryDef(name);
  def.description = "A float16 or float32 input converted to dtype (inputs of other types pass through unchanged), "
                    "as mixed-precision graphs insert it.";
  def.params = {Required("dtype", "{'bfloat16', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}",
                         "The type float16 and float32 inputs are converted to.")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"dtype"});
    auto p = std::make_shared<AmpCastAttrs>();
    const std::string dt = GetEnum(name, attrs, "dtype", {"float16", "float32", "float64", "int32", "int64", "int8", "uint8"});
    p->dtype = GetDType(name, AttrMap{{"dtype", dt}}, "dtype");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) { ElemwiseShape(name, in, out); };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    if (in[0] == DType::kUnknown) return;
    MergeType(name, "output", out[0], AmpCasts(in[0]) ? static_cast<const AmpCastAttrs&>(attrs).dtype : in[0]);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    if (in[0].dtype == out[0].dtype) CopyData(in[0], out[0]);
    else Convert(in[0], out[0], OpReq::kWrite);
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    Convert(io.out_grads[0], io.in_grads[0], io.req[0]);
  };
  return def;
}

struct AllCloseAttrs : OpAttrs {
  double rtol = 1e-5, atol = 1e-8;
  bool equal_nan = true;
};

template <class T>
bool Close(T a, T b, const AllCloseAttrs& p) {
  const double x = static_cast<double>(a), y = static_cast<double>(b);
  if (std::isnan(x) || std::isnan(y)) return p.equal_nan && std::isnan(x) && std::isnan(y);
  return x == y || std::abs(x - y) <= p.atol + p.rtol * std::abs(y);
}

// 1 (uint8) when every |a - b| <= atol + rtol * |b|, as numpy.allclose; shape (1,) where
// MXNet gives a 0-d array (flowmod's legacy arrays always have a dimension).
OpDef AllClose() {
  const std::string name = "_contrib_allclose";
  OpDef def;
  def.name = name;
  def.description = "1 if every element of a is close to the one of b (|a - b| <= atol + rtol * |b|), else 0.";
  def.inputs = {"a", "b"};
  def.input_docs = {{"a", "The first array."}, {"b", "The second array, of a's shape."}};
  def.params = {Optional("rtol", "float", "9.99999975e-06", "The relative tolerance."),
                Optional("atol", "float", "9.99999994e-09", "The absolute tolerance."),
                Optional("equal_nan", "boolean", "1", "Whether NaN is close to NaN.")};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"rtol", "atol", "equal_nan"});
    auto p = std::make_shared<AllCloseAttrs>();
    p->rtol = GetFloat(name, attrs, "rtol", 1e-5);
    p->atol = GetFloat(name, attrs, "atol", 1e-8);
    p->equal_nan = GetBool(name, attrs, "equal_nan", true);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (IsKnown(in[0]) && IsKnown(in[1]) && in[0] != in[1])
      throw OpArgumentError(name, "b", "an array of shape " + ShapeString(in[1]), "the shape of a, " + ShapeString(in[0]));
    MergeShape(name, "output", out[0], Shape{1});
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "b", in[1], in[0]);
    MergeType(name, "a", in[0], in[1]);
    MergeType(name, "output", out[0], DType::kUint8);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const auto& p = static_cast<const AllCloseAttrs&>(attrs);
    bool all = true;
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      const T* a = in[0].ptr<T>();
      const T* b = in[1].ptr<T>();
      for (int64_t i = 0, n = in[0].size(); i < n && all; ++i) all = Close(a[i], b[i], p);
    });
    out[0].ptr<uint8_t>()[0] = all ? 1 : 0;
  };
  return def;
}

FLOWMOD_REGISTER_OP(AllClose());
FLOWMOD_REGISTER_OP(Quadratic());
FLOWMOD_REGISTER_OP(GradientMultiplier());
FLOWMOD_REGISTER_OP(SteOp<false>("_contrib_round_ste"));
FLOWMOD_REGISTER_OP(SteOp<true>("_contrib_sign_ste"));
FLOWMOD_REGISTER_OP(AmpCast());

}  // namespace

}  // namespace flowmod::ops
