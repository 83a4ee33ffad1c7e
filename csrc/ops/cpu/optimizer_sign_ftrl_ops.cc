// The sign-based and follow-the-regularized-leader updates, as MXNet 1.x defines them:
// signsgd_update, signum_update (Bernstein et al., 2018), ftrl_update (McMahan et al., 2013)
// and ftml_update (Zheng and Kwok, 2017). Each writes the new weight to its output (callers
// pass out=weight) and updates its states in place.
#include <cmath>

#include "ops/cpu/optimizer_util.h"

namespace flowmod::ops {

namespace {

using optimizer::Clip;
using optimizer::Compute;
using optimizer::ForElements;
using optimizer::Role;
using optimizer::UpdateAttrs;
using optimizer::UpdateSpec;

template <class C>
C Sign(C x) {
  return C((x > C(0)) - (x < C(0)));
}

void ParseCommon(const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
  a.lrs = {GetFloat(op, attrs, "lr")};
  a.wds = {GetFloat(op, attrs, "wd", 0.0)};
  a.rescale_grad = GetFloat(op, attrs, "rescale_grad", 1.0);
  a.clip_gradient = GetFloat(op, attrs, "clip_gradient", -1.0);
}

const Role kWeight{"weight", "The weight (updated in place when out=weight)."};
const Role kGrad{"grad", "Its gradient."};

// weight = (1 - lr * wd) * weight - lr * sign(grad). MXNet ignores rescale_grad and
// clip_gradient here: neither changes a sign.
void SignSgdKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const T* w = in[0].ptr<T>();
    const T* g = in[1].ptr<T>();
    T* y = out.ptr<T>();
    const C lr = C(a.lrs[k]), wd = C(a.wds[k]);
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) y[i] = T((C(1) - lr * wd) * C(w[i]) - lr * Sign(C(g[i])));
    });
  });
}

// mom = momentum * mom - (1 - momentum) * (wd * weight + clip(rescale_grad * grad));
// weight = (1 - lr * wd_lh) * weight + lr * sign(mom).
void SignumKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const T* w = in[0].ptr<T>();
    const T* g = in[1].ptr<T>();
    T* mom = in[2].ptr<T>();
    T* y = out.ptr<T>();
    const C lr = C(a.lrs[k]), wd = C(a.wds[k]), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
    const C momentum = C(a.momentum), wd_lh = C(a.wd_lh);
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const C weight = C(w[i]);
        const C m = momentum * C(mom[i]) - (C(1) - momentum) * wd * weight -
                    (C(1) - momentum) * Clip(rescale * C(g[i]), clip);
        mom[i] = T(m);
        y[i] = T((C(1) - lr * wd_lh) * weight + lr * Sign(m));
      }
    });
  });
}

// g' = clip(rescale_grad * grad); z += g' - (sqrt(n + g'^2) - sqrt(n)) * weight / lr;
// n += g'^2; weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1).
void FtrlKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const T* w = in[0].ptr<T>();
    const T* g = in[1].ptr<T>();
    T* z = in[2].ptr<T>();
    T* n = in[3].ptr<T>();
    T* y = out.ptr<T>();
    const C lr = C(a.lrs[k]), wd = C(a.wds[k]), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
    const C lamda1 = C(a.lamda1), beta = C(a.beta);
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const C grad = Clip(rescale * C(g[i]), clip);
        const C n_old = C(n[i]);
        const C zi = C(z[i]) + grad - (std::sqrt(n_old + grad * grad) - std::sqrt(n_old)) * C(w[i]) / lr;
        const C ni = n_old + grad * grad;
        z[i] = T(zi);
        n[i] = T(ni);
        y[i] = T((Sign(zi) * lamda1 - zi) / ((beta + std::sqrt(ni)) / lr + wd) * C(std::abs(zi) > lamda1));
      }
    });
  });
}

// g' = clip(rescale_grad * grad + wd * weight, clip_grad); v = beta2 * v + (1 - beta2) * g'^2;
// d_t = (1 - beta1^t) / lr * (sqrt(v / (1 - beta2^t)) + epsilon);
// z = beta1 * z + (1 - beta1) * g' - (d_t - beta1 * d) * weight; d = d_t; weight = -z / d_t.
void FtmlKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const T* w = in[0].ptr<T>();
    const T* g = in[1].ptr<T>();
    T* d = in[2].ptr<T>();
    T* v = in[3].ptr<T>();
    T* z = in[4].ptr<T>();
    T* y = out.ptr<T>();
    const C lr = C(a.lrs[k]), wd = C(a.wds[k]), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
    const C beta1 = C(a.beta1), beta2 = C(a.beta2), eps = C(a.epsilon);
    const C t = C(a.steps[k]);
    const C bias1 = C(1) - std::pow(beta1, t), bias2 = C(1) - std::pow(beta2, t);
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const C weight = C(w[i]);
        const C grad = Clip(rescale * C(g[i]) + wd * weight, clip);
        const C vi = beta2 * C(v[i]) + (C(1) - beta2) * grad * grad;
        const C d_t = bias1 / lr * (std::sqrt(vi / bias2) + eps);
        const C zi = beta1 * C(z[i]) + (C(1) - beta1) * grad - (d_t - beta1 * C(d[i])) * weight;
        v[i] = T(vi);
        z[i] = T(zi);
        d[i] = T(d_t);
        y[i] = T(-zi / d_t);
      }
    });
  });
}

