// Lazy optimizer updates with a row_sparse gradient (MXNet's FComputeEx of sgd_update,
// sgd_mom_update, adam_update, ftrl_update and _sparse_adagrad_update for a dense or
// all-rows weight and a row_sparse gradient): only the rows the gradient stores change, in
// the weight and in the states; every other row, weight decay included, is left as it is.
// Inputs: weight (N, ...), the gradient's data (r, ...) and int64 row indices (r,), then the
// states (each shaped like the weight, updated in place). The output is the new weight
// (callers pass out=weight; another output gets the weight's other rows copied).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/optimizer_util.h"
#include "ops/parallel.h"

namespace flowmod::ops {

namespace {

using optimizer::Clip;
using optimizer::Compute;
using optimizer::UpdateAttrs;

// The element functions: w is the weight, g the gradient, s the states; each returns the
// new weight.
template <class C>
C Sgd(const UpdateAttrs& a, C w, C g, C*) {
  const C lr = C(a.lrs[0]);
  return (C(1) - lr * C(a.wds[0])) * w - lr * Clip(C(a.rescale_grad) * g, C(a.clip_gradient));
}

template <class C>
C SgdMom(const UpdateAttrs& a, C w, C g, C* s) {
  const C lr = C(a.lrs[0]);
  s[0] = C(a.momentum) * s[0] - lr * C(a.wds[0]) * w - lr * Clip(C(a.rescale_grad) * g, C(a.clip_gradient));
  return w + s[0];
}

template <class C>
C Adam(const UpdateAttrs& a, C w, C g, C* s) {
  const C grad = Clip(C(a.rescale_grad) * g + C(a.wds[0]) * w, C(a.clip_gradient));
  s[0] = C(a.beta1) * s[0] + (C(1) - C(a.beta1)) * grad;
  s[1] = C(a.beta2) * s[1] + (C(1) - C(a.beta2)) * grad * grad;
  return w - C(a.lrs[0]) * s[0] / (std::sqrt(s[1]) + C(a.epsilon));
}

template <class C>
C Ftrl(const UpdateAttrs& a, C w, C g, C* s) {
  const C lr = C(a.lrs[0]), lamda1 = C(a.lamda1);
  const C grad = Clip(C(a.rescale_grad) * g, C(a.clip_gradient));
  const C n_old = s[1];
  s[0] += grad - (std::sqrt(n_old + grad * grad) - std::sqrt(n_old)) * w / lr;
  s[1] = n_old + grad * grad;
  const C z = s[0];
  const C sign = C((z > C(0)) - (z < C(0)));
  return (sign * lamda1 - z) / ((C(a.beta) + std::sqrt(s[1])) / lr + C(a.wds[0])) * C(std::abs(z) > lamda1);
}

template <class C>
C Adagrad(const UpdateAttrs& a, C w, C g, C* s) {
  const C grad = Clip(C(a.rescale_grad) * g, C(a.clip_gradient));
  s[0] += grad * grad;
  return w - C(a.lrs[0]) * (grad / std::sqrt(s[0] + C(a.epsilon)) + C(a.wds[0]) * w);
}

// The update of the rows the gradient stores, the element function inlined: the rows are
// unique, so they split across the cores without two parts touching one element.
template <class T, Compute<T> (*Fn)(const UpdateAttrs&, Compute<T>, Compute<T>, Compute<T>*), int kStates>
void RunRows(const UpdateAttrs& a, std::span<const TensorRef> in, const TensorRef& out) {
  using C = Compute<T>;
  const TensorRef& weight = in[0];
  const int64_t rows = weight.shape[0], width = rows ? weight.size() / rows : 0;
  const T* w = weight.ptr<T>();
  T* y = out.ptr<T>();
  if (y != w) std::memcpy(y, w, sizeof(T) * weight.size());
  const T* g = in[1].ptr<T>();
  const int64_t* idx = in[2].ptr<int64_t>();
  const int64_t n = in[2].size();
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= rows)
      throw std::runtime_error("gradient row " + std::to_string(idx[i]) + " out of range [0, " +
                               std::to_string(rows) + ")");
  T* st[kStates > 0 ? kStates : 1] = {};
  for (int k = 0; k < kStates; ++k) st[k] = in[3 + k].ptr<T>();
  const auto range = [&](int64_t lo, int64_t hi) {
    C s[kStates > 0 ? kStates : 1];
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t base = idx[i] * width;
      const T* gi = g + i * width;
      for (int64_t j = 0; j < width; ++j) {
        const int64_t e = base + j;
        for (int k = 0; k < kStates; ++k) s[k] = C(st[k][e]);
        y[e] = T(Fn(a, C(w[e]), C(gi[j]), s));
        for (int k = 0; k < kStates; ++k) st[k][e] = T(s[k]);
      }
    }
  };
  // About 64K elements a part: below that a split costs more than it saves.
  const int64_t parts = std::clamp<int64_t>(n * width / 65536, 1, parallel::Cores());
  if (parts <= 1) range(0, n);
  else parallel::For(n, static_cast<int>(parts), range);
}

