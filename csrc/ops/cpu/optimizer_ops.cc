// Optimizer updates as MXNet 1.x defines them: sgd_update, sgd_mom_update, nag_mom_update,
// adam_update, rmsprop_update, rmspropalex_update and adagrad_update (MXNet's
// _sparse_adagrad_update, registered under both names). Each writes the new weight to its
// output (the caller passes out=weight to update in place) and updates its state arrays
// (mom, mean, var, n, g, delta, history) in place: they are auxiliary states, which the
// engine treats as written. No gradient.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops {

namespace {

struct OptimizerAttrs : OpAttrs {
  double lr = 0;
  double wd = 0;
  double rescale_grad = 1;
  double clip_gradient = -1;  // negative: no clipping
  double momentum = 0;
  double beta1 = 0.9, beta2 = 0.999;
  double epsilon = 1e-8;
  double gamma1 = 0.95, gamma2 = 0.9;
  double clip_weights = -1;  // negative: no clipping
};

// clip(x, c) = max(min(x, c), -c) for c >= 0; no clipping for c < 0.
template <class C>
inline C Clip(C x, C c) {
  if (c < C(0)) return x;
  return x > c ? c : (x < -c ? -c : x);
}

// An update of at least this many elements a part splits across the cores.
constexpr int64_t kSplitElements = int64_t{1} << 17;

// Kernels compute in float for float32 and float16, in double for float64, like MXNet's.
template <class T>
using Compute = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T>
void SgdKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
               int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  for (int64_t i = lo; i < hi; ++i) {
    const C grad = Clip(rescale * C(g[i]), clip);
    y[i] = T((C(1) - lr * wd) * C(w[i]) - lr * grad);
  }
}

// mom = momentum * mom - lr * (clip(rescale * grad) + wd * weight); weight += mom.
template <class T>
void SgdMomKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
                  int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* mom = in[2].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  const C momentum = C(a.momentum);
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C m = momentum * C(mom[i]) - lr * wd * weight - lr * Clip(rescale * C(g[i]), clip);
    mom[i] = T(m);
    y[i] = T(weight + m);
  }
}

// grad' = clip(rescale * grad) + wd * weight; mom = momentum * mom - lr * grad';
// weight += momentum * mom - lr * grad'.
template <class T>
void NagMomKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
                  int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* mom = in[2].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  const C momentum = C(a.momentum);
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C grad = Clip(rescale * C(g[i]), clip) + wd * weight;
    const C m = momentum * C(mom[i]) - lr * grad;
    mom[i] = T(m);
    y[i] = T(weight + momentum * m - lr * grad);
  }
}

// grad' = clip(rescale * grad + wd * weight); mean = beta1 * mean + (1 - beta1) * grad';
// var = beta2 * var + (1 - beta2) * grad'^2; weight -= lr * mean / (sqrt(var) + epsilon).
template <class T>
void AdamKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
                int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* mean = in[2].ptr<T>();
  T* var = in[3].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  const C beta1 = C(a.beta1), beta2 = C(a.beta2), eps = C(a.epsilon);
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C grad = Clip(rescale * C(g[i]) + wd * weight, clip);
    const C m = beta1 * C(mean[i]) + (C(1) - beta1) * grad;
    const C v = beta2 * C(var[i]) + (C(1) - beta2) * grad * grad;
    mean[i] = T(m);
    var[i] = T(v);
    y[i] = T(weight - lr * m / (std::sqrt(v) + eps));
  }
}

// grad' = clip(rescale * grad + wd * weight); n = (1 - gamma1) * grad'^2 + gamma1 * n;
// weight = clip_weights(weight - lr * grad' / sqrt(n + epsilon)).
template <class T>
void RmsPropKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
                   int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* state_n = in[2].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  const C gamma1 = C(a.gamma1), eps = C(a.epsilon), clip_w = C(a.clip_weights);
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C grad = Clip(rescale * C(g[i]) + wd * weight, clip);
    const C s = (C(1) - gamma1) * grad * grad + gamma1 * C(state_n[i]);
    state_n[i] = T(s);
    y[i] = T(Clip(weight - lr * grad / std::sqrt(s + eps), clip_w));
  }
}