OpDef SignSgdOp() {
  UpdateSpec s;
  s.name = "signsgd_update";
  s.description = "One signSGD step: weight = (1 - lr * wd) * weight - lr * sign(grad).";
  s.roles = {kWeight, kGrad};
  s.params = {optimizer::LrParam(), optimizer::WdParam(), optimizer::RescaleGradParam(),
              optimizer::ClipGradientParam()};
  s.parse = ParseCommon;
  s.kernel = SignSgdKernel;
  return optimizer::UpdateOp(std::move(s));
}

OpDef SignumOp() {
  UpdateSpec s;
  s.name = "signum_update";
  s.description =
      "One Signum step (SGD on the sign of the momentum): mom = momentum * mom - (1 - momentum) * "
      "(wd * weight + grad); weight = (1 - lr * wd_lh) * weight + lr * sign(mom).";
  s.roles = {kWeight, kGrad, {"mom", "The momentum, updated in place.", false, true}};
  s.params = {optimizer::LrParam(), optimizer::MomentumParam(), optimizer::WdParam(),
              optimizer::RescaleGradParam(), optimizer::ClipGradientParam(),
              Optional("wd_lh", "float", "0", "Decoupled weight decay (Loshchilov and Hutter), outside the momentum.")};
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    ParseCommon(op, attrs, a);
    a.momentum = GetFloat(op, attrs, "momentum", 0.0);
    a.wd_lh = GetFloat(op, attrs, "wd_lh", 0.0);
  };
  s.kernel = SignumKernel;
  return optimizer::UpdateOp(std::move(s));
}

OpDef FtrlOp() {
  UpdateSpec s;
  s.name = "ftrl_update";
  s.description = "One FTRL-Proximal step, with L1 regularization lamda1, in place.";
  s.roles = {kWeight, kGrad, {"z", "The accumulated adjusted gradient, updated in place.", false, true},
             {"n", "The sum of squared gradients, updated in place.", false, true}};
  s.params = {optimizer::LrParam(),
              Optional("lamda1", "float", "0.00999999978", "The L1 regularization coefficient."),
              Optional("beta", "float", "1", "The per-coordinate learning rate's beta."), optimizer::WdParam(),
              optimizer::RescaleGradParam(), optimizer::ClipGradientParam()};
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    ParseCommon(op, attrs, a);
    a.lamda1 = GetFloat(op, attrs, "lamda1", 0.01);
    a.beta = GetFloat(op, attrs, "beta", 1.0);
  };
  s.kernel = FtrlKernel;
  return optimizer::UpdateOp(std::move(s));
}

OpDef FtmlOp() {
  UpdateSpec s;
  s.name = "ftml_update";
  s.description = "One FTML (follow the moving leader) step at update count t, in place.";
  s.roles = {kWeight, kGrad, {"d", "The state d_t, updated in place.", false, true},
             {"v", "The state v_t, updated in place.", false, true},
             {"z", "The state z_t, updated in place.", false, true}};
  s.params = {optimizer::LrParam(),
              Optional("beta1", "float", "0.600000024", "The decay of the gradient average, usually near 0.5."),
              Optional("beta2", "float", "0.999000013", "The decay of the squared-gradient average, near 1."),
              Optional("epsilon", "double", "9.9999999392252903e-09", "Added to the denominator for stability."),
              Required("t", "int", "The update count (from 1), for the bias corrections."), optimizer::WdParam(),
              optimizer::RescaleGradParam(), optimizer::ClipGradientParam("clip_grad")};
  s.parse = [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    a.lrs = {GetFloat(op, attrs, "lr")};
    a.wds = {GetFloat(op, attrs, "wd", 0.0)};
    a.rescale_grad = GetFloat(op, attrs, "rescale_grad", 1.0);
    a.clip_gradient = GetFloat(op, attrs, "clip_grad", -1.0);
    a.beta1 = GetFloat(op, attrs, "beta1", 0.6);
    a.beta2 = GetFloat(op, attrs, "beta2", 0.999);
    if (!(a.beta1 >= 0 && a.beta1 <= 1)) throw OpArgumentError(op, "beta1", std::to_string(a.beta1), "a number in [0, 1]");
    if (!(a.beta2 >= 0 && a.beta2 <= 1)) throw OpArgumentError(op, "beta2", std::to_string(a.beta2), "a number in [0, 1]");
    // MXNet declares epsilon a double with the float 1e-8 as its default.
    a.epsilon = GetFloat(op, attrs, "epsilon", static_cast<double>(1e-8f));
    const int64_t t = GetInt(op, attrs, "t");
    if (t < 1) throw OpArgumentError(op, "t", std::to_string(t), "an update count >= 1");
    a.steps = {t};
  };
  s.kernel = FtmlKernel;
  return optimizer::UpdateOp(std::move(s));
}

const bool registered = [] {
  Registry::Add(SignSgdOp());
  Registry::Add(SignumOp());
  Registry::Add(FtrlOp());
  Registry::Add(FtmlOp());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
