// Densities: _random_pdf_<dist>(sample, params..., is_log) (aliases random_pdf_<dist>) is the
// density (or, with is_log, its logarithm) of each sample under the distribution whose
// parameters sit at the sample's leading index: the parameters have shape P and sample
// P + S, the output P + S. Dirichlet's alpha has shape P + (k,), its samples P + S + (k,) and
// the output P + S. The parameters are MXNet's: normal (mu, sigma), uniform (low, high),
// gamma (alpha, beta) with beta the rate, exponential (lam) the rate, poisson (lam),
// negative_binomial (k, p), generalized_negative_binomial (mu, alpha).
// Gradients flow to the samples and the parameters; the discrete distributions' samples (and
// uniform's, where the density is flat) get zero, as in MXNet.
#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/cpu/special_functions.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using special::Digamma;

// The log-density at x and its partial derivatives in x and the parameters.
struct LogPdf {
  double lp, dx, d1, d2;
};

using LogPdfFn = LogPdf (*)(double x, double p1, double p2);

LogPdf Uniform(double, double l, double h) { return {-std::log(h - l), 0, 1 / (h - l), -1 / (h - l)}; }

LogPdf Normal(double x, double u, double s) {
  const double d = x - u, s2 = s * s;
  return {-0.5 * d * d / s2 - std::log(std::sqrt(2 * std::numbers::pi) * s), -d / s2, d / s2, (d * d - s2) / (s2 * s)};
}

LogPdf Gamma(double x, double a, double b) {
  return {a * std::log(b) + (a - 1) * std::log(x) - b * x - std::lgamma(a), (a - 1) / x - b,
          std::log(b) + std::log(x) - Digamma(a), a / b - x};
}

LogPdf Exponential(double x, double l, double) { return {std::log(l) - l * x, -l, 1 / l - x, 0}; }

LogPdf Poisson(double x, double l, double) { return {x * std::log(l) - std::lgamma(x + 1) - l, 0, x / l - 1, 0}; }

LogPdf NegativeBinomial(double x, double k, double p) {
  return {std::lgamma(x + k) - std::lgamma(x + 1) - std::lgamma(k) + k * std::log(p) + x * std::log1p(-p), 0,
          Digamma(x + k) - Digamma(k) + std::log(p), k / p - x / (1 - p)};
}

// Negative binomial of k = 1 / alpha and p = 1 / (mu * alpha + 1), by the chain rule.
LogPdf GeneralizedNegativeBinomial(double x, double mu, double alpha) {
  const double den = mu * alpha + 1;
  const LogPdf nb = NegativeBinomial(x, 1 / alpha, 1 / den);
  return {nb.lp, 0, -nb.d2 * alpha / (den * den), -nb.d1 / (alpha * alpha) - nb.d2 * mu / (den * den)};
}

struct PdfAttrs : OpAttrs {
  bool is_log = false;
};

struct PdfSpec {
  std::string key;
  std::vector<std::string> params;
  LogPdfFn fn;  // nullptr: dirichlet
  std::string summary;
};

std::shared_ptr<const OpAttrs> ParsePdf(const std::string& op, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {"is_log"});
  auto a = std::make_shared<PdfAttrs>();
  a->is_log = GetBool(op, attrs, "is_log", false);
  return a;
}

// Parameter shapes from the sample's (and back): params are the sample's leading dimensions
// (Dirichlet: with the sample's last dimension, k, after them).
void InferPdfShape(const std::string& op, const PdfSpec& spec, std::vector<Shape>& in, std::vector<Shape>& out) {
  const bool dirichlet = spec.fn == nullptr;
  for (size_t i = 2; i < in.size(); ++i) {
    MergeShape(op, spec.params[i - 1], in[i], in[1]);
    MergeShape(op, spec.params[0], in[1], in[i]);
  }
  if (in[0] == kUnknownShape || in[1] == kUnknownShape) return;
  const Shape& s = in[0];
  const Shape& p = in[1];
  if (s.empty()) throw OpArgumentError(op, "sample", "an array of shape ()", "an array with at least one dimension");
  if (p.size() > s.size() || p.empty())
    throw OpArgumentError(op, spec.params[0], "an array of shape " + ShapeString(p),
                          "at least one and at most the sample's " + std::to_string(s.size()) + " dimensions");
  Shape expect(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(p.size()));
  if (dirichlet) expect.back() = s.back();
  for (size_t i = 1; i < in.size(); ++i) MergeShape(op, spec.params[i - 1], in[i], expect);
  Shape o = s;
  if (dirichlet) {
    if (o.size() == 1) o = Shape{1};
    else o.pop_back();
  }
  MergeShape(op, "output", out[0], o);
}

