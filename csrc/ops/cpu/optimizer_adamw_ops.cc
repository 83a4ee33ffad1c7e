// AdamW (Loshchilov and Hutter), Adam with the weight decay taken out of the moments, as
// MXNet 1.x's contrib defines it: _adamw_update, _mp_adamw_update (float16 weights through a
// float32 master copy) and their multi-weight forms. The gradient's scale is an array,
// rescale_grad, read when the update runs (a loss scaler computes it on the device); when it
// is NaN, infinite or 0 the step is skipped and the weight and states are left as they are.
#include <cmath>
#include <cstring>

#include "ops/cpu/optimizer_util.h"

namespace flowmod::ops {

namespace {

using optimizer::Clip;
using optimizer::Extent;
using optimizer::ForElements;
using optimizer::Role;
using optimizer::UpdateAttrs;
using optimizer::UpdateSpec;

double ScaleOf(const TensorRef& t) {
  double v = 0;
  FLOWMOD_FLOAT_SWITCH(t.dtype, L, { v = static_cast<double>(t.ptr<L>()[0]); });
  return v;
}

// g' = clip(rescale_grad * grad); mean = beta1 * mean + (1 - beta1) * g';
// var = beta2 * var + (1 - beta2) * g'^2;
// weight -= eta * (lr * mean / (sqrt(var) + epsilon) + wd * weight).
void AdamWKernel(bool mixed, const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* shared,
                 const TensorRef& out) {
  const double scale = ScaleOf(shared[0]);
  if (!std::isfinite(scale) || scale == 0) {
    // Skipped: an output other than the weight still gets the weight's value.
    if (out.data != in[0].data) std::memcpy(out.data, in[0].data, in[0].size() * DTypeSize(in[0].dtype));
    return;
  }
  FLOWMOD_UPDATE_SWITCH(in[0].dtype, mixed, T, S, C, {
    const T* w = in[0].ptr<T>();
    const T* g = in[1].ptr<T>();
    S* mean = in[2].ptr<S>();
    S* var = in[3].ptr<S>();
    float* w32 = mixed ? in[4].ptr<float>() : nullptr;
    T* y = out.ptr<T>();
    const C lr = C(a.lrs[k]), wd = C(a.wds[k]), eta = C(a.etas[k]), rescale = C(scale), clip = C(a.clip_gradient);
    const C beta1 = C(a.beta1), beta2 = C(a.beta2), eps = C(a.epsilon);
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const C weight = w32 ? C(w32[i]) : C(w[i]);
        const C grad = Clip(rescale * C(g[i]), clip);
        const C m = beta1 * C(mean[i]) + (C(1) - beta1) * grad;
        const C v = beta2 * C(var[i]) + (C(1) - beta2) * grad * grad;
        mean[i] = S(m);
        var[i] = S(v);
        const C updated = weight - eta * (lr * m / (std::sqrt(v) + eps) + wd * weight);
        if (w32) w32[i] = float(updated);
        y[i] = T(updated);
      }
    });
  });
}

OpDef AdamWOp(bool mixed, bool multi) {
  UpdateSpec s;
  s.name = std::string(multi ? "_multi_" : "_") + (mixed ? "mp_" : "") + "adamw_update";
  s.description = std::string("One AdamW step") + (multi ? " for each of num_weights weights in one call" : "") +
                  (mixed ? ", taken on float32 master copies (updated in place) of float16 weights" : "") +
                  ": weight -= eta * (lr * mean / (sqrt(var) + epsilon) + wd * weight), skipped when "
                  "rescale_grad is NaN, infinite or 0.";
  s.roles = {{"weight", "The weight (updated in place when out=weight)."}, {"grad", "Its gradient."},
             {"mean", "The moving average of the gradient, updated in place.", mixed, true},
             {"var", "The moving average of its square, updated in place.", mixed, true}};
  if (mixed) s.roles.push_back({"weight32", "The float32 master copy of the weight, updated in place.", true, true});
  // MXNet's single-weight forms take a float32 scale; the non-mixed multi form one of the
  // weights' type.
  s.shared = {{"rescale_grad", "The gradient's scale, one element; NaN, infinite or 0 skips the update.",
               mixed || !multi, false, Extent::kOne}};
  const auto beta1 = Optional("beta1", "float", "0.899999976", "The decay of the gradient average.");
  const auto beta2 = Optional("beta2", "float", "0.999000013", "The decay of the squared-gradient average.");
  const auto eps = Optional("epsilon", "float", "9.99999994e-09", "Added to the denominator for stability.");
  if (multi) {
    s.count_key = "num_weights";
    s.params = {optimizer::LrsParam(), beta1, beta2, eps, optimizer::WdsParam(),
                Required("etas", "tuple of <float>", "The learning rate schedule's multiplier of each weight."),
                optimizer::ClipGradientParam(), optimizer::CountParam("num_weights")};
  } else {
    s.params = {optimizer::LrParam(), beta1, beta2, eps, optimizer::WdParam(),
                Required("eta", "float", "The learning rate schedule's multiplier."), optimizer::ClipGradientParam()};
  }
  s.parse = [multi](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    a.beta1 = GetFloat(op, attrs, "beta1", 0.9);
    a.beta2 = GetFloat(op, attrs, "beta2", 0.999);
    a.epsilon = GetFloat(op, attrs, "epsilon", 1e-8);
    a.clip_gradient = GetFloat(op, attrs, "clip_gradient", -1.0);
    if (multi) {
      a.lrs = optimizer::PerWeight(op, attrs, "lrs", a.count);
      a.wds = optimizer::PerWeight(op, attrs, "wds", a.count);
      a.etas = optimizer::PerWeight(op, attrs, "etas", a.count);
    } else {
      a.lrs = {GetFloat(op, attrs, "lr")};
      a.wds = {GetFloat(op, attrs, "wd", 0.0)};
      a.etas = {GetFloat(op, attrs, "eta")};
    }
  };
  s.kernel = [mixed](const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* sh, const TensorRef& out) {
    AdamWKernel(mixed, a, k, in, sh, out);
  };
  return optimizer::UpdateOp(std::move(s));
}

const bool registered = [] {
  for (bool multi : {false, true})
    for (bool mixed : {false, true}) Registry::Add(AdamWOp(mixed, multi));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
