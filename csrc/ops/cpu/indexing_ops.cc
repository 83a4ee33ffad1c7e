// Indexing operators: take, Embedding, one_hot, pick and where, with MXNet 1.9's legacy
// semantics. Index arrays may have any element type; their values are truncated to integers
// as MXNet's casts do. Index inputs get a zero gradient.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"
#include "ops/cpu/kernel_util.h"

namespace flowmod::ops {

namespace {

// An index value as an integer: floating values truncate toward zero; values beyond any
// array's reach (and NaN) saturate, so that clip and raise treat them as out of range.
template <class I>
int64_t IndexValue(I v) {
  if constexpr (std::is_same_v<I, float> || std::is_same_v<I, double> || std::is_same_v<I, _Float16>) {
    const double d = static_cast<double>(v);
    constexpr double kLimit = 4.0e18;
    if (!(d > -kLimit)) return -static_cast<int64_t>(kLimit);
    if (d > kLimit) return static_cast<int64_t>(kLimit);
    return static_cast<int64_t>(d);
  } else {
    return static_cast<int64_t>(v);
  }
}

enum class IndexMode { kClip, kWrap, kRaise };

const char* ModeName(IndexMode m) {
  return m == IndexMode::kClip ? "clip" : m == IndexMode::kWrap ? "wrap" : "raise";
}

// Resolves every index of `idx` into [0, n) under `mode`; `op` names the operator in the
// error that mode raise gives for an index outside [0, n).
std::vector<int64_t> ResolveIndices(const std::string& op, const TensorRef& idx, int64_t n, IndexMode mode) {
  std::vector<int64_t> out(idx.size());
  FLOWMOD_DTYPE_SWITCH(idx.dtype, I, {
    const I* p = idx.ptr<I>();
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t j = IndexValue(p[i]);
      if (mode == IndexMode::kClip) {
        j = std::clamp<int64_t>(j, 0, n - 1);
      } else if (mode == IndexMode::kWrap) {
        j %= n;
        if (j < 0) j += n;
      } else if (j < 0 || j >= n) {
        throw std::out_of_range(op + ": index " + std::to_string(j) + " at position " + std::to_string(i) +
                                " is out of range [0, " + std::to_string(n) + ") with mode='raise'");
      }
      out[i] = j;
    }
  });
  return out;
}

// The gradient of an index input: zero (nothing to add under kAdd).
void ZeroGrad(const TensorRef& g, OpReq req) {
  if (req == OpReq::kWrite && g.size() > 0)
    std::memset(g.data, 0, static_cast<size_t>(g.size()) * DTypeSize(g.dtype));
}

IndexMode GetMode(const std::string& op, const AttrMap& attrs, bool allow_raise) {
  const std::string m = allow_raise ? GetEnum(op, attrs, "mode", {"clip", "wrap", "raise"}, "clip")
                                    : GetEnum(op, attrs, "mode", {"clip", "wrap"}, "clip");
  return m == "clip" ? IndexMode::kClip : m == "wrap" ? IndexMode::kWrap : IndexMode::kRaise;
}

// ---- take --------------------------------------------------------------------------------

struct TakeAttrs : OpAttrs {
  int64_t axis = 0;
  IndexMode mode = IndexMode::kClip;
};

int TakeAxis(const std::string& op, const TakeAttrs& a, const Shape& arr) {
  if (arr.empty()) throw OpArgumentError(op, "a", "an array of shape ()", "an array with at least one dimension");
  return NormalizeAxis(op, "axis", a.axis, static_cast<int>(arr.size()));
}

OpDef TakeDef() {
  const std::string name = "take";
  OpDef def;
  def.name = name;
  def.description = "Takes the slices of a at the given indices along an axis.";
  def.input_docs = {{"a", "The array to take from."}, {"indices", "The indices of the slices to take."}};
  def.params = {
      Optional("axis", "int", "'0'", "The axis the indices select along."),
      Optional("mode", "{'clip', 'raise', 'wrap'}", "'clip'",
               "What an index out of range does: clip to the ends, wrap around, or raise."),
  };
  def.inputs = {"a", "indices"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "mode"});
    auto a = std::make_shared<TakeAttrs>();
    a->axis = GetInt(name, attrs, "axis", 0);
    a->mode = GetMode(name, attrs, true);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const Shape& arr = in[0];
    const Shape& idx = in[1];
    if (!IsKnown(arr) || !IsKnown(idx)) return;
    const int axis = TakeAxis(name, static_cast<const TakeAttrs&>(attrs), arr);
    if (arr[axis] == 0 && NumElements(idx) > 0)
      throw OpArgumentError(name, "a", "an array of shape " + ShapeString(arr),
                            "a non-empty axis " + std::to_string(axis) + " to take from");
    Shape o(arr.begin(), arr.begin() + axis);
    o.insert(o.end(), idx.begin(), idx.end());
    o.insert(o.end(), arr.begin() + axis + 1, arr.end());
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "output", out[0], in[0]);
    MergeType(name, "a", in[0], out[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const auto& a = static_cast<const TakeAttrs&>(attrs);
    const Shape& arr = in[0].shape;
    const int axis = TakeAxis(name, a, arr);
    const int64_t outer = Product(arr, 0, axis), n = arr[axis], inner = Product(arr, axis + 1, arr.size());
    const auto rows = ResolveIndices(name, in[1], n, a.mode);
    const int64_t m = static_cast<int64_t>(rows.size());
    const size_t bytes = static_cast<size_t>(inner) * DTypeSize(in[0].dtype);
    const char* src = static_cast<const char*>(in[0].data);
    char* dst = static_cast<char*>(out[0].data);
    if (bytes == 0) return;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < m; ++k)
        std::memcpy(dst + ((o * m + k) * inner) * DTypeSize(in[0].dtype),
                    src + ((o * n + rows[k]) * inner) * DTypeSize(in[0].dtype), bytes);
  };
  // The gradient of a sums the head gradient of every element taken from it.
  def.backward = [name](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const TakeAttrs&>(attrs);
    ZeroGrad(io.in_grads[1], io.req[1]);
    const TensorRef& g = io.in_grads[0];
    if (io.req[0] == OpReq::kNull) return;
    const Shape& arr = g.shape;
    const int axis = TakeAxis(name, a, arr);
    const int64_t outer = Product(arr, 0, axis), n = arr[axis], inner = Product(arr, axis + 1, arr.size());
    const auto rows = io.inputs[1].size() > 0 && n > 0 ? ResolveIndices(name, io.inputs[1], n, a.mode)
                                                       : std::vector<int64_t>{};
    const int64_t m = static_cast<int64_t>(rows.size());
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Accumulate(g.ptr<T>(), g.size(), io.req[0], [&](auto* acc) {
                           const T* og = io.out_grads[0].ptr<T>();
                           for (int64_t o = 0; o < outer; ++o)
                             for (int64_t k = 0; k < m; ++k) {
                               const T* s = og + (o * m + k) * inner;
                               auto* d = acc + (o * n + rows[k]) * inner;
                               for (int64_t i = 0; i < inner; ++i) d[i] += s[i];
                             }
                         }));
  };
  return def;
}