// Scalar-parameter distributions: `rows` parameter settings with `per` samples each.
template <class T>
void PdfForward(const PdfSpec& spec, bool is_log, std::span<const TensorRef> in, const TensorRef& out) {
  const int64_t rows = in[1].size(), per = rows == 0 ? 0 : in[0].size() / rows;
  const T* x = in[0].ptr<T>();
  const T* p1 = in[1].ptr<T>();
  const T* p2 = in.size() > 2 ? in[2].ptr<T>() : nullptr;
  T* y = out.ptr<T>();
  for (int64_t r = 0; r < rows; ++r) {
    const double a = p1[r], b = p2 ? static_cast<double>(p2[r]) : 0.0;
    for (int64_t j = r * per; j < (r + 1) * per; ++j) {
      const double lp = spec.fn(static_cast<double>(x[j]), a, b).lp;
      y[j] = static_cast<T>(is_log ? lp : std::exp(lp));
    }
  }
}

template <class T>
void PdfBackward(const PdfSpec& spec, bool is_log, const BackwardIO& io) {
  const auto& in = io.inputs;
  const int64_t rows = in[1].size(), per = rows == 0 ? 0 : in[0].size() / rows;
  const T* x = in[0].ptr<T>();
  const T* p1 = in[1].ptr<T>();
  const T* p2 = in.size() > 2 ? in[2].ptr<T>() : nullptr;
  const T* y = io.outputs[0].ptr<T>();
  const T* dy = io.out_grads[0].ptr<T>();
  std::vector<double> gx(in[0].size()), g1(rows, 0.0), g2(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const double a = p1[r], b = p2 ? static_cast<double>(p2[r]) : 0.0;
    for (int64_t j = r * per; j < (r + 1) * per; ++j) {
      const LogPdf l = spec.fn(static_cast<double>(x[j]), a, b);
      // d pdf = pdf * d logpdf.
      const double scale = static_cast<double>(dy[j]) * (is_log ? 1.0 : static_cast<double>(y[j]));
      gx[j] = scale * l.dx;
      g1[r] += scale * l.d1;
      g2[r] += scale * l.d2;
    }
  }
  const std::vector<double>* grads[3] = {&gx, &g1, &g2};
  for (size_t i = 0; i < io.in_grads.size(); ++i) {
    T* g = io.in_grads[i].ptr<T>();
    const std::vector<double>& src = *grads[i];
    for (int64_t j = 0; j < io.in_grads[i].size(); ++j) Store(g[j], static_cast<T>(src[j]), io.req[i]);
  }
}

// Dirichlet: alpha rows of k, `per` samples of k for each.
struct DirichletDims {
  int64_t rows, k, per;
  explicit DirichletDims(std::span<const TensorRef> in)
      : rows(0), k(in[1].shape.back()), per(0) {
    rows = k == 0 ? 0 : in[1].size() / k;
    per = rows == 0 ? 0 : in[0].size() / (rows * k);
  }
};

template <class T>
void DirichletForward(bool is_log, std::span<const TensorRef> in, const TensorRef& out) {
  const DirichletDims d(in);
  const T* x = in[0].ptr<T>();
  const T* alpha = in[1].ptr<T>();
  T* y = out.ptr<T>();
  for (int64_t r = 0; r < d.rows; ++r) {
    const T* a = alpha + r * d.k;
    double sum_a = 0, sum_lgamma = 0;
    for (int64_t c = 0; c < d.k; ++c) {
      sum_a += a[c];
      sum_lgamma += std::lgamma(static_cast<double>(a[c]));
    }
    for (int64_t j = r * d.per; j < (r + 1) * d.per; ++j) {
      double lp = std::lgamma(sum_a) - sum_lgamma;
      for (int64_t c = 0; c < d.k; ++c) lp += (static_cast<double>(a[c]) - 1) * std::log(static_cast<double>(x[j * d.k + c]));
      y[j] = static_cast<T>(is_log ? lp : std::exp(lp));
    }
  }
}

