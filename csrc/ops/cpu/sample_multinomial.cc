// _sample_multinomial (alias sample_multinomial): draws category indices from the
// distributions on the last axis of data (each row a probability vector), `shape` draws per
// row. With get_prob=True a second output holds the log-probability of each draw, and the
// gradient flows through it alone, as in MXNet (the score-function estimator of
// reinforcement learning): d data[r, c] += d logp[r, j] / data[r, c] for every draw j of c.
#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct MultinomialAttrs : OpAttrs {
  Shape shape;
  bool get_prob = false;
  DType dtype = DType::kInt32;
};

struct Rows {
  int64_t n, k, m;  // rows, categories per row, draws per row
};

Rows RowsOf(const TensorRef& data, const TensorRef& samples) {
  const int64_t k = data.shape.back();
  const int64_t n = k == 0 ? 0 : data.size() / k;
  return {n, k, n == 0 ? 0 : samples.size() / n};
}

// The row's cumulative sums, refusing rows that are no distribution.
template <class D>
void Cumulative(const std::string& op, const D* row, int64_t r, int64_t k, std::vector<double>& cum) {
  double acc = 0;
  for (int64_t c = 0; c < k; ++c) {
    const double v = static_cast<double>(row[c]);
    if (!(v >= 0)) {
      std::ostringstream s;
      s << op << ": data[" << r << ", " << c << "]=" << v << ": expected probabilities >= 0";
      throw std::invalid_argument(s.str());
    }
    acc += v;
    cum[c] = acc;
  }
  if (!(acc > 0) || std::isinf(acc))
    throw std::invalid_argument(op + ": data row " + std::to_string(r) +
                                " sums to " + std::to_string(acc) + ": expected a positive, finite sum");
}

template <class D, class O>
void Draw(const std::string& op, std::mt19937_64& gen, const Rows& d, const D* data, O* out, D* logp) {
  std::vector<double> cum(d.k);
  for (int64_t r = 0; r < d.n; ++r) {
    const D* row = data + r * d.k;
    Cumulative(op, row, r, d.k, cum);
    // Drawing in [0, sum) rather than [0, 1) keeps a row that sums to slightly less than one
    // (rounding) from drawing past its last category.
    std::uniform_real_distribution<double> u(0.0, cum[d.k - 1]);
    for (int64_t j = 0; j < d.m; ++j) {
      const double x = u(gen);
      int64_t c = std::upper_bound(cum.begin(), cum.end(), x) - cum.begin();
      c = std::min(c, d.k - 1);
      while (c > 0 && row[c] == D(0)) --c;  // never a category of probability zero
      out[r * d.m + j] = static_cast<O>(c);
      if (logp) logp[r * d.m + j] = static_cast<D>(std::log(static_cast<double>(row[c])));
    }
  }
}

std::shared_ptr<const OpAttrs> Parse(const std::string& op, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {"shape", "get_prob", "dtype"});
  auto a = std::make_shared<MultinomialAttrs>();
  a->shape = GetTuple(op, attrs, "shape", {});
  for (int64_t v : a->shape)
    if (v <= 0) throw OpArgumentError(op, "shape", attrs.at("shape"), "a tuple of positive integers");
  a->get_prob = GetBool(op, attrs, "get_prob", false);
  const std::string t = GetEnum(op, attrs, "dtype", {"float16", "float32", "float64", "int32", "uint8"}, "int32");
  a->dtype = GetDType(op, AttrMap{{"dtype", t}}, "dtype");
  return a;
}

OpDef MultinomialOp(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.needs_rng = true;
  def.parse = [name](const AttrMap& attrs) { return Parse(name, attrs); };
  def.count_outputs = [](const OpAttrs& a) { return static_cast<const MultinomialAttrs&>(a).get_prob ? 2 : 1; };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const MultinomialAttrs&>(attrs);
    if (in[0] == kUnknownShape) return;
    if (in[0].empty())
      throw OpArgumentError(name, "data", "an array of shape ()", "an array of probabilities on its last axis");
    Shape o;
    if (in[0].size() == 1) {
      o = a.shape.empty() ? Shape{1} : a.shape;
    } else {
      o.assign(in[0].begin(), in[0].end() - 1);
      o.insert(o.end(), a.shape.begin(), a.shape.end());
    }
    for (Shape& s : out) MergeShape(name, "output", s, o);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const MultinomialAttrs&>(attrs);
    MergeType(name, "output", out[0], a.dtype);
    if (out.size() > 1) {
      MergeType(name, "data", in[0], out[1]);
      MergeType(name, "output", out[1], in[0]);
    }
    if (in[0] != DType::kUnknown && in[0] != DType::kFloat32 && in[0] != DType::kFloat64 && in[0] != DType::kFloat16)
      throw OpArgumentError(name, "data", std::string("an array of type ") + DTypeName(in[0]),
                            "float16, float32 or float64");
  };
  def.forward = [name](const OpContext& ctx, const OpAttrs&, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Rows d = RowsOf(in[0], out[0]);
    if (d.n == 0 || d.m == 0) return;
    if (d.k == 0) throw std::invalid_argument(name + ": data has no categories on its last axis");
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, D, {
      D* logp = out.size() > 1 ? out[1].ptr<D>() : nullptr;
      FLOWMOD_DTYPE_SWITCH(out[0].dtype, O, Draw<D, O>(name, *ctx.rng, d, in[0].ptr<D>(), out[0].ptr<O>(), logp));
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const auto& a = static_cast<const MultinomialAttrs&>(attrs);
    const TensorRef& g = io.in_grads[0];
    FLOWMOD_FLOAT_SWITCH(g.dtype, D, {
      Accumulate(g.ptr<D>(), g.size(), io.req[0], [&](auto* acc) {
        if (!a.get_prob) return;
        const Rows d = RowsOf(io.inputs[0], io.outputs[0]);
        const D* data = io.inputs[0].ptr<D>();
        const D* dlogp = io.out_grads[1].ptr<D>();
        FLOWMOD_DTYPE_SWITCH(io.outputs[0].dtype, O, {
          const O* drawn = io.outputs[0].ptr<O>();
          for (int64_t r = 0; r < d.n; ++r)
            for (int64_t j = 0; j < d.m; ++j) {
              const int64_t c = r * d.k + static_cast<int64_t>(drawn[r * d.m + j]);
              acc[c] += static_cast<double>(dlogp[r * d.m + j]) / static_cast<double>(data[c]);
            }
        });
      });
    });
  };
  return Described(std::move(def),
                   "Samples category indices from the distributions on the last axis of data, shape draws from "
                   "each; with get_prob, also the log-probability of each draw.",
                   {{"data", "Probabilities on the last axis (each row sums to one)."}},
                   {Optional("shape", "Shape(tuple)", "[]", "The shape of the draws from each distribution."),
                    Optional("get_prob", "boolean", "0", "Also return the log-probability of each draw."),
                    Optional("dtype", "{'float16', 'float32', 'float64', 'int32', 'uint8'}", "'int32'",
                             "The type of the drawn indices.")});
}

const bool registered = [] {
  Registry::Add(MultinomialOp("_sample_multinomial"));
  Registry::Add(MultinomialOp("sample_multinomial"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
