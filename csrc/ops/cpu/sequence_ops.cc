// Sequence operators: SequenceMask, SequenceLast and SequenceReverse, with MXNet 1.9's
// semantics. Data is (max_len, batch, ...) for axis=0 or (batch, max_len, ...) for axis=1;
// the optional sequence_length input (batch,) may have any element type, its values
// truncated to integers. Without use_sequence_length every sequence has length max_len.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct SequenceAttrs : OpAttrs {
  bool use_sequence_length = false;
  int64_t axis = 0;
  double value = 0;  // SequenceMask's fill value
};

// Where element (t, b, r) of the data lives: t the step, b the sequence, r the offset in the
// trailing block of `inner` elements.
struct Layout {
  int64_t steps = 0, batch = 0, inner = 1;
  bool batch_major = false;  // axis=1
  int64_t Offset(int64_t t, int64_t b) const {
    return (batch_major ? b * steps + t : t * batch + b) * inner;
  }
};

Layout LayoutOf(const SequenceAttrs& a, const Shape& d) {
  Layout l;
  l.batch_major = a.axis == 1;
  l.steps = d[a.axis];
  l.batch = d[1 - a.axis];
  for (size_t i = 2; i < d.size(); ++i) l.inner *= d[i];
  return l;
}

// Each sequence's length, clamped to [lo, max_len]; max_len for all without the input.
std::vector<int64_t> Lengths(const SequenceAttrs& a, std::span<const TensorRef> in, const Layout& l, int64_t lo) {
  std::vector<int64_t> len(l.batch, l.steps);
  if (!a.use_sequence_length) return len;
  FLOWMOD_DTYPE_SWITCH(in[1].dtype, I, {
    const I* p = in[1].ptr<I>();
    for (int64_t b = 0; b < l.batch; ++b) {
      const double v = static_cast<double>(p[b]);
      // Truncates like MXNet's cast; NaN and values outside the range clamp.
      if (v >= static_cast<double>(l.steps)) len[b] = l.steps;
      else len[b] = v > static_cast<double>(lo) ? static_cast<int64_t>(v) : lo;
    }
  });
  return len;
}

ParseFn SequenceParse(const std::string& name, bool has_value) {
  return [name, has_value](const AttrMap& attrs) {
    if (has_value) CheckAttrs(name, attrs, {"use_sequence_length", "value", "axis"});
    else CheckAttrs(name, attrs, {"use_sequence_length", "axis"});
    auto a = std::make_shared<SequenceAttrs>();
    a->use_sequence_length = GetBool(name, attrs, "use_sequence_length", false);
    a->axis = GetInt(name, attrs, "axis", 0);
    if (a->axis != 0 && a->axis != 1)
      throw OpArgumentError(name, "axis", std::to_string(a->axis), "0 or 1");
    if (has_value) a->value = GetFloat(name, attrs, "value", 0.0);
    return std::shared_ptr<const OpAttrs>(a);
  };
}

// Checks the data's rank and sets sequence_length to (batch,); returns false while the data
// shape is unknown.
bool SequenceShape(const std::string& name, const SequenceAttrs& a, std::vector<Shape>& in) {
  const Shape& d = in[0];
  if (!IsKnown(d)) return false;
  if (d.size() < 2)
    throw OpArgumentError(name, "data", "an array of shape " + ShapeString(d), "an array of rank 2 or more");
  if (a.use_sequence_length) MergeShape(name, "sequence_length", in[1], Shape{d[1 - a.axis]});
  return true;
}