template <class T>
void DirichletBackward(bool is_log, const BackwardIO& io) {
  const DirichletDims d(io.inputs);
  const T* x = io.inputs[0].ptr<T>();
  const T* alpha = io.inputs[1].ptr<T>();
  const T* y = io.outputs[0].ptr<T>();
  const T* dy = io.out_grads[0].ptr<T>();
  std::vector<double> gx(io.inputs[0].size()), ga(io.inputs[1].size(), 0.0);
  for (int64_t r = 0; r < d.rows; ++r) {
    const T* a = alpha + r * d.k;
    double sum_a = 0;
    for (int64_t c = 0; c < d.k; ++c) sum_a += a[c];
    const double psi_sum = Digamma(sum_a);
    for (int64_t j = r * d.per; j < (r + 1) * d.per; ++j) {
      const double scale = static_cast<double>(dy[j]) * (is_log ? 1.0 : static_cast<double>(y[j]));
      for (int64_t c = 0; c < d.k; ++c) {
        const double xc = x[j * d.k + c], ac = a[c];
        gx[j * d.k + c] = scale * (ac - 1) / xc;
        ga[r * d.k + c] += scale * (std::log(xc) + psi_sum - Digamma(ac));
      }
    }
  }
  const std::vector<double>* grads[2] = {&gx, &ga};
  for (size_t i = 0; i < io.in_grads.size(); ++i) {
    T* g = io.in_grads[i].ptr<T>();
    for (int64_t j = 0; j < io.in_grads[i].size(); ++j) Store(g[j], static_cast<T>((*grads[i])[j]), io.req[i]);
  }
}

OpDef PdfOp(const std::string& name, const PdfSpec& spec) {
  OpDef def;
  def.name = name;
  def.inputs = {"sample"};
  std::vector<OpInputDoc> docs = {{"sample", "The samples whose density is computed."}};
  for (const std::string& p : spec.params) {
    def.inputs.push_back(p);
    docs.push_back({p, "The distributions' parameter " + p + ", one distribution per element."});
  }
  def.parse = [name](const AttrMap& attrs) { return ParsePdf(name, attrs); };
  def.infer_shape = [name, spec](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    InferPdfShape(name, spec, in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(name, in, out);
  };
  def.forward = [spec](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const bool is_log = static_cast<const PdfAttrs&>(attrs).is_log;
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
      if (spec.fn) PdfForward<T>(spec, is_log, in, out[0]);
      else DirichletForward<T>(is_log, in, out[0]);
    });
  };
  def.backward = [spec](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const bool is_log = static_cast<const PdfAttrs&>(attrs).is_log;
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
      if (spec.fn) PdfBackward<T>(spec, is_log, io);
      else DirichletBackward<T>(is_log, io);
    });
  };
  return Described(std::move(def),
                   "The density (with is_log, its logarithm) of each sample under " + spec.summary +
                       " whose parameters are at the sample's leading index.",
                   std::move(docs),
                   {Optional("is_log", "boolean", "0", "Compute the logarithm of the density.")});
}

const bool registered = [] {
  const std::vector<PdfSpec> specs = {
      {"uniform", {"low", "high"}, &Uniform, "the uniform distribution on [low, high)"},
      {"normal", {"mu", "sigma"}, &Normal, "the normal distribution of mean mu and deviation sigma"},
      {"gamma", {"alpha", "beta"}, &Gamma, "the gamma distribution of shape alpha and rate beta"},
      {"exponential", {"lam"}, &Exponential, "the exponential distribution of rate lam"},
      {"poisson", {"lam"}, &Poisson, "the Poisson distribution of mean lam"},
      {"negative_binomial", {"k", "p"}, &NegativeBinomial,
       "the negative binomial distribution of k successes of probability p"},
      {"generalized_negative_binomial", {"mu", "alpha"}, &GeneralizedNegativeBinomial,
       "the generalized negative binomial distribution of mean mu and dispersion alpha"},
      {"dirichlet", {"alpha"}, nullptr, "the Dirichlet distribution of concentrations alpha (on the last axis)"},
  };
  for (const PdfSpec& spec : specs) {
    Registry::Add(PdfOp("_random_pdf_" + spec.key, spec));
    Registry::Add(PdfOp("random_pdf_" + spec.key, spec));
  }
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
