// _contrib_MultiBoxDetection: SSD's detections, as MXNet 1.9 computes them. For class
// probabilities (B, classes, N) (class 0 the background), location predictions (B, 4N) and
// anchors (1, N, 4), each anchor gives [class - 1, score, xmin, ymin, xmax, ymax]: its best
// non-background class when that scores at least threshold, the anchor moved by the decoded
// offsets (times the variances; clipped to [0, 1] with clip). Per batch the detections are
// written first and the rest of the rows are -1; with 0 < nms_threshold <= 1 they are ordered
// by score, only the nms_topk best kept (the others get class -1), and each suppresses the
// later ones of its class (any class with force_suppress) it overlaps by an IoU of at least
// nms_threshold, by setting their class to -1. The gradient is zero.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/box_common.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_contrib_MultiBoxDetection";

struct DetectionAttrs : OpAttrs {
  bool clip = true, force_suppress = false;
  float threshold = 0.01f, nms_threshold = 0.5f;
  int64_t background_id = 0, nms_topk = -1;
  float variances[4] = {0.1f, 0.1f, 0.2f, 0.2f};
};

std::shared_ptr<const OpAttrs> ParseDetection(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"clip", "threshold", "background_id", "nms_threshold", "force_suppress", "variances",
                          "nms_topk"});
  auto a = std::make_shared<DetectionAttrs>();
  a->clip = GetBool(kOp, attrs, "clip", true);
  a->threshold = static_cast<float>(GetFloat(kOp, attrs, "threshold", 0.01));
  // MXNet 1.9 accepts it and always takes class 0 as the background.
  a->background_id = GetInt(kOp, attrs, "background_id", 0);
  a->nms_threshold = static_cast<float>(GetFloat(kOp, attrs, "nms_threshold", 0.5));
  a->force_suppress = GetBool(kOp, attrs, "force_suppress", false);
  const auto v = box::GetFloatTuple(kOp, attrs, "variances", {0.1, 0.1, 0.2, 0.2});
  if (v.size() != 4) throw OpArgumentError(kOp, "variances", attrs.at("variances"), "4 variances");
  for (int i = 0; i < 4; ++i) a->variances[i] = static_cast<float>(v[i]);
  a->nms_topk = GetInt(kOp, attrs, "nms_topk", -1);
  return a;
}

void DetectionShape(const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  const Shape& c = in[0];
  const Shape& l = in[1];
  const Shape& an = in[2];
  auto bad = [](const char* arg, const Shape& s, const std::string& want) {
    return OpArgumentError(kOp, arg, "an array of shape " + ShapeString(s), want);
  };
  if (ShapeKnownRank(c) && c.size() != 3) throw bad("cls_prob", c, "shape (batch, classes, anchors)");
  if (ShapeKnownRank(l) && l.size() != 2) throw bad("loc_pred", l, "shape (batch, anchors * 4)");
  if (ShapeKnownRank(an) && (an.size() != 3 || an[0] != 1 || an[1] < 1 || an[2] != 4))
    throw bad("anchor", an, "shape (1, anchors, 4) with at least one anchor");
  if (!ShapeKnownRank(c) || !ShapeKnownRank(an)) return;
  if (c[2] != an[1]) throw bad("cls_prob", c, "shape (batch, classes, " + std::to_string(an[1]) + "): one column per anchor");
  MergeShape(kOp, "loc_pred", in[1], Shape{c[0], an[1] * 4});
  MergeShape(kOp, "output", out[0], Shape{c[0], an[1], 6});
}

template <class T>
T Clip01(T v, bool clip) {
  return clip ? std::max(T(0), std::min(T(1), v)) : v;
}

template <class T>
void Decode(const DetectionAttrs& a, const T* an, const T* p, T* o) {
  const T aw = an[2] - an[0], ah = an[3] - an[1];
  const T ax = (an[0] + an[2]) / T(2), ay = (an[1] + an[3]) / T(2);
  const T ox = p[0] * static_cast<T>(a.variances[0]) * aw + ax, oy = p[1] * static_cast<T>(a.variances[1]) * ah + ay;
  using A = AccT<T>;
  const T ow = static_cast<T>(std::exp(static_cast<A>(p[2] * static_cast<T>(a.variances[2])))) * aw / T(2);
  const T oh = static_cast<T>(std::exp(static_cast<A>(p[3] * static_cast<T>(a.variances[3])))) * ah / T(2);
  o[0] = Clip01(ox - ow, a.clip);
  o[1] = Clip01(oy - oh, a.clip);
  o[2] = Clip01(ox + ow, a.clip);
  o[3] = Clip01(oy + oh, a.clip);
}

