// The box helpers of MXNet's contrib namespace, as MXNet 1.9 computes them:
// - _contrib_box_iou: the intersection over union of every box of lhs (..., 4) with every box
//   of rhs (..., 4), shaped lhs.shape[:-1] + rhs.shape[:-1].
// - _contrib_box_encode: regression targets of anchors towards their matched reference boxes,
//   (offset / size, log size ratio) less means over stds, and a mask of the positive samples.
// - _contrib_box_decode: the inverse for predicted offsets against anchors, clipped in log
//   size when clip > 0; the output is in corner encoding.
// - _contrib_bipartite_matching: greedy one-to-one matching of the rows and columns of a score
//   matrix, best score first.
// MXNet gives all four a zero gradient.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "ops/cpu/box_common.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using box::Format;

std::string ShapeOf(const Shape& s) { return "an array of shape " + ShapeString(s); }

// A known input of at least `min_rank` dimensions whose last is 4 (a box).
void CheckBoxes(const std::string& op, const std::string& arg, const Shape& s, size_t min_rank) {
  if (s.size() < min_rank)
    throw OpArgumentError(op, arg, ShapeOf(s), "at least " + std::to_string(min_rank) + " dimensions, the last of 4 box coordinates");
  if (s.back() != 4) throw OpArgumentError(op, arg, ShapeOf(s), "a last dimension of 4 box coordinates");
}

// exp and log of any floating type (float16 through float).
template <class T>
T Exp(T x) { return static_cast<T>(std::exp(static_cast<AccT<T>>(x))); }
template <class T>
T Log(T x) { return static_cast<T>(std::log(static_cast<AccT<T>>(x))); }

// ---- box_iou ------------------------------------------------------------------------------

struct IoUAttrs : OpAttrs {
  Format format = Format::kCorner;
};

template <class T>
void IoUKernel(Format f, const T* l, int64_t nl, const T* r, int64_t nr, T* out) {
  for (int64_t i = 0; i < nl; ++i)
    for (int64_t j = 0; j < nr; ++j) out[i * nr + j] = box::IoU(l + i * 4, r + j * 4, f);
}

