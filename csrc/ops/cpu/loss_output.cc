// Loss heads and gradient control: SoftmaxOutput (alias Softmax), LinearRegressionOutput,
// LogisticRegressionOutput, MAERegressionOutput, MakeLoss, make_loss, BlockGrad (alias
// stop_gradient).
//
// The loss heads end a graph: their backward is the gradient of the loss they stand for, not a
// chain rule through the head gradient, which MXNet ignores (SoftmaxOutput multiplies it in only
// with out_grad=True). The label gets no gradient: zeros under grad_req 'write'.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/cpu/nn_common.h"
#include "ops/cpu/softmax_kernel.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops {

namespace {

template <class T>
using Math = std::conditional_t<std::is_same_v<T, double>, double, float>;

enum class Norm { kNull, kBatch, kValid };

Norm GetNorm(const std::string& op, const AttrMap& attrs) {
  const std::string v = GetEnum(op, attrs, "normalization", {"null", "batch", "valid"}, "null");
  return v == "batch" ? Norm::kBatch : v == "valid" ? Norm::kValid : Norm::kNull;
}

// Zeros for an input without a gradient (labels), as MXNet writes them.
void ZeroGrad(const TensorRef& grad, OpReq req) {
  if (req == OpReq::kWrite) std::memset(grad.data, 0, static_cast<size_t>(grad.size()) * DTypeSize(grad.dtype));
}

// ---- SoftmaxOutput -------------------------------------------------------------------------

struct SoftmaxOutputAttrs : OpAttrs {
  double grad_scale = 1, ignore_label = -1, smooth_alpha = 0;
  bool multi_output = false, use_ignore = false, preserve_shape = false, out_grad = false;
  Norm norm = Norm::kNull;
};

// The softmax axis in the middle: axis 1 (multi_output), the last axis (preserve_shape), or
// all axes after the first.
softmax::View OutputView(const SoftmaxOutputAttrs& a, const Shape& d) {
  softmax::View v;
  const int64_t size = NumElements(d);
  if (d.empty()) return v;
  if (a.multi_output && d.size() >= 2) return softmax::AxisView(d, 1);
  if (a.preserve_shape) return softmax::AxisView(d, static_cast<int>(d.size()) - 1);
  v.outer = d[0];
  v.n = d[0] == 0 ? 0 : size / d[0];
  return v;
}

// A head this many elements a part and larger (a language model's 1280 x 3000 logits) splits
// its rows across the cores, with the engine's idle workers.
constexpr int64_t kSplitElements = int64_t{1} << 17;

void ForRows(int64_t rows, int64_t elements, const std::function<void(int64_t, int64_t)>& fn) {
  if (rows < 2 || elements < 2 * kSplitElements) {
    fn(0, rows);
    return;
  }
  parallel::For(rows, static_cast<int>(std::min<int64_t>(parallel::Cores(), elements / kSplitElements)), fn);
}

void SoftmaxOutputForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                          std::span<const TensorRef> out) {
  const softmax::View v = OutputView(static_cast<const SoftmaxOutputAttrs&>(attrs), in[0].shape);
  const int64_t row = v.n * v.inner;
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    ForRows(v.outer, v.outer * row, [&](int64_t lo, int64_t hi) {
      softmax::View rows = v;
      rows.outer = hi - lo;
      softmax::Forward<false, false, T, T, int32_t>(x + lo * row, y + lo * row, rows, 1.0, nullptr);
    });
  });
}

