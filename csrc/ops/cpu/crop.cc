// Crop: MXNet 1.9's legacy symbolic crop of 4-D NCHW data (arg0) to a height and width given
// by h_w (num_args=1) or by the last two dimensions of a second input, crop_like (arg1,
// num_args=2), at `offset` (y, x) or centred (center_crop). The gradient of data is the
// output gradient placed back at the window, zero elsewhere; crop_like gets a zero gradient.
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "Crop";

struct CropAttrs : OpAttrs {
  int num_args = 1;
  std::vector<int64_t> offset{0, 0}, h_w{0, 0};
  bool center = false;
};

std::shared_ptr<const OpAttrs> ParseCrop(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"data", "num_args", "offset", "h_w", "center_crop"});
  if (Has(attrs, "data"))
    throw OpArgumentError(kOp, "data", Quoted(attrs.at("data")), "the arrays to crop as inputs, not as an attribute");
  auto a = std::make_shared<CropAttrs>();
  const int64_t n = GetInt(kOp, attrs, "num_args");
  if (n != 1 && n != 2)
    throw OpArgumentError(kOp, "num_args", std::to_string(n),
                          "1 (data cropped to h_w) or 2 (data cropped to the height and width of crop_like)");
  a->num_args = static_cast<int>(n);
  a->offset = GetTuple(kOp, attrs, "offset", {0, 0});
  a->h_w = GetTuple(kOp, attrs, "h_w", {0, 0});
  a->center = GetBool(kOp, attrs, "center_crop", false);
  if (a->offset.size() != 2 || a->offset[0] < 0 || a->offset[1] < 0)
    throw OpArgumentError(kOp, "offset", attrs.at("offset"), "two non-negative integers (y, x)");
  if (a->h_w.size() != 2)
    throw OpArgumentError(kOp, "h_w", attrs.at("h_w"), "two integers (height, width)");
  if (a->num_args == 1 && (a->h_w[0] < 1 || a->h_w[1] < 1))
    throw OpArgumentError(kOp, "h_w", Has(attrs, "h_w") ? attrs.at("h_w") : "(0, 0)",
                          "a height and width >= 1 when num_args=1");
  return a;
}

std::vector<std::string> CropArguments(const OpAttrs& attrs) {
  if (static_cast<const CropAttrs&>(attrs).num_args == 2) return {"arg0", "arg1"};
  return {"arg0"};
}

// The window's top-left corner in data of shape `d` for an output of shape `o`.
std::pair<int64_t, int64_t> Corner(const CropAttrs& a, const Shape& d, const Shape& o) {
  if (a.center) return {(d[2] - o[2]) / 2, (d[3] - o[3]) / 2};
  return {a.offset[0], a.offset[1]};
}

void CropInferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const CropAttrs&>(attrs);
  for (size_t i = 0; i < in.size(); ++i)
    if (ShapeKnownRank(in[i]) && in[i].size() != 4)
      throw OpArgumentError(kOp, "arg" + std::to_string(i), "an array of shape " + ShapeString(in[i]),
                            "4 dimensions (batch, channel, height, width)");
  if (!ShapeKnownRank(in[0])) return;
  const Shape& d = in[0];
  int64_t h = a.h_w[0], w = a.h_w[1];
  if (a.num_args == 2) {
    if (!ShapeKnownRank(in[1])) return;
    h = in[1][2];
    w = in[1][3];
  }
  if (d[2] >= 0 && h >= 0 && d[3] >= 0 && w >= 0) {
    const std::string what = a.num_args == 2 ? "the crop_like (arg1) height and width " : "h_w ";
    if (h > d[2] || w > d[3])
      throw OpArgumentError(kOp, "arg0", "an array of shape " + ShapeString(d),
                            "at least " + what + std::to_string(h) + "x" + std::to_string(w));
    const auto [y0, x0] = Corner(a, d, Shape{d[0], d[1], h, w});
    if (y0 + h > d[2] || x0 + w > d[3])
      throw OpArgumentError(kOp, "offset", "(" + std::to_string(a.offset[0]) + ", " + std::to_string(a.offset[1]) + ")",
                            "a window of " + std::to_string(h) + "x" + std::to_string(w) + " inside data of shape " +
                                ShapeString(d));
  }
  MergeShape(kOp, "output", out[0], Shape{d[0], d[1], h, w});
}

void CropInferType(const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
  DType t = in[0] != DType::kUnknown ? in[0] : out[0];
  if (t == DType::kUnknown) return;
  if (t != DType::kFloat32 && t != DType::kFloat64 && t != DType::kFloat16)
    throw OpArgumentError(kOp, "arg0", std::string("an array of type ") + DTypeName(t), "a floating point type");
  MergeType(kOp, "arg0", in[0], t);
  MergeType(kOp, "output", out[0], t);
  // crop_like only lends its shape: any type.
}

void CropForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                 std::span<const TensorRef> out) {
  const auto& a = static_cast<const CropAttrs&>(attrs);
  const Shape& d = in[0].shape;
  const auto [y0, x0] = Corner(a, d, out[0].shape);
  const auto strides = Strides(d);
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    Gather(in[0].ptr<T>(), out[0].shape, strides, y0 * strides[2] + x0, out[0].ptr<T>(), OpReq::kWrite);
  });
}

void CropBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const CropAttrs&>(attrs);
  const TensorRef& dy = io.out_grads[0];
  const Shape& d = io.inputs[0].shape;
  const auto [y0, x0] = Corner(a, d, dy.shape);
  const auto strides = Strides(d);
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    Accumulate(io.in_grads[0].ptr<T>(), NumElements(d), io.req[0],
               [&](auto* acc) { ScatterAdd(dy.ptr<T>(), dy.shape, strides, y0 * strides[2] + x0, acc); });
  });
  if (a.num_args == 2 && io.req[1] == OpReq::kWrite) {
    const TensorRef& g = io.in_grads[1];
    std::memset(g.data, 0, static_cast<size_t>(g.size()) * DTypeSize(g.dtype));
  }
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.list_inputs = &CropArguments;
  def.key_var_num_args = "num_args";
  def.parse = &ParseCrop;
  def.infer_shape = &CropInferShape;
  def.infer_type = &CropInferType;
  def.forward = &CropForward;
  def.backward = &CropBackward;
  Registry::Add(Described(
      std::move(def),
      "Crops the height and width of 4-D data to h_w, or to those of a second input, at an offset or centred.",
      {},
      {Undocumented("data", "Symbol or Symbol[]",
                    "The data to crop, then optionally crop_like, whose height and width the output takes."),
       Required("num_args", "int", "The number of inputs: 1 (crop to h_w) or 2 (crop to crop_like's size)."),
       Optional("offset", "Shape(tuple)", "[0,0]", "The window's top-left corner (y, x), unless center_crop."),
       Optional("h_w", "Shape(tuple)", "[0,0]", "The output's height and width when num_args=1."),
       Optional("center_crop", "boolean", "0", "Whether the window is centred (offset is then ignored).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
