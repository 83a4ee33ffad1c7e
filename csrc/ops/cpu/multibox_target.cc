// _contrib_MultiBoxTarget: SSD's training targets, as MXNet 1.9 computes them. For anchors
// (1, N, 4), labels (B, M, >= 5) ([class, xmin, ymin, xmax, ymax, ...] rows, a row of -1 ending
// the valid ones) and class predictions (B, classes, N):
// 1. each ground truth, in turn, takes the still free anchor it overlaps most (largest IoU
//    first, over all free pairs);
// 2. with overlap_threshold > 0, every other anchor whose best IoU exceeds it is positive too;
// 3. negatives are all other anchors, or, with negative_mining_ratio > 0, the ratio times the
//    positives with the lowest background probability among those whose best IoU is below
//    negative_mining_thresh.
// Outputs: loc_target (B, 4N) the encoded offsets of the positives (over the variances),
// loc_mask (B, 4N) 1 there, cls_target (B, N) class + 1 for positives, 0 for negatives and
// ignore_label elsewhere (everywhere for a batch with no ground truth). The gradient is zero.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ops/cpu/box_common.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_contrib_MultiBoxTarget";

struct TargetAttrs : OpAttrs {
  float overlap_threshold = 0.5f, ignore_label = -1.0f, negative_mining_ratio = -1.0f;
  float negative_mining_thresh = 0.5f;
  int64_t minimum_negative_samples = 0;
  float variances[4] = {0.1f, 0.1f, 0.2f, 0.2f};
};

std::shared_ptr<const OpAttrs> ParseTarget(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"overlap_threshold", "ignore_label", "negative_mining_ratio", "negative_mining_thresh",
                          "minimum_negative_samples", "variances"});
  auto a = std::make_shared<TargetAttrs>();
  a->overlap_threshold = static_cast<float>(GetFloat(kOp, attrs, "overlap_threshold", 0.5));
  a->ignore_label = static_cast<float>(GetFloat(kOp, attrs, "ignore_label", -1.0));
  a->negative_mining_ratio = static_cast<float>(GetFloat(kOp, attrs, "negative_mining_ratio", -1.0));
  a->negative_mining_thresh = static_cast<float>(GetFloat(kOp, attrs, "negative_mining_thresh", 0.5));
  // MXNet 1.9 accepts and ignores it.
  a->minimum_negative_samples = GetInt(kOp, attrs, "minimum_negative_samples", 0);
  const auto v = box::GetFloatTuple(kOp, attrs, "variances", {0.1, 0.1, 0.2, 0.2});
  if (v.size() != 4) throw OpArgumentError(kOp, "variances", attrs.at("variances"), "4 variances");
  for (int i = 0; i < 4; ++i) a->variances[i] = static_cast<float>(v[i]);
  if (a->negative_mining_ratio > 0 && !(a->negative_mining_thresh > 0))
    throw OpArgumentError(kOp, "negative_mining_thresh", std::to_string(a->negative_mining_thresh),
                          "a number > 0 with negative_mining_ratio > 0");
  return a;
}

void TargetShape(const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
  const Shape& an = in[0];
  const Shape& lb = in[1];
  const Shape& pr = in[2];
  auto bad = [](const char* arg, const Shape& s, const std::string& want) {
    return OpArgumentError(kOp, arg, "an array of shape " + ShapeString(s), want);
  };
  if (ShapeKnownRank(an) && (an.size() != 3 || an[0] != 1 || an[1] < 1 || an[2] != 4))
    throw bad("anchor", an, "shape (1, anchors, 4) with at least one anchor");
  if (ShapeKnownRank(lb) && (lb.size() != 3 || lb[1] < 1 || lb[2] < 5))
    throw bad("label", lb, "shape (batch, labels >= 1, width >= 5)");
  if (ShapeKnownRank(pr) && pr.size() != 3) throw bad("cls_pred", pr, "shape (batch, classes, anchors)");
  if (!ShapeKnownRank(an) || !ShapeKnownRank(lb) || !ShapeKnownRank(pr)) return;
  if (pr[2] != an[1]) throw bad("cls_pred", pr, "shape (batch, classes, " + std::to_string(an[1]) + "): one column per anchor");
  if (pr[0] != lb[0]) throw bad("cls_pred", pr, "the batch size of label, " + std::to_string(lb[0]));
  MergeShape(kOp, "output", out[0], Shape{lb[0], an[1] * 4});
  MergeShape(kOp, "output", out[1], Shape{lb[0], an[1] * 4});
  MergeShape(kOp, "output", out[2], Shape{lb[0], an[1]});
}

