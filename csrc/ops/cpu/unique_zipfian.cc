// _sample_unique_zipfian: for each of shape[0] rows, shape[1] distinct classes in
// [0, range_max) drawn from the approximate Zipfian (log-uniform) distribution
//   P(c) = (log(c + 2) - log(c + 1)) / log(range_max + 1),
// as MXNet draws it (round(exp(u * log(range_max))) - 1 for uniform u, repeated until a new
// class comes up), and the number of draws each row took: what sampled softmax needs to
// correct for the sampling. Both outputs are int64. No inputs, no gradient.
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_sample_unique_zipfian";

struct ZipfianAttrs : OpAttrs {
  int64_t range_max = 0;
  Shape shape;  // (rows, samples per row); empty: from the output
};

std::shared_ptr<const OpAttrs> Parse(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"range_max", "shape"});
  auto a = std::make_shared<ZipfianAttrs>();
  a->range_max = GetInt(kOp, attrs, "range_max");
  if (a->range_max < 1) throw OpArgumentError(kOp, "range_max", attrs.at("range_max"), "an integer >= 1");
  a->shape = GetTuple(kOp, attrs, "shape", {});
  if (Has(attrs, "shape") && !a->shape.empty()) {
    if (a->shape.size() != 2 || a->shape[0] < 0 || a->shape[1] < 0)
      throw OpArgumentError(kOp, "shape", attrs.at("shape"), "a 2-d shape (rows, samples per row)");
    if (a->shape[1] > a->range_max)
      throw OpArgumentError(kOp, "shape", attrs.at("shape"),
                            "at most range_max (" + std::to_string(a->range_max) + ") samples per row");
  }
  return a;
}

void InferShape(const OpAttrs& attrs, std::vector<Shape>&, std::vector<Shape>& out) {
  const auto& a = static_cast<const ZipfianAttrs&>(attrs);
  if (!a.shape.empty()) MergeShape(kOp, "output", out[0], a.shape);
  if (out[0] == kUnknownShape) return;
  if (out[0].size() != 2)
    throw OpArgumentError(kOp, "shape", ShapeString(out[0]), "a 2-d shape (rows, samples per row)");
  MergeShape(kOp, "num_tries", out[1], Shape{out[0][0]});
}

void InferType(const OpAttrs&, std::vector<DType>&, std::vector<DType>& out) {
  for (DType& t : out) MergeType(kOp, "output", t, DType::kInt64);
}

void Forward(const OpContext& ctx, const OpAttrs& attrs, std::span<const TensorRef>,
             std::span<const TensorRef> out) {
  const auto& a = static_cast<const ZipfianAttrs&>(attrs);
  const int64_t rows = out[0].shape[0], per_row = out[0].shape[1];
  if (per_row > a.range_max)
    throw std::invalid_argument(std::string(kOp) + ": " + std::to_string(per_row) +
                                " samples per row: expected at most range_max (" + std::to_string(a.range_max) + ")");
  const double log_range = std::log(static_cast<double>(a.range_max));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int64_t* samples = out[0].ptr<int64_t>();
  int64_t* tries = out[1].ptr<int64_t>();
  std::unordered_set<int64_t> seen;
  for (int64_t r = 0; r < rows; ++r) {
    seen.clear();
    int64_t n = 0;
    while (static_cast<int64_t>(seen.size()) < per_row) {
      const int64_t c = std::llround(std::exp(u(*ctx.rng) * log_range)) - 1;
      ++n;
      if (seen.insert(c).second) samples[r * per_row + static_cast<int64_t>(seen.size()) - 1] = c;
    }
    tries[r] = n;
  }
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {};
  def.num_outputs = 2;
  def.needs_rng = true;
  def.parse = &Parse;
  def.infer_shape = &InferShape;
  def.infer_type = &InferType;
  def.forward = &Forward;
  def.backward = nullptr;
  Registry::Add(Described(
      std::move(def),
      "Draws shape[1] distinct classes in [0, range_max) for each of shape[0] rows from the log-uniform "
      "(approximate Zipfian) distribution, and the number of draws each row took.",
      {},
      {Required("range_max", "int", "The number of classes."),
       Optional("shape", "Shape(tuple)", "None", "The 2-d shape (rows, samples per row) of the output.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