// ---- Embedding ---------------------------------------------------------------------------

struct EmbeddingAttrs : OpAttrs {
  int64_t input_dim = 0, output_dim = 0;
  DType dtype = DType::kFloat32;
};

// `what` describes the bool value: "'bool'" for an attribute, "an array of type bool" for an input.
void CheckNotBool(const std::string& op, const std::string& arg, DType t, const std::string& what) {
  if (t == DType::kBool)
    throw OpArgumentError(op, arg, what, "one of float32, float64, float16, uint8, int8, int32, int64");
}

// Embedding and contrib.SparseEmbedding (MXNet's names of one operator). With sparse_grad, or
// as SparseEmbedding, the weight's gradient is row_sparse: the executor runs such a node on
// the sparse arrays (flowmod/executor_storage.py); the dense kernels here serve the rest.
OpDef EmbeddingDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.description = "Maps integer indices to rows of a weight matrix (dense vectors).";
  def.input_docs = {{"data", "The indices, of any shape."}, {"weight", "The embedding matrix, (input_dim, output_dim)."}};
  def.params = {
      Required("input_dim", "int", "The number of rows of the weight: indices range over 0 .. input_dim - 1."),
      Required("output_dim", "int", "The length of each vector."),
      Optional("dtype", "{'bfloat16', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}",
               "'float32'", "The element type of the weight and the output."),
      Optional("sparse_grad", "boolean", "0", "Whether the weight's gradient is row_sparse (the rows the indices name)."),
  };
  def.inputs = {"data", "weight"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"input_dim", "output_dim", "dtype", "sparse_grad"});
    auto a = std::make_shared<EmbeddingAttrs>();
    a->input_dim = GetInt(name, attrs, "input_dim");
    if (a->input_dim < 1) throw OpArgumentError(name, "input_dim", std::to_string(a->input_dim), "at least 1");
    a->output_dim = GetInt(name, attrs, "output_dim");
    if (a->output_dim < 1) throw OpArgumentError(name, "output_dim", std::to_string(a->output_dim), "at least 1");
    a->dtype = GetDType(name, attrs, "dtype", DType::kFloat32);
    CheckNotBool(name, "dtype", a->dtype, "'bool'");
    GetBool(name, attrs, "sparse_grad", false);  // checked here, used by the executor
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const EmbeddingAttrs&>(attrs);
    MergeShape(name, "weight", in[1], Shape{a.input_dim, a.output_dim});
    if (!IsKnown(in[0])) return;
    Shape o = in[0];
    o.push_back(a.output_dim);
    MergeShape(name, "output", out[0], o);
  };
  // The weight's type wins over dtype when it is known, as in MXNet.
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>& in, std::vector<DType>& out) {
    DType t = DType::kUnknown;
    MergeType(name, "weight", t, in[1]);
    MergeType(name, "output", t, out[0]);
    if (t == DType::kUnknown) t = static_cast<const EmbeddingAttrs&>(attrs).dtype;
    CheckNotBool(name, "weight", t, "an array of type bool");
    in[1] = out[0] = t;
  };
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const auto& a = static_cast<const EmbeddingAttrs&>(attrs);
    // MXNet clips indices into the vocabulary.
    const auto rows = ResolveIndices(name, in[0], a.input_dim, IndexMode::kClip);
    const size_t bytes = static_cast<size_t>(a.output_dim) * DTypeSize(in[1].dtype);
    const char* w = static_cast<const char*>(in[1].data);
    char* dst = static_cast<char*>(out[0].data);
    for (size_t k = 0; k < rows.size(); ++k) std::memcpy(dst + k * bytes, w + rows[k] * bytes, bytes);
  };
  // The weight's gradient accumulates the head gradient of every lookup into its row.
  def.backward = [name](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const EmbeddingAttrs&>(attrs);
    ZeroGrad(io.in_grads[0], io.req[0]);
    const TensorRef& g = io.in_grads[1];
    if (io.req[1] == OpReq::kNull) return;
    const auto rows = ResolveIndices(name, io.inputs[0], a.input_dim, IndexMode::kClip);
    const int64_t d = a.output_dim;
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Accumulate(g.ptr<T>(), g.size(), io.req[1], [&](auto* acc) {
                           const T* og = io.out_grads[0].ptr<T>();
                           for (size_t k = 0; k < rows.size(); ++k) {
                             const T* s = og + static_cast<int64_t>(k) * d;
                             auto* r = acc + rows[k] * d;
                             for (int64_t i = 0; i < d; ++i) r[i] += s[i];
                           }
                         }));
  };
  return def;
}

