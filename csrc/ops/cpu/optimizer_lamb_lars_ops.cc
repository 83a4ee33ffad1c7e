// The layer-wise adaptive updates, as MXNet 1.x defines them: LAMB (You et al., 2019) in two
// phases (lamb_update_phase1 gives the Adam-like direction g, the caller takes the norms r1
// of the weight and r2 of g, lamb_update_phase2 steps by lr * r1 / r2), their mixed-precision
// forms, the fused multi-weight _multi_lamb_update and _multi_mp_lamb_update, which do both
// phases and the norms in one call, and multi_lars, LARS's per-layer learning rates from the
// weights' and gradients' sums of squares.
#include <cmath>
#include <vector>

#include "ops/cpu/optimizer_util.h"

namespace flowmod::ops {

namespace {

using optimizer::Clip;
using optimizer::Compute;
using optimizer::Extent;
using optimizer::ForElements;
using optimizer::Role;
using optimizer::UpdateAttrs;
using optimizer::UpdateSpec;

// The trust ratio's step: lr * r1 / r2 with r1 bounded to [lower_bound, upper_bound] (each
// bound only when >= 0), or lr alone when either norm is 0.
template <class C>
C TrustedLr(C lr, C r1, C r2, C lower, C upper) {
  if (lower >= C(0)) r1 = std::max(r1, lower);
  if (upper >= C(0)) r1 = std::min(r1, upper);
  return (r1 == C(0) || r2 == C(0)) ? lr : lr * r1 / r2;
}

// g' = clip(rescale_grad * grad); mean = beta1 * mean + (1 - beta1) * g';
// var = beta2 * var + (1 - beta2) * g'^2; with bias correction mean and var are divided by
// 1 - beta^t; g = mean / (sqrt(var) + epsilon) + wd * weight (weight32 when mixed).
template <class T, class S, class C>
void LambDirection(const UpdateAttrs& a, int k, const T* w, const float* w32, const T* gr, S* mean, S* var,
                   int64_t lo, int64_t hi, auto&& store) {
  const C rescale = C(a.rescale_grad), clip = C(a.clip_gradient), wd = C(a.wds[k]);
  const C beta1 = C(a.beta1), beta2 = C(a.beta2), eps = C(a.epsilon);
  const C t = C(a.steps[k]);
  const C bias1 = a.bias_correction ? C(1) - std::pow(beta1, t) : C(1);
  const C bias2 = a.bias_correction ? C(1) - std::pow(beta2, t) : C(1);
  for (int64_t i = lo; i < hi; ++i) {
    const C grad = Clip(C(gr[i]) * rescale, clip);
    const C m = beta1 * C(mean[i]) + (C(1) - beta1) * grad;
    const C v = beta2 * C(var[i]) + (C(1) - beta2) * grad * grad;
    mean[i] = S(m);
    var[i] = S(v);
    const C weight = w32 ? C(w32[i]) : C(w[i]);
    store(i, (m / bias1) / (std::sqrt(v / bias2) + eps) + wd * weight);
  }
}

void LambPhase1Kernel(bool mixed, const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*,
                      const TensorRef& out) {
  FLOWMOD_UPDATE_SWITCH(in[0].dtype, mixed, T, S, C, {
    // The direction has the states' type: the weight's, or float32 when mixed.
    S* g = out.ptr<S>();
    const float* w32 = mixed ? in[4].ptr<float>() : nullptr;
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      LambDirection<T, S, C>(a, k, in[0].ptr<T>(), w32, in[1].ptr<T>(), in[2].ptr<S>(), in[3].ptr<S>(), lo, hi,
                             [&](int64_t i, C v) { g[i] = S(v); });
    });
  });
}

// weight = weight - lr * r1 / r2 * g (from weight32 when mixed, which MXNet leaves as it is).
void LambPhase2Kernel(bool mixed, const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*,
                      const TensorRef& out) {
  FLOWMOD_UPDATE_SWITCH(in[0].dtype, mixed, T, S, C, {
    const T* w = in[0].ptr<T>();
    const S* g = in[1].ptr<S>();
    const float* w32 = mixed ? in[4].ptr<float>() : nullptr;
    T* y = out.ptr<T>();
    const C lr = TrustedLr(C(a.lrs[k]), C(in[2].ptr<S>()[0]), C(in[3].ptr<S>()[0]), C(a.lower_bound),
                           C(a.upper_bound));
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) y[i] = T((w32 ? C(w32[i]) : C(w[i])) - lr * C(g[i]));
    });
  });
}