// The best IoU of an anchor over the valid ground truths, and which.
std::pair<float, int64_t> BestOverlap(const std::vector<float>& iou, int64_t anchor, int64_t gts) {
  std::pair<float, int64_t> best{-1.0f, -1};
  for (int64_t k = 0; k < gts; ++k)
    if (iou[anchor * gts + k] > best.first) best = {iou[anchor * gts + k], k};
  return best;
}

// Flags per anchor: 1 positive, 0 negative, -1 ignored; `match` the ground truth of each.
template <class T>
void Assign(const TargetAttrs& a, const std::vector<float>& iou, int64_t n, int64_t gts, const T* pred,
            int64_t classes, std::vector<signed char>& flag, std::vector<std::pair<float, int64_t>>& match) {
  std::vector<bool> gt_done(gts, false);
  int64_t positives = 0;
  for (int64_t round = 0; round < gts; ++round) {
    int64_t best_a = -1, best_g = -1;
    float best = 1e-6f;
    for (int64_t j = 0; j < n; ++j) {
      if (flag[j] == 1) continue;
      for (int64_t k = 0; k < gts; ++k)
        if (!gt_done[k] && iou[j * gts + k] > best) best = iou[j * gts + k], best_a = j, best_g = k;
    }
    if (best_a < 0) break;
    match[best_a] = {best, best_g};
    gt_done[best_g] = true;
    flag[best_a] = 1;
    ++positives;
  }
  if (a.overlap_threshold > 0)
    for (int64_t j = 0; j < n; ++j) {
      if (flag[j] == 1) continue;
      match[j] = BestOverlap(iou, j, gts);
      if (match[j].second >= 0 && match[j].first > a.overlap_threshold) flag[j] = 1, ++positives;
    }
  if (!(a.negative_mining_ratio > 0)) {
    for (auto& f : flag)
      if (f != 1) f = 0;
    return;
  }
  int64_t negatives = static_cast<int64_t>(static_cast<float>(positives) * a.negative_mining_ratio);
  negatives = std::min(negatives, n - positives);
  if (negatives <= 0) return;
  // Candidates by background probability, lowest (the hardest negatives) first.
  std::vector<std::pair<float, int64_t>> cand;
  for (int64_t j = 0; j < n; ++j) {
    if (flag[j] == 1) continue;
    if (match[j].first < 0) match[j] = BestOverlap(iou, j, gts);
    if (!(match[j].first < a.negative_mining_thresh)) continue;
    T mx = pred[j];
    for (int64_t k = 1; k < classes; ++k) mx = std::max(mx, pred[j + n * k]);
    T sum = 0;
    for (int64_t k = 0; k < classes; ++k) sum += static_cast<T>(std::exp(static_cast<AccT<T>>(pred[j + n * k] - mx)));
    cand.emplace_back(static_cast<float>(static_cast<T>(std::exp(static_cast<AccT<T>>(pred[j] - mx))) / sum), j);
  }
  std::stable_sort(cand.begin(), cand.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  negatives = std::min<int64_t>(negatives, static_cast<int64_t>(cand.size()));
  for (int64_t i = 0; i < negatives; ++i) flag[cand[i].second] = 0;
}

template <class T>
void TargetKernel(const TargetAttrs& a, int64_t n, int64_t batch, int64_t m, int64_t width, int64_t classes,
                  const T* anchors, const T* labels, const T* preds, T* loc, T* mask, T* cls) {
  std::fill_n(loc, batch * n * 4, T(0));
  std::fill_n(mask, batch * n * 4, T(0));
  std::fill_n(cls, batch * n, static_cast<T>(a.ignore_label));
  for (int64_t b = 0; b < batch; ++b) {
    const T* lab = labels + b * m * width;
    int64_t gts = 0;
    while (gts < m && static_cast<float>(lab[gts * width]) != -1.0f) ++gts;
    for (int64_t j = 1; gts < m && j < 5; ++j)
      if (static_cast<float>(lab[gts * width + j]) != -1.0f)
        throw OpArgumentError(kOp, "label", "a row of class -1 with coordinates not -1 in batch " + std::to_string(b),
                              "padding rows of -1 only");
    if (gts == 0) continue;
    // The IoU of each (anchor, ground truth), with MXNet's unclamped union and 0 for none.
    std::vector<float> iou(n * gts);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < gts; ++k) {
        const T* an = anchors + j * 4;
        const T* g = lab + k * width + 1;
        const T inter = std::max(T(0), std::min(an[2], g[2]) - std::max(an[0], g[0])) *
                        std::max(T(0), std::min(an[3], g[3]) - std::max(an[1], g[1]));
        const T uni = (an[2] - an[0]) * (an[3] - an[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter;
        iou[j * gts + k] = uni == T(0) ? 0.0f : static_cast<float>(inter / uni);
      }
    std::vector<signed char> flag(n, -1);
    std::vector<std::pair<float, int64_t>> match(n, {-1.0f, -1});
    Assign(a, iou, n, gts, preds + b * classes * n, classes, flag, match);
    for (int64_t j = 0; j < n; ++j) {
      if (flag[j] == 0) cls[b * n + j] = T(0);
      if (flag[j] != 1) continue;
      const T* g = lab + match[j].second * width;
      cls[b * n + j] = static_cast<T>(static_cast<float>(g[0]) + 1);
      std::fill_n(mask + (b * n + j) * 4, 4, T(1));
      // MXNet's arithmetic: float32 throughout.
      const T* an = anchors + j * 4;
      const float al = static_cast<float>(an[0]), at = static_cast<float>(an[1]);
      const float ar = static_cast<float>(an[2]), ab = static_cast<float>(an[3]);
      const float gl = static_cast<float>(g[1]), gt = static_cast<float>(g[2]);
      const float gr = static_cast<float>(g[3]), gb = static_cast<float>(g[4]);
      const float aw = ar - al, ah = ab - at, ax = (al + ar) * 0.5f, ay = (at + ab) * 0.5f;
      const float gw = gr - gl, gh = gb - gt, gx = (gl + gr) * 0.5f, gy = (gt + gb) * 0.5f;
      T* o = loc + (b * n + j) * 4;
      o[0] = static_cast<T>((gx - ax) / aw / a.variances[0]);
      o[1] = static_cast<T>((gy - ay) / ah / a.variances[1]);
      o[2] = static_cast<T>(std::log(gw / aw) / a.variances[2]);
      o[3] = static_cast<T>(std::log(gh / ah) / a.variances[3]);
    }
  }
}

void TargetForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
  const auto& a = static_cast<const TargetAttrs&>(attrs);
  const Shape& lb = in[1].shape;
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                       TargetKernel<T>(a, in[0].shape[1], lb[0], lb[1], lb[2], in[2].shape[1], in[0].ptr<T>(),
                                       in[1].ptr<T>(), in[2].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>(),
                                       out[2].ptr<T>()));
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"anchor", "label", "cls_pred"};
  def.num_outputs = 3;
  def.list_outputs = [](const OpAttrs&) { return std::vector<std::string>{"loc_target", "loc_mask", "cls_target"}; };
  def.parse = &ParseTarget;
  def.infer_shape = &TargetShape;
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(kOp, {"anchor", "label", "cls_pred"}, in, out);
  };
  def.forward = &TargetForward;
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  Registry::Add(Described(
      std::move(def),
      "SSD's training targets: anchors matched to ground-truth boxes (each box its best anchor, then every anchor "
      "above overlap_threshold), the matched anchors' encoded offsets, their mask and class targets (class + 1; "
      "0 for negatives, optionally mined by background probability; ignore_label elsewhere). Its gradient is zero.",
      {{"anchor", "(1, anchors, 4): the anchors, in corner encoding."},
       {"label", "(batch, labels, width >= 5): rows [class, xmin, ymin, xmax, ymax, ...], a row of -1 ending them."},
       {"cls_pred", "(batch, classes, anchors): the class predictions, for negative mining."}},
      {Optional("overlap_threshold", "float", "0.5", "The IoU above which an anchor is matched to its best box."),
       Optional("ignore_label", "float", "-1", "The class target of anchors neither positive nor negative."),
       Optional("negative_mining_ratio", "float", "-1", "When > 0, the number of negatives per positive to mine."),
       Optional("negative_mining_thresh", "float", "0.5", "The IoU below which an anchor may be mined as negative."),
       Optional("minimum_negative_samples", "int", "'0'", "Accepted and unused, as in MXNet 1.9."),
       Optional("variances", "tuple of <float>", "[0.1,0.1,0.2,0.2]", "The variances the encoded offsets are divided by.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