using RunFn = void (*)(const UpdateAttrs&, std::span<const TensorRef>, const TensorRef&);

struct Kind {
  const char* name;
  const char* description;
  std::vector<std::string> states;
  std::vector<OpParam> params;
  void (*parse)(const std::string&, const AttrMap&, UpdateAttrs&);
  RunFn f32;
  RunFn f64;
};

// The float32 and float64 kernels of element function F with S states.
#define FLOWMOD_RSP_KERNELS(F, S) &RunRows<float, &F<float>, S>, &RunRows<double, &F<double>, S>

void ParseLr(const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
  a.lrs = {GetFloat(op, attrs, "lr")};
  a.wds = {GetFloat(op, attrs, "wd", 0.0)};
  a.rescale_grad = GetFloat(op, attrs, "rescale_grad", 1.0);
  a.clip_gradient = GetFloat(op, attrs, "clip_gradient", -1.0);
}

void AddKind(const Kind& kind) {
  OpDef def;
  def.name = kind.name;
  def.inputs = {"weight", "grad", "grad_indices"};
  std::vector<OpInputDoc> docs = {{"weight", "The weight (updated in place when out=weight)."},
                                  {"grad", "The stored rows of the row_sparse gradient."},
                                  {"grad_indices", "The gradient's int64 row indices, sorted and unique."}};
  for (const auto& s : kind.states) {
    def.inputs.push_back(s);
    docs.push_back({s, "A state shaped like the weight; its rows of the gradient are updated in place."});
  }
  const int num_states = static_cast<int>(kind.states.size());
  def.writes_argument = [](const OpAttrs&, int i) { return i >= 3; };
  const std::string name = kind.name;
  const auto params = kind.params;
  const auto parse = kind.parse;
  def.parse = [name, params, parse](const AttrMap& attrs) {
    CheckAttrs(name, attrs, params);
    auto a = std::make_shared<UpdateAttrs>();
    parse(name, attrs, *a);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name, num_states](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    for (int k = 0; k < num_states; ++k) MergeShape(name, "state " + std::to_string(k), in[3 + k], in[0]);
    MergeShape(name, "output", out[0], in[0]);
    if (!IsKnown(in[0]) || !IsKnown(in[1])) return;
    Shape row = in[0];
    if (row.empty()) throw OpArgumentError(name, "weight", "an array of shape ()", "at least 1 dimension");
    row[0] = in[1].empty() ? -1 : in[1][0];
    if (in[1] != row)
      throw OpArgumentError(name, "grad", ShapeString(in[1]), "rows of the weight's shape " + ShapeString(in[0]));
    MergeShape(name, "grad_indices", in[2], {in[1][0]});
  };
  def.infer_type = [name, num_states](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "grad_indices", in[2], DType::kInt64);
    for (int i : {1, 3, 4}) {
      if (i >= 3 + num_states) continue;
      MergeType(name, "input " + std::to_string(i), in[i], in[0]);
      MergeType(name, "weight", in[0], in[i]);
    }
    if (in[0] != DType::kUnknown && in[0] != DType::kFloat32 && in[0] != DType::kFloat64)
      throw OpArgumentError(name, "weight", DTypeName(in[0]), "float32 or float64");
    MergeType(name, "output", out[0], in[0]);
  };
  const auto f32 = kind.f32;
  const auto f64 = kind.f64;
  def.forward = [f32, f64](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                           std::span<const TensorRef> out) {
    const auto& a = static_cast<const UpdateAttrs&>(attrs);
    (in[0].dtype == DType::kFloat64 ? f64 : f32)(a, in, out[0]);
  };
  def.inplace = {{0, 0}};
  Registry::Add(Described(std::move(def), kind.description, std::move(docs), kind.params));
}

