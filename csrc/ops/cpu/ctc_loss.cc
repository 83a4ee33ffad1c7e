// CTCLoss (also ctc_loss, _contrib_CTCLoss, _contrib_ctc_loss): connectionist temporal
// classification (Graves et al.), as MXNet 1.9 defines it. data (T, B, A) holds unnormalized
// activations (softmax is applied here), label (B, L) the label sequences; the output is
// -log p(label | data) per sample, and a hidden output the gradient of that loss with respect
// to the activations, which backward scales by the head gradient.
//
// blank_label 'first' reserves class 0 for the blank (labels 1..A-1, padded with 0); 'last'
// reserves class A-1 (labels 0..A-2, padded with -1). With use_data_lengths / use_label_lengths
// the lengths come from the extra inputs instead of T and the padding. As in MXNet, a sample
// whose label cannot be aligned in its length (L + repeated labels > T) costs 0, and the
// gradient is 0 past each sample's length. The recursions run in log space in float64.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct CTCAttrs : OpAttrs {
  std::string op;
  bool use_data_lengths = false, use_label_lengths = false, blank_last = false;
  int data_lengths_index() const { return use_data_lengths ? 2 : -1; }
  int label_lengths_index() const { return use_label_lengths ? 2 + use_data_lengths : -1; }
};

std::vector<std::string> ArgNames(const OpAttrs& attrs) {
  const auto& a = static_cast<const CTCAttrs&>(attrs);
  std::vector<std::string> names{"data", "label"};
  if (a.use_data_lengths) names.push_back("data_lengths");
  if (a.use_label_lengths) names.push_back("label_lengths");
  return names;
}

double LogAdd(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  return std::max(a, b) + std::log1p(std::exp(-std::abs(a - b)));
}

int64_t ToIndex(const TensorRef& t, int64_t i) {
  int64_t v = 0;
  FLOWMOD_DTYPE_SWITCH(t.dtype, U, v = static_cast<int64_t>(t.ptr<U>()[i]));
  return v;
}

// One sample: its log-probabilities lp (T x A, row stride `ld`), its label sequence, and
// where its loss and gradient (T x A, row stride `ld`) go.
struct Sample {
  const double* lp;
  int64_t ld, t, a;
  std::vector<int64_t> label;
};

// Returns -log p(label); writes d(-log p)/d(activations) into grad (rows 0..t-1).
double CostAndGrad(const Sample& s, int64_t blank, double* grad) {
  const int64_t L = static_cast<int64_t>(s.label.size()), S = 2 * L + 1, T = s.t;
  int64_t repeats = 0;
  for (int64_t i = 1; i < L; ++i) repeats += s.label[i] == s.label[i - 1];
  if (T == 0 || L + repeats > T) {
    std::fill_n(grad, T * s.ld, 0.0);
    return 0.0;
  }
  std::vector<int64_t> ext(S, blank);
  for (int64_t i = 0; i < L; ++i) ext[2 * i + 1] = s.label[i];
  auto lp = [&](int64_t t, int64_t k) { return s.lp[t * s.ld + k]; };
  // Whether a path may skip the blank between ext[s - 2] and ext[s].
  auto skip = [&](int64_t i) { return i >= 2 && ext[i] != blank && ext[i] != ext[i - 2]; };
  std::vector<double> alpha(T * S, kNegInf), beta(T * S, kNegInf);
  alpha[0] = lp(0, blank);
  if (S > 1) alpha[1] = lp(0, ext[1]);
  for (int64_t t = 1; t < T; ++t)
    for (int64_t i = 0; i < S; ++i) {
      double v = alpha[(t - 1) * S + i];
      if (i >= 1) v = LogAdd(v, alpha[(t - 1) * S + i - 1]);
      if (skip(i)) v = LogAdd(v, alpha[(t - 1) * S + i - 2]);
      alpha[t * S + i] = v == kNegInf ? kNegInf : v + lp(t, ext[i]);
    }
  const double logp = S > 1 ? LogAdd(alpha[(T - 1) * S + S - 1], alpha[(T - 1) * S + S - 2]) : alpha[(T - 1) * S];
  // beta excludes the emission at t, so alpha + beta is the log probability of the paths
  // through (t, i).
  beta[(T - 1) * S + S - 1] = 0;
  if (S > 1) beta[(T - 1) * S + S - 2] = 0;
  for (int64_t t = T - 2; t >= 0; --t)
    for (int64_t i = 0; i < S; ++i) {
      const double* next = beta.data() + (t + 1) * S;
      double v = next[i] + lp(t + 1, ext[i]);
      if (i + 1 < S) v = LogAdd(v, next[i + 1] + lp(t + 1, ext[i + 1]));
      if (i + 2 < S && skip(i + 2)) v = LogAdd(v, next[i + 2] + lp(t + 1, ext[i + 2]));
      beta[t * S + i] = v;
    }
  std::vector<double> through(s.a);
  for (int64_t t = 0; t < T; ++t) {
    std::fill(through.begin(), through.end(), kNegInf);
    for (int64_t i = 0; i < S; ++i) through[ext[i]] = LogAdd(through[ext[i]], alpha[t * S + i] + beta[t * S + i]);
    for (int64_t k = 0; k < s.a; ++k)
      grad[t * s.ld + k] = std::exp(lp(t, k)) - (through[k] == kNegInf ? 0.0 : std::exp(through[k] - logp));
  }
  return -logp;
}

