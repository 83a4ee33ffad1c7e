// The region proposal layer of Faster R-CNN, as MXNet 1.9's _contrib_Proposal (one image) and
// _contrib_MultiProposal (a batch). For each image: anchors of every scale and ratio around
// each feature-map cell (feature_stride apart), decoded by bbox_pred (centre/size deltas, or
// corner deltas with iou_loss) and clipped to the image (im_info = height, width, scale);
// cells beyond the image's real size and boxes smaller than rpn_min_size * scale get score -1
// (the small ones are also widened by half of it, as MXNet does); the rpn_pre_nms_top_n best
// (stable order) go through greedy NMS at `threshold`, and the first rpn_post_nms_top_n kept
// are the output rows (batch index, x1, y1, x2, y2), repeated cyclically when fewer are kept,
// with their scores as the optional second output. No gradient: the inputs get zeros.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct ProposalAttrs : OpAttrs {
  std::string op;
  bool multi = false;
  int64_t pre = 6000, post = 300, min_size = 16, stride = 16;
  float threshold = 0.7f;
  std::vector<float> scales{4, 8, 16, 32}, ratios{0.5f, 1, 2};
  bool output_score = false, iou_loss = false;
  int64_t Anchors() const { return static_cast<int64_t>(scales.size() * ratios.size()); }
};

std::vector<float> PositiveFloats(const std::string& op, const AttrMap& attrs, const char* key,
                                  std::vector<float> def) {
  if (!Has(attrs, key)) return def;
  std::vector<float> v;
  for (double x : GetFloatTuple(op, attrs, key)) {
    if (!(x > 0)) throw OpArgumentError(op, key, attrs.at(key), "a non-empty tuple of positive numbers");
    v.push_back(static_cast<float>(x));
  }
  if (v.empty()) throw OpArgumentError(op, key, attrs.at(key), "a non-empty tuple of positive numbers");
  return v;
}

std::shared_ptr<const OpAttrs> ParseProposal(const std::string& op, bool multi, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {"rpn_pre_nms_top_n", "rpn_post_nms_top_n", "threshold", "rpn_min_size", "scales", "ratios",
                         "feature_stride", "output_score", "iou_loss"});
  auto a = std::make_shared<ProposalAttrs>();
  a->op = op;
  a->multi = multi;
  a->pre = GetInt(op, attrs, "rpn_pre_nms_top_n", 6000);
  a->post = GetInt(op, attrs, "rpn_post_nms_top_n", 300);
  if (a->post < 1) throw OpArgumentError(op, "rpn_post_nms_top_n", attrs.at("rpn_post_nms_top_n"), "a positive integer");
  const double threshold = GetFloat(op, attrs, "threshold", 0.7);
  if (std::isnan(threshold)) throw OpArgumentError(op, "threshold", attrs.at("threshold"), "a number");
  a->threshold = static_cast<float>(threshold);
  a->min_size = GetInt(op, attrs, "rpn_min_size", 16);
  if (a->min_size < 0) throw OpArgumentError(op, "rpn_min_size", attrs.at("rpn_min_size"), "a non-negative integer");
  a->scales = PositiveFloats(op, attrs, "scales", a->scales);
  a->ratios = PositiveFloats(op, attrs, "ratios", a->ratios);
  a->stride = GetInt(op, attrs, "feature_stride", 16);
  if (a->stride < 1) throw OpArgumentError(op, "feature_stride", attrs.at("feature_stride"), "a positive integer");
  a->output_score = GetBool(op, attrs, "output_score", false);
  a->iou_loss = GetBool(op, attrs, "iou_loss", false);
  return a;
}

void ProposalShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const ProposalAttrs&>(attrs);
  const std::string& op = a.op;
  const int64_t A = a.Anchors();
  const char* names[2] = {"cls_prob", "bbox_pred"};
  for (int i = 0; i < 2; ++i)
    if (ShapeKnownRank(in[i]) && in[i].size() != 4)
      throw OpArgumentError(op, names[i], "an array of shape " + ShapeString(in[i]), "4 dimensions (NCHW)");
  if (ShapeKnownRank(in[2]) && in[2].size() != 2)
    throw OpArgumentError(op, "im_info", "an array of shape " + ShapeString(in[2]), "(batch, 3): height, width, scale");
  Shape c = ShapeKnownRank(in[0]) ? in[0] : Shape{-1, -1, -1, -1};
  if (ShapeKnownRank(in[1]))
    for (int d : {0, 2, 3}) c[d] = c[d] >= 0 ? c[d] : in[1][d];
  if (ShapeKnownRank(in[2]) && c[0] < 0) c[0] = in[2][0];
  if (c[1] < 0) c[1] = 2 * A;
  if (c[1] != 2 * A)
    throw OpArgumentError(op, "cls_prob", "an array of shape " + ShapeString(c),
                          "2 * len(scales) * len(ratios) = " + std::to_string(2 * A) + " channels");
  if (!a.multi && c[0] >= 0 && c[0] != 1)
    throw OpArgumentError(op, "cls_prob", "an array of shape " + ShapeString(c),
                          "a batch of 1 (MultiProposal takes several images)");
  if ((c[2] == 0) || (c[3] == 0))
    throw OpArgumentError(op, "cls_prob", "an array of shape " + ShapeString(c), "a non-empty feature map");
  MergeShape(op, "cls_prob", in[0], c);
  MergeShape(op, "bbox_pred", in[1], Shape{c[0], 4 * A, c[2], c[3]});
  MergeShape(op, "im_info", in[2], Shape{c[0], 3});
  const int64_t rows = c[0] >= 0 ? c[0] * a.post : -1;
  MergeShape(op, "output", out[0], Shape{rows, 5});
  MergeShape(op, "score", out[1], Shape{rows, 1});
}

void ProposalType(const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
  const auto& a = static_cast<const ProposalAttrs&>(attrs);
  const char* names[3] = {"cls_prob", "bbox_pred", "im_info"};
  DType t = DType::kUnknown;
  for (size_t i = 0; i < in.size() && t == DType::kUnknown; ++i) t = in[i];
  if (t == DType::kUnknown) t = out[0];
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64)
    throw OpArgumentError(a.op, "cls_prob", std::string("an array of type ") + DTypeName(t), "float32 or float64");
  for (size_t i = 0; i < in.size(); ++i) MergeType(a.op, names[i], in[i], t);
  MergeType(a.op, "output", out[0], t);
  MergeType(a.op, "score", out[1], t);
}

// MXNet's anchors (in float): each ratio, then each scale, around the first cell.
std::vector<float> BaseAnchors(const ProposalAttrs& a) {
  std::vector<float> anchors;
  const float w = static_cast<float>(a.stride), h = w;
  const float x_ctr = static_cast<float>(0.5 * (w - 1.0f)), y_ctr = x_ctr;
  for (float ratio : a.ratios)
    for (float scale : a.scales) {
      const float size_ratios = std::floor(w * h / ratio);
      const float new_w = std::floor(std::sqrt(size_ratios) + 0.5f) * scale;
      const float new_h = std::floor((new_w / scale * ratio) + 0.5f) * scale;
      anchors.insert(anchors.end(), {x_ctr - 0.5f * (new_w - 1.0f), y_ctr - 0.5f * (new_h - 1.0f),
                                     x_ctr + 0.5f * (new_w - 1.0f), y_ctr + 0.5f * (new_h - 1.0f)});
    }
  return anchors;
}