// MXNet's gradient, (softmax - onehot(label)) * grad_scale / normalizer:
// - a label of the data's shape holds probabilities: (out - label) * grad_scale, no normalizer;
// - multi_output: labels (n, spatial); the normalizer is spatial * 1 (null), spatial * n (batch)
//   or the number of labels that are not ignore_label (valid);
// - otherwise one label per softmax row (label flattened); the normalizer is 1 (null), the
//   label count (batch) or the labels that are not ignore_label (valid); smooth_alpha moves
//   that much of the target from the label to the other classes evenly.
// Labels compare as int(label); with use_ignore the rows labelled ignore_label get 0.
template <class T>
void SoftmaxOutputGrad(const SoftmaxOutputAttrs& a, const TensorRef& out, const TensorRef& label,
                       const TensorRef& og, const TensorRef& grad, OpReq req) {
  using C = Math<T>;
  const T* y = out.ptr<T>();
  const T* lab = label.ptr<T>();
  const T* g = og.ptr<T>();
  T* gx = grad.ptr<T>();
  const int64_t total = out.size();
  const int ignore = static_cast<int>(a.ignore_label);
  auto head = [g, out_grad = a.out_grad](int64_t i) { return out_grad ? static_cast<C>(g[i]) : C(1); };

  if (label.shape == out.shape) {
    const C scale = static_cast<C>(a.grad_scale);
    for (int64_t i = 0; i < total; ++i)
      Store(gx[i], static_cast<T>((static_cast<C>(y[i]) - static_cast<C>(lab[i])) * scale * head(i)), req);
    return;
  }

  const int64_t n_labels = label.size();
  int64_t valid = n_labels;
  if (a.norm == Norm::kValid) {
    for (int64_t i = 0; i < n_labels; ++i) valid -= static_cast<int>(lab[i]) == ignore;
    valid = std::max<int64_t>(valid, 1);
  }

  if (a.multi_output) {
    const softmax::View v = softmax::AxisView(out.shape, 1);  // (n, k, spatial)
    const int64_t count = a.norm == Norm::kBatch ? v.outer : a.norm == Norm::kValid ? valid : 1;
    const C scale = static_cast<C>(a.grad_scale / (a.norm == Norm::kValid ? 1.0 : static_cast<double>(v.inner)) /
                                   static_cast<double>(count));
    for (int64_t o = 0; o < v.outer; ++o)
      for (int64_t c = 0; c < v.n; ++c)
        for (int64_t s = 0; s < v.inner; ++s) {
          const int64_t i = (o * v.n + c) * v.inner + s;
          const int k = static_cast<int>(lab[o * v.inner + s]);
          C d = 0;
          if (!(a.use_ignore && k == ignore)) d = static_cast<C>(y[i]) - (c == k ? C(1) : C(0));
          Store(gx[i], static_cast<T>(d * scale * head(i)), req);
        }
    return;
  }

  const softmax::View v = OutputView(a, out.shape);  // rows (outer) x classes (n)
  const int64_t count = a.norm == Norm::kBatch ? n_labels : a.norm == Norm::kValid ? valid : 1;
  const C scale = static_cast<C>(a.grad_scale / static_cast<double>(count));
  const C alpha = static_cast<C>(a.smooth_alpha);
  const C spread = v.n > 1 ? alpha / static_cast<C>(v.n - 1) : C(0);
  // By value: through references, every store to gx could change y, gx or scale, and the
  // loop would not vectorize.
  ForRows(v.outer, total, [=](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int k = static_cast<int>(lab[r]);
      const bool ignored = a.use_ignore && k == ignore;
      for (int64_t c = 0; c < v.n; ++c) {
        const int64_t i = r * v.n + c;
        C d = 0;
        if (!ignored) d = static_cast<C>(y[i]) - (c == k ? C(1) - alpha : spread);
        Store(gx[i], static_cast<T>(d * scale * head(i)), req);
      }
    }
  });
}

void SoftmaxOutputBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const SoftmaxOutputAttrs&>(attrs);
  if (io.req[0] != OpReq::kNull) {
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         SoftmaxOutputGrad<T>(a, io.outputs[0], io.inputs[1], io.out_grads[0], io.in_grads[0],
                                              io.req[0]));
  }
  ZeroGrad(io.in_grads[1], io.req[1]);
}

