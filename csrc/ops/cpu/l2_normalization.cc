// L2Normalization(data; eps=1e-10, mode='instance'): y = x / sqrt(sum x^2 + eps), the sum
// taken as MXNet 1.9 takes it:
// - instance: over all elements of each sample; norm of shape (N,);
// - channel: over the channels at each spatial position; norm of the data's shape with 1
//   channel;
// - spatial: over the spatial positions of each (sample, channel); norm of shape (N, C).
// The norm is a hidden output that backward reads, with the output:
// dx = (dy - y * sum(dy * y)) / norm.
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

const char* const kOp = "L2Normalization";

enum class Mode { kInstance, kChannel, kSpatial };

struct L2Attrs : OpAttrs {
  double eps = 1e-10;
  Mode mode = Mode::kInstance;
};

std::shared_ptr<const OpAttrs> ParseL2(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"eps", "mode"});
  auto a = std::make_shared<L2Attrs>();
  a->eps = GetFloat(kOp, attrs, "eps", 1e-10);
  if (!(a->eps >= 0)) throw OpArgumentError(kOp, "eps", attrs.at("eps"), "a number >= 0");
  const std::string mode = GetEnum(kOp, attrs, "mode", {"channel", "instance", "spatial"}, "instance");
  a->mode = mode == "channel" ? Mode::kChannel : mode == "spatial" ? Mode::kSpatial : Mode::kInstance;
  return a;
}

void L2InferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const L2Attrs&>(attrs);
  MergeShape(kOp, "data", in[0], out[0]);
  const Shape& d = in[0];
  if (d == kUnknownShape) return;
  if (d.empty()) throw OpArgumentError(kOp, "data", "an array of shape ()", "at least 1 dimension");
  if (a.mode != Mode::kInstance && d.size() < 3)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(d),
                          "at least 3 dimensions in mode='" +
                              std::string(a.mode == Mode::kChannel ? "channel" : "spatial") + "'");
  out[0] = d;
  Shape norm;
  if (a.mode == Mode::kInstance) {
    norm = {d[0]};
  } else if (a.mode == Mode::kChannel) {
    norm = d;
    norm[1] = 1;
  } else {
    norm = {d[0], d[1]};
  }
  MergeShape(kOp, "norm", out[1], norm);
}

// The data as (outer, k, inner), the sum running over k.
struct Layout {
  int64_t outer = 1, k = 1, inner = 1;
  Layout(Mode mode, const Shape& d) {
    const int64_t total = NumElements(d);
    if (mode == Mode::kInstance) {
      outer = d[0];
      k = outer == 0 ? 0 : total / outer;
    } else if (mode == Mode::kChannel) {
      outer = d[0];
      k = d[1];
      inner = d[0] * d[1] == 0 ? 0 : total / (d[0] * d[1]);
    } else {
      outer = d[0] * d[1];
      k = outer == 0 ? 0 : total / outer;
    }
  }
};

template <class T>
void Forward(const Layout& l, double eps, const T* x, T* y, T* norm) {
  std::vector<double> sq(l.inner);
  for (int64_t o = 0; o < l.outer; ++o) {
    const int64_t base = o * l.k * l.inner;
    std::fill(sq.begin(), sq.end(), eps);
    for (int64_t kk = 0; kk < l.k; ++kk)
      for (int64_t i = 0; i < l.inner; ++i) {
        const double v = static_cast<double>(x[base + kk * l.inner + i]);
        sq[i] += v * v;
      }
    for (int64_t i = 0; i < l.inner; ++i) {
      sq[i] = std::sqrt(sq[i]);
      norm[o * l.inner + i] = static_cast<T>(sq[i]);
    }
    for (int64_t kk = 0; kk < l.k; ++kk)
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t j = base + kk * l.inner + i;
        y[j] = static_cast<T>(static_cast<double>(x[j]) / sq[i]);
      }
  }
}

template <class T>
void Backward(const Layout& l, const T* y, const T* norm, const T* dy, T* dx, OpReq req) {
  std::vector<double> dot(l.inner);
  for (int64_t o = 0; o < l.outer; ++o) {
    const int64_t base = o * l.k * l.inner;
    std::fill(dot.begin(), dot.end(), 0.0);
    for (int64_t kk = 0; kk < l.k; ++kk)
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t j = base + kk * l.inner + i;
        dot[i] += static_cast<double>(dy[j]) * static_cast<double>(y[j]);
      }
    for (int64_t kk = 0; kk < l.k; ++kk)
      for (int64_t i = 0; i < l.inner; ++i) {
        const int64_t j = base + kk * l.inner + i;
        const double v = (static_cast<double>(dy[j]) - static_cast<double>(y[j]) * dot[i]) /
                         static_cast<double>(norm[o * l.inner + i]);
        Store(dx[j], static_cast<T>(v), req);
      }
  }
}

void L2Forward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
               std::span<const TensorRef> out) {
  const auto& a = static_cast<const L2Attrs&>(attrs);
  const Layout l(a.mode, in[0].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, Forward<T>(l, a.eps, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
}

void L2Backward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  if (io.req[0] == OpReq::kNull) return;
  const auto& a = static_cast<const L2Attrs&>(attrs);
  const Layout l(a.mode, io.inputs[0].shape);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                       Backward<T>(l, io.outputs[0].ptr<T>(), io.outputs[1].ptr<T>(), io.out_grads[0].ptr<T>(),
                                   io.in_grads[0].ptr<T>(), io.req[0]));
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data"};
  def.num_outputs = 2;
  def.num_visible_outputs = 1;
  def.parse = &ParseL2;
  def.infer_shape = &L2InferShape;
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kOp, in, out);
  };
  def.forward = &L2Forward;
  def.backward = &L2Backward;
  Registry::Add(std::move(def));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