// MXNet's IoU here: the raw union, and 0 when it is not positive.
template <class T>
T Overlap(const T* a, const T* b) {
  const T w = std::max(T(0), std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const T h = std::max(T(0), std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const T i = w * h, u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i;
  return u <= T(0) ? T(0) : i / u;
}

// Sorts the `valid` detections of one batch by score and suppresses overlaps, in place.
template <class T>
void SortAndSuppress(const DetectionAttrs& a, T* out, int64_t valid) {
  const std::vector<T> copy(out, out + valid * 6);
  std::vector<int64_t> order(valid);
  for (int64_t i = 0; i < valid; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return copy[x * 6 + 1] > copy[y * 6 + 1]; });
  int64_t keep = valid;
  if (a.nms_topk > 0 && a.nms_topk < keep) {
    keep = a.nms_topk;
    // MXNet marks the rows past topk before reordering: they keep their unsorted contents.
    for (int64_t i = keep; i < valid; ++i) out[i * 6] = T(-1);
  }
  for (int64_t i = 0; i < keep; ++i) std::copy_n(copy.data() + order[i] * 6, 6, out + i * 6);
  const T thresh = static_cast<T>(a.nms_threshold);
  for (int64_t i = 0; i < keep; ++i) {
    if (out[i * 6] < T(0)) continue;
    for (int64_t j = i + 1; j < keep; ++j) {
      if (out[j * 6] < T(0)) continue;
      if ((a.force_suppress || out[i * 6] == out[j * 6]) && Overlap(out + i * 6 + 2, out + j * 6 + 2) >= thresh)
        out[j * 6] = T(-1);
    }
  }
}

template <class T>
void DetectionKernel(const DetectionAttrs& a, int64_t batch, int64_t classes, int64_t n, const T* prob, const T* loc,
                     const T* anchors, T* out) {
  std::fill_n(out, batch * n * 6, T(-1));
  std::vector<T> det(6);
  for (int64_t b = 0; b < batch; ++b) {
    const T* p = prob + b * classes * n;
    T* o = out + b * n * 6;
    int64_t valid = 0;
    for (int64_t i = 0; i < n; ++i) {
      T score = T(-1);
      int64_t id = 0;
      for (int64_t j = 1; j < classes; ++j)
        if (p[j * n + i] > score) score = p[j * n + i], id = j;
      if (id > 0 && score < static_cast<T>(a.threshold)) id = 0;
      if (id == 0) continue;
      T* row = o + valid * 6;
      row[0] = static_cast<T>(id - 1);
      row[1] = score;
      Decode(a, anchors + i * 4, loc + (b * n + i) * 4, row + 2);
      ++valid;
    }
    if (valid < 1 || a.nms_threshold <= 0 || a.nms_threshold > 1) continue;
    SortAndSuppress(a, o, valid);
  }
}

void DetectionForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
  const auto& a = static_cast<const DetectionAttrs&>(attrs);
  const Shape& c = in[0].shape;
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                       DetectionKernel<T>(a, c[0], c[1], c[2], in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(),
                                          out[0].ptr<T>()));
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"cls_prob", "loc_pred", "anchor"};
  def.parse = &ParseDetection;
  def.infer_shape = &DetectionShape;
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(kOp, {"cls_prob", "loc_pred", "anchor"}, in, out);
  };
  def.forward = &DetectionForward;
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  Registry::Add(Described(
      std::move(def),
      "SSD's detections from class probabilities, location predictions and anchors: rows [class, score, xmin, ymin, "
      "xmax, ymax] of the anchors whose best non-background class scores at least threshold, ordered by score with "
      "non-maximum suppression (suppressed rows get class -1), the other rows -1. Its gradient is zero.",
      {{"cls_prob", "(batch, classes, anchors): class probabilities, class 0 the background."},
       {"loc_pred", "(batch, anchors * 4): the predicted offsets."},
       {"anchor", "(1, anchors, 4): the anchors, in corner encoding."}},
      {Optional("clip", "boolean", "1", "Whether to clip the boxes to [0, 1]."),
       Optional("threshold", "float", "0.00999999978", "The score a detection needs."),
       Optional("background_id", "int", "'0'", "Accepted; class 0 is the background, as in MXNet 1.9."),
       Optional("nms_threshold", "float", "0.5", "The IoU from which a detection is suppressed; outside (0, 1]: no suppression."),
       Optional("force_suppress", "boolean", "0", "Whether detections of different classes suppress each other."),
       Optional("variances", "tuple of <float>", "[0.1,0.1,0.2,0.2]", "The variances the offsets are multiplied by."),
       Optional("nms_topk", "int", "'-1'", "When > 0, only the nms_topk best detections are kept.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
