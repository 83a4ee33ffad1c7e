// topk as MXNet 1.x defines it: the k largest (or smallest) elements along an axis, or the
// flattened array, returned as values, indices, both, or a 0/1 mask; the gradient flows to the
// elements picked.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// ---- topk ------------------------------------------------------------------------------------

enum class TopKRet { kValue, kIndices, kMask, kBoth };

struct TopKAttrs : OpAttrs {
  std::optional<int64_t> axis;  // nullopt: the flattened array
  int64_t k = 1;
  TopKRet ret = TopKRet::kIndices;
  bool is_ascend = false;
  DType dtype = DType::kFloat32;  // of the indices
};

// The type of the hidden indices that "value" keeps for its gradient.
constexpr DType kHiddenIndexType = DType::kInt64;

// The largest count of consecutive integers from 0 that `t` represents exactly.
double ExactIntegers(DType t) {
  switch (t) {
    case DType::kUint8: return 255;
    case DType::kInt32: return 2147483647.0;
    case DType::kFloat16: return 2048;
    case DType::kFloat32: return 16777216.0;
    default: return 9007199254740992.0;
  }
}

struct TopKGeometry {
  int64_t outer = 1, n = 1, inner = 1, k = 1;
};

TopKGeometry TopKExtents(const TopKAttrs& a, const Shape& shape) {
  TopKGeometry g;
  AxisExtents(shape, a.axis, &g.outer, &g.n, &g.inner);
  g.k = a.k < 1 ? g.n : a.k;
  return g;
}

// Orders indices by value (NaN as the largest), ties by position.
template <class T>
struct TopKOrder {
  const T* v;
  bool ascend;
  bool operator()(int64_t a, int64_t b) const {
    const T x = v[a], y = v[b];
    const bool xn = IsNan(x), yn = IsNan(y);
    bool before, after;
    if (xn || yn) {
      before = ascend ? (yn && !xn) : (xn && !yn);
      after = ascend ? (xn && !yn) : (yn && !xn);
    } else {
      before = ascend ? x < y : x > y;
      after = ascend ? y < x : y > x;
    }
    if (before) return true;
    if (after) return false;
    return a < b;
  }
};

template <class T>
void TopKForwardKernel(const TopKAttrs& a, const TensorRef& x, std::span<const TensorRef> out) {
  const TopKGeometry g = TopKExtents(a, AsReduceInput(x.shape));
  const T* px = x.ptr<T>();
  // Not a vector: vector<bool> has no data().
  std::unique_ptr<T[]> vals(new T[g.n]);
  std::vector<int64_t> order(g.n);
  if (a.ret == TopKRet::kMask) {
    T* mask = out[0].ptr<T>();
    std::fill(mask, mask + out[0].size(), T(0));
  }
  const TensorRef* idx_out = a.ret == TopKRet::kIndices ? &out[0]
                             : a.ret == TopKRet::kMask  ? nullptr
                                                        : &out[1];
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t j = 0; j < g.inner; ++j) {
      const T* line = px + o * g.n * g.inner + j;
      for (int64_t t = 0; t < g.n; ++t) vals[t] = line[t * g.inner];
      std::iota(order.begin(), order.end(), 0);
      const TopKOrder<T> cmp{vals.get(), a.is_ascend};
      if (g.k < g.n) std::partial_sort(order.begin(), order.begin() + g.k, order.end(), cmp);
      else std::sort(order.begin(), order.end(), cmp);
      if (a.ret == TopKRet::kMask) {
        T* mask = out[0].ptr<T>() + o * g.n * g.inner + j;
        for (int64_t r = 0; r < g.k; ++r) mask[order[r] * g.inner] = T(1);
        continue;
      }
      const int64_t base = o * g.k * g.inner + j;
      if (a.ret == TopKRet::kValue || a.ret == TopKRet::kBoth) {
        T* value = out[0].ptr<T>() + base;
        for (int64_t r = 0; r < g.k; ++r) value[r * g.inner] = vals[order[r]];
      }
      FLOWMOD_DTYPE_SWITCH(idx_out->dtype, I, {
        I* index = idx_out->ptr<I>() + base;
        for (int64_t r = 0; r < g.k; ++r) index[r * g.inner] = static_cast<I>(order[r]);
      });
    }
  }
}

template <class T>
void TopKBackwardKernel(const TopKAttrs& a, const BackwardIO& io) {
  const TensorRef& gx = io.in_grads[0];
  const OpReq req = io.req[0];
  T* pgx = gx.ptr<T>();
  if (req == OpReq::kWrite) std::fill(pgx, pgx + gx.size(), T(0));
  const TopKGeometry g = TopKExtents(a, AsReduceInput(io.inputs[0].shape));
  const T* og = io.out_grads[0].ptr<T>();
  const TensorRef& indices = io.outputs[1];
  FLOWMOD_DTYPE_SWITCH(indices.dtype, I, {
    const I* pi = indices.ptr<I>();
    for (int64_t o = 0; o < g.outer; ++o) {
      for (int64_t r = 0; r < g.k; ++r) {
        const int64_t src = (o * g.k + r) * g.inner;
        for (int64_t j = 0; j < g.inner; ++j) {
          const int64_t t = static_cast<int64_t>(pi[src + j]);
          T& dst = pgx[(o * g.n + t) * g.inner + j];
          dst = static_cast<T>(dst + og[src + j]);
        }
      }
    }
  });
}