OpDef MakeSoftmaxOutput(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data", "label"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"grad_scale", "ignore_label", "multi_output", "use_ignore", "preserve_shape",
                             "normalization", "out_grad", "smooth_alpha"});
    auto p = std::make_shared<SoftmaxOutputAttrs>();
    p->grad_scale = GetFloat(name, attrs, "grad_scale", 1.0);
    p->ignore_label = GetFloat(name, attrs, "ignore_label", -1.0);
    p->multi_output = GetBool(name, attrs, "multi_output", false);
    p->use_ignore = GetBool(name, attrs, "use_ignore", false);
    p->preserve_shape = GetBool(name, attrs, "preserve_shape", false);
    p->norm = GetNorm(name, attrs);
    p->out_grad = GetBool(name, attrs, "out_grad", false);
    p->smooth_alpha = GetFloat(name, attrs, "smooth_alpha", 0.0);
    if (!(p->smooth_alpha >= 0 && p->smooth_alpha <= 1))
      throw OpArgumentError(name, "smooth_alpha", std::to_string(p->smooth_alpha), "a number in [0, 1]");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SoftmaxOutputAttrs&>(attrs);
    MergeShape(name, "data", in[0], out[0]);
    out[0] = in[0];
    const Shape& d = in[0];
    Shape& l = in[1];
    if (!IsKnown(d) || d == kUnknownShape || l == d) return;  // a label of the data's shape: probabilities
    if (a.multi_output) {
      if (d.size() < 2)
        throw OpArgumentError(name, "data", "an array of shape " + ShapeString(d),
                              "at least 2 dimensions with multi_output=True");
      // (n, spatial size), (n, spatial axes...) or the data's shape with 1 class.
      const Shape flat{d[0], d[0] * d[1] == 0 ? 0 : NumElements(d) / d[0] / d[1]};
      Shape spatial{d[0]};
      spatial.insert(spatial.end(), d.begin() + 2, d.end());
      Shape single = d;
      single[1] = 1;
      if (l == kUnknownShape) l = flat;
      else if (l != flat && l != spatial && l != single)
        throw OpArgumentError(name, "label", "an array of shape " + ShapeString(l),
                              "shape " + ShapeString(flat) + " or " + ShapeString(spatial) +
                                  " (or the data's shape for probabilities)");
      return;
    }
    // One label per softmax row of the default layout: the data's shape without its last axis.
    if (d.size() < 2)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(d),
                            "at least 2 dimensions (or a label of the data's shape)");
    MergeShape(name, "label", l, Shape(d.begin(), d.end() - 1));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, {"data", "label"}, in, out);  // MXNet requires the label in the data's type
  };
  def.forward = &SoftmaxOutputForward;
  // Ignores the head gradient unless out_grad=True (see the top of the file).
  def.backward = &SoftmaxOutputBackward;
  def.ignores_out_grad_if = [](const OpAttrs& attrs) {
    return !static_cast<const SoftmaxOutputAttrs&>(attrs).out_grad;
  };
  def.inplace = {{0, 0}};
  return def;
}

// ---- Regression outputs --------------------------------------------------------------------

enum class Reg { kLinear, kLogistic, kMAE };

struct RegressionAttrs : OpAttrs {
  double grad_scale = 1;
};

template <Reg kReg>
void RegressionForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
  if constexpr (kReg != Reg::kLogistic) {
    CopyData(in[0], out[0]);
  } else {
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      using C = Math<T>;
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      const int64_t n = in[0].size();
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(C(1) / (C(1) + std::exp(-static_cast<C>(x[i]))));
    });
  }
}

// d(data) = (out - label) (its sign for MAE) * grad_scale / num_output, where num_output is
// the label's size over its first dimension; the head gradient is not used.
template <Reg kReg>
void RegressionBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const OpReq req = io.req[0];
  const TensorRef& label = io.inputs[1];
  if (req != OpReq::kNull && label.size() > 0) {
    const double num_output = label.shape.empty() ? 1.0 : static_cast<double>(label.size() / label.shape[0]);
    const double scale = static_cast<const RegressionAttrs&>(attrs).grad_scale / num_output;
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      using C = Math<T>;
      const T* y = io.outputs[0].ptr<T>();
      const T* l = label.ptr<T>();
      T* gx = io.in_grads[0].ptr<T>();
      const C s = static_cast<C>(scale);
      const int64_t n = io.outputs[0].size();
      for (int64_t i = 0; i < n; ++i) {
        const C diff = static_cast<C>(y[i]) - static_cast<C>(l[i]);
        const C d = kReg == Reg::kMAE ? (diff > C(0) ? C(1) : C(-1)) : diff;
        Store(gx[i], static_cast<T>(d * s), req);
      }
    });
  }
  ZeroGrad(io.in_grads[1], io.req[1]);
}

template <Reg kReg>
OpDef MakeRegression(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data", "label"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"grad_scale"});
    auto p = std::make_shared<RegressionAttrs>();
    p->grad_scale = GetFloat(name, attrs, "grad_scale", 1.0);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "data", in[0], out[0]);
    out[0] = in[0];
    const Shape& d = in[0];
    Shape& l = in[1];
    if (!IsKnown(d) || d == kUnknownShape) return;
    if (l == kUnknownShape) {
      // A (n, 1) output takes a (n,) label by default.
      l = d.size() == 2 && d[1] == 1 ? Shape{d[0]} : d;
      return;
    }
    if (IsKnown(l) && (l.empty() != d.empty() || NumElements(l) != NumElements(d) || (!l.empty() && l[0] != d[0])))
      throw OpArgumentError(name, "label", "an array of shape " + ShapeString(l),
                            "a shape with the data's first dimension and size, like " + ShapeString(d));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, {"data", "label"}, in, out);
  };
  def.forward = &RegressionForward<kReg>;
  // Ignores the head gradient (see the top of the file).
  def.backward = &RegressionBackward<kReg>;
  def.ignores_out_grad = true;
  def.inplace = {{0, 0}};
  return def;
}