// The decoded, clipped and scored boxes of one image: rows (x1, y1, x2, y2, score), cell by cell.
template <class T>
std::vector<T> DecodeImage(const ProposalAttrs& a, const std::vector<float>& base, const T* cls, const T* deltas,
                           const T* info, int64_t H, int64_t W) {
  const int64_t A = a.Anchors(), HW = H * W;
  const T im_h = info[0], im_w = info[1];
  const int64_t real_h = static_cast<int64_t>(info[0] / static_cast<T>(a.stride));
  const int64_t real_w = static_cast<int64_t>(info[1] / static_cast<T>(a.stride));
  if (real_h > H || real_w > W)
    throw std::invalid_argument(a.op + ": im_info's image of " + std::to_string(static_cast<double>(im_h)) + " x " +
                                std::to_string(static_cast<double>(im_w)) + " needs a feature map of at least " +
                                std::to_string(real_h) + " x " + std::to_string(real_w) + " cells, got " +
                                std::to_string(H) + " x " + std::to_string(W));
  const T min_size = static_cast<T>(a.min_size) * info[2];
  std::vector<T> boxes(static_cast<size_t>(A * HW * 5));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w)
      for (int64_t k = 0; k < A; ++k) {
        T* b = boxes.data() + ((h * W + w) * A + k) * 5;
        const T sx = static_cast<T>(w * a.stride), sy = static_cast<T>(h * a.stride);
        const T x1 = static_cast<T>(base[k * 4] + static_cast<float>(sx)), y1 = static_cast<T>(base[k * 4 + 1] + static_cast<float>(sy));
        const T x2 = static_cast<T>(base[k * 4 + 2] + static_cast<float>(sx)), y2 = static_cast<T>(base[k * 4 + 3] + static_cast<float>(sy));
        const T* d = deltas + (k * 4) * HW + h * W + w;
        T px1, py1, px2, py2;
        if (a.iou_loss) {
          px1 = x1 + d[0];
          py1 = y1 + d[HW];
          px2 = x2 + d[2 * HW];
          py2 = y2 + d[3 * HW];
        } else {
          const T width = static_cast<T>(x2 - x1 + 1.0), height = static_cast<T>(y2 - y1 + 1.0);
          const T cx = static_cast<T>(x1 + 0.5 * (width - 1.0)), cy = static_cast<T>(y1 + 0.5 * (height - 1.0));
          const T pcx = d[0] * width + cx, pcy = d[HW] * height + cy;
          const T pw = std::exp(d[2 * HW]) * width, ph = std::exp(d[3 * HW]) * height;
          px1 = static_cast<T>(pcx - 0.5 * (pw - 1.0));
          py1 = static_cast<T>(pcy - 0.5 * (ph - 1.0));
          px2 = static_cast<T>(pcx + 0.5 * (pw - 1.0));
          py2 = static_cast<T>(pcy + 0.5 * (ph - 1.0));
        }
        b[0] = std::max(std::min(px1, static_cast<T>(im_w - T(1))), T(0));
        b[1] = std::max(std::min(py1, static_cast<T>(im_h - T(1))), T(0));
        b[2] = std::max(std::min(px2, static_cast<T>(im_w - T(1))), T(0));
        b[3] = std::max(std::min(py2, static_cast<T>(im_h - T(1))), T(0));
        b[4] = (h >= real_h || w >= real_w) ? T(-1) : cls[(A + k) * HW + h * W + w];
        if (b[2] - b[0] + T(1) < min_size || b[3] - b[1] + T(1) < min_size) {
          b[0] -= min_size / 2;
          b[1] -= min_size / 2;
          b[2] += min_size / 2;
          b[3] += min_size / 2;
          b[4] = T(-1);
        }
      }
  return boxes;
}

