// sort and argsort along an axis (or the flattened array, axis=None), as MXNet 1.9 defines
// them: topk with every element kept. The order is total and deterministic: NaN counts as the
// largest value, -0 equals +0, and equal values keep their positions (a stable sort), so
// descending order lists ties first-come as MXNet's CPU kernel does.
//
// Each line is sorted by an LSD radix sort on the values' bits mapped to unsigned integers
// that order as the values do (one counting pass per byte, skipping bytes every key shares),
// which is stable by construction; lines split across idle compute workers.
// sort keeps the permutation as a hidden int64 output for its gradient; argsort's indices
// have MXNet's zero gradient.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/parallel.h"

namespace flowmod::ops {

namespace {

struct SortAttrs : OpAttrs {
  std::optional<int64_t> axis = -1;  // nullopt: the flattened array
  bool is_ascend = true;
  DType dtype = DType::kFloat32;     // argsort's indices
};

// The unsigned key type whose order is that of T's values.
template <class T>
using KeyOf = std::conditional_t<sizeof(T) == 1, uint8_t,
                                 std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;

template <class T>
KeyOf<T> OrderKey(T v) {
  using K = KeyOf<T>;
  constexpr K kSign = K(1) << (sizeof(K) * 8 - 1);
  if constexpr (std::is_floating_point_v<T>) {
    if (v != v) v = std::numeric_limits<T>::quiet_NaN();  // one NaN, above +inf
    if (v == T(0)) v = T(0);                               // -0 ties with +0
    const K u = std::bit_cast<K>(v);
    return (u & kSign) ? K(~u) : K(u | kSign);
  } else if constexpr (std::is_signed_v<T>) {
    return static_cast<K>(static_cast<K>(v) ^ kSign);
  } else {
    return static_cast<K>(v);
  }
}

// Buffers one worker reuses across its lines.
template <class K>
struct LineSorter {
  std::vector<K> keys, keys_tmp;
  std::vector<uint32_t> idx, idx_tmp;