// The label sequence of sample b: up to its given length, or up to the first padding value.
std::vector<int64_t> LabelOf(const CTCAttrs& p, std::span<const TensorRef> in, int64_t b, int64_t alphabet) {
  const TensorRef& label = in[1];
  const int64_t width = label.shape[1];
  int64_t len = width;
  if (p.use_label_lengths) {
    len = ToIndex(in[p.label_lengths_index()], b);
    if (len < 0 || len > width)
      throw OpArgumentError(p.op, "label_lengths", std::to_string(len) + " for sample " + std::to_string(b),
                            "a length in [0, " + std::to_string(width) + "]");
  }
  const int64_t padding = p.blank_last ? -1 : 0, blank = p.blank_last ? alphabet - 1 : 0;
  std::vector<int64_t> out;
  for (int64_t j = 0; j < len; ++j) {
    const int64_t v = ToIndex(label, b * width + j);
    if (!p.use_label_lengths && v == padding) break;
    if (v < 0 || v >= alphabet || v == blank)
      throw OpArgumentError(p.op, "label", std::to_string(v) + " in sample " + std::to_string(b),
                            "a class in [0, " + std::to_string(alphabet) + ") other than the blank " + std::to_string(blank));
    out.push_back(v);
  }
  return out;
}

template <class T>
void CTCForwardKernel(const CTCAttrs& p, std::span<const TensorRef> in, T* cost, T* grad_out) {
  const TensorRef& data = in[0];
  const int64_t T_ = data.shape[0], B = data.shape[1], A = data.shape[2];
  const T* x = data.ptr<T>();
  // Log-softmax of every (t, b) row, in the data's layout.
  std::vector<double> lp(T_ * B * A), grad(T_ * B * A, 0.0);
  for (int64_t r = 0; r < T_ * B; ++r) {
    const T* row = x + r * A;
    double m = kNegInf, sum = 0;
    for (int64_t k = 0; k < A; ++k) m = std::max(m, static_cast<double>(row[k]));
    for (int64_t k = 0; k < A; ++k) sum += std::exp(static_cast<double>(row[k]) - m);
    const double lse = m + std::log(sum);
    for (int64_t k = 0; k < A; ++k) lp[r * A + k] = static_cast<double>(row[k]) - lse;
  }
  const int64_t blank = p.blank_last ? A - 1 : 0;
  for (int64_t b = 0; b < B; ++b) {
    int64_t t = T_;
    if (p.use_data_lengths) {
      t = ToIndex(in[p.data_lengths_index()], b);
      if (t < 0 || t > T_)
        throw OpArgumentError(p.op, "data_lengths", std::to_string(t) + " for sample " + std::to_string(b),
                              "a length in [0, " + std::to_string(T_) + "]");
    }
    const Sample s{lp.data() + b * A, B * A, t, A, LabelOf(p, in, b, A)};
    cost[b] = static_cast<T>(CostAndGrad(s, blank, grad.data() + b * A));
  }
  for (int64_t i = 0; i < T_ * B * A; ++i) grad_out[i] = static_cast<T>(grad[i]);
}

template <class T>
void CTCBackwardKernel(const BackwardIO& io) {
  const TensorRef& data = io.inputs[0];
  const int64_t T_ = data.shape[0], B = data.shape[1], A = data.shape[2];
  const T* og = io.out_grads[0].ptr<T>();
  const T* g = io.outputs[1].ptr<T>();
  T* dx = io.in_grads[0].ptr<T>();
  for (int64_t t = 0; t < T_; ++t)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < A; ++k) {
        const int64_t i = (t * B + b) * A + k;
        Store(dx[i], static_cast<T>(og[b] * g[i]), io.req[0]);
      }
}

void CTCShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& p = static_cast<const CTCAttrs&>(attrs);
  const Shape& d = in[0];
  const Shape& l = in[1];
  if (ShapeKnownRank(d) && d.size() != 3)
    throw OpArgumentError(p.op, "data", "an array of shape " + ShapeString(d), "3 dimensions (sequence, batch, alphabet)");
  if (ShapeKnownRank(l) && l.size() != 2)
    throw OpArgumentError(p.op, "label", "an array of shape " + ShapeString(l), "2 dimensions (batch, label sequence)");
  if (!ShapeKnownRank(d)) return;
  if (d[2] == 0) throw OpArgumentError(p.op, "data", "an array of shape " + ShapeString(d), "an alphabet of at least 1 class");
  if (ShapeKnownRank(l)) {
    if (l[0] != d[1])
      throw OpArgumentError(p.op, "label", "an array of shape " + ShapeString(l),
                            "the batch size of data, " + std::to_string(d[1]));
    if (l[1] > d[0])
      throw OpArgumentError(p.op, "label", "an array of shape " + ShapeString(l),
                            "label sequences no longer than the sequence length of data, " + std::to_string(d[0]));
  }
  if (p.use_data_lengths) MergeShape(p.op, "data_lengths", in[p.data_lengths_index()], Shape{d[1]});
  if (p.use_label_lengths) MergeShape(p.op, "label_lengths", in[p.label_lengths_index()], Shape{d[1]});
  MergeShape(p.op, "output", out[0], Shape{d[1]});
  MergeShape(p.op, "output", out[1], d);
}

void CTCType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto& p = static_cast<const CTCAttrs&>(attrs);
  DType t = in[0];
  for (DType o : out)
    if (t == DType::kUnknown) t = o;
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
    throw OpArgumentError(p.op, "data", std::string("an array of type ") + DTypeName(t), "float32, float64 or float16");
  in[0] = t;
  for (auto& o : out) MergeType(p.op, "output", o, t);
  // Labels and lengths are read as integers from any numeric type.
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i] == DType::kUnknown) in[i] = t;
}

OpDef MakeCTC(const std::string& name) {
  OpDef def;
  def.name = name;
  def.list_inputs = &ArgNames;
  def.num_outputs = 2;
  def.num_visible_outputs = 1;
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"use_data_lengths", "use_label_lengths", "blank_label"});
    auto a = std::make_shared<CTCAttrs>();
    a->op = name;
    a->use_data_lengths = GetBool(name, attrs, "use_data_lengths", false);
    a->use_label_lengths = GetBool(name, attrs, "use_label_lengths", false);
    a->blank_last = GetEnum(name, attrs, "blank_label", {"first", "last"}, "first") == "last";
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = &CTCShape;
  def.infer_type = &CTCType;
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& p = static_cast<const CTCAttrs&>(attrs);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, CTCForwardKernel<T>(p, in, out[0].ptr<T>(), out[1].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    // Labels and lengths are indices: their gradient is zero.
    for (size_t i = 1; i < io.in_grads.size(); ++i)
      if (io.req[i] == OpReq::kWrite)
        std::fill_n(static_cast<char*>(io.in_grads[i].data), io.in_grads[i].size() * DTypeSize(io.in_grads[i].dtype), char(0));
    if (io.req[0] == OpReq::kNull) return;
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, CTCBackwardKernel<T>(io));
  };
  return Described(
      std::move(def),
      "Connectionist temporal classification loss: -log p(label | data) per sample, data holding unnormalized "
      "activations (sequence, batch, alphabet) and label the label sequences (batch, label sequence), padded with "
      "0 (blank_label='first') or -1 (blank_label='last').",
      {{"data", "(sequence, batch, alphabet): unnormalized activations."},
       {"label", "(batch, label sequence): the labels, padded at the end."},
       {"data_lengths", "(batch,): the sequence length of each sample; only with use_data_lengths."},
       {"label_lengths", "(batch,): the label length of each sample; only with use_label_lengths."}},
      {Optional("use_data_lengths", "boolean", "0", "Whether the sequence lengths come from data_lengths."),
       Optional("use_label_lengths", "boolean", "0", "Whether the label lengths come from label_lengths."),
       Optional("blank_label", "{'first', 'last'}", "'first'",
                "Which class is the blank: 'first' (0, labels padded with 0) or 'last' (alphabet - 1, padded with -1).")});
}

const bool registered = [] {
  for (const char* name : {"CTCLoss", "ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"}) Registry::Add(MakeCTC(name));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