// Graves' centered RMSProp: n and g are the running means of grad'^2 and grad';
// delta = gamma2 * delta - lr * grad' / sqrt(n - g^2 + epsilon); weight += delta.
template <class T>
void RmsPropAlexKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
                       int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* state_n = in[2].ptr<T>();
  T* state_g = in[3].ptr<T>();
  T* delta = in[4].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  const C gamma1 = C(a.gamma1), gamma2 = C(a.gamma2), eps = C(a.epsilon), clip_w = C(a.clip_weights);
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C grad = Clip(rescale * C(g[i]) + wd * weight, clip);
    const C sn = (C(1) - gamma1) * grad * grad + gamma1 * C(state_n[i]);
    const C sg = (C(1) - gamma1) * grad + gamma1 * C(state_g[i]);
    const C d = gamma2 * C(delta[i]) - lr * grad / std::sqrt(sn - sg * sg + eps);
    state_n[i] = T(sn);
    state_g[i] = T(sg);
    delta[i] = T(d);
    y[i] = T(Clip(weight + d, clip_w));
  }
}

// grad' = clip(rescale * grad); history += grad'^2;
// weight -= lr * (grad' / sqrt(history + epsilon) + wd * weight).
template <class T>
void AdagradKernel(const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out,
                   int64_t lo, int64_t hi) {
  using C = Compute<T>;
  const T* w = in[0].ptr<T>();
  const T* g = in[1].ptr<T>();
  T* history = in[2].ptr<T>();
  T* y = out[0].ptr<T>();
  const C lr = C(a.lr), wd = C(a.wd), rescale = C(a.rescale_grad), clip = C(a.clip_gradient);
  const C eps = C(a.epsilon);
  for (int64_t i = lo; i < hi; ++i) {
    const C weight = C(w[i]);
    const C grad = Clip(rescale * C(g[i]), clip);
    const C h = C(history[i]) + grad * grad;
    history[i] = T(h);
    y[i] = T(weight - lr * (grad / std::sqrt(h + eps) + wd * weight));
  }
}

enum class Kind { kSgd, kSgdMom, kNagMom, kAdam, kRmsProp, kRmsPropAlex, kAdagrad };

std::string OptimizerDescription(Kind kind) {
  switch (kind) {
    case Kind::kSgd: return "One stochastic gradient descent step, in place: weight -= lr * (grad + wd * weight).";
    case Kind::kSgdMom: return "One SGD step with momentum, in place: mom = momentum * mom - lr * g; weight += mom.";
    case Kind::kNagMom: return "One SGD step with Nesterov momentum, in place.";
    case Kind::kAdam: return "One Adam step, in place: moving averages of the gradient and its square scale the step.";
    case Kind::kRmsProp: return "One RMSProp step, in place: the step is divided by a moving average of squared gradients.";
    case Kind::kRmsPropAlex: return "One centered RMSProp step (Graves' variant, with momentum), in place.";
    case Kind::kAdagrad: return "One AdaGrad step, in place: the step is divided by the root of the summed squared gradients.";
  }
  return "";
}

std::vector<OpInputDoc> OptimizerInputs(Kind kind) {
  std::vector<OpInputDoc> in = {{"weight", "The weight, updated in place."}, {"grad", "Its gradient."}};
  switch (kind) {
    case Kind::kSgd: break;
    case Kind::kSgdMom:
    case Kind::kNagMom: in.push_back({"mom", "The momentum, updated in place."}); break;
    case Kind::kAdam:
      in.push_back({"mean", "The moving average of the gradient, updated in place."});
      in.push_back({"var", "The moving average of its square, updated in place."});
      break;
    case Kind::kRmsProp: in.push_back({"n", "The moving average of the squared gradient, updated in place."}); break;
    case Kind::kRmsPropAlex:
      in.push_back({"n", "The moving average of the squared gradient, updated in place."});
      in.push_back({"g", "The moving average of the gradient, updated in place."});
      in.push_back({"delta", "The momentum, updated in place."});
      break;
    case Kind::kAdagrad: in.push_back({"history", "The sum of squared gradients, updated in place."}); break;
  }
  return in;
}

