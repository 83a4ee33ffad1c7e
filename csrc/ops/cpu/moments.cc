// moments: the mean and the (population) variance of data over `axes`, two outputs, with
// MXNet's legacy shapes (reducing every axis without keepdims gives shape (1,)). MXNet
// requires the axes to be listed: an empty list is refused, as there. The gradient:
//   dx = dmean / N + dvar * 2 (x - mean) / N, N the number of elements reduced over.
// Sums run in double.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "moments";

struct MomentsAttrs : OpAttrs {
  std::vector<int64_t> axes;
  bool keepdims = false;
};

// The reduced shape with the axes kept (length 1) and the strides of an input element's
// result in it (0 along the reduced axes).
struct Reduction {
  Shape kept;
  std::vector<int64_t> strides;
  int64_t count = 1;  // elements per result
};

Reduction ReductionOf(const MomentsAttrs& a, const Shape& in) {
  Reduction r;
  r.kept = in;
  std::set<int> axes;
  for (int64_t axis : a.axes) axes.insert(AxisOf(kOp, "axes", axis, in));
  for (int ax : axes) {
    r.count *= in[ax];
    r.kept[ax] = 1;
  }
  r.strides = Strides(r.kept);
  for (int ax : axes) r.strides[ax] = 0;
  return r;
}

// fn(i, o): every input element i with the index o of its result.
template <class Fn>
void ForEachElement(const Shape& in, const Reduction& r, Fn&& fn) {
  ForEachRow(in, r.strides, 0, [&](int64_t i0, int64_t o0, int64_t n, int64_t st) {
    for (int64_t j = 0; j < n; ++j) fn(i0 + j, o0 + j * st);
  });
}

template <class T>
void Forward(const Shape& shape, const Reduction& r, const T* x, T* mean, T* var) {
  const int64_t m = NumElements(r.kept);
  std::vector<double> sum(m, 0.0), sq(m, 0.0);
  ForEachElement(shape, r, [&](int64_t i, int64_t o) { sum[o] += static_cast<double>(x[i]); });
  for (auto& s : sum) s /= static_cast<double>(r.count);
  ForEachElement(shape, r, [&](int64_t i, int64_t o) {
    const double d = static_cast<double>(x[i]) - sum[o];
    sq[o] += d * d;
  });
  for (int64_t o = 0; o < m; ++o) {
    mean[o] = static_cast<T>(sum[o]);
    var[o] = static_cast<T>(sq[o] / static_cast<double>(r.count));
  }
}

template <class T>
void Backward(const Shape& shape, const Reduction& r, const T* x, const T* mean, const T* dmean, const T* dvar,
              T* dx, OpReq req) {
  const double inv = 1.0 / static_cast<double>(r.count);
  ForEachElement(shape, r, [&](int64_t i, int64_t o) {
    const double g = static_cast<double>(dmean[o]) * inv +
                     static_cast<double>(dvar[o]) * 2.0 * (static_cast<double>(x[i]) - static_cast<double>(mean[o])) * inv;
    Store(dx[i], static_cast<T>(g), req);
  });
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data"};
  def.num_outputs = 2;
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kOp, attrs, {"axes", "keepdims"});
    auto p = std::make_shared<MomentsAttrs>();
    p->axes = GetTuple(kOp, attrs, "axes", {});
    if (p->axes.empty())
      throw OpArgumentError(kOp, "axes", Has(attrs, "axes") ? Quoted(attrs.at("axes")) : "None",
                            "the axes to reduce over (MXNet's moments takes no empty list: give every axis for the "
                            "moments of the whole array)");
    p->keepdims = GetBool(kOp, attrs, "keepdims", false);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    const auto& a = static_cast<const MomentsAttrs&>(attrs);
    const Reduction r = ReductionOf(a, in[0]);
    std::set<int> axes;
    for (int64_t axis : a.axes) {
      const int ax = AxisOf(kOp, "axes", axis, in[0]);
      if (!axes.insert(ax).second)
        throw OpArgumentError(kOp, "axes", "(" + std::to_string(axis) + ", ...)", "distinct axes");
    }
    Shape target = r.kept;
    if (!a.keepdims) {
      target.clear();
      for (size_t i = 0; i < in[0].size(); ++i)
        if (!axes.count(static_cast<int>(i))) target.push_back(in[0][i]);
      if (target.empty()) target = {1};
    }
    MergeShape(kOp, "mean", out[0], target);
    MergeShape(kOp, "var", out[1], target);
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(kOp, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const Reduction r = ReductionOf(static_cast<const MomentsAttrs&>(attrs), in[0].shape);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T,
                         Forward<T>(in[0].shape, r, in[0].ptr<T>(), out[0].ptr<T>(), out[1].ptr<T>()));
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const Reduction r = ReductionOf(static_cast<const MomentsAttrs&>(attrs), io.inputs[0].shape);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         Backward<T>(io.inputs[0].shape, r, io.inputs[0].ptr<T>(), io.outputs[0].ptr<T>(),
                                     io.out_grads[0].ptr<T>(), io.out_grads[1].ptr<T>(), io.in_grads[0].ptr<T>(),
                                     io.req[0]));
  };
  Registry::Add(Described(std::move(def), "The mean and the variance of data over the given axes.", {{"data", "The input array."}}, {Optional("axes", "Shape or None", "None", "The axes to reduce over (required in practice: MXNet refuses none)."), Optional("keepdims", "boolean", "0", "Whether the reduced axes stay, with length 1.")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
