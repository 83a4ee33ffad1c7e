// Losses of MXNet 1.9 beyond the output heads of loss_output.cc:
// - smooth_l1(data; scalar=1): the Huber-like loss with sigma = scalar, elementwise:
//   0.5 (sigma x)^2 where |x| < 1 / sigma^2, else |x| - 0.5 / sigma^2; a chain-rule gradient.
// - SVMOutput(data, label; margin=1, regularization_coefficient=1, use_linear=False): the
//   identity forward; a loss head whose gradient is that of the L2-SVM (or L1-SVM with
//   use_linear) hinge loss, the head gradient ignored. Rows are the data's leading axes, the
//   classes its last axis, one label per row.
// - softmax_cross_entropy(data, label): sum over rows of -log(max(softmax(data)[label],
//   1e-8)), shape (1,); gradient head * (softmax(data) - onehot(label)).
// Labels get no gradient (zeros under grad_req 'write'), as for the other loss heads.
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

template <class T>
using Math = std::conditional_t<std::is_same_v<T, double>, double, float>;

// A label as a class index in [0, classes); anything else fails the operation.
int64_t ClassOf(const std::string& op, double label, int64_t classes) {
  const int64_t k = static_cast<int64_t>(label);
  if (!(label >= 0) || k >= classes)
    throw std::out_of_range(op + ": label " + std::to_string(label) + " outside [0, " + std::to_string(classes) + ")");
  return k;
}

// ---- smooth_l1 --------------------------------------------------------------------------------

const char* const kSmoothL1 = "smooth_l1";

struct SmoothL1Attrs : OpAttrs {
  double sigma = 1;
};

OpDef SmoothL1Def() {
  OpDef def;
  def.name = kSmoothL1;
  def.inputs = {"data"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kSmoothL1, attrs, {"scalar", "is_int"});
    auto a = std::make_shared<SmoothL1Attrs>();
    a->sigma = GetFloat(kSmoothL1, attrs, "scalar", 1.0);
    GetBool(kSmoothL1, attrs, "is_int", true);
    if (a->sigma == 0) throw OpArgumentError(kSmoothL1, "scalar", attrs.at("scalar"), "a nonzero sigma");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(kSmoothL1, in, out);
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kSmoothL1, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const double sigma = static_cast<const SmoothL1Attrs&>(attrs).sigma;
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      using C = Math<T>;
      const C bsq = static_cast<C>(sigma * sigma), ibsq = C(1) / bsq;
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      const int64_t n = in[0].size();
      for (int64_t i = 0; i < n; ++i) {
        const C v = static_cast<C>(x[i]);
        y[i] = static_cast<T>(v > ibsq ? v - C(0.5) * ibsq : v < -ibsq ? -v - C(0.5) * ibsq : C(0.5) * v * v * bsq);
      }
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const OpReq req = io.req[0];
    if (req == OpReq::kNull) return;
    const double sigma = static_cast<const SmoothL1Attrs&>(attrs).sigma;
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      using C = Math<T>;
      const C bsq = static_cast<C>(sigma * sigma), ibsq = C(1) / bsq;
      const T* x = io.inputs[0].ptr<T>();
      const T* g = io.out_grads[0].ptr<T>();
      T* gx = io.in_grads[0].ptr<T>();
      const int64_t n = io.inputs[0].size();
      for (int64_t i = 0; i < n; ++i) {
        const C v = static_cast<C>(x[i]);
        const C d = v > ibsq ? C(1) : v < -ibsq ? C(-1) : bsq * v;
        Store(gx[i], static_cast<T>(static_cast<C>(g[i]) * d), req);
      }
    });
  };
  def.inplace = {{0, 0}};
  return def;
}

// ---- SVMOutput --------------------------------------------------------------------------------

const char* const kSVM = "SVMOutput";

struct SVMAttrs : OpAttrs {
  double margin = 1, reg = 1;
  bool use_linear = false;
};

// Per row r with label k, for each class x with score s = out[r, x]:
// L1: x == k: -reg [margin > s];            else  reg [margin > -s]
// L2: x == k: -2 reg (margin - s) if margin > s;  else  2 reg (margin + s) if margin > -s.
template <class T>
void SVMGrad(const SVMAttrs& a, const TensorRef& out, const TensorRef& label, const TensorRef& grad, OpReq req) {
  using C = Math<T>;
  const int64_t classes = out.shape.back();
  const int64_t rows = classes == 0 ? 0 : out.size() / classes;
  const T* s = out.ptr<T>();
  const T* lab = label.ptr<T>();
  T* gx = grad.ptr<T>();
  const C margin = static_cast<C>(a.margin), reg = static_cast<C>(a.reg);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t k = ClassOf(kSVM, static_cast<double>(lab[r]), classes);
    for (int64_t x = 0; x < classes; ++x) {
      const C v = static_cast<C>(s[r * classes + x]);
      C d;
      if (a.use_linear) d = x == k ? (margin > v ? -reg : C(0)) : (margin > -v ? reg : C(0));
      else d = x == k ? (margin > v ? -C(2) * reg * (margin - v) : C(0)) : (margin > -v ? C(2) * reg * (margin + v) : C(0));
      Store(gx[r * classes + x], static_cast<T>(d), req);
    }
  }
}

