// SGD updates beyond optimizer_ops.cc, as MXNet 1.x defines them: the mixed-precision ones
// (mp_sgd_update, mp_sgd_mom_update, mp_nag_mom_update: float16 weights updated through a
// float32 master copy, weight32, which is updated in place) and the multi-weight ones
// (multi_sgd_update, multi_sgd_mom_update, multi_mp_sgd_update, multi_mp_sgd_mom_update,
// and their preloaded_ forms, which read the learning rates and weight decays from two
// float arrays instead of attributes). A multi operator applies the single-weight step to
// each weight with its own lr and wd, in one push: one engine operation for a whole group
// of parameters instead of one per parameter.
#include <string>

#include "ops/cpu/optimizer_util.h"

namespace flowmod::ops {

namespace {

using optimizer::Clip;
using optimizer::ForElements;
using optimizer::Role;
using optimizer::UpdateAttrs;
using optimizer::UpdateSpec;

enum class Step { kPlain, kMomentum, kNesterov };

struct SgdForm {
  Step step;
  bool mixed;      // float32 master copy
  bool multi;      // several weights, lrs and wds attributes
  bool preloaded;  // several weights, lrs and wds arrays
};

// The learning rate and weight decay of weight k: attributes, or the preloaded arrays.
std::pair<double, double> LrWd(const SgdForm& f, const UpdateAttrs& a, int k, const TensorRef* shared) {
  if (!f.preloaded) return {a.lrs[k], a.wds[k]};
  double lr = 0, wd = 0;
  FLOWMOD_FLOAT_SWITCH(shared[0].dtype, L, {
    lr = static_cast<double>(shared[0].ptr<L>()[k]);
    wd = static_cast<double>(shared[1].ptr<L>()[k]);
  });
  return {lr, wd};
}

// The step over [lo, hi), one loop per form with no branch inside, so that it vectorizes as
// the single-weight kernels do: g' = clip(rescale_grad * grad); plain:
// weight = (1 - lr * wd) * weight - lr * g'; momentum: mom = momentum * mom - lr * wd * weight
// - lr * g'; weight += mom; Nesterov: g'' = g' + wd * weight; mom = momentum * mom - lr * g'';
// weight += momentum * mom - lr * g''. With a master copy (kMaster), the step is taken on
// weight32 in float32 and the result written to weight32 and, rounded, to the output.
template <class T, class S, class C>
struct SgdArrays {
  const T* w;
  const T* g;
  S* mom;
  float* w32;
  T* y;
  C lr, wd, rescale, clip, momentum;
};

template <Step kStep, bool kMaster, class T, class S, class C>
void SgdRange(const SgdArrays<T, S, C>& p, int64_t lo, int64_t hi) {
  // y may be the weight itself: the compiler checks the overlap before it vectorizes.
  const T* w = p.w;
  const T* g = p.g;
  S* mom = p.mom;
  float* w32 = p.w32;
  T* y = p.y;
  const C lr = p.lr, wd = p.wd, rescale = p.rescale, clip = p.clip, momentum = p.momentum;
  for (int64_t i = lo; i < hi; ++i) {
    C weight;
    if constexpr (kMaster) weight = C(w32[i]);
    else weight = C(w[i]);
    const C grad = Clip(rescale * C(g[i]), clip);
    C updated;
    if constexpr (kStep == Step::kPlain) {
      updated = (C(1) - lr * wd) * weight - lr * grad;
    } else if constexpr (kStep == Step::kMomentum) {
      const C m = momentum * C(mom[i]) - lr * wd * weight - lr * grad;
      mom[i] = S(m);
      updated = weight + m;
    } else {
      const C gw = grad + wd * weight;
      const C m = momentum * C(mom[i]) - lr * gw;
      mom[i] = S(m);
      updated = weight + momentum * m - lr * gw;
    }
    if constexpr (kMaster) w32[i] = float(updated);
    y[i] = T(updated);
  }
}

template <bool kMaster, class T, class S, class C>
void SgdRangeOf(Step step, const SgdArrays<T, S, C>& p, int64_t lo, int64_t hi) {
  switch (step) {
    case Step::kPlain: SgdRange<Step::kPlain, kMaster>(p, lo, hi); break;
    case Step::kMomentum: SgdRange<Step::kMomentum, kMaster>(p, lo, hi); break;
    case Step::kNesterov: SgdRange<Step::kNesterov, kMaster>(p, lo, hi); break;
  }
}

void SgdKernel(const SgdForm& f, const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* shared,
               const TensorRef& out) {
  const auto [lr_k, wd_k] = LrWd(f, a, k, shared);
  const bool has_mom = f.step != Step::kPlain;
  FLOWMOD_UPDATE_SWITCH(in[0].dtype, f.mixed, T, S, C, {
    const SgdArrays<T, S, C> p{in[0].ptr<T>(), in[1].ptr<T>(), has_mom ? in[2].ptr<S>() : nullptr,
                               f.mixed ? in[has_mom ? 3 : 2].ptr<float>() : nullptr, out.ptr<T>(),
                               C(lr_k), C(wd_k), C(a.rescale_grad), C(a.clip_gradient), C(a.momentum)};
    const Step step = f.step;
    ForElements(in[0].size(), [&](int64_t lo, int64_t hi) {
      if (p.w32) SgdRangeOf<true>(step, p, lo, hi);
      else SgdRangeOf<false>(step, p, lo, hi);
    });
  });
}

std::string FormName(const SgdForm& f) {
  std::string base = f.step == Step::kNesterov ? "nag_mom_update" : f.step == Step::kMomentum ? "sgd_mom_update" : "sgd_update";
  if (f.mixed) base = "mp_" + base;
  if (f.multi || f.preloaded) base = "multi_" + base;
  if (f.preloaded) base = "preloaded_" + base;
  return base;
}

std::string FormDescription(const SgdForm& f) {
  std::string what = f.step == Step::kNesterov ? "SGD step with Nesterov momentum"
                     : f.step == Step::kMomentum ? "SGD step with momentum (mom = momentum * mom - lr * (grad + wd * weight); weight += mom)"
                                                 : "SGD step (weight = (1 - lr * wd) * weight - lr * grad)";
  std::string text = (f.multi || f.preloaded) ? "One " + what + " for each of num_weights weights, in one call"
                                              : "One " + what;
  if (f.mixed) text += ", taken in float32 on the master copy weight32, which is updated in place and rounded into the output";
  if (f.preloaded) text += "; the learning rates and weight decays come from the arrays lrs and wds";
  return text + ".";
}

OpDef SgdOp(const SgdForm& f) {
  UpdateSpec s;
  s.name = FormName(f);
  s.description = FormDescription(f);
  const bool several = f.multi || f.preloaded;
  s.roles = {{"weight", "The weight (updated in place when out=weight)."}, {"grad", "Its gradient."}};
  if (f.step != Step::kPlain) s.roles.push_back({"mom", "The momentum, updated in place.", f.mixed, true});
  if (f.mixed) s.roles.push_back({"weight32", "The float32 master copy of the weight, updated in place.", true, true});
  if (f.preloaded) {
    s.shared = {{"lrs", "the learning rate of each weight", f.mixed, false, optimizer::Extent::kPerWeight},
                {"wds", "the weight decay of each weight", f.mixed, false, optimizer::Extent::kPerWeight}};
  }
  if (several) s.count_key = "num_weights";
  if (f.multi) s.params = {optimizer::LrsParam(), optimizer::WdsParam()};
  else if (!f.preloaded) s.params = {optimizer::LrParam()};
  if (f.step != Step::kPlain) s.params.push_back(optimizer::MomentumParam());
  if (!several) s.params.push_back(optimizer::WdParam());
  s.params.push_back(optimizer::RescaleGradParam());
  s.params.push_back(optimizer::ClipGradientParam());
  if (several) s.params.push_back(optimizer::CountParam("num_weights"));
  else if (f.step != Step::kNesterov)
    s.params.push_back(Optional("lazy_update", "boolean", "1",
                                "Whether row_sparse gradients update only their rows (dense here: no effect)."));
  s.parse = [f](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
    if (f.multi) {
      a.lrs = optimizer::PerWeight(op, attrs, "lrs", a.count);
      a.wds = optimizer::PerWeight(op, attrs, "wds", a.count);
    } else if (!f.preloaded) {
      a.lrs = {GetFloat(op, attrs, "lr")};
      a.wds = {GetFloat(op, attrs, "wd", 0.0)};
      // Lazy updates only differ for row_sparse gradients, which flowmod does not have.
      GetBool(op, attrs, "lazy_update", true);
    }
    a.momentum = GetFloat(op, attrs, "momentum", 0.0);
    a.rescale_grad = GetFloat(op, attrs, "rescale_grad", 1.0);
    a.clip_gradient = GetFloat(op, attrs, "clip_gradient", -1.0);
  };
  s.kernel = [f](const UpdateAttrs& a, int k, const TensorRef* in, const TensorRef* shared, const TensorRef& out) {
    SgdKernel(f, a, k, in, shared, out);
  };
  return optimizer::UpdateOp(std::move(s));
}

const bool registered = [] {
  Registry::Add(SgdOp({Step::kPlain, true, false, false}));
  Registry::Add(SgdOp({Step::kMomentum, true, false, false}));
  Registry::Add(SgdOp({Step::kNesterov, true, false, false}));
  for (bool mixed : {false, true}) {
    Registry::Add(SgdOp({Step::kPlain, mixed, true, false}));
    Registry::Add(SgdOp({Step::kMomentum, mixed, true, false}));
    Registry::Add(SgdOp({Step::kPlain, mixed, false, true}));
    Registry::Add(SgdOp({Step::kMomentum, mixed, false, true}));
  }
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