// Both phases for weight k: the direction into a float buffer, the norms of the weight (the
// weight itself, not its master copy, as MXNet takes it) and of the direction, the step.
void MultiLambKernel(bool mixed, const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*,
                     const TensorRef& out) {
  const int64_t n = in[0].size();
  std::vector<float> dir(n);
  FLOWMOD_UPDATE_SWITCH(in[0].dtype, mixed, T, S, C, {
    const T* w = in[0].ptr<T>();
    float* w32 = mixed ? in[4].ptr<float>() : nullptr;
    ForElements(n, [&](int64_t lo, int64_t hi) {
      LambDirection<T, S, C>(a, k, w, w32, in[1].ptr<T>(), in[2].ptr<S>(), in[3].ptr<S>(), lo, hi,
                             [&](int64_t i, C v) { dir[i] = float(v); });
    });
    double ww = 0, gg = 0;
    for (int64_t i = 0; i < n; ++i) {
      ww += double(w[i]) * double(w[i]);
      gg += double(dir[i]) * double(dir[i]);
    }
    const C lr = TrustedLr(C(a.lrs[k]), C(std::sqrt(ww)), C(std::sqrt(gg)), C(a.lower_bound), C(a.upper_bound));
    T* y = out.ptr<T>();
    ForElements(n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const C updated = (w32 ? C(w32[i]) : C(w[i])) - lr * C(dir[i]);
        if (w32) w32[i] = float(updated);
        y[i] = T(updated);
      }
    });
  });
}

std::vector<OpParam> Phase1Params() {
  return {Optional("beta1", "float", "0.899999976", "The decay of the gradient average."),
          Optional("beta2", "float", "0.999000013", "The decay of the squared-gradient average."),
          Optional("epsilon", "float", "9.99999997e-07", "Added to the denominator for stability."),
          Required("t", "int", "The update count (from 1), for the bias corrections."),
          Optional("bias_correction", "boolean", "1", "Whether to divide the averages by 1 - beta^t."),
          Required("wd", "float", "The weight decay: wd * weight is added to the direction."),
          optimizer::RescaleGradParam(), optimizer::ClipGradientParam()};
}

void ParseMoments(const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
  a.beta1 = GetFloat(op, attrs, "beta1", 0.9);
  a.beta2 = GetFloat(op, attrs, "beta2", 0.999);
  a.epsilon = GetFloat(op, attrs, "epsilon", 1e-6);
  a.bias_correction = GetBool(op, attrs, "bias_correction", true);
  a.rescale_grad = GetFloat(op, attrs, "rescale_grad", 1.0);
  a.clip_gradient = GetFloat(op, attrs, "clip_gradient", -1.0);
}

const Role kWeight{"weight", "The weight."};
const Role kGrad{"grad", "Its gradient."};

OpDef Phase1Op(bool mixed) {
  UpdateSpec s;
  s.name = mixed ? "mp_lamb_update_phase1" : "lamb_update_phase1";
  s.description = std::string("LAMB's phase 1") + (mixed ? " for float16 weights with a float32 master copy" : "") +
                  ": updates the moving averages mean and var in place and returns the direction "
                  "g = mean / (sqrt(var) + epsilon) + wd * weight (bias-corrected at step t).";
  s.roles = {kWeight, kGrad, {"mean", "The moving average of the gradient, updated in place.", mixed, true},
             {"var", "The moving average of its square, updated in place.", mixed, true}};
  if (mixed) s.roles.push_back({"weight32", "The float32 master copy of the weight.", true, false});
  s.params = Phase1Params();
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    ParseMoments(op, attrs, a);
    const int64_t t = GetInt(op, attrs, "t");
    if (t < 1 && a.bias_correction)
      throw OpArgumentError(op, "t", std::to_string(t), "an update count >= 1 with bias_correction");
    a.steps = {t};
    a.wds = {GetFloat(op, attrs, "wd")};
  };
  s.float32_output = mixed;
  s.output_is_weight = false;
  s.kernel = [mixed](const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* sh, const TensorRef& out) {
    LambPhase1Kernel(mixed, a, k, in, sh, out);
  };
  return optimizer::UpdateOp(std::move(s));
}

OpDef Phase2Op(bool mixed) {
  UpdateSpec s;
  s.name = mixed ? "mp_lamb_update_phase2" : "lamb_update_phase2";
  s.description = std::string("LAMB's phase 2: weight - lr * r1 / r2 * g, r1 bounded to [lower_bound, upper_bound]") +
                  (mixed ? ", from the float32 master copy weight32 (which is not updated)" : "") + ".";
  s.roles = {kWeight, {"g", "The direction from phase 1.", mixed, false},
             {"r1", "The norm of the weight, one element.", mixed, false, Extent::kOne},
             {"r2", "The norm of g, one element.", mixed, false, Extent::kOne}};
  if (mixed) s.roles.push_back({"weight32", "The float32 master copy of the weight.", true, false});
  s.params = {optimizer::LrParam(),
              Optional("lower_bound", "float", "-1", "The lower bound of r1; negative: none."),
              Optional("upper_bound", "float", "-1", "The upper bound of r1; negative: none.")};
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    a.lrs = {GetFloat(op, attrs, "lr")};
    a.lower_bound = GetFloat(op, attrs, "lower_bound", -1.0);
    a.upper_bound = GetFloat(op, attrs, "upper_bound", -1.0);
  };
  s.kernel = [mixed](const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* sh, const TensorRef& out) {
    LambPhase2Kernel(mixed, a, k, in, sh, out);
  };
  return optimizer::UpdateOp(std::move(s));
}

