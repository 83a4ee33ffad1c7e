// The sign-based and follow-the-regularized-leader updates, as MXNet 1.x defines them:
// signsgd_update, signum_update (Bernstein et al., 2018), ftrl_update (McMahan et al., 2013)
// and ftml_update (Zheng and Kwok, 2017). Each writes the new weight to its output (callers
// pass out=weight) and updates its states in place.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "ops/cpu/optimizer_util.h"

namespace flowmod::ops {

namespace {

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

// The kernels below are written so that their loops vectorize: the arrays and constants are
// copied into locals (never read through a lambda's references, which a store to a float array
// might alias), gradient clipping is a min/max chosen outside the loop, and the states, which
// are distinct arrays, are __restrict parameters; only the output may be the weight itself (out=weight),
// which the compiler checks before it takes the vector path.

// clip(x, c) = max(min(x, c), -c), as optimizer::Clip for c >= 0, without a branch.
template <class C>
inline C ClipTo(C x, C c) {
  return std::min(std::max(x, -c), c);
}

// The gradient's step, rescale * grad, clipped to [-clip, clip] when kClip.
template <bool kClip, class C>
inline C Scaled(C grad, C rescale, C clip) {
  if constexpr (kClip) return ClipTo(rescale * grad, clip);
  else return rescale * grad;
}

// Runs body.template operator()<kClip>() with kClip = (clip_gradient >= 0): one loop each.
template <class Body>
void WithClip(double clip_gradient, Body&& body) {
  if (clip_gradient >= 0) body(std::true_type{});
  else body(std::false_type{});
}

// weight = (1 - lr * wd) * weight - lr * sign(grad). MXNet ignores rescale_grad and
// clip_gradient here: neither changes a sign.
template <class T, class C>
void SignSgdRange(const T* w, const T* __restrict g, T* y, C lr, C wd, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) y[i] = T((C(1) - lr * wd) * C(w[i]) - lr * Sign(C(g[i])));
}

void SignSgdKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const T* w = in[0].ptr<T>();
    const T* g = in[1].ptr<T>();
    T* y = out.ptr<T>();
    const C lr = C(a.lrs[k]), wd = C(a.wds[k]);
    ForElements(in[0].size(), [=](int64_t lo, int64_t hi) { SignSgdRange<T, C>(w, g, y, lr, wd, lo, hi); });
  });
}

// mom = momentum * mom - (1 - momentum) * (wd * weight + clip(rescale_grad * grad));
// weight = (1 - lr * wd_lh) * weight + lr * sign(mom).
template <class T, class C>
struct SignumArgs {
  const T* w;
  const T* g;
  T* mom;
  T* y;
  C lr, wd, rescale, clip, momentum, wd_lh;
};

template <bool kClip, class T, class C>
void SignumLoop(const SignumArgs<T, C>& p, const T* w, const T* __restrict g, T* __restrict mom, T* y, int64_t lo,
                int64_t hi) {
  const C lr = p.lr, wd = p.wd, rescale = p.rescale, clip = p.clip, momentum = p.momentum, wd_lh = p.wd_lh;
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C m = momentum * C(mom[i]) - (C(1) - momentum) * wd * weight -
                (C(1) - momentum) * Scaled<kClip>(C(g[i]), rescale, clip);
    mom[i] = T(m);
    y[i] = T((C(1) - lr * wd_lh) * weight + lr * Sign(m));
  }
}

void SignumKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const SignumArgs<T, C> p{in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), out.ptr<T>(), C(a.lrs[k]),
                             C(a.wds[k]), C(a.rescale_grad), C(a.clip_gradient), C(a.momentum), C(a.wd_lh)};
    WithClip(a.clip_gradient, [&](auto clip) {
      ForElements(in[0].size(), [&p](int64_t lo, int64_t hi) { SignumLoop<decltype(clip)::value>(p, p.w, p.g, p.mom, p.y, lo, hi); });
    });
  });
}

// g' = clip(rescale_grad * grad); z += g' - (sqrt(n + g'^2) - sqrt(n)) * weight / lr;
// n += g'^2; weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (|z| > lamda1).
template <class T, class C>
struct FtrlArgs {
  const T* w;
  const T* g;
  T* z;
  T* n;
  T* y;
  C lr, wd, rescale, clip, lamda1, beta;
};