OpDef SequenceDef(const std::string& name, bool has_value) {
  OpDef def;
  def.name = name;
  def.input_docs = {{"data", "The sequences, time axis first by default."},
                    {"sequence_length", "Each sequence's length (use_sequence_length only)."}};
  def.params = {Optional("use_sequence_length", "boolean", "0",
                         "Whether to take per-sequence lengths; otherwise every sequence is full length.")};
  if (has_value) def.params.push_back(Optional("value", "float", "0", "The value the masked steps take."));
  def.params.push_back(Optional("axis", "int", "'0'", "The time axis."));
  def.list_inputs = [](const OpAttrs& attrs) {
    if (static_cast<const SequenceAttrs&>(attrs).use_sequence_length)
      return std::vector<std::string>{"data", "sequence_length"};
    return std::vector<std::string>{"data"};
  };
  def.parse = SequenceParse(name, has_value);
  // sequence_length may have any type; an unknown one takes the data's, as in MXNet.
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    MergeType(name, "output", out[0], in[0]);
    MergeType(name, "data", in[0], out[0]);
    if (in.size() > 1 && in[1] == DType::kUnknown) in[1] = in[0];
  };
  return def;
}

// The zero gradient of sequence_length.
void ZeroLengthGrad(const SequenceAttrs& a, const BackwardIO& io) {
  if (!a.use_sequence_length || io.req[1] != OpReq::kWrite) return;
  const TensorRef& g = io.in_grads[1];
  if (g.size() > 0) std::memset(g.data, 0, static_cast<size_t>(g.size()) * DTypeSize(g.dtype));
}

// Inference of the operators whose output has data's shape (SequenceMask, SequenceReverse).
InferShapeFn SameShapeSequenceInfer(const std::string& name) {
  return [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    MergeShape(name, "output", out[0], in[0]);
    MergeShape(name, "data", in[0], out[0]);
    SequenceShape(name, static_cast<const SequenceAttrs&>(attrs), in);
  };
}

// ---- SequenceMask ------------------------------------------------------------------------

OpDef SequenceMaskDef() {
  const std::string name = "SequenceMask";
  OpDef def = SequenceDef(name, true);
  def.description = "Sets the steps of each sequence at or past its length to a value.";
  def.infer_shape = SameShapeSequenceInfer(name);
  // Steps at or past a sequence's length become `value`.
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    const Layout l = LayoutOf(a, in[0].shape);
    const auto len = Lengths(a, in, l, 0);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
      const T* x = in[0].ptr<T>();
      T* y = out[0].ptr<T>();
      const T fill = static_cast<T>(a.value);
      for (int64_t t = 0; t < l.steps; ++t)
        for (int64_t b = 0; b < l.batch; ++b) {
          const int64_t o = l.Offset(t, b);
          if (t < len[b]) {
            if (x != y) std::copy(x + o, x + o + l.inner, y + o);
          } else {
            std::fill(y + o, y + o + l.inner, fill);
          }
        }
    });
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    ZeroLengthGrad(a, io);
    const OpReq req = io.req[0];
    if (req == OpReq::kNull) return;
    const Layout l = LayoutOf(a, io.inputs[0].shape);
    const auto len = Lengths(a, io.inputs, l, 0);
    FLOWMOD_DTYPE_SWITCH(io.in_grads[0].dtype, T, {
      const T* og = io.out_grads[0].ptr<T>();
      T* g = io.in_grads[0].ptr<T>();
      for (int64_t t = 0; t < l.steps; ++t)
        for (int64_t b = 0; b < l.batch; ++b) {
          const int64_t o = l.Offset(t, b);
          const bool kept = t < len[b];
          for (int64_t r = o; r < o + l.inner; ++r) Store(g[r], kept ? og[r] : T(0), req);
        }
    });
  };
  def.inplace = {{0, 0}};
  return def;
}

// ---- SequenceLast ------------------------------------------------------------------------

