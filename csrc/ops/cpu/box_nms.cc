// _contrib_box_nms (also _contrib_box_non_maximum_suppression): non-maximum suppression of
// boxes, as MXNet 1.9 computes it. Each row of the input (..., N, width) is a box item with a
// score, four coordinates and optionally a class id; the leading axes are batches.
//
// Per batch: boxes scoring above valid_thresh (and, with id_index, not of background_id) are
// ordered by score, best first (a stable sort, so equal scores keep their input order); the
// first topk take part, and each box that survives suppresses the later ones it overlaps by an
// IoU above overlap_thresh (only those of its own class unless force_suppress). The survivors
// are written first, in score order, and the remaining rows are -1. A hidden output records the
// input row of each output row, so backward moves each box's gradient back to where it came
// from (suppressed boxes get zero).
#include <algorithm>
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

struct NMSAttrs : OpAttrs {
  std::string op;
  double overlap_thresh = 0.5, valid_thresh = 0;
  int64_t topk = -1, coord_start = 2, score_index = 1, id_index = -1, background_id = -1;
  bool force_suppress = false;
  Format in_format = Format::kCorner, out_format = Format::kCorner;
};

std::shared_ptr<const OpAttrs> ParseNMS(const std::string& op, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {"overlap_thresh", "valid_thresh", "topk", "coord_start", "score_index", "id_index",
                         "background_id", "force_suppress", "in_format", "out_format"});
  auto a = std::make_shared<NMSAttrs>();
  a->op = op;
  a->overlap_thresh = GetFloat(op, attrs, "overlap_thresh", 0.5);
  a->valid_thresh = GetFloat(op, attrs, "valid_thresh", 0.0);
  a->topk = GetInt(op, attrs, "topk", -1);
  a->coord_start = GetInt(op, attrs, "coord_start", 2);
  a->score_index = GetInt(op, attrs, "score_index", 1);
  a->id_index = GetInt(op, attrs, "id_index", -1);
  a->background_id = GetInt(op, attrs, "background_id", -1);
  a->force_suppress = GetBool(op, attrs, "force_suppress", false);
  a->in_format = box::GetFormat(op, attrs, "in_format", "corner");
  a->out_format = box::GetFormat(op, attrs, "out_format", "corner");
  return a;
}

// The item layout against the width of a box item: the coordinates, the score and the id
// must lie inside it and not on each other.
void CheckLayout(const NMSAttrs& a, int64_t width) {
  const std::string w = std::to_string(width);
  const int64_t need = a.id_index >= 0 ? 6 : 5;
  if (width < need)
    throw OpArgumentError(a.op, "data", "box items of width " + w,
                          "at least " + std::to_string(need) + " elements (score, 4 coordinates" +
                              (a.id_index >= 0 ? ", class id)" : ")"));
  const int64_t c0 = a.coord_start, c1 = a.coord_start + 3;
  auto in_coords = [&](int64_t i) { return i >= c0 && i <= c1; };
  const std::string coords = "[" + std::to_string(c0) + ", " + std::to_string(c1) + "]";
  if (c0 < 0 || c1 >= width)
    throw OpArgumentError(a.op, "coord_start", std::to_string(c0), "coordinates " + coords + " inside box items of width " + w);
  if (a.score_index < 0 || a.score_index >= width)
    throw OpArgumentError(a.op, "score_index", std::to_string(a.score_index), "an index in [0, " + w + ")");
  if (in_coords(a.score_index))
    throw OpArgumentError(a.op, "score_index", std::to_string(a.score_index), "an index outside the coordinates " + coords);
  if (a.id_index >= 0) {
    if (a.id_index >= width)
      throw OpArgumentError(a.op, "id_index", std::to_string(a.id_index), "-1 or an index in [0, " + w + ")");
    if (in_coords(a.id_index))
      throw OpArgumentError(a.op, "id_index", std::to_string(a.id_index), "an index outside the coordinates " + coords);
    if (a.id_index == a.score_index)
      throw OpArgumentError(a.op, "id_index", std::to_string(a.id_index), "an index other than score_index");
  }
}

void NMSShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const NMSAttrs&>(attrs);
  if (!ShapeKnownRank(in[0]) && ShapeKnownRank(out[0])) in[0] = out[0];
  const Shape& d = in[0];
  if (!ShapeKnownRank(d)) return;
  if (d.size() < 2)
    throw OpArgumentError(a.op, "data", "an array of shape " + ShapeString(d),
                          "at least 2 dimensions (..., boxes, box item)");
  if (d.back() >= 0) CheckLayout(a, d.back());
  Shape record = d;
  record.back() = 1;
  MergeShape(a.op, "output", out[0], d);
  MergeShape(a.op, "output", out[1], record);
}

// Converts one box of `out` to the output encoding; rows starting below 0 (the -1 filler, and
// boxes MXNet also leaves alone) keep theirs.
template <class T>
void Convert(T* b, Format to) {
  if (b[0] < T(0)) return;
  if (to == Format::kCenter) {
    const T l = b[0], t = b[1], r = b[2], bot = b[3];
    b[0] = (l + r) / 2;
    b[1] = (t + bot) / 2;
    b[2] = r - l;
    b[3] = bot - t;
  } else {
    const T x = b[0], y = b[1], w = b[2] / 2, h = b[3] / 2;
    b[0] = x - w;
    b[1] = y - h;
    b[2] = x + w;
    b[3] = y + h;
  }
}

// The surviving candidates of one batch (global row indices, best first).
template <class T>
std::vector<int64_t> Suppress(const NMSAttrs& a, const T* data, int64_t width, std::vector<int64_t> cand) {
  const int64_t k = static_cast<int64_t>(cand.size());
  std::vector<T> area(k);
  for (int64_t i = 0; i < k; ++i) area[i] = box::Area(data + cand[i] * width + a.coord_start, a.in_format);
  std::vector<bool> gone(k, false);
  const bool by_class = !a.force_suppress && a.id_index >= 0;
  const T thresh = T(a.overlap_thresh);
  for (int64_t r = 0; r < k; ++r) {
    if (gone[r]) continue;
    const T* rb = data + cand[r] * width;
    for (int64_t p = r + 1; p < k; ++p) {
      if (gone[p]) continue;
      const T* pb = data + cand[p] * width;
      if (by_class && static_cast<int>(rb[a.id_index]) != static_cast<int>(pb[a.id_index])) continue;
      const T inter = box::Overlap1D(rb + a.coord_start, pb + a.coord_start, a.in_format) *
                      box::Overlap1D(rb + a.coord_start + 1, pb + a.coord_start + 1, a.in_format);
      // MXNet's own division (not box::IoU), so a zero union compares as NaN as there.
      if (inter / (area[r] + area[p] - inter) > thresh) gone[p] = true;
    }
  }
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < k; ++i)
    if (!gone[i]) kept.push_back(cand[i]);
  return kept;
}

template <class T>
void NMSKernel(const NMSAttrs& a, int64_t batch, int64_t n, int64_t width, const T* data, T* out, T* record) {
  const int64_t total = batch * n;
  const int64_t topk = a.topk < 0 ? n : std::min(n, a.topk);
  if (topk < 1) {
    std::copy_n(data, total * width, out);
    for (int64_t i = 0; i < total; ++i) record[i] = T(i);
    return;
  }
  std::fill_n(out, total * width, T(-1));
  std::fill_n(record, total, T(-1));
  const T valid_thresh = T(a.valid_thresh), background = T(a.background_id);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> cand;
    for (int64_t i = b * n; i < (b + 1) * n; ++i) {
      const T* row = data + i * width;
      if (row[a.score_index] > valid_thresh && (a.id_index < 0 || row[a.id_index] != background)) cand.push_back(i);
    }
    std::stable_sort(cand.begin(), cand.end(), [&](int64_t x, int64_t y) {
      return data[x * width + a.score_index] > data[y * width + a.score_index];
    });
    if (static_cast<int64_t>(cand.size()) > topk) cand.resize(topk);
    const std::vector<int64_t> kept = Suppress(a, data, width, std::move(cand));
    for (size_t j = 0; j < kept.size(); ++j) {
      const int64_t o = b * n + static_cast<int64_t>(j);
      std::copy_n(data + kept[j] * width, width, out + o * width);
      record[o] = T(kept[j]);
    }
  }
  if (a.in_format != a.out_format)
    for (int64_t i = 0; i < total; ++i) Convert(out + i * width + a.coord_start, a.out_format);
}