// MXNet's order: lr, the method's own hyperparameters, then wd, rescale_grad, clip_gradient and the rest.
std::vector<OpParam> OptimizerParams(Kind kind) {
  std::vector<OpParam> p = {Required("lr", "float", "The learning rate.")};
  const auto momentum = Optional("momentum", "float", "0", "The decay of the momentum.");
  const auto eps = Optional("epsilon", "float", "9.99999994e-09", "Added to the denominator for stability.");
  const auto gamma1 = Optional("gamma1", "float", "0.949999988", "The decay of the squared-gradient average.");
  switch (kind) {
    case Kind::kSgd: break;
    case Kind::kSgdMom:
    case Kind::kNagMom: p.push_back(momentum); break;
    case Kind::kAdam:
      p.push_back(Optional("beta1", "float", "0.899999976", "The decay of the gradient average."));
      p.push_back(Optional("beta2", "float", "0.999000013", "The decay of the squared-gradient average."));
      p.push_back(eps);
      break;
    case Kind::kRmsProp: p.push_back(gamma1); p.push_back(eps); break;
    case Kind::kRmsPropAlex:
      p.push_back(gamma1);
      p.push_back(Optional("gamma2", "float", "0.899999976", "The decay of the momentum."));
      p.push_back(eps);
      break;
    case Kind::kAdagrad:
      p.push_back(Optional("epsilon", "float", "1.00000001e-07", "Added to the denominator for stability."));
      break;
  }
  p.push_back(Optional("wd", "float", "0", "The weight decay: wd * weight is added to the gradient."));
  p.push_back(Optional("rescale_grad", "float", "1", "Multiplies the gradient first."));
  p.push_back(Optional("clip_gradient", "float", "-1",
                       "Clips the rescaled gradient to [-clip_gradient, clip_gradient]; negative: no clipping."));
  if (kind == Kind::kRmsProp || kind == Kind::kRmsPropAlex)
    p.push_back(Optional("clip_weights", "float", "-1",
                         "Clips the updated weight to [-clip_weights, clip_weights]; negative: no clipping."));
  if (kind == Kind::kSgd || kind == Kind::kSgdMom || kind == Kind::kAdam)
    p.push_back(Optional("lazy_update", "boolean", "1",
                         "Whether row_sparse gradients update only their rows (dense here: no effect)."));
  return p;
}

std::vector<std::string> OptimizerAux(Kind kind) {
  switch (kind) {
    case Kind::kSgd: return {};
    case Kind::kSgdMom:
    case Kind::kNagMom: return {"mom"};
    case Kind::kAdam: return {"mean", "var"};
    case Kind::kRmsProp: return {"n"};
    case Kind::kRmsPropAlex: return {"n", "g", "delta"};
    case Kind::kAdagrad: return {"history"};
  }
  return {};
}

// The attributes accepted are exactly the documented ones (OptimizerParams).
std::shared_ptr<const OpAttrs> ParseOptimizer(const std::string& name, Kind kind, const AttrMap& attrs) {
  CheckAttrs(name, attrs, OptimizerParams(kind));
  auto p = std::make_shared<OptimizerAttrs>();
  p->lr = GetFloat(name, attrs, "lr");
  p->wd = GetFloat(name, attrs, "wd", 0.0);
  p->rescale_grad = GetFloat(name, attrs, "rescale_grad", 1.0);
  p->clip_gradient = GetFloat(name, attrs, "clip_gradient", -1.0);
  // Lazy updates only differ from standard ones for row_sparse gradients, which flowmod
  // does not have: the flag is accepted and has no effect.
  GetBool(name, attrs, "lazy_update", true);
  p->momentum = GetFloat(name, attrs, "momentum", 0.0);
  p->beta1 = GetFloat(name, attrs, "beta1", 0.9);
  p->beta2 = GetFloat(name, attrs, "beta2", 0.999);
  p->epsilon = GetFloat(name, attrs, "epsilon", kind == Kind::kAdagrad ? 1e-7 : 1e-8);
  p->gamma1 = GetFloat(name, attrs, "gamma1", 0.95);
  p->gamma2 = GetFloat(name, attrs, "gamma2", 0.9);
  p->clip_weights = GetFloat(name, attrs, "clip_weights", -1.0);
  return p;
}