const bool registered = [] {
  using namespace optimizer;
  AddKind({"_rsp_sgd_update", "One lazy SGD step on the rows a row_sparse gradient stores.", {},
           {LrParam(), WdParam(), RescaleGradParam(), ClipGradientParam()}, ParseLr, FLOWMOD_RSP_KERNELS(Sgd, 0)});
  AddKind({"_rsp_sgd_mom_update", "One lazy SGD step with momentum on the rows a row_sparse gradient stores.",
           {"mom"}, {LrParam(), MomentumParam(), WdParam(), RescaleGradParam(), ClipGradientParam()},
           [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
             ParseLr(op, attrs, a);
             a.momentum = GetFloat(op, attrs, "momentum", 0.0);
           },
           FLOWMOD_RSP_KERNELS(SgdMom, 1)});
  AddKind({"_rsp_adam_update", "One lazy Adam step on the rows a row_sparse gradient stores.", {"mean", "var"},
           {LrParam(), Optional("beta1", "float", "0.899999976", "The decay of the first moment."),
            Optional("beta2", "float", "0.999000013", "The decay of the second moment."),
            Optional("epsilon", "float", "9.99999994e-09", "Added to the denominator."), WdParam(),
            RescaleGradParam(), ClipGradientParam()},
           [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
             ParseLr(op, attrs, a);
             a.beta1 = GetFloat(op, attrs, "beta1", 0.9);
             a.beta2 = GetFloat(op, attrs, "beta2", 0.999);
             a.epsilon = GetFloat(op, attrs, "epsilon", 1e-8);
           },
           FLOWMOD_RSP_KERNELS(Adam, 2)});
  AddKind({"_rsp_ftrl_update", "One FTRL-Proximal step on the rows a row_sparse gradient stores.", {"z", "n"},
           {LrParam(), Optional("lamda1", "float", "0.00999999978", "The L1 regularization coefficient."),
            Optional("beta", "float", "1", "The per-coordinate learning rate's beta."), WdParam(),
            RescaleGradParam(), ClipGradientParam()},
           [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
             ParseLr(op, attrs, a);
             a.lamda1 = GetFloat(op, attrs, "lamda1", 0.01);
             a.beta = GetFloat(op, attrs, "beta", 1.0);
           },
           FLOWMOD_RSP_KERNELS(Ftrl, 2)});
  AddKind({"_rsp_adagrad_update", "One AdaGrad step on the rows a row_sparse gradient stores.", {"history"},
           {LrParam(), Optional("epsilon", "float", "1.00000001e-07", "Added to the history before the square root."),
            WdParam(), RescaleGradParam(), ClipGradientParam()},
           [](const std::string& op, const AttrMap& attrs, UpdateAttrs& a) {
             ParseLr(op, attrs, a);
             a.epsilon = GetFloat(op, attrs, "epsilon", 1e-7);
           },
           FLOWMOD_RSP_KERNELS(Adagrad, 1)});
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