struct Dims {
  int64_t batch, n, width;
  explicit Dims(const Shape& s)
      : batch(Product(s, 0, s.size() - 2)), n(s[s.size() - 2]), width(s.back()) {}
};

void NMSForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const auto& a = static_cast<const NMSAttrs&>(attrs);
  const Dims d(in[0].shape);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                       NMSKernel<T>(a, d.batch, d.n, d.width, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
}

template <class T>
void NMSBackwardKernel(const Dims& d, const T* og, const T* record, T* grad, OpReq req) {
  const int64_t total = d.batch * d.n;
  if (req == OpReq::kWrite) std::fill_n(grad, total * d.width, T(0));
  for (int64_t i = 0; i < total; ++i) {
    const int64_t src = static_cast<int64_t>(record[i]);
    if (src < 0) continue;
    for (int64_t j = 0; j < d.width; ++j) Store(grad[src * d.width + j], og[i * d.width + j], OpReq::kAdd);
  }
}

void NMSBackward(const OpContext&, const OpAttrs&, const BackwardIO& io) {
  if (io.req[0] == OpReq::kNull) return;
  const Dims d(io.inputs[0].shape);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                       NMSBackwardKernel<T>(d, io.out_grads[0].ptr<T>(), io.outputs[1].ptr<T>(),
                                            io.in_grads[0].ptr<T>(), io.req[0]));
}

OpDef MakeNMS(const std::string& name) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.num_outputs = 2;
  def.num_visible_outputs = 1;
  def.parse = [name](const AttrMap& attrs) { return ParseNMS(name, attrs); };
  def.infer_shape = &NMSShape;
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, {"data"}, in, out);
  };
  def.forward = &NMSForward;
  def.backward = &NMSBackward;
  const std::string formats = "'corner' is [xmin, ymin, xmax, ymax], 'center' is [x, y, width, height].";
  return Described(
      std::move(def),
      "Non-maximum suppression per batch: boxes above valid_thresh, best score first, each suppressing the later "
      "ones it overlaps by more than overlap_thresh; survivors first in score order, other rows -1. The gradient "
      "of each output row goes back to the input row it came from.",
      {{"data", "Box items (..., N, width): a score, 4 consecutive coordinates and optionally a class id each."}},
      {Optional("overlap_thresh", "float", "0.5", "The IoU above which the lower-scoring box is suppressed."),
       Optional("valid_thresh", "float", "0", "Only boxes scoring above it take part."),
       Optional("topk", "int", "'-1'", "Only the topk best boxes of each batch take part; -1: all."),
       Optional("coord_start", "int", "'2'", "The index of the first of the 4 coordinates in a box item."),
       Optional("score_index", "int", "'1'", "The index of the score in a box item."),
       Optional("id_index", "int", "'-1'", "The index of the class id in a box item; -1: no class id."),
       Optional("background_id", "int", "'-1'", "With id_index, the class id of the background, whose boxes are dropped."),
       Optional("force_suppress", "boolean", "0", "Whether boxes of different classes suppress each other."),
       Optional("in_format", "{'center', 'corner'}", "'corner'", "The input box encoding: " + formats),
       Optional("out_format", "{'center', 'corner'}", "'corner'", "The output box encoding: " + formats)});
}

const bool registered = [] {
  Registry::Add(MakeNMS("_contrib_box_nms"));
  Registry::Add(MakeNMS("_contrib_box_non_maximum_suppression"));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