OpDef SequenceLastDef() {
  const std::string name = "SequenceLast";
  OpDef def = SequenceDef(name, false);
  def.description = "The last valid step of each sequence.";
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    if (!SequenceShape(name, a, in)) return;
    const Shape& d = in[0];
    Shape o(d.begin() + 1, d.end());
    o[0] = d[1 - a.axis];
    if (d[a.axis] == 0 && NumElements(o) > 0)
      throw OpArgumentError(name, "data", "an array of shape " + ShapeString(d),
                            "at least one step along axis " + std::to_string(a.axis));
    MergeShape(name, "output", out[0], o);
  };
  // Each sequence's step len-1 (lengths below 1 count as 1).
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    const Layout l = LayoutOf(a, in[0].shape);
    if (l.steps == 0) return;
    const auto len = Lengths(a, in, l, 1);
    const size_t bytes = static_cast<size_t>(l.inner) * DTypeSize(in[0].dtype);
    const char* x = static_cast<const char*>(in[0].data);
    char* y = static_cast<char*>(out[0].data);
    const size_t esize = DTypeSize(in[0].dtype);
    for (int64_t b = 0; b < l.batch; ++b)
      std::memcpy(y + b * bytes, x + l.Offset(len[b] - 1, b) * esize, bytes);
  };
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    ZeroLengthGrad(a, io);
    const OpReq req = io.req[0];
    if (req == OpReq::kNull) return;
    const Layout l = LayoutOf(a, io.inputs[0].shape);
    const TensorRef& g = io.in_grads[0];
    if (req == OpReq::kWrite && g.size() > 0)
      std::memset(g.data, 0, static_cast<size_t>(g.size()) * DTypeSize(g.dtype));
    if (l.steps == 0) return;
    const auto len = Lengths(a, io.inputs, l, 1);
    FLOWMOD_DTYPE_SWITCH(g.dtype, T, {
      const T* og = io.out_grads[0].ptr<T>();
      T* pg = g.ptr<T>();
      for (int64_t b = 0; b < l.batch; ++b) {
        T* d = pg + l.Offset(len[b] - 1, b);
        const T* s = og + b * l.inner;
        for (int64_t r = 0; r < l.inner; ++r) d[r] = static_cast<T>(d[r] + s[r]);
      }
    });
  };
  return def;
}

// ---- SequenceReverse ---------------------------------------------------------------------

// Steps [0, len) of each sequence in reverse order; later steps stay in place.
template <class T>
void ReverseSequences(const Layout& l, const std::vector<int64_t>& len, const T* src, T* dst, OpReq req) {
  for (int64_t t = 0; t < l.steps; ++t)
    for (int64_t b = 0; b < l.batch; ++b) {
      const int64_t from = l.Offset(t < len[b] ? len[b] - 1 - t : t, b);
      const int64_t to = l.Offset(t, b);
      for (int64_t r = 0; r < l.inner; ++r) Store(dst[to + r], src[from + r], req);
    }
}

OpDef SequenceReverseDef() {
  const std::string name = "SequenceReverse";
  OpDef def = SequenceDef(name, false);
  def.description = "Reverses the valid steps of each sequence along the time axis.";
  def.parse = [name, base = SequenceParse(name, false)](const AttrMap& attrs) {
    auto parsed = base(attrs);
    const int64_t axis = static_cast<const SequenceAttrs&>(*parsed).axis;
    if (axis != 0)
      throw OpArgumentError(name, "axis", std::to_string(axis), "0 (MXNet reverses along axis 0 only)");
    return parsed;
  };
  def.infer_shape = SameShapeSequenceInfer(name);
  def.forward = [](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                   std::span<const TensorRef> out) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    const Layout l = LayoutOf(a, in[0].shape);
    const auto len = Lengths(a, in, l, 0);
    FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, ReverseSequences(l, len, in[0].ptr<T>(), out[0].ptr<T>(), OpReq::kWrite));
  };
  // The reversal is its own inverse: the gradient is the head gradient reversed the same way.
  def.backward = [](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const auto& a = static_cast<const SequenceAttrs&>(attrs);
    ZeroLengthGrad(a, io);
    if (io.req[0] == OpReq::kNull) return;
    const Layout l = LayoutOf(a, io.inputs[0].shape);
    const auto len = Lengths(a, io.inputs, l, 0);
    FLOWMOD_DTYPE_SWITCH(io.in_grads[0].dtype, T,
                         ReverseSequences(l, len, io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.req[0]));
  };
  return def;
}

const bool registered = [] {
  Registry::Add(SequenceMaskDef());
  Registry::Add(SequenceLastDef());
  Registry::Add(SequenceReverseDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