// ---- one_hot -----------------------------------------------------------------------------

struct OneHotAttrs : OpAttrs {
  int64_t depth = 0;
  double on_value = 1, off_value = 0;
  DType dtype = DType::kFloat32;
};

OpDef OneHotDef() {
  const std::string name = "one_hot";
  OpDef def;
  def.name = name;
  def.description = "One-hot vectors: for each index, a vector of depth entries, on_value at the index, off_value elsewhere.";
  def.input_docs = {{"indices", "The indices, of any shape."}};
  def.params = {
      Required("depth", "int", "The length of each vector."),
      Optional("on_value", "double", "1", "The value at each index."),
      Optional("off_value", "double", "0", "The value everywhere else."),
      Optional("dtype", "{'bfloat16', 'float16', 'float32', 'float64', 'int32', 'int64', 'int8', 'uint8'}",
               "'float32'", "The output's element type."),
  };
  def.inputs = {"indices"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"depth", "on_value", "off_value", "dtype"});
    auto a = std::make_shared<OneHotAttrs>();
    a->depth = GetInt(name, attrs, "depth");
    if (a->depth < 0) throw OpArgumentError(name, "depth", std::to_string(a->depth), "a non-negative integer");
    a->on_value = GetFloat(name, attrs, "on_value", 1.0);
    a->off_value = GetFloat(name, attrs, "off_value", 0.0);
    a->dtype = GetDType(name, attrs, "dtype", DType::kFloat32);
    CheckNotBool(name, "dtype", a->dtype, "'bool'");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (!IsKnown(in[0])) return;
    Shape o = in[0];
    o.push_back(static_cast<const OneHotAttrs&>(attrs).depth);
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = [name](const OpAttrs& attrs, std::vector<DType>&, std::vector<DType>& out) {
    MergeType(name, "output", out[0], static_cast<const OneHotAttrs&>(attrs).dtype);
  };
  // An index outside [0, depth) gives a row of off_value.
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const OneHotAttrs&>(attrs);
    const int64_t depth = a.depth;
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, {
      T* o = out[0].ptr<T>();
      std::fill(o, o + out[0].size(), static_cast<T>(a.off_value));
      const T on = static_cast<T>(a.on_value);
      FLOWMOD_DTYPE_SWITCH(in[0].dtype, I, {
        const I* idx = in[0].ptr<I>();
        const int64_t n = in[0].size();
        for (int64_t i = 0; i < n; ++i) {
          const int64_t j = IndexValue(idx[i]);
          if (j >= 0 && j < depth) o[i * depth + j] = on;
        }
      });
    });
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    ZeroGrad(io.in_grads[0], io.req[0]);
  };
  return def;
}