OpDef BoxIoUDef() {
  const std::string op = "_contrib_box_iou";
  OpDef def;
  def.name = op;
  def.inputs = {"lhs", "rhs"};
  def.parse = [op](const AttrMap& attrs) {
    CheckAttrs(op, attrs, {"format"});
    auto a = std::make_shared<IoUAttrs>();
    a->format = box::GetFormat(op, attrs, "format", "corner");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [op](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!ShapeKnownRank(in[0]) || !ShapeKnownRank(in[1])) return;
    CheckBoxes(op, "lhs", in[0], 2);
    CheckBoxes(op, "rhs", in[1], 2);
    Shape o(in[0].begin(), in[0].end() - 1);
    o.insert(o.end(), in[1].begin(), in[1].end() - 1);
    MergeShape(op, "output", out[0], o);
  };
  def.infer_type = [op](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(op, {"lhs", "rhs"}, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const Format f = static_cast<const IoUAttrs&>(attrs).format;
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                         IoUKernel<T>(f, in[0].ptr<T>(), in[0].size() / 4, in[1].ptr<T>(), in[1].size() / 4,
                                      out[0].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  return Described(std::move(def),
                   "The intersection over union of every box of lhs with every box of rhs: an array of shape "
                   "lhs.shape[:-1] + rhs.shape[:-1]. Its gradient is zero.",
                   {{"lhs", "The first boxes, of shape (..., 4)."}, {"rhs", "The second boxes, of shape (..., 4)."}},
                   {Optional("format", "{'center', 'corner'}", "'corner'",
                             "The box encoding: 'corner' is [xmin, ymin, xmax, ymax], 'center' is [x, y, width, height].")});
}

// ---- box_encode ---------------------------------------------------------------------------

template <class T>
void EncodeKernel(int64_t b, int64_t n, int64_t m, const T* samples, const T* matches, const T* anchors,
                  const T* refs, const T* means, const T* stds, T* targets, T* masks) {
  for (int64_t i = 0; i < b * n; ++i) {
    const bool valid = samples[i] > T(0.5);
    T* t = targets + i * 4;
    std::fill_n(masks + i * 4, 4, valid ? T(1) : T(0));
    if (!valid) {
      std::fill_n(t, 4, T(0));
      continue;
    }
    const int64_t match = static_cast<int64_t>(matches[i]);
    if (match < 0 || match >= m)
      throw OpArgumentError("_contrib_box_encode", "matches", std::to_string(match) + " for a positive sample",
                            "an index in [0, " + std::to_string(m) + ")");
    const T* r = refs + ((i / n) * m + match) * 4;
    const T* a = anchors + i * 4;
    const T rw = r[2] - r[0], rh = r[3] - r[1], aw = a[2] - a[0], ah = a[3] - a[1];
    const T rx = r[0] + rw * T(0.5), ry = r[1] + rh * T(0.5);
    const T ax = a[0] + aw * T(0.5), ay = a[1] + ah * T(0.5);
    t[0] = ((rx - ax) / aw - means[0]) / stds[0];
    t[1] = ((ry - ay) / ah - means[1]) / stds[1];
    t[2] = (Log(rw / aw) - means[2]) / stds[2];
    t[3] = (Log(rh / ah) - means[3]) / stds[3];
  }
}

void EncodeShape(std::vector<Shape>& in, std::vector<Shape>& out) {
  const std::string op = "_contrib_box_encode";
  MergeShape(op, "means", in[4], Shape{4});
  MergeShape(op, "stds", in[5], Shape{4});
  Shape& anchors = in[2];
  if (!ShapeKnownRank(anchors) && ShapeKnownRank(out[0])) anchors = out[0];
  if (!ShapeKnownRank(anchors)) return;
  if (anchors.size() != 3) throw OpArgumentError(op, "anchors", ShapeOf(anchors), "3 dimensions (batch, boxes, 4)");
  CheckBoxes(op, "anchors", anchors, 3);
  const Shape bn{anchors[0], anchors[1]};
  MergeShape(op, "samples", in[0], bn);
  MergeShape(op, "matches", in[1], bn);
  if (ShapeKnownRank(in[3])) {
    if (in[3].size() != 3) throw OpArgumentError(op, "refs", ShapeOf(in[3]), "3 dimensions (batch, references, 4)");
    CheckBoxes(op, "refs", in[3], 3);
    if (in[3][0] != anchors[0])
      throw OpArgumentError(op, "refs", ShapeOf(in[3]), "the batch size of anchors, " + std::to_string(anchors[0]));
  }
  MergeShape(op, "output", out[0], anchors);
  MergeShape(op, "output", out[1], anchors);
}

OpDef BoxEncodeDef() {
  const std::string op = "_contrib_box_encode";
  OpDef def;
  def.name = op;
  def.inputs = {"samples", "matches", "anchors", "refs", "means", "stds"};
  def.num_outputs = 2;
  def.parse = [op](const AttrMap& attrs) {
    CheckAttrs(op, attrs, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) { EncodeShape(in, out); };
  def.infer_type = [op](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(op, {"samples", "matches", "anchors", "refs", "means", "stds"}, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const int64_t b = in[2].shape[0], n = in[2].shape[1], m = in[3].shape[1];
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                         EncodeKernel<T>(b, n, m, in[0].ptr<T>(), in[1].ptr<T>(), in[2].ptr<T>(), in[3].ptr<T>(),
                                         in[4].ptr<T>(), in[5].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  return Described(std::move(def),
                   "Regression targets of anchors towards their matched reference boxes (both in corner encoding): "
                   "((center offset / anchor size, log size ratio) - means) / stds for the positive samples and 0 "
                   "elsewhere, and the mask of positive samples. Its gradient is zero.",
                   {{"samples", "(B, N): +1 for a positive sample, -1 negative, 0 ignored."},
                    {"matches", "(B, N): the index in [0, M) of the reference box each anchor is matched to."},
                    {"anchors", "(B, N, 4): the anchors, in corner encoding."},
                    {"refs", "(B, M, 4): the reference boxes, in corner encoding."},
                    {"means", "(4,): the means subtracted from the encoded values."},
                    {"stds", "(4,): the standard deviations the encoded values are divided by."}},
                   {});
}

// ---- box_decode ---------------------------------------------------------------------------

struct DecodeAttrs : OpAttrs {
  double std[4] = {1, 1, 1, 1};
  double clip = -1;
  Format format = Format::kCenter;
};

template <class T>
void DecodeKernel(const DecodeAttrs& p, int64_t b, int64_t n, const T* x, const T* anchors, T* out) {
  const T s0 = T(p.std[0]), s1 = T(p.std[1]), s2 = T(p.std[2]), s3 = T(p.std[3]), clip = T(p.clip);
  for (int64_t i = 0; i < b * n; ++i) {
    const T* a = anchors + (i % n) * 4;
    T ax = a[0], ay = a[1], aw = a[2], ah = a[3];
    if (p.format == Format::kCorner) {
      aw -= ax;
      ah -= ay;
      ax += aw * T(0.5);
      ay += ah * T(0.5);
    }
    const T* d = x + i * 4;
    const T ox = d[0] * s0 * aw + ax, oy = d[1] * s1 * ah + ay;
    T dw = d[2] * s2, dh = d[3] * s3;
    if (p.clip > 0) {
      dw = std::min(dw, clip);
      dh = std::min(dh, clip);
    }
    const T ow = Exp(dw) * aw * T(0.5), oh = Exp(dh) * ah * T(0.5);
    T* o = out + i * 4;
    o[0] = ox - ow;
    o[1] = oy - oh;
    o[2] = ox + ow;
    o[3] = oy + oh;
  }
}

void DecodeShape(std::vector<Shape>& in, std::vector<Shape>& out) {
  const std::string op = "_contrib_box_decode";
  if (!ShapeKnownRank(in[0]) && ShapeKnownRank(out[0])) in[0] = out[0];
  if (!ShapeKnownRank(in[0])) return;
  if (in[0].size() != 3) throw OpArgumentError(op, "data", ShapeOf(in[0]), "3 dimensions (batch, boxes, 4)");
  CheckBoxes(op, "data", in[0], 3);
  MergeShape(op, "anchors", in[1], Shape{1, in[0][1], 4});
  MergeShape(op, "output", out[0], in[0]);
}

OpDef BoxDecodeDef() {
  const std::string op = "_contrib_box_decode";
  OpDef def;
  def.name = op;
  def.inputs = {"data", "anchors"};
  def.parse = [op](const AttrMap& attrs) {
    CheckAttrs(op, attrs, {"std0", "std1", "std2", "std3", "clip", "format"});
    auto a = std::make_shared<DecodeAttrs>();
    for (int i = 0; i < 4; ++i) a->std[i] = GetFloat(op, attrs, "std" + std::to_string(i), 1.0);
    a->clip = GetFloat(op, attrs, "clip", -1.0);
    a->format = box::GetFormat(op, attrs, "format", "center");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) { DecodeShape(in, out); };
  def.infer_type = [op](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(op, {"data", "anchors"}, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& p = static_cast<const DecodeAttrs&>(attrs);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                         DecodeKernel<T>(p, in[0].shape[0], in[0].shape[1], in[0].ptr<T>(), in[1].ptr<T>(),
                                         out[0].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  auto std_doc = [](int i) {
    return Optional("std" + std::to_string(i), "float", "1",
                    "The value the " + std::to_string(i + 1) + (i == 0 ? "st" : i == 1 ? "nd" : i == 2 ? "rd" : "th") +
                        " encoded value is multiplied by.");
  };
  return Described(std::move(def),
                   "Boxes from predicted offsets against anchors, the inverse of box_encode: "
                   "center = offset * std * anchor size + anchor center, size = exp(min(log ratio * std, clip)) * "
                   "anchor size, written in corner encoding. Its gradient is zero.",
                   {{"data", "(B, N, 4): the predicted offsets."},
                    {"anchors", "(1, N, 4): the anchors, in the encoding given by format."}},
                   {std_doc(0), std_doc(1), std_doc(2), std_doc(3),
                    Optional("clip", "float", "-1", "When > 0, the largest log size ratio (before exp)."),
                    Optional("format", "{'center', 'corner'}", "'center'",
                             "The anchors' encoding: 'corner' is [xmin, ymin, xmax, ymax], 'center' is [x, y, width, height].")});
}

// ---- bipartite_matching -------------------------------------------------------------------

struct MatchingAttrs : OpAttrs {
  bool is_ascend = false;
  double threshold = 0;
  int64_t topk = -1;
};

template <class T>
void MatchingKernel(const MatchingAttrs& p, int64_t batch, int64_t rows, int64_t cols, const T* scores,
                    T* row_marker, T* col_marker) {
  const int64_t size = rows * cols;
  std::vector<int64_t> order(size);
  const T threshold = T(p.threshold);
  for (int64_t b = 0; b < batch; ++b) {
    const T* s = scores + b * size;
    T* rm = row_marker + b * rows;
    T* cm = col_marker + b * cols;
    std::fill_n(rm, rows, T(-1));
    std::fill_n(cm, cols, T(-1));
    std::iota(order.begin(), order.end(), int64_t{0});
    // Stable, as MXNet's sort: equal scores keep row-major order.
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t x, int64_t y) { return p.is_ascend ? s[x] < s[y] : s[x] > s[y]; });
    int64_t count = 0;
    for (int64_t idx : order) {
      const int64_t r = idx / cols, c = idx % cols;
      if (rm[r] != T(-1) || cm[c] != T(-1)) continue;
      const bool good = p.is_ascend ? s[idx] < threshold : s[idx] > threshold;
      // The scores are sorted: once one fails the threshold, all later ones do.
      if (!good) break;
      rm[r] = T(c);
      cm[c] = T(r);
      // MXNet stops after the match that takes the count past topk, which it keeps: topk=k
      // leaves k + 1 matches.
      if (p.topk > 0 && ++count > p.topk) break;
    }
  }
}

OpDef BipartiteMatchingDef() {
  const std::string op = "_contrib_bipartite_matching";
  OpDef def;
  def.name = op;
  def.inputs = {"data"};
  def.num_outputs = 2;
  def.parse = [op](const AttrMap& attrs) {
    CheckAttrs(op, attrs, {"is_ascend", "threshold", "topk"});
    auto a = std::make_shared<MatchingAttrs>();
    a->is_ascend = GetBool(op, attrs, "is_ascend", false);
    a->threshold = GetFloat(op, attrs, "threshold");
    a->topk = GetInt(op, attrs, "topk", -1);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [op](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    const Shape& d = in[0];
    if (!ShapeKnownRank(d)) return;
    if (d.size() < 2) throw OpArgumentError(op, "data", ShapeOf(d), "at least 2 dimensions (..., rows, columns)");
    Shape rows(d.begin(), d.end() - 1), cols(d.begin(), d.end() - 2);
    cols.push_back(d.back());
    MergeShape(op, "output", out[0], rows);
    MergeShape(op, "output", out[1], cols);
  };
  def.infer_type = [op](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(op, {"data"}, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& p = static_cast<const MatchingAttrs&>(attrs);
    const Shape& d = in[0].shape;
    const int64_t rows = d[d.size() - 2], cols = d.back();
    const int64_t batch = rows * cols == 0 ? 0 : in[0].size() / (rows * cols);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                         MatchingKernel<T>(p, batch, rows, cols, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  return Described(std::move(def),
                   "Greedy bipartite matching of a score matrix (..., N, M), best score first: the matched column "
                   "of each row and the matched row of each column, -1 where unmatched. Its gradient is zero.",
                   {{"data", "The scores, of shape (..., N, M)."}},
                   {Optional("is_ascend", "boolean", "0", "Whether lower scores are better."),
                    Required("threshold", "float",
                             "Scores not above it (not below it when is_ascend) are never matched."),
                    Optional("topk", "int", "'-1'", "When > 0, stop after the match that exceeds topk matches.")});
}

const bool registered = [] {
  Registry::Add(BoxIoUDef());
  Registry::Add(BoxEncodeDef());
  Registry::Add(BoxDecodeDef());
  Registry::Add(BipartiteMatchingDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