// ---- MakeLoss, make_loss, BlockGrad --------------------------------------------------------

struct MakeLossAttrs : OpAttrs {
  double grad_scale = 1, valid_thresh = 0;
  Norm norm = Norm::kNull;
};

void IdentityForward(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                     std::span<const TensorRef> out) {
  CopyData(in[0], out[0]);
}

// d(data) = grad_scale / normalizer everywhere: 1 (null), the batch size (batch) or the number
// of elements above valid_thresh, at least 1 (valid).
void MakeLossBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const MakeLossAttrs&>(attrs);
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  const TensorRef& data = io.inputs[0];
  FLOWMOD_FLOAT_SWITCH(data.dtype, T, {
    const T* x = data.ptr<T>();
    const int64_t n = data.size();
    double count = 1;
    if (a.norm == Norm::kBatch) {
      count = data.shape.empty() ? 1.0 : static_cast<double>(data.shape[0]);
    } else if (a.norm == Norm::kValid) {
      const T thresh = static_cast<T>(a.valid_thresh);
      int64_t valid = 0;
      for (int64_t i = 0; i < n; ++i) valid += x[i] > thresh;
      count = static_cast<double>(std::max<int64_t>(valid, 1));
    }
    const T value = static_cast<T>(a.grad_scale / count);
    T* gx = io.in_grads[0].ptr<T>();
    for (int64_t i = 0; i < n; ++i) Store(gx[i], value, req);
  });
}

OpDef MakeMakeLoss() {
  const std::string name = "MakeLoss";
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"grad_scale", "valid_thresh", "normalization"});
    auto p = std::make_shared<MakeLossAttrs>();
    p->grad_scale = GetFloat(name, attrs, "grad_scale", 1.0);
    p->valid_thresh = GetFloat(name, attrs, "valid_thresh", 0.0);
    p->norm = GetNorm(name, attrs);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = &IdentityForward;
  // Ignores the head gradient: the output is the loss itself (see the top of the file).
  def.backward = &MakeLossBackward;
  def.ignores_out_grad = true;
  def.inplace = {{0, 0}};
  return def;
}

// make_loss: identity whose gradient is ones, whatever the head gradient.
void MakeLossLowerBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  const OpReq req = io.req[0];
  if (req == OpReq::kNull) return;
  FLOWMOD_DTYPE_SWITCH(io.in_grads[0].dtype, T, {
    T* gx = io.in_grads[0].ptr<T>();
    const int64_t n = io.in_grads[0].size();
    for (int64_t i = 0; i < n; ++i) Store(gx[i], static_cast<T>(1), req);
  });
}

// BlockGrad: identity whose gradient is zero.
void BlockGradBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  ZeroGrad(io.in_grads[0], io.req[0]);
}

OpDef MakeIdentityLike(const std::string& name, BackwardFn backward) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const NoAttrs>();
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(name, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType(name, in, out);
  };
  def.forward = &IdentityForward;
  def.backward = std::move(backward);
  def.ignores_out_grad = true;  // ones (make_loss) or zeros (BlockGrad), whatever the head gradient
  def.inplace = {{0, 0}};
  return def;
}

const bool registered = [] {
  Registry::Add(MakeSoftmaxOutput("SoftmaxOutput"));
  Registry::Add(MakeSoftmaxOutput("Softmax"));  // MXNet's deprecated name for SoftmaxOutput
  Registry::Add(MakeRegression<Reg::kLinear>("LinearRegressionOutput"));
  Registry::Add(MakeRegression<Reg::kLogistic>("LogisticRegressionOutput"));
  Registry::Add(MakeRegression<Reg::kMAE>("MAERegressionOutput"));
  Registry::Add(MakeMakeLoss());
  Registry::Add(MakeIdentityLike("make_loss", &MakeLossLowerBackward));
  Registry::Add(MakeIdentityLike("BlockGrad", &BlockGradBackward));
  Registry::Add(MakeIdentityLike("stop_gradient", &BlockGradBackward));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