  // Sorts positions 0..n-1 of `line` (stride `stride`) by OrderKey, ascending or descending,
  // stably; the order is left in idx.
  template <class T>
  void Sort(const T* line, int64_t n, int64_t stride, bool ascend) {
    keys.resize(n);
    idx.resize(n);
    const K flip = ascend ? K(0) : K(~K(0));
    for (int64_t i = 0; i < n; ++i) keys[i] = static_cast<K>(OrderKey<T>(line[i * stride]) ^ flip);
    std::iota(idx.begin(), idx.end(), 0u);
    if (n < 64) {
      std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
      return;
    }
    constexpr int kBytes = sizeof(K);
    std::array<std::array<uint32_t, 256>, kBytes> hist{};
    for (int64_t i = 0; i < n; ++i) {
      const K k = keys[i];
      for (int b = 0; b < kBytes; ++b) ++hist[b][(k >> (8 * b)) & 0xff];
    }
    keys_tmp.resize(n);
    idx_tmp.resize(n);
    for (int b = 0; b < kBytes; ++b) {
      auto& h = hist[b];
      if (h[(keys[0] >> (8 * b)) & 0xff] == static_cast<uint32_t>(n)) continue;  // a byte every key shares
      uint32_t sum = 0;
      for (auto& c : h) {
        const uint32_t t = c;
        c = sum;
        sum += t;
      }
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t pos = h[(keys[i] >> (8 * b)) & 0xff]++;
        keys_tmp[pos] = keys[i];
        idx_tmp[pos] = idx[i];
      }
      keys.swap(keys_tmp);
      idx.swap(idx_tmp);
    }
  }
};

struct Geometry {
  int64_t outer = 1, n = 1, inner = 1;
};

Geometry GeometryOf(const SortAttrs& a, const Shape& shape) {
  Geometry g;
  if (!a.axis) {
    g.n = NumElements(shape);
    return g;
  }
  const int nd = static_cast<int>(shape.size());
  const int ax = static_cast<int>(*a.axis < 0 ? *a.axis + nd : *a.axis);
  for (int i = 0; i < ax; ++i) g.outer *= shape[i];
  for (int i = ax + 1; i < nd; ++i) g.inner *= shape[i];
  g.n = shape[ax];
  return g;
}

// Calls fn(sorter, line_offset, line) for every line (outer, inner) along the axis, lines
// split across idle compute workers when there is enough work.
template <class K, class Fn>
void ForEachLine(const Geometry& g, Fn&& fn) {
  const int64_t lines = g.outer * g.inner;
  const int parts = lines > 1 && lines * g.n >= (1 << 15) ? parallel::Cores() : 1;
  parallel::For(lines, parts, [&](int64_t lo, int64_t hi) {
    LineSorter<K> sorter;
    for (int64_t l = lo; l < hi; ++l) {
      const int64_t o = l / g.inner, j = l % g.inner;
      fn(sorter, o * g.n * g.inner + j);
    }
  });
}

// `values` (sort) and `indices` (either) get the sorted values and their positions.
template <class T>
void SortKernel(const SortAttrs& a, const TensorRef& x, const TensorRef* values, const TensorRef* indices) {
  const Geometry g = GeometryOf(a, x.shape);
  if (g.n == 0) return;
  const T* px = x.ptr<T>();
  FLOWMOD_DTYPE_SWITCH(indices->dtype, I, {
    I* pi = indices->ptr<I>();
    T* pv = values ? values->ptr<T>() : nullptr;
    ForEachLine<KeyOf<T>>(g, [&](LineSorter<KeyOf<T>>& s, int64_t base) {
      s.Sort(px + base, g.n, g.inner, a.is_ascend);
      for (int64_t r = 0; r < g.n; ++r) pi[base + r * g.inner] = static_cast<I>(s.idx[r]);
      if (pv)
        for (int64_t r = 0; r < g.n; ++r) pv[base + r * g.inner] = px[base + s.idx[r] * g.inner];
    });
  });
}

// The gradient of sort: each output's gradient goes back to the position its value came from.
template <class T>
void SortBackwardKernel(const SortAttrs& a, const BackwardIO& io) {
  const Geometry g = GeometryOf(a, io.inputs[0].shape);
  const T* dy = io.out_grads[0].ptr<T>();
  const int64_t* perm = io.outputs[1].ptr<int64_t>();
  T* dx = io.in_grads[0].ptr<T>();
  const OpReq req = io.req[0];
  for (int64_t o = 0; o < g.outer; ++o)
    for (int64_t r = 0; r < g.n; ++r)
      for (int64_t j = 0; j < g.inner; ++j) {
        const int64_t src = (o * g.n + r) * g.inner + j;
        Store(dx[(o * g.n + perm[src]) * g.inner + j], dy[src], req);
      }
}

// The largest index `t` holds exactly.
double ExactIndexLimit(DType t) {
  switch (t) {
    case DType::kUint8: return 255;
    case DType::kFloat16: return 2048;
    case DType::kFloat32: return 16777216.0;
    case DType::kInt32: return 2147483647.0;
    default: return 9007199254740992.0;
  }
}

void CheckSortInput(const std::string& name, const SortAttrs& a, const Shape& shape) {
  if (shape.empty())
    throw OpArgumentError(name, "data", "an array of shape ()", "an array of at least one dimension");
  if (a.axis) AxisOf(name, "axis", *a.axis, shape);
  if (NumElements(shape) > static_cast<int64_t>(UINT32_MAX))
    throw OpArgumentError(name, "data", "an array of shape " + ShapeString(shape), "fewer than 2**32 elements");
}

OpDef SortDef(const std::string& name, bool arg) {
  OpDef def;
  def.name = name;
  def.inputs = {"data"};
  def.input_docs = {{"data", "The input array."}};
  def.params = {
      Optional("axis", "int or None", "'-1'", "The axis to sort along; None sorts the flattened array."),
      Optional("is_ascend", "boolean", "1", "Whether to sort in ascending order (else descending)."),
  };
  if (arg) {
    def.description = "The positions that sort the array along an axis (ascending unless is_ascend=0; equal "
                      "values keep their order, NaN counts as the largest).";
    def.params.push_back(Optional("dtype", "{'float16', 'float32', 'float64', 'int32', 'int64', 'uint8'}",
                                  "'float32'", "The type of the indices returned."));
  } else {
    def.description = "The array sorted along an axis (ascending unless is_ascend=0; NaN counts as the largest).";
    def.num_outputs = 2;  // the permutation, hidden, for the gradient
    def.num_visible_outputs = 1;
  }
  def.parse = [name, arg](const AttrMap& attrs) {
    if (arg) CheckAttrs(name, attrs, {"axis", "is_ascend", "dtype"});
    else CheckAttrs(name, attrs, {"axis", "is_ascend"});
    auto p = std::make_shared<SortAttrs>();
    p->axis = Has(attrs, "axis") ? GetOptionalInt(name, attrs, "axis") : std::optional<int64_t>(-1);
    p->is_ascend = GetBool(name, attrs, "is_ascend", true);
    if (arg) {
      const std::string dt = GetEnum(name, attrs, "dtype", {"float16", "float32", "float64", "int32", "int64", "uint8"},
                                     "float32");
      p->dtype = GetDType(name, AttrMap{{"dtype", dt}}, "dtype");
    }
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name, arg](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SortAttrs&>(attrs);
    if (a.axis) MergeShape(name, "data", in[0], out[0]);
    if (!ShapeKnownRank(in[0]) || !IsKnown(in[0])) return;
    CheckSortInput(name, a, in[0]);
    const int64_t n = NumElements(in[0]);
    if (arg && static_cast<double>(GeometryOf(a, in[0]).n - 1) > ExactIndexLimit(a.dtype))
      throw OpArgumentError(name, "dtype", DTypeName(a.dtype),
                            "a type that holds every index up to " + std::to_string(GeometryOf(a, in[0]).n - 1));
    const Shape target = a.axis ? in[0] : Shape{n};
    for (auto& s : out) MergeShape(name, "output", s, target);
  };
  def.infer_type = [name, arg](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    const auto& a = static_cast<const SortAttrs&>(attrs);
    if (arg) {
      MergeType(name, "output", out[0], a.dtype);
    } else {
      MergeType(name, "data", in[0], out[0]);
      MergeType(name, "output", out[0], in[0]);
      MergeType(name, "output", out[1], DType::kInt64);
    }
    if (in[0] == DType::kFloat16 || in[0] == DType::kBool)
      throw OpArgumentError(name, "data", std::string("an array of type ") + DTypeName(in[0]),
                            "float32, float64, uint8, int8, int32 or int64");
  };
  def.forward = [arg](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                      std::span<const TensorRef> out) {
    const auto& a = static_cast<const SortAttrs&>(attrs);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      if constexpr (!std::is_same_v<T, bool> && !std::is_same_v<T, _Float16>) {
        if (arg) SortKernel<T>(a, in[0], nullptr, &out[0]);
        else SortKernel<T>(a, in[0], &out[0], &out[1]);
      }
    });
  };
  if (arg) {
    def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) { ZeroGradients(io); };
  } else {
    def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
      if (io.req[0] == OpReq::kNull) return;
      const auto& a = static_cast<const SortAttrs&>(attrs);
      FLOWMOD_DTYPE_SWITCH(io.inputs[0].dtype, T, {
        if constexpr (!std::is_same_v<T, bool> && !std::is_same_v<T, _Float16>) SortBackwardKernel<T>(a, io);
      });
    };
  }
  return def;
}

FLOWMOD_REGISTER_OP(SortDef("sort", false));
FLOWMOD_REGISTER_OP(SortDef("argsort", true));

}  // namespace

}  // namespace flowmod::ops
