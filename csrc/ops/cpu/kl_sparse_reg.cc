// IdentityAttachKLSparseReg: the identity forward, with a sparseness penalty attached to the
// gradient, as MXNet 1.9 defines it for sigmoid activations (N, C): the auxiliary state
// moving_avg (C,) follows the mean activation of each unit, moving_avg = momentum * moving_avg
// + (1 - momentum) * mean over the batch, and backward adds the gradient of the KL divergence
// between the target sparseness rho and that average:
//   dx = dy + penalty * (-rho / moving_avg + (1 - rho) / (1 - moving_avg)).
// MXNet updates the average in backward; here forward updates it in training (forward is
// where the executor lets an operator write its auxiliary states), and backward reads the
// updated value, so a training step computes MXNet's gradient and average.
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "IdentityAttachKLSparseReg";

struct KLAttrs : OpAttrs {
  double sparseness_target = 0.1, penalty = 0.001, momentum = 0.9;
};

std::shared_ptr<const OpAttrs> ParseKL(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"sparseness_target", "penalty", "momentum"});
  auto a = std::make_shared<KLAttrs>();
  a->sparseness_target = GetFloat(kOp, attrs, "sparseness_target", 0.1);
  a->penalty = GetFloat(kOp, attrs, "penalty", 0.001);
  a->momentum = GetFloat(kOp, attrs, "momentum", 0.9);
  if (a->sparseness_target < 0 || a->sparseness_target > 1)
    throw OpArgumentError(kOp, "sparseness_target", attrs.at("sparseness_target"), "a number in [0, 1]");
  if (a->momentum < 0 || a->momentum > 1)
    throw OpArgumentError(kOp, "momentum", attrs.at("momentum"), "a number in [0, 1]");
  return a;
}

void KLShape(const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  if (!ShapeKnownRank(in[0]) && ShapeKnownRank(out[0])) in[0] = out[0];
  if (!ShapeKnownRank(in[0])) return;
  // MXNet averages over all axes but the last and keeps one average per entry of axis 1:
  // only (N, C) data is consistent with both.
  if (in[0].size() != 2)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(in[0]), "2 dimensions (batch, units)");
  MergeShape(kOp, "moving_avg", in[1], Shape{in[0][1]});
  MergeShape(kOp, "output", out[0], in[0]);
}

template <class T>
void KLForward(const KLAttrs& a, bool is_train, const TensorRef& x, const TensorRef& avg, const TensorRef& y) {
  using A = AccT<T>;
  const int64_t n = x.shape[0], c = x.shape[1];
  const T* xs = x.ptr<T>();
  if (y.data != x.data) std::copy_n(xs, n * c, y.ptr<T>());
  if (!is_train || n == 0) return;
  T* m = avg.ptr<T>();
  for (int64_t j = 0; j < c; ++j) {
    A sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<A>(xs[i * c + j]);
    const A mean = sum / static_cast<A>(n), mo = static_cast<A>(a.momentum);
    m[j] = static_cast<T>(mo * static_cast<A>(m[j]) + (A(1) - mo) * mean);
  }
}

template <class T>
void KLBackward(const KLAttrs& a, const BackwardIO& io) {
  using A = AccT<T>;
  const int64_t n = io.inputs[0].shape[0], c = io.inputs[0].shape[1];
  const T* m = io.inputs[1].ptr<T>();
  const T* dy = io.out_grads[0].ptr<T>();
  T* dx = io.in_grads[0].ptr<T>();
  const A rho = static_cast<A>(a.sparseness_target), pen = static_cast<A>(a.penalty);
  for (int64_t j = 0; j < c; ++j) {
    const A mj = static_cast<A>(m[j]);
    const A extra = pen * (-rho / mj + (A(1) - rho) / (A(1) - mj));
    for (int64_t i = 0; i < n; ++i)
      Store(dx[i * c + j], static_cast<T>(static_cast<A>(dy[i * c + j]) + extra), io.req[0]);
  }
}

const bool registered = [] {
  OpDef def = UnaryDef(kOp);
  def.aux = {"moving_avg"};
  def.parse = &ParseKL;
  def.infer_shape = &KLShape;
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kOp, in, out);
  };
  def.forward = [](const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const KLAttrs&>(attrs);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, KLForward<T>(a, ctx.is_train, in[0], in[1], out[0]));
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, KLBackward<T>(static_cast<const KLAttrs&>(attrs), io));
  };
  Registry::Add(Described(
      std::move(def),
      "The identity, with the gradient of a KL-divergence sparseness penalty on the moving average of each "
      "unit's activation added in backward (for sigmoid activations of shape (batch, units)).",
      {{"data", "The input array, (batch, units)."}},
      {Optional("sparseness_target", "float", "0.100000001", "The target mean activation rho, in [0, 1]."),
       Optional("penalty", "float", "0.00100000005", "The weight of the sparseness penalty."),
       Optional("momentum", "float", "0.899999976", "The momentum of the moving average, in [0, 1].")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
