// LRN: local response normalization across channels, as MXNet 1.9 computes it on NCHW data:
//   norm[n, c] = knorm + alpha / nsize * sum of x[n, c']^2 over |c' - c| <= nsize / 2
//   y = x * norm^-beta
// (the window is cut at the first and last channel). The norm is a hidden output that
// backward reads. Attributes alpha=1e-4, beta=0.75, knorm=2, nsize (required, odd).
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "LRN";

struct LRNAttrs : OpAttrs {
  double alpha = 1e-4, beta = 0.75, knorm = 2;
  int64_t nsize = 0;
};

std::shared_ptr<const OpAttrs> ParseLRN(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"alpha", "beta", "knorm", "nsize"});
  auto a = std::make_shared<LRNAttrs>();
  a->alpha = GetFloat(kOp, attrs, "alpha", 1e-4);
  a->beta = GetFloat(kOp, attrs, "beta", 0.75);
  a->knorm = GetFloat(kOp, attrs, "knorm", 2.0);
  a->nsize = GetInt(kOp, attrs, "nsize");
  if (a->nsize < 1 || a->nsize % 2 == 0)
    throw OpArgumentError(kOp, "nsize", attrs.at("nsize"), "an odd window width >= 1");
  return a;
}

void LRNInferShape(const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  MergeShape(kOp, "data", in[0], out[0]);
  MergeShape(kOp, "data", in[0], out[1]);
  if (in[0] == kUnknownShape) return;
  if (in[0].size() != 4)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(in[0]),
                          "4 dimensions (batch, channel, height, width)");
  out[0] = out[1] = in[0];
}

void LRNInferType(const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
  FloatElemwiseType(kOp, in, out);
}

struct Dims {
  int64_t n, c, hw;
  explicit Dims(const Shape& s) : n(s[0]), c(s[1]), hw(s[2] * s[3]) {}
};

// out[n, c, :] = the sum of in[n, c', :] over the window of channels around c.
template <class A>
void WindowSum(const Dims& d, int64_t half, const std::vector<A>& in, std::vector<A>& out) {
  std::fill(out.begin(), out.end(), A(0));
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t c = 0; c < d.c; ++c) {
      A* dst = out.data() + (n * d.c + c) * d.hw;
      const int64_t lo = std::max<int64_t>(0, c - half), hi = std::min<int64_t>(d.c - 1, c + half);
      for (int64_t k = lo; k <= hi; ++k) {
        const A* src = in.data() + (n * d.c + k) * d.hw;
        for (int64_t i = 0; i < d.hw; ++i) dst[i] += src[i];
      }
    }
}

template <class T>
void Forward(const LRNAttrs& a, const Dims& d, const T* x, T* y, T* norm) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t total = d.n * d.c * d.hw;
  std::vector<A> sq(total), sums(total);
  for (int64_t i = 0; i < total; ++i) sq[i] = static_cast<A>(x[i]) * static_cast<A>(x[i]);
  WindowSum(d, a.nsize / 2, sq, sums);
  const A scale = static_cast<A>(a.alpha / static_cast<double>(a.nsize)), k = static_cast<A>(a.knorm);
  const A beta = static_cast<A>(a.beta);
  for (int64_t i = 0; i < total; ++i) {
    const A v = sums[i] * scale + k;
    norm[i] = static_cast<T>(v);
    y[i] = static_cast<T>(static_cast<A>(x[i]) * std::pow(v, -beta));
  }
}

// dx = dy * norm^-beta - 2 beta alpha / nsize * x * window_sum(dy * x * norm^(-beta - 1)).
template <class T>
void Backward(const LRNAttrs& a, const Dims& d, const T* x, const T* norm, const T* dy, T* dx, OpReq req) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t total = d.n * d.c * d.hw;
  const A beta = static_cast<A>(a.beta);
  std::vector<A> t(total), sums(total);
  for (int64_t i = 0; i < total; ++i)
    t[i] = static_cast<A>(dy[i]) * static_cast<A>(x[i]) * std::pow(static_cast<A>(norm[i]), -beta - A(1));
  WindowSum(d, a.nsize / 2, t, sums);
  const A coef = static_cast<A>(-2.0 * a.beta * a.alpha / static_cast<double>(a.nsize));
  for (int64_t i = 0; i < total; ++i) {
    const A v = static_cast<A>(dy[i]) * std::pow(static_cast<A>(norm[i]), -beta) +
                coef * sums[i] * static_cast<A>(x[i]);
    Store(dx[i], static_cast<T>(v), req);
  }
}

void LRNForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                std::span<const TensorRef> out) {
  const auto& a = static_cast<const LRNAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                       Forward<T>(a, Dims(in[0].shape), in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
}

void LRNBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  if (io.req[0] == OpReq::kNull) return;
  const auto& a = static_cast<const LRNAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                       Backward<T>(a, Dims(io.inputs[0].shape), io.inputs[0].ptr<T>(), io.outputs[1].ptr<T>(),
                                   io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.req[0]));
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data"};
  def.num_outputs = 2;
  def.num_visible_outputs = 1;
  def.parse = &ParseLRN;
  def.infer_shape = &LRNInferShape;
  def.infer_type = &LRNInferType;
  def.forward = &LRNForward;
  def.backward = &LRNBackward;
  Registry::Add(std::move(def));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