template <bool kClip, class T, class C>
void FtrlLoop(const FtrlArgs<T, C>& p, const T* w, const T* __restrict g, T* __restrict z, T* __restrict n, T* y,
              int64_t lo, int64_t hi) {
  const C lr = p.lr, wd = p.wd, rescale = p.rescale, clip = p.clip, lamda1 = p.lamda1, beta = p.beta;
  for (int64_t i = lo; i < hi; ++i) {
    const C grad = Scaled<kClip>(C(g[i]), rescale, clip);
    const C n_old = C(n[i]);
    const C zi = C(z[i]) + grad - (std::sqrt(n_old + grad * grad) - std::sqrt(n_old)) * C(w[i]) / lr;
    const C ni = n_old + grad * grad;
    z[i] = T(zi);
    n[i] = T(ni);
    y[i] = T((Sign(zi) * lamda1 - zi) / ((beta + std::sqrt(ni)) / lr + wd) * C(std::abs(zi) > lamda1));
  }
}

void FtrlKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const FtrlArgs<T, C> p{in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), in[3].ptr<T>(), out.ptr<T>(),
                           C(a.lrs[k]), C(a.wds[k]), C(a.rescale_grad), C(a.clip_gradient), C(a.lamda1), C(a.beta)};
    WithClip(a.clip_gradient, [&](auto clip) {
      ForElements(in[0].size(), [&p](int64_t lo, int64_t hi) { FtrlLoop<decltype(clip)::value>(p, p.w, p.g, p.z, p.n, p.y, lo, hi); });
    });
  });
}

// g' = clip(rescale_grad * grad + wd * weight, clip_grad); v = beta2 * v + (1 - beta2) * g'^2;
// d_t = (1 - beta1^t) / lr * (sqrt(v / (1 - beta2^t)) + epsilon);
// z = beta1 * z + (1 - beta1) * g' - (d_t - beta1 * d) * weight; d = d_t; weight = -z / d_t.
template <class T, class C>
struct FtmlArgs {
  const T* w;
  const T* g;
  T* d;
  T* v;
  T* z;
  T* y;
  C lr, wd, rescale, clip, beta1, beta2, eps, bias1, bias2;
};

// GCC honours __restrict on parameters only: the loop takes its arrays as arguments.
template <bool kClip, class T, class C>
void FtmlLoop(const FtmlArgs<T, C>& p, const T* w, const T* __restrict g, T* __restrict d, T* __restrict v,
              T* __restrict z, T* y, int64_t lo, int64_t hi) {
  const C lr = p.lr, wd = p.wd, rescale = p.rescale, clip = p.clip, beta1 = p.beta1, beta2 = p.beta2;
  const C eps = p.eps, bias1 = p.bias1, bias2 = p.bias2;
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    C grad = rescale * C(g[i]) + wd * weight;
    if constexpr (kClip) grad = ClipTo(grad, clip);
    const C vi = beta2 * C(v[i]) + (C(1) - beta2) * grad * grad;
    const C d_t = bias1 / lr * (std::sqrt(vi / bias2) + eps);
    const C zi = beta1 * C(z[i]) + (C(1) - beta1) * grad - (d_t - beta1 * C(d[i])) * weight;
    v[i] = T(vi);
    z[i] = T(zi);
    d[i] = T(d_t);
    y[i] = T(-zi / d_t);
  }
}

void FtmlKernel(const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef*, const TensorRef& out) {
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    using C = Compute<T>;
    const C beta1 = C(a.beta1), beta2 = C(a.beta2), t = C(a.steps[k]);
    const FtmlArgs<T, C> p{in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), in[3].ptr<T>(), in[4].ptr<T>(),
                           out.ptr<T>(), C(a.lrs[k]), C(a.wds[k]), C(a.rescale_grad), C(a.clip_gradient), beta1,
                           beta2, C(a.epsilon), C(1) - std::pow(beta1, t), C(1) - std::pow(beta2, t)};
    WithClip(a.clip_gradient, [&](auto clip) {
      ForElements(in[0].size(), [&p](int64_t lo, int64_t hi) { FtmlLoop<decltype(clip)::value>(p, p.w, p.g, p.d, p.v, p.z, p.y, lo, hi); });
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