OpDef TopKOp() {
  const std::string name = "topk";
  OpDef def;
  def.name = name;
  def.description = "The k largest (or smallest) elements along an axis: their values, their indices, or a mask.";
  def.input_docs = {{"data", "The input array."}};
  def.params = {
      Optional("axis", "int or None", "'-1'", "The axis to search; None searches the flattened array."),
      Optional("k", "int", "'1'", "How many elements to return; k < 1 returns them all."),
      Optional("ret_typ", "{'both', 'indices', 'mask', 'value'}", "'indices'",
               "What to return: indices, values, both (values then indices), or a 0/1 mask of data's shape."),
      Optional("is_ascend", "boolean", "0", "Whether to return the smallest elements instead."),
      Optional("dtype", "{'float16', 'float32', 'float64', 'int32', 'int64', 'uint8'}", "'float32'",
               "The type of the indices returned."),
  };
  def.inputs = {"data"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "k", "ret_typ", "is_ascend", "dtype"});
    auto p = std::make_shared<TopKAttrs>();
    p->axis = Has(attrs, "axis") ? GetOptionalInt(name, attrs, "axis") : std::optional<int64_t>(-1);
    p->k = GetInt(name, attrs, "k", 1);
    const std::string ret = GetEnum(name, attrs, "ret_typ", {"value", "indices", "mask", "both"}, "indices");
    p->ret = ret == "value" ? TopKRet::kValue : ret == "mask" ? TopKRet::kMask : ret == "both" ? TopKRet::kBoth
                                                                                              : TopKRet::kIndices;
    p->is_ascend = GetBool(name, attrs, "is_ascend", false);
    const std::string dt = GetEnum(name, attrs, "dtype", {"uint8", "int32", "int64", "float16", "float32", "float64"},
                                   "float32");
    p->dtype = GetDType(name, AttrMap{{"dtype", dt}}, "dtype");
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.count_outputs = [](const OpAttrs& attrs) {
    const auto ret = static_cast<const TopKAttrs&>(attrs).ret;
    return ret == TopKRet::kIndices || ret == TopKRet::kMask ? 1 : 2;
  };
  def.count_visible_outputs = [](const OpAttrs& attrs) {
    return static_cast<const TopKAttrs&>(attrs).ret == TopKRet::kBoth ? 2 : 1;
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (in[0] == kUnknownShape || !IsKnown(in[0])) return;
    const auto& a = static_cast<const TopKAttrs&>(attrs);
    const Shape shape = AsReduceInput(in[0]);
    if (a.axis) NormalizeAxis(name, "axis", *a.axis, static_cast<int>(shape.size()));
    const TopKGeometry g = TopKExtents(a, shape);
    if (g.k < 1 || g.k > g.n)
      throw OpArgumentError(name, "k", std::to_string(a.k),
                            "k <= " + std::to_string(g.n) + " (the elements along the axis of data " +
                                ShapeString(in[0]) + "), or k < 1 for all of them");
    if ((a.ret == TopKRet::kIndices || a.ret == TopKRet::kBoth) &&
        static_cast<double>(g.n - 1) > ExactIntegers(a.dtype))
      throw OpArgumentError(name, "dtype", DTypeName(a.dtype),
                            "a type that represents every index up to " + std::to_string(g.n - 1));
    Shape target;
    if (a.ret == TopKRet::kMask) {
      target = in[0];
    } else if (!a.axis) {
      target = {g.k};
    } else {
      target = shape;
      target[NormalizeAxis(name, "axis", *a.axis, static_cast<int>(shape.size()))] = g.k;
    }
    for (auto& s : out) MergeShape(name, "output", s, target);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const TopKAttrs&>(attrs);
    if (a.ret == TopKRet::kIndices) {
      MergeType(name, "output", out[0], a.dtype);
    } else {
      MergeType(name, "data", in[0], out[0]);
      MergeType(name, "output", out[0], in[0]);
      if (out.size() > 1) MergeType(name, "output", out[1], a.ret == TopKRet::kBoth ? a.dtype : kHiddenIndexType);
    }
    // MXNet's topk has no float16 or bool kernel.
    if (in[0] == DType::kFloat16 || in[0] == DType::kBool)
      throw OpArgumentError(name, "data", std::string("an array of type ") + DTypeName(in[0]),
                            "float32, float64, uint8, int8, int32 or int64");
  };
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const TopKAttrs&>(attrs);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, TopKForwardKernel<T>(a, in[0], out));
  };
  // The values' gradient goes back to the positions they came from; indices and masks have
  // none (zeros), as MXNet's topk defines.
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    if (io.req[0] == OpReq::kNull) return;
    const auto& a = static_cast<const TopKAttrs&>(attrs);
    if (a.ret == TopKRet::kIndices || a.ret == TopKRet::kMask) {
      ZeroGradients(io);
      return;
    }
    FLOWMOD_DTYPE_SWITCH(io.inputs[0].dtype, T, TopKBackwardKernel<T>(a, io));
  };
  return def;
}

const bool registered = [] {
  Registry::Add(TopKOp());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