// ---- pick --------------------------------------------------------------------------------

struct PickAttrs : OpAttrs {
  int64_t axis = -1;
  bool keepdims = false;
  IndexMode mode = IndexMode::kClip;
};

// `name`: pick, or MXNet's other name for it, choose_element_0index.
OpDef PickDef(const std::string& name) {
  OpDef def;
  def.name = name;
  def.description = "Picks one element along an axis for each position of the other axes, at the given index.";
  def.input_docs = {{"data", "The array to pick from."}, {"index", "The index to pick at each position."}};
  def.params = {
      Optional("axis", "int or None", "'-1'", "The axis to pick along; None picks from the flattened array."),
      Optional("keepdims", "boolean", "0", "Whether the picked axis stays, with length 1."),
      Optional("mode", "{'clip', 'wrap'}", "'clip'", "What an index out of range does: clip to the ends or wrap around."),
  };
  def.inputs = {"data", "index"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"axis", "keepdims", "mode"});
    auto a = std::make_shared<PickAttrs>();
    if (Has(attrs, "axis") && !GetOptionalInt(name, attrs, "axis"))
      throw OpArgumentError(name, "axis", "None", "an integer axis (MXNet's pick does not support axis=None)");
    a->axis = GetInt(name, attrs, "axis", -1);
    a->keepdims = GetBool(name, attrs, "keepdims", false);
    a->mode = GetMode(name, attrs, false);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const PickAttrs&>(attrs);
    const Shape& d = in[0];
    if (!IsKnown(d)) return;
    if (d.empty())
      throw OpArgumentError(name, "data", "an array of shape ()", "an array with at least one dimension");
    const int axis = NormalizeAxis(name, "axis", a.axis, static_cast<int>(d.size()));
    if (d[axis] == 0 && Product(d, 0, axis) * Product(d, axis + 1, d.size()) > 0)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(d),
                            "a non-empty axis " + std::to_string(axis) + " to pick from");
    Shape o = d;
    if (a.keepdims) o[axis] = 1;
    else if (d.size() == 1) o = {1};  // legacy arrays keep one dimension
    else o.erase(o.begin() + axis);
    MergeShape(name, "index", in[1], o);
    MergeShape(name, "output", out[0], o);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "output", out[0], in[0]);
    MergeType(name, "data", in[0], out[0]);
  };
  def.forward = [name](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const auto& a = static_cast<const PickAttrs&>(attrs);
    const Shape& d = in[0].shape;
    const int axis = NormalizeAxis(name, "axis", a.axis, static_cast<int>(d.size()));
    const int64_t outer = Product(d, 0, axis), n = d[axis], inner = Product(d, axis + 1, d.size());
    if (outer * inner == 0) return;
    const auto picks = ResolveIndices(name, in[1], n, a.mode);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t k = o * inner + i;
          y[k] = x[(o * n + picks[k]) * inner + i];
        }
    });
  };
  def.backward = [name](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const PickAttrs&>(attrs);
    ZeroGrad(io.in_grads[1], io.req[1]);
    const TensorRef& g = io.in_grads[0];
    if (io.req[0] == OpReq::kNull) return;
    const Shape& d = g.shape;
    const int axis = NormalizeAxis(name, "axis", a.axis, static_cast<int>(d.size()));
    const int64_t outer = Product(d, 0, axis), n = d[axis], inner = Product(d, axis + 1, d.size());
    const auto picks = outer * inner > 0 ? ResolveIndices(name, io.inputs[1], n, a.mode) : std::vector<int64_t>{};
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, Accumulate(g.ptr<T>(), g.size(), io.req[0], [&](auto* acc) {
                           const T* og = io.out_grads[0].ptr<T>();
                           for (int64_t o = 0; o < outer && !picks.empty(); ++o)
                             for (int64_t i = 0; i < inner; ++i) {
                               const int64_t k = o * inner + i;
                               acc[(o * n + picks[k]) * inner + i] += og[k];
                             }
                         }));
  };
  return def;
}