OpDef MultiLambOp(bool mixed) {
  UpdateSpec s;
  s.name = mixed ? "_multi_mp_lamb_update" : "_multi_lamb_update";
  s.description = std::string("Both LAMB phases for each of num_tensors weights in one call") +
                  (mixed ? ", stepping float32 master copies (updated in place) of float16 weights" : "") +
                  ": the moving averages updated in place, the trust ratio from the norms of each weight and "
                  "its direction.";
  s.roles = {kWeight, kGrad, {"mean", "the moving average of the gradient, updated in place", mixed, true},
             {"var", "the moving average of its square, updated in place", mixed, true}};
  if (mixed) s.roles.push_back({"weight32", "the float32 master copy, updated in place", true, true});
  s.count_key = "num_tensors";
  s.params = {optimizer::LrsParam("learning_rates"),
              Optional("beta1", "float", "0.899999976", "The decay of the gradient average."),
              Optional("beta2", "float", "0.999000013", "The decay of the squared-gradient average."),
              Optional("epsilon", "float", "9.99999997e-07", "Added to the denominator for stability."),
              optimizer::WdsParam(),
              optimizer::RescaleGradParam(),
              Optional("lower_bound", "float", "-1", "The lower bound of the weight's norm; negative: none."),
              Optional("upper_bound", "float", "-1", "The upper bound of the weight's norm; negative: none."),
              optimizer::ClipGradientParam(),
              Optional("bias_correction", "boolean", "1", "Whether to divide the averages by 1 - beta^t."),
              Required("step_count", "Shape(tuple)", "The update count of each weight (from 1)."),
              optimizer::CountParam("num_tensors")};
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    ParseMoments(op, attrs, a);
    a.lrs = optimizer::PerWeight(op, attrs, "learning_rates", a.count);
    a.wds = optimizer::PerWeight(op, attrs, "wds", a.count);
    a.lower_bound = GetFloat(op, attrs, "lower_bound", -1.0);
    a.upper_bound = GetFloat(op, attrs, "upper_bound", -1.0);
    a.steps = GetTuple(op, attrs, "step_count");
    if (static_cast<int>(a.steps.size()) != a.count)
      throw OpArgumentError(op, "step_count", "a tuple of " + std::to_string(a.steps.size()) + " counts",
                            std::to_string(a.count) + " counts, one per weight");
    for (int64_t t : a.steps)
      if (t < 1 && a.bias_correction)
        throw OpArgumentError(op, "step_count", std::to_string(t), "update counts >= 1 with bias_correction");
  };
  s.kernel = [mixed](const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* sh, const TensorRef& out) {
    MultiLambKernel(mixed, a, k, in, sh, out);
  };
  return optimizer::UpdateOp(std::move(s));
}

// lr * eta * |w| / (|g| * rescale_grad + wd * |w| + eps), or lr when either norm is 0.
void MultiLarsKernel(const UpdateAttrs& a, int, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  const float* lrs = in[0].ptr<float>();
  const float* wsq = in[1].ptr<float>();
  const float* gsq = in[2].ptr<float>();
  const float* wds = in[3].ptr<float>();
  float* y = out.ptr<float>();
  const float eta = float(a.eta), eps = float(a.eps), rescale = float(a.rescale_grad);
  for (int64_t i = 0; i < in[0].size(); ++i) {
    const float w_norm = std::sqrt(wsq[i]);
    const bool valid = w_norm > 0.f && gsq[i] > 0.f;
    y[i] = valid ? lrs[i] * eta * w_norm / (std::sqrt(gsq[i]) * rescale + wds[i] * w_norm + eps) : lrs[i];
  }
}

OpDef MultiLarsOp() {
  UpdateSpec s;
  s.name = "multi_lars";
  s.description = "LARS's learning rates for several layers from their sums of squares: "
                  "lr * eta * |w| / (|g| * rescale_grad + wd * |w| + eps), or lr where a norm is 0.";
  s.roles = {{"lrs", "The learning rate of each layer (float32).", true},
             {"weights_sum_sq", "The sum of squares of each layer's weight.", true},
             {"grads_sum_sq", "The sum of squares of each layer's gradient.", true},
             {"wds", "The weight decay of each layer.", true}};
  s.params = {Required("eta", "float", "LARS's trust coefficient."),
              Required("eps", "float", "Added to the denominator for stability."),
              Optional("rescale_grad", "float", "1", "The factor the gradients are scaled by.")};
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    a.eta = GetFloat(op, attrs, "eta");
    a.eps = GetFloat(op, attrs, "eps");
    a.rescale_grad = GetFloat(op, attrs, "rescale_grad", 1.0);
  };
  s.float32_output = true;
  s.output_is_weight = false;
  s.kernel = MultiLarsKernel;
  return optimizer::UpdateOp(std::move(s));
}

const bool registered = [] {
  for (bool mixed : {false, true}) {
    Registry::Add(Phase1Op(mixed));
    Registry::Add(Phase2Op(mixed));
    Registry::Add(MultiLambOp(mixed));
  }
  Registry::Add(MultiLarsOp());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
