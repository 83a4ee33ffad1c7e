// Metric accumulation in one operation per batch. `mx.metric.Accuracy.update` computes, in
// MXNet, argmax along an axis (when the prediction has one more dimension than the label),
// both sides cast to int32, their elementwise equality, its sum as float64 and two additions
// into the local and global accumulators: eight operations a batch. flowmod's Accuracy pushes
// this one instead, with the same arithmetic:
//
//   _metric_accuracy_update(pred, label, sum_metric, global_sum_metric, axis=1, reduce=True)
//
// adds the number of positions where int32(argmax(pred, axis)) == int32(label) (with
// reduce=False: int32(pred) == int32(label)) to both accumulators (float64, one element,
// updated in place) and writes it to its output. argmax is MXNet's and numpy's: the first
// largest element, NaN counting as the largest. The front end (flowmod/metric) checks the
// shapes first, as the eight-operation form does; it has no gradient.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct AccuracyAttrs : OpAttrs {
  int64_t axis = 1;
  bool reduce = true;
};

template <class P>
bool Larger(P v, P best) {
  if (IsNan(best)) return false;
  if (IsNan(v)) return true;
  return v > best;
}

// Positions (o, j) of the (outer, inner) grid whose argmax over the n entries of the axis,
// as int32, equals the label at o * inner + j.
template <class P, class L>
int64_t CountArgmaxEqual(const P* pred, const L* label, int64_t outer, int64_t n, int64_t inner) {
  int64_t correct = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const P* base = pred + o * n * inner;
    for (int64_t j = 0; j < inner; ++j) {
      P best = base[j];
      int64_t index = 0;
      for (int64_t k = 1; k < n; ++k) {
        const P v = base[k * inner + j];
        if (Larger(v, best)) {
          best = v;
          index = k;
        }
      }
      // The argmax operator's output is in the prediction's type, then cast to int32.
      const int32_t predicted = CastTo<int32_t>(static_cast<P>(index));
      correct += predicted == CastTo<int32_t>(label[o * inner + j]);
    }
  }
  return correct;
}

template <class P, class L>
int64_t CountEqual(const P* pred, const L* label, int64_t n) {
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += CastTo<int32_t>(pred[i]) == CastTo<int32_t>(label[i]);
  return correct;
}

void CheckAccumulator(const std::string& op, const std::string& arg, const Shape& s, DType t) {
  if (IsKnown(s) && NumElements(s) != 1)
    throw OpArgumentError(op, arg, "an array of shape " + ShapeString(s), "an array of one element");
  if (t != DType::kUnknown && t != DType::kFloat64)
    throw OpArgumentError(op, arg, std::string("an array of type ") + DTypeName(t), "float64");
}

OpDef AccuracyUpdate() {
  const std::string name = "_metric_accuracy_update";
  OpDef def;
  def.name = name;
  def.description =
      "Accuracy's update in one operation: the number of positions where int32(argmax(pred, axis)) equals "
      "int32(label) (int32(pred) with reduce=False), added to sum_metric and global_sum_metric in place and "
      "written to the output.";
  def.inputs = {"pred", "label", "sum_metric", "global_sum_metric"};
  def.input_docs = {{"pred", "The predictions: scores along axis, or class indices with reduce=False."},
                    {"label", "The labels, one per position of argmax(pred, axis)."},
                    {"sum_metric", "The local accumulator (float64, one element), updated in place."},
                    {"global_sum_metric", "The global accumulator (float64, one element), updated in place."}};
  def.params = {Optional("axis", "int", "1", "The axis of pred that holds the classes' scores."),
                Optional("reduce", "boolean", "1", "Whether pred holds scores along axis (else class indices).")};
  def.writes_argument = [](const OpAttrs&, int i) { return i >= 2; };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "reduce"});
    auto p = std::make_shared<AccuracyAttrs>();
    p->axis = GetInt(name, attrs, "axis", 1);
    p->reduce = GetBool(name, attrs, "reduce", true);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const AccuracyAttrs&>(attrs);
    CheckAccumulator(name, "sum_metric", in[2], DType::kUnknown);
    CheckAccumulator(name, "global_sum_metric", in[3], DType::kUnknown);
    MergeShape(name, "output", out[0], Shape{1});
    if (!IsKnown(in[0]) || !IsKnown(in[1])) return;
    int64_t positions = NumElements(in[0]);
    if (a.reduce) {
      const int ax = NormalizeAxis(name, "axis", a.axis, static_cast<int>(in[0].size()));
      if (in[0][ax] == 0)
        throw OpArgumentError(name, "pred", "an array of shape " + ShapeString(in[0]),
                              "a non-empty axis " + std::to_string(a.axis));
      positions /= in[0][ax];
    }
    if (NumElements(in[1]) != positions)
      throw OpArgumentError(name, "label", "an array of shape " + ShapeString(in[1]),
                            std::to_string(positions) + " elements, one per prediction of pred " +
                                ShapeString(in[0]));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    if (in[0] != DType::kUnknown && in[0] != DType::kFloat32 && in[0] != DType::kFloat64 && in[0] != DType::kFloat16)
      throw OpArgumentError(name, "pred", std::string("an array of type ") + DTypeName(in[0]),
                            "a floating-point array");
    if (in[1] == DType::kBool)
      throw OpArgumentError(name, "label", "an array of type bool", "a numeric array");
    CheckAccumulator(name, "sum_metric", kUnknownShape, in[2]);
    CheckAccumulator(name, "global_sum_metric", kUnknownShape, in[3]);
    MergeType(name, "output", out[0], DType::kFloat64);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const AccuracyAttrs&>(attrs);
    int64_t correct = 0;
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, P, {
      FLOWMOD_DTYPE_SWITCH(in[1].dtype, L, {
        if constexpr (!std::is_same_v<L, bool>) {
          const P* pred = in[0].ptr<P>();
          const L* label = in[1].ptr<L>();
          if (a.reduce) {
            int64_t outer, n, inner;
            AxisExtents(in[0].shape, a.axis, &outer, &n, &inner);
            correct = CountArgmaxEqual(pred, label, outer, n, inner);
          } else {
            correct = CountEqual(pred, label, in[0].size());
          }
        }
      });
    });
    const double count = static_cast<double>(correct);
    in[2].ptr<double>()[0] += count;
    in[3].ptr<double>()[0] += count;
    out[0].ptr<double>()[0] = count;
  };
  return def;
}

FLOWMOD_REGISTER_OP(AccuracyUpdate());

}  // namespace

}  // namespace flowmod::ops