// ---- where -------------------------------------------------------------------------------

// Calls body(i, begin, end): elements [begin, end) of x and y follow condition element i
// (each element when condition has x's shape, each row of x's first axis when it is 1-d).
template <class Body>
void ForEachCondition(const TensorRef& cond, const TensorRef& x, Body&& body) {
  const int64_t n = cond.size();
  const int64_t block = cond.shape == x.shape ? 1 : (n == 0 ? 0 : x.size() / n);
  FLOWMOD_DTYPE_SWITCH(cond.dtype, C, {
    const C* c = cond.ptr<C>();
    for (int64_t i = 0; i < n; ++i) body(c[i] != C(0), i * block, (i + 1) * block);
  });
}

OpDef WhereDef() {
  const std::string name = "where";
  OpDef def;
  def.name = name;
  def.description = "Elements of x where condition is nonzero and of y elsewhere.";
  def.input_docs = {{"condition", "The condition, of x's shape (or one value per row of x)."},
                    {"x", "The values where the condition holds."},
                    {"y", "The values where it does not."}};
  def.inputs = {"condition", "x", "y"};
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {});
    return std::make_shared<const NoAttrs>();
  };
  def.infer_shape = [name](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    if (IsKnown(in[1]) && IsKnown(in[2]) && in[1] != in[2])
      throw OpArgumentError(name, "y", "an array of shape " + ShapeString(in[2]),
                            "the shape of x, " + ShapeString(in[1]));
    Shape common = kUnknownShape;
    MergeShape(name, "x", common, in[1]);
    MergeShape(name, "y", common, in[2]);
    MergeShape(name, "output", common, out[0]);
    in[1] = in[2] = out[0] = common;
    if (!IsKnown(common) || !IsKnown(in[0])) return;
    const Shape& c = in[0];
    const bool rows = c.size() == 1 && !common.empty() && c[0] == common[0];
    if (c != common && !rows)
      throw OpArgumentError(name, "condition", "an array of shape " + ShapeString(c),
                            "the shape of x, " + ShapeString(common) +
                                (common.empty() ? std::string() : ", or (" + std::to_string(common[0]) + ",)"));
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    if (in[1] != DType::kUnknown && in[2] != DType::kUnknown && in[1] != in[2])
      throw OpArgumentError(name, "y", std::string("an array of type ") + DTypeName(in[2]),
                            std::string(DTypeName(in[1])) + ", the type of x");
    DType t = DType::kUnknown;
    MergeType(name, "x", t, in[1]);
    MergeType(name, "y", t, in[2]);
    MergeType(name, "output", t, out[0]);
    in[1] = in[2] = out[0] = t;
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const size_t esize = DTypeSize(out[0].dtype);
    const char* x = static_cast<const char*>(in[1].data);
    const char* y = static_cast<const char*>(in[2].data);
    char* o = static_cast<char*>(out[0].data);
    ForEachCondition(in[0], in[1], [&](bool pick_x, int64_t b, int64_t e) {
      if (e > b) std::memcpy(o + b * esize, (pick_x ? x : y) + b * esize, static_cast<size_t>(e - b) * esize);
    });
  };
  // The head gradient goes to x where the condition holds and to y elsewhere.
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    ZeroGrad(io.in_grads[0], io.req[0]);
    FLOWMOD_DTYPE_SWITCH(io.out_grads[0].dtype, T, {
      const T* og = io.out_grads[0].ptr<T>();
      T* gx = io.in_grads[1].ptr<T>();
      T* gy = io.in_grads[2].ptr<T>();
      ForEachCondition(io.inputs[0], io.inputs[1], [&](bool pick_x, int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          if (io.req[1] != OpReq::kNull) Store(gx[k], pick_x ? og[k] : T(0), io.req[1]);
          if (io.req[2] != OpReq::kNull) Store(gy[k], pick_x ? T(0) : og[k], io.req[2]);
        }
      });
    });
  };
  return def;
}

const bool registered = [] {
  Registry::Add(TakeDef());
  Registry::Add(EmbeddingDef("Embedding"));
  Registry::Add(EmbeddingDef("_contrib_SparseEmbedding"));
  Registry::Add(OneHotDef());
  Registry::Add(PickDef("pick"));
  Registry::Add(PickDef("choose_element_0index"));
  Registry::Add(WhereDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
