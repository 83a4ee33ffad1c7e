// _split_v2 (behind mx.nd.split_v2 / mx.sym.split_v2): data cut along `axis` at the start
// positions `indices` (the first is 0; the last piece runs to the end), or into `sections`
// pieces whose lengths differ by at most one (the first ones longer), as MXNet 1.9 cuts them.
// squeeze_axis drops the axis from pieces of length 1. The gradient writes each piece's head
// gradient back into its slice of data.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_split_v2";

struct SplitV2Attrs : OpAttrs {
  std::vector<int64_t> indices;
  int64_t axis = 1;
  bool squeeze_axis = false;
  int64_t sections = 0;
  int NumPieces() const { return static_cast<int>(sections > 0 ? sections : static_cast<int64_t>(indices.size())); }
};

// The start of each piece and, last, the axis length.
std::vector<int64_t> Bounds(const SplitV2Attrs& a, int64_t len) {
  std::vector<int64_t> b;
  if (a.sections > 0) {
    const int64_t small = len / a.sections, extra = len % a.sections;
    b.push_back(0);
    for (int64_t i = 0; i < a.sections; ++i) b.push_back(b.back() + small + (i < extra ? 1 : 0));
    return b;
  }
  b = a.indices;
  b.push_back(len);
  return b;
}

struct Extents {
  int64_t outer = 1, len = 1, inner = 1;
};

Extents ExtentsOf(const Shape& s, int ax) {
  Extents e;
  for (int i = 0; i < ax; ++i) e.outer *= s[i];
  for (size_t i = ax + 1; i < s.size(); ++i) e.inner *= s[i];
  e.len = s[ax];
  return e;
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kOp, attrs, {"indices", "axis", "squeeze_axis", "sections"});
    auto p = std::make_shared<SplitV2Attrs>();
    p->sections = GetInt(kOp, attrs, "sections", 0);
    if (p->sections < 0) throw OpArgumentError(kOp, "sections", attrs.at("sections"), "a number of pieces >= 0");
    p->indices = p->sections > 0 ? std::vector<int64_t>{} : GetTuple(kOp, attrs, "indices");
    if (p->sections == 0 && p->indices.empty())
      throw OpArgumentError(kOp, "indices", Quoted(attrs.at("indices")), "the start of each piece (0 first), or sections > 0");
    for (size_t i = 1; i < p->indices.size(); ++i)
      if (p->indices[i] < p->indices[i - 1])
        throw OpArgumentError(kOp, "indices", Quoted(attrs.at("indices")), "non-decreasing start positions");
    p->axis = GetInt(kOp, attrs, "axis", 1);
    p->squeeze_axis = GetBool(kOp, attrs, "squeeze_axis", false);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.count_outputs = [](const OpAttrs& attrs) { return static_cast<const SplitV2Attrs&>(attrs).NumPieces(); };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    const auto& a = static_cast<const SplitV2Attrs&>(attrs);
    const int ax = AxisOf(kOp, "axis", a.axis, in[0]);
    const std::vector<int64_t> b = Bounds(a, in[0][ax]);
    for (size_t i = 0; i + 1 < b.size(); ++i) {
      if (b[i + 1] > in[0][ax])
        throw OpArgumentError(kOp, "indices", std::to_string(b[i + 1]),
                              "positions within axis " + std::to_string(ax) + " of data " + ShapeString(in[0]));
      Shape s = in[0];
      s[ax] = b[i + 1] - b[i];
      if (a.squeeze_axis) {
        if (s[ax] != 1)
          throw OpArgumentError(kOp, "squeeze_axis", "True",
                                "pieces of length 1 (piece " + std::to_string(i) + " has " + std::to_string(s[ax]) + ")");
        s.erase(s.begin() + ax);
      }
      MergeShape(kOp, "output", out[i], s);
    }
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    for (auto& t : out) MergeType(kOp, "data", in[0], t);
    for (auto& t : out) MergeType(kOp, "output", t, in[0]);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const auto& a = static_cast<const SplitV2Attrs&>(attrs);
    const int ax = AxisOf(kOp, "axis", a.axis, in[0].shape);
    const Extents e = ExtentsOf(in[0].shape, ax);
    const std::vector<int64_t> b = Bounds(a, e.len);
    const size_t elem = DTypeSize(in[0].dtype);
    const char* src = static_cast<const char*>(in[0].data);
    for (size_t i = 0; i < out.size(); ++i) {
      const int64_t piece = (b[i + 1] - b[i]) * e.inner;
      char* dst = static_cast<char*>(out[i].data);
      for (int64_t o = 0; o < e.outer && piece > 0; ++o)
        std::memcpy(dst + o * piece * elem, src + (o * e.len + b[i]) * e.inner * elem, piece * elem);
    }
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const auto& a = static_cast<const SplitV2Attrs&>(attrs);
    const TensorRef& gx = io.in_grads[0];
    const int ax = AxisOf(kOp, "axis", a.axis, gx.shape);
    const Extents e = ExtentsOf(gx.shape, ax);
    const std::vector<int64_t> b = Bounds(a, e.len);
    // Positions before the first piece get no gradient: zero them all first under kWrite.
    OpReq req = io.req[0];
    if (req == OpReq::kWrite && !b.empty() && b[0] > 0) {
      std::memset(gx.data, 0, static_cast<size_t>(gx.size()) * DTypeSize(gx.dtype));
      req = OpReq::kAdd;
    }
    FLOWMOD_DTYPE_SWITCH(gx.dtype, T, {
      T* dst = gx.ptr<T>();
      for (size_t i = 0; i < io.out_grads.size(); ++i) {
        const int64_t piece = (b[i + 1] - b[i]) * e.inner;
        const T* g = io.out_grads[i].ptr<T>();
        for (int64_t o = 0; o < e.outer; ++o)
          for (int64_t k = 0; k < piece; ++k)
            Store(dst[(o * e.len + b[i]) * e.inner + k], g[o * piece + k], req);
      }
    });
  };
  Registry::Add(Described(std::move(def), "data split along an axis at the given start positions, or into sections pieces of nearly equal length.", {{"data", "The array to split."}}, {Required("indices", "Shape(tuple)", "The start of each piece along the axis (0 first)."), Optional("axis", "int", "'1'", "The axis to split along."), Optional("squeeze_axis", "boolean", "0", "Whether pieces of length 1 lose the axis."), Optional("sections", "int", "'0'", "The number of pieces of nearly equal length; 0: use indices.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
