// _contrib_MultiBoxPrior: the anchor boxes of SSD, as MXNet 1.9 (after the original Caffe SSD)
// generates them for a feature map (N, C, H, W): at each location, centered at
// ((x + offset_x) * step_x, (y + offset_y) * step_y), one box per size with the first ratio
// and one per further ratio with the first size, of width size * H / W * sqrt(ratio) and
// height size / sqrt(ratio), in corner encoding; an output of (1, H * W * (sizes + ratios - 1), 4).
// The arithmetic is MXNet's, in float32, whatever the output type. The gradient is zero.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/box_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_contrib_MultiBoxPrior";

struct PriorAttrs : OpAttrs {
  std::vector<float> sizes{1.0f}, ratios{1.0f};
  bool clip = false;
  float steps[2] = {-1.0f, -1.0f}, offsets[2] = {0.5f, 0.5f};
};

// The attribute as given, for error messages (defaults are valid, so it is always there).
std::string Given(const AttrMap& attrs, const char* key) { return Quoted(attrs.at(key)); }

std::shared_ptr<const OpAttrs> ParsePrior(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"sizes", "ratios", "clip", "steps", "offsets"});
  auto a = std::make_shared<PriorAttrs>();
  const auto sizes = box::GetFloatTuple(kOp, attrs, "sizes", {1.0});
  const auto ratios = box::GetFloatTuple(kOp, attrs, "ratios", {1.0});
  const auto steps = box::GetFloatTuple(kOp, attrs, "steps", {-1.0, -1.0});
  const auto offsets = box::GetFloatTuple(kOp, attrs, "offsets", {0.5, 0.5});
  if (sizes.empty()) throw OpArgumentError(kOp, "sizes", "()", "at least one size");
  if (ratios.empty()) throw OpArgumentError(kOp, "ratios", "()", "at least one ratio");
  for (double r : ratios)
    if (!(r > 0)) throw OpArgumentError(kOp, "ratios", Given(attrs, "ratios"), "ratios > 0");
  if (steps.size() != 2) throw OpArgumentError(kOp, "steps", Given(attrs, "steps"), "two steps (step_y, step_x)");
  if (steps[0] * steps[1] < 0)
    throw OpArgumentError(kOp, "steps", Given(attrs, "steps"), "both steps > 0, or both <= 0 for 1 / the feature map size");
  if (offsets.size() != 2 || offsets[0] < 0 || offsets[0] > 1 || offsets[1] < 0 || offsets[1] > 1)
    throw OpArgumentError(kOp, "offsets", Given(attrs, "offsets"), "two offsets (offset_y, offset_x) in [0, 1]");
  a->sizes.assign(sizes.begin(), sizes.end());
  a->ratios.assign(ratios.begin(), ratios.end());
  a->clip = GetBool(kOp, attrs, "clip", false);
  for (int i = 0; i < 2; ++i) {
    a->steps[i] = static_cast<float>(steps[i]);
    a->offsets[i] = static_cast<float>(offsets[i]);
  }
  return a;
}

int64_t AnchorsPerPlace(const PriorAttrs& a) {
  return static_cast<int64_t>(a.sizes.size() + a.ratios.size()) - 1;
}

void PriorShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const PriorAttrs&>(attrs);
  const Shape& d = in[0];
  if (!ShapeKnownRank(d)) return;
  if (d.size() < 4 || d[2] == 0 || d[3] == 0)
    throw OpArgumentError(kOp, "data", "an array of shape " + ShapeString(d),
                          "4 dimensions (batch, channel, height, width) with height and width > 0");
  if (d[2] < 0 || d[3] < 0) return;
  MergeShape(kOp, "output", out[0], Shape{1, d[2] * d[3] * AnchorsPerPlace(a), 4});
}

// One box centered at (cx, cy), in float32 as MXNet computes it.
template <class T>
void Put(T* o, float cx, float cy, float w, float h, bool clip) {
  const float v[4] = {cx - w, cy - h, cx + w, cy + h};
  for (int i = 0; i < 4; ++i) o[i] = static_cast<T>(clip ? std::clamp(v[i], 0.0f, 1.0f) : v[i]);
}

template <class T>
void PriorKernel(const PriorAttrs& a, int64_t height, int64_t width, T* out) {
  float step_y = a.steps[0], step_x = a.steps[1];
  if (step_y <= 0 || step_x <= 0) {
    step_y = 1.0f / static_cast<float>(height);
    step_x = 1.0f / static_cast<float>(width);
  }
  const float first_ratio = std::sqrt(a.ratios[0]);
  T* o = out;
  for (int64_t r = 0; r < height; ++r) {
    const float cy = (static_cast<float>(r) + a.offsets[0]) * step_y;
    for (int64_t c = 0; c < width; ++c) {
      const float cx = (static_cast<float>(c) + a.offsets[1]) * step_x;
      for (float size : a.sizes) {
        // MXNet's order of operations: size * H / W, not size * (H / W).
        const float w = size * static_cast<float>(height) / static_cast<float>(width) * first_ratio / 2;
        Put(o, cx, cy, w, size / first_ratio / 2, a.clip);
        o += 4;
      }
      for (size_t j = 1; j < a.ratios.size(); ++j) {
        const float ratio = std::sqrt(a.ratios[j]), size = a.sizes[0];
        const float w = size * static_cast<float>(height) / static_cast<float>(width) * ratio / 2;
        Put(o, cx, cy, w, size / ratio / 2, a.clip);
        o += 4;
      }
    }
  }
}

void PriorForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                  std::span<const TensorRef> out) {
  const auto& a = static_cast<const PriorAttrs&>(attrs);
  FLOWMOD_FLOAT_SWITCH(out[0].dtype, T, PriorKernel<T>(a, in[0].shape[2], in[0].shape[3], out[0].ptr<T>()));
}

const bool registered = [] {
  OpDef def = UnaryDef(kOp);
  def.parse = &ParsePrior;
  def.infer_shape = &PriorShape;
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kOp, in, out);
  };
  def.forward = &PriorForward;
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { box::ZeroGradients(io); };
  Registry::Add(Described(
      std::move(def),
      "The prior (anchor) boxes of SSD for a feature map (N, C, H, W): at each location, one box per size with "
      "the first ratio and one per further ratio with the first size, in corner encoding, of shape "
      "(1, H * W * (len(sizes) + len(ratios) - 1), 4). Its gradient is zero.",
      {{"data", "The feature map, (batch, channel, height, width); only its height and width are used."}},
      {Optional("sizes", "tuple of <float>", "[1]", "The box sizes, as fractions of the image."),
       Optional("ratios", "tuple of <float>", "[1]", "The aspect ratios (width / height) of the boxes."),
       Optional("clip", "boolean", "0", "Whether to clip the boxes to [0, 1]."),
       Optional("steps", "tuple of <float>", "[-1,-1]",
                "The distance between box centers, (step_y, step_x); -1: 1 / the feature map's size."),
       Optional("offsets", "tuple of <float>", "[0.5,0.5]",
                "The offset of the box centers within a step, (offset_y, offset_x).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