// Greedy suppression over `order` (best first); the positions in `order` kept, at most `limit`.
template <class T>
std::vector<int64_t> Suppress(const std::vector<T>& boxes, const std::vector<int64_t>& order, T threshold, int64_t limit) {
  const int64_t n = static_cast<int64_t>(order.size());
  std::vector<T> area(n);
  for (int64_t i = 0; i < n; ++i) {
    const T* b = boxes.data() + order[i] * 5;
    area[i] = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
  }
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n && static_cast<int64_t>(keep.size()) < limit; ++i) {
    if (suppressed[i]) continue;
    keep.push_back(i);
    const T* bi = boxes.data() + order[i] * 5;
    for (int64_t j = i + 1; j < n; ++j) {
      if (suppressed[j]) continue;
      const T* bj = boxes.data() + order[j] * 5;
      const T w = std::max(T(0), std::min(bi[2], bj[2]) - std::max(bi[0], bj[0]) + T(1));
      const T h = std::max(T(0), std::min(bi[3], bj[3]) - std::max(bi[1], bj[1]) + T(1));
      const T inter = w * h;
      if (inter / (area[i] + area[j] - inter) > threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

template <class T>
void ProposalForwardT(const ProposalAttrs& a, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const Shape& c = in[0].shape;
  const int64_t N = c[0], H = c[2], W = c[3], A = a.Anchors(), count = A * H * W;
  const int64_t pre = std::min(a.pre > 0 ? a.pre : count, count), limit = std::min(a.post, pre);
  const std::vector<float> base = BaseAnchors(a);
  T* rows = out[0].ptr<T>();
  T* scores = out[1].ptr<T>();
  for (int64_t b = 0; b < N; ++b) {
    const std::vector<T> boxes = DecodeImage<T>(a, base, in[0].ptr<T>() + b * 2 * A * H * W,
                                                in[1].ptr<T>() + b * 4 * A * H * W, in[2].ptr<T>() + b * 3, H, W);
    std::vector<int64_t> order(count);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return boxes[i * 5 + 4] > boxes[j * 5 + 4]; });
    order.resize(pre);
    const std::vector<int64_t> keep = Suppress<T>(boxes, order, static_cast<T>(a.threshold), limit);
    const int64_t kept = static_cast<int64_t>(keep.size());
    for (int64_t i = 0; i < a.post; ++i) {
      const T* box = boxes.data() + order[keep[i % kept]] * 5;
      T* row = rows + (b * a.post + i) * 5;
      row[0] = static_cast<T>(b);
      for (int j = 0; j < 4; ++j) row[j + 1] = box[j];
      scores[b * a.post + i] = box[4];
    }
  }
}

void ProposalForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                     std::span<const TensorRef> out) {
  const auto& a = static_cast<const ProposalAttrs&>(attrs);
  if (in[0].dtype == DType::kFloat64) ProposalForwardT<double>(a, in, out);
  else ProposalForwardT<float>(a, in, out);
}

OpDef MakeProposalDef(const std::string& name, bool multi) {
  OpDef def;
  def.name = name;
  def.inputs = {"cls_prob", "bbox_pred", "im_info"};
  def.num_outputs = 2;
  def.count_visible_outputs = [](const OpAttrs& attrs) {
    return static_cast<const ProposalAttrs&>(attrs).output_score ? 2 : 1;
  };
  def.list_outputs = [](const OpAttrs& attrs) {
    if (static_cast<const ProposalAttrs&>(attrs).output_score) return std::vector<std::string>{"output", "score"};
    return std::vector<std::string>{"output"};
  };
  def.parse = [name, multi](const AttrMap& attrs) { return ParseProposal(name, multi, attrs); };
  def.infer_shape = &ProposalShape;
  def.infer_type = &ProposalType;
  def.forward = &ProposalForward;
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { ZeroGradients(io); };
  return Described(
      std::move(def),
      multi ? "Region proposals of a region proposal network for a batch of images: anchors decoded by bbox_pred, "
              "clipped, filtered by size, and reduced by non-maximum suppression."
            : "Region proposals of a region proposal network for one image: anchors decoded by bbox_pred, clipped, "
              "filtered by size, and reduced by non-maximum suppression.",
      {{"cls_prob", "The anchors' scores, (batch, 2 * anchors, height, width): background, then object."},
       {"bbox_pred", "The anchors' box deltas, (batch, 4 * anchors, height, width)."},
       {"im_info", "Each image's (height, width, scale), (batch, 3)."}},
      {Optional("rpn_pre_nms_top_n", "int", "'6000'", "The best boxes kept before suppression (<= 0: all)."),
       Optional("rpn_post_nms_top_n", "int", "'300'", "The output rows per image after suppression."),
       Optional("threshold", "float", "0.699999988", "The overlap above which suppression removes a box."),
       Optional("rpn_min_size", "int", "'16'", "The smallest box side kept, in image pixels before scaling."),
       Optional("scales", "tuple of <float>", "[4,8,16,32]", "The anchor scales."),
       Optional("ratios", "tuple of <float>", "[0.5,1,2]", "The anchor aspect ratios (height / width)."),
       Optional("feature_stride", "int", "'16'", "The feature map's stride in image pixels."),
       Optional("output_score", "boolean", "0", "Whether the scores are a second output."),
       Optional("iou_loss", "boolean", "0", "Whether bbox_pred holds corner deltas (IoU loss) instead of centre ones.")});
}

const bool registered = [] {
  Registry::Add(MakeProposalDef("_contrib_Proposal", false));
  Registry::Add(MakeProposalDef("_contrib_MultiProposal", true));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
