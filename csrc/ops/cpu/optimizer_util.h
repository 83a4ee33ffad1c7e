// What the optimizer update operators beyond optimizer_ops.cc share: MXNet's gradient
// clipping, the type each weight type computes in, the split of large updates across the
// cores, and one definition builder for updates of one weight or of several (MXNet's
// multi_* operators, whose inputs interleave weight, gradient and states per weight).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops::optimizer {

// clip(x, c) = max(min(x, c), -c) for c >= 0; no clipping for c < 0 (MXNet clips to 0 at 0).
template <class C>
inline C Clip(C x, C c) {
  if (c < C(0)) return x;
  return x > c ? c : (x < -c ? -c : x);
}

// Kernels compute in float for float32 and float16, in double for float64, like MXNet's.
template <class T>
using Compute = std::conditional_t<std::is_same_v<T, double>, double, float>;

// An update of at least this many elements a part splits across the cores: it reads and
// writes several arrays once each, bound by memory bandwidth.
constexpr int64_t kSplitElements = int64_t{1} << 17;

inline void ForElements(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  const int parts = static_cast<int>(std::min<int64_t>(parallel::Cores(), n / kSplitElements));
  parallel::For(n, parts, fn);
}

// Every hyperparameter of the update operators, parsed from MXNet's attribute names. Per
// weight values (lrs, wds, etas, step counts) have one entry per weight; the single-weight
// operators have one.
struct UpdateAttrs : OpAttrs {
  int count = 1;
  std::vector<double> lrs, wds, etas;
  std::vector<int64_t> steps;
  double rescale_grad = 1, clip_gradient = -1, momentum = 0;
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  double lamda1 = 0.01, beta = 1, wd_lh = 0;
  double lower_bound = -1, upper_bound = -1;
  double eta = 0, eps = 0;
  bool bias_correction = true;
};

// How an input's shape relates to its weight's.
enum class Extent {
  kLikeWeight,  // the weight's shape
  kOne,         // one element (lamb_update_phase2's norms r1, r2; AdamW's rescale_grad)
  kPerWeight,   // one element per weight (preloaded_multi_sgd_update's lrs and wds)
};

struct Role {
  std::string name;         // "weight", "grad", "mom"; multi operators append "_<k>"
  std::string description;
  bool float32 = false;     // always float32: master copies and mixed-precision states
  bool written = false;     // updated in place
  Extent extent = Extent::kLikeWeight;
};

// The kernel of weight k: `group` holds its inputs in role order, `shared` the inputs after
// every weight's group, `out` its output.
using UpdateKernel = std::function<void(const UpdateAttrs&, int k, const TensorRef* group,
                                        const TensorRef* shared, const TensorRef& out)>;

struct UpdateSpec {
  std::string name;
  std::string description;
  std::vector<Role> roles;       // one weight's inputs, in MXNet's order
  std::vector<Role> shared;      // inputs after every weight's group
  // Multi operators: the attribute counting the weights ("num_weights"); empty for one weight.
  std::string count_key;
  std::vector<OpParam> params;   // in MXNet's order
  // Parses what the schema names (CheckAttrs is done before): fills everything but count.
  std::function<void(const std::string& op, const AttrMap&, UpdateAttrs&)> parse;
  // Whether the output is float32 whatever the weight's type (mp_lamb_update_phase1's g);
  // otherwise it has the weight's type. Its shape is the weight's.
  bool float32_output = false;
  // Whether the output is the new weight (callers pass out=weight).
  bool output_is_weight = true;
  UpdateKernel kernel;
};

// The definition of the operator `spec` describes: inputs, attributes, two-way shape and
// type inference per weight, and a forward that runs the kernel for each weight.
OpDef UpdateOp(UpdateSpec spec);

// Schema entries most update operators share, with MXNet's defaults and descriptions.
OpParam LrParam();
OpParam WdParam();
OpParam RescaleGradParam();
OpParam ClipGradientParam(const std::string& name = "clip_gradient");
OpParam MomentumParam();
OpParam LrsParam(const std::string& name = "lrs");
OpParam WdsParam();
OpParam CountParam(const std::string& name);

// Reads `key` (a tuple of numbers) and checks it has `count` entries.
std::vector<double> PerWeight(const std::string& op, const AttrMap& attrs, const std::string& key,
                              int count);

// Runs `body` with T bound to the weight's element type, S to its states' (float32 when the
// update keeps a float32 master copy, `mixed`; T otherwise) and C to the type it computes in
// (float when mixed, Compute<T> otherwise).
#define FLOWMOD_UPDATE_SWITCH(dtype, mixed, T, S, C, ...)                    \
  FLOWMOD_FLOAT_SWITCH(dtype, T, {                                           \
    if (mixed) {                                                             \
      using S = float;                                                       \
      using C = float;                                                       \
      __VA_ARGS__;                                                           \
    } else {                                                                 \
      using S = T;                                                           \
      using C = ::flowmod::ops::optimizer::Compute<T>;                       \
      __VA_ARGS__;                                                           \
    }                                                                        \
  })

}  // namespace flowmod::ops::optimizer