OpDef SVMOutputDef() {
  OpDef def;
  def.name = kSVM;
  def.inputs = {"data", "label"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kSVM, attrs, {"margin", "regularization_coefficient", "use_linear"});
    auto a = std::make_shared<SVMAttrs>();
    a->margin = GetFloat(kSVM, attrs, "margin", 1.0);
    a->reg = GetFloat(kSVM, attrs, "regularization_coefficient", 1.0);
    a->use_linear = GetBool(kSVM, attrs, "use_linear", false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(kSVM, "data", in[0], out[0]);
    if (in[0] == kUnknownShape) return;
    if (in[0].size() < 2)
      throw OpArgumentError(kSVM, "data", "an array of shape " + ShapeString(in[0]),
                            "at least 2 dimensions (rows, classes)");
    out[0] = in[0];
    MergeShape(kSVM, "label", in[1], Shape(in[0].begin(), in[0].end() - 1));
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(kSVM, {"data", "label"}, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const SVMAttrs&>(attrs);
    if (io.req[0] != OpReq::kNull)
      FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                           SVMGrad<T>(a, io.outputs[0], io.inputs[1], io.in_grads[0], io.req[0]));
    ZeroWithReq(io.in_grads[1], io.req[1]);
  };
  def.ignores_out_grad = true;
  def.inplace = {{0, 0}};
  return def;
}

// ---- softmax_cross_entropy --------------------------------------------------------------------

const char* const kSCE = "softmax_cross_entropy";

// The softmax of row `x` (length n) into p, in double.
template <class T>
void RowSoftmax(const T* x, int64_t n, std::vector<double>& p) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, static_cast<double>(x[j]));
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += p[j] = std::exp(static_cast<double>(x[j]) - mx);
  for (int64_t j = 0; j < n; ++j) p[j] /= sum;
}

OpDef SoftmaxCrossEntropyDef() {
  OpDef def;
  def.name = kSCE;
  def.inputs = {"data", "label"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kSCE, attrs, {});
    return std::make_shared<const OpAttrs>();
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(kSCE, "output", out[0], Shape{1});
    if (in[0] != kUnknownShape && in[0].size() != 2)
      throw OpArgumentError(kSCE, "data", "an array of shape " + ShapeString(in[0]), "2 dimensions (batch, classes)");
    if (in[1] != kUnknownShape && in[1].size() != 1)
      throw OpArgumentError(kSCE, "label", "an array of shape " + ShapeString(in[1]), "1 dimension (batch,)");
    if (in[0] != kUnknownShape) MergeShape(kSCE, "label", in[1], Shape{in[0][0]});
    if (in[1] != kUnknownShape) MergeShape(kSCE, "data", in[0], Shape{in[1][0], -1});
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(kSCE, {"data", "label"}, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      const int64_t rows = in[0].shape[0], classes = in[0].shape[1];
      const T* x = in[0].ptr<T>();
      const T* lab = in[1].ptr<T>();
      std::vector<double> p(classes);
      double loss = 0;
      for (int64_t r = 0; r < rows; ++r) {
        RowSoftmax(x + r * classes, classes, p);
        loss -= std::log(std::max(p[ClassOf(kSCE, static_cast<double>(lab[r]), classes)], 1e-8));
      }
      out[0].ptr<T>()[0] = static_cast<T>(loss);
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const OpReq req = io.req[0];
    if (req != OpReq::kNull) {
      FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
        const int64_t rows = io.inputs[0].shape[0], classes = io.inputs[0].shape[1];
        const T* x = io.inputs[0].ptr<T>();
        const T* lab = io.inputs[1].ptr<T>();
        const double head = static_cast<double>(io.out_grads[0].ptr<T>()[0]);
        T* gx = io.in_grads[0].ptr<T>();
        std::vector<double> p(classes);
        for (int64_t r = 0; r < rows; ++r) {
          RowSoftmax(x + r * classes, classes, p);
          const int64_t k = ClassOf(kSCE, static_cast<double>(lab[r]), classes);
          for (int64_t j = 0; j < classes; ++j)
            Store(gx[r * classes + j], static_cast<T>(head * (p[j] - (j == k ? 1.0 : 0.0))), req);
        }
      });
    }
    ZeroWithReq(io.in_grads[1], io.req[1]);
  };
  return def;
}

const bool registered = [] {
  Registry::Add(Described(SmoothL1Def(), "The smooth L1 function of each element, with sigma = scalar: 0.5 * (sigma * x) ** 2 where |x| < 1 / sigma ** 2, |x| - 0.5 / sigma ** 2 elsewhere.", {{"data", "The input array."}}, {Undocumented("scalar", "float", "sigma: where the function turns from quadratic to linear.")}));
  Registry::Add(Described(SVMOutputDef(), "A support vector machine head: the scores pass through; the gradient is that of the hinge loss (squared unless use_linear) of the labels.", {{"data", "The input array."}, {"label", "The class index of each sample."}}, {Optional("margin", "float", "1", "The margin of the hinge loss."), Optional("regularization_coefficient", "float", "1", "The scale of the loss gradient."), Optional("use_linear", "boolean", "0", "Whether the hinge loss is linear rather than squared.")}));
  Registry::Add(Described(SoftmaxCrossEntropyDef(), "The sum over the batch of the cross entropy between the softmax of the scores and the labels.", {{"data", "The input array."}, {"label", "The class index of each sample."}}, {}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