// Every input and the output have the weight's shape (`names`: the inputs, then the states).
void InferWeightShape(const std::string& name, const std::vector<std::string>& names, std::vector<Shape>& in,
                      std::vector<Shape>& out) {
  Shape common = kUnknownShape;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i > 0 && IsKnown(common) && IsKnown(in[i]) && in[i] != common)
      throw OpArgumentError(name, names[i], "an array of shape " + ShapeString(in[i]),
                            "the shape of weight, " + ShapeString(common));
    MergeShape(name, names[i], common, in[i]);
  }
  MergeShape(name, "output", common, out[0]);
  for (auto& s : in) s = common;
  out[0] = common;
}

// ... and the weight's floating type.
void InferWeightType(const std::string& name, const std::vector<std::string>& names, std::vector<DType>& in,
                     std::vector<DType>& out) {
  DType common = DType::kUnknown;
  for (size_t i = 0; i < in.size(); ++i) {
    if (i > 0 && common != DType::kUnknown && in[i] != DType::kUnknown && in[i] != common)
      throw OpArgumentError(name, names[i], std::string("an array of type ") + DTypeName(in[i]),
                            std::string("the type of weight, ") + DTypeName(common));
    MergeType(name, names[i], common, in[i]);
  }
  MergeType(name, "output", common, out[0]);
  if (common != DType::kUnknown && common != DType::kFloat32 && common != DType::kFloat64 &&
      common != DType::kFloat16)
    throw OpArgumentError(name, "weight", std::string("an array of type ") + DTypeName(common),
                          "float32, float64 or float16");
  for (auto& t : in) t = common;
  out[0] = common;
}

void RunUpdate(Kind kind, const OptimizerAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t n = in[0].size();
  // An update reads and writes several arrays once each, bound by memory bandwidth; a large
  // one (a wide layer's weights) is on the path to the next batch's forward, and splits.
  const int parts = static_cast<int>(std::min<int64_t>(parallel::Cores(), n / kSplitElements));
  parallel::For(n, parts, [&](int64_t lo, int64_t hi) {
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      switch (kind) {
        case Kind::kSgd: SgdKernel<T>(a, in, out, lo, hi); break;
        case Kind::kSgdMom: SgdMomKernel<T>(a, in, out, lo, hi); break;
        case Kind::kNagMom: NagMomKernel<T>(a, in, out, lo, hi); break;
        case Kind::kAdam: AdamKernel<T>(a, in, out, lo, hi); break;
        case Kind::kRmsProp: RmsPropKernel<T>(a, in, out, lo, hi); break;
        case Kind::kRmsPropAlex: RmsPropAlexKernel<T>(a, in, out, lo, hi); break;
        case Kind::kAdagrad: AdagradKernel<T>(a, in, out, lo, hi); break;
      }
    });
  });
}

OpDef OptimizerOp(const std::string& name, Kind kind) {
  OpDef def;
  def.name = name;
  def.description = OptimizerDescription(kind);
  def.input_docs = OptimizerInputs(kind);
  def.params = OptimizerParams(kind);
  def.inputs = {"weight", "grad"};
  def.aux = OptimizerAux(kind);
  def.parse = [name, kind](const AttrMap& attrs) { return ParseOptimizer(name, kind, attrs); };
  std::vector<std::string> names = def.inputs;
  names.insert(names.end(), def.aux.begin(), def.aux.end());
  def.infer_shape = [name, names](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    InferWeightShape(name, names, in, out);
  };
  def.infer_type = [name, names](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    InferWeightType(name, names, in, out);
  };
  def.forward = [kind](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    RunUpdate(kind, static_cast<const OptimizerAttrs&>(attrs), in, out);
  };
  def.backward = nullptr;
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  Registry::Add(OptimizerOp("sgd_update", Kind::kSgd));
  Registry::Add(OptimizerOp("sgd_mom_update", Kind::kSgdMom));
  Registry::Add(OptimizerOp("nag_mom_update", Kind::kNagMom));
  Registry::Add(OptimizerOp("adam_update", Kind::kAdam));
  Registry::Add(OptimizerOp("rmsprop_update", Kind::kRmsProp));
  Registry::Add(OptimizerOp("rmspropalex_update", Kind::kRmsPropAlex));
  Registry::Add(OptimizerOp("_sparse_adagrad_update", Kind::kAdagrad));
  Registry::Add(OptimizerOp("adagrad_update", Kind::kAdagrad));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
