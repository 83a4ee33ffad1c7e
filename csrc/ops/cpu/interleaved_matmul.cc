// The attention products of MXNet's transformer contrib operators, on projections stored
// interleaved by head, and div_sqrt_dim:
// - selfatt_qk (qkv (L, B, 3E), heads) -> (B * heads, L, L): q_i . k_j / sqrt(E / heads), where
//   qkv[l, b] holds, head by head, that head's query, key and value (E / heads values each).
// - selfatt_valatt (qkv, attention (B * heads, L, L)) -> (L, B, E): attention times the values.
// - encdec_qk (queries (Lq, B, E), keys_values (Lk, B, 2E), heads) -> (B * heads, Lq, Lk), the
//   keys and values interleaved head by head as above.
// - encdec_valatt (keys_values, attention (B * heads, Lq, Lk)) -> (Lq, B, E).
// Each is one batch of GEMMs over the B * heads (batch, head) pairs, reading the strided
// projections in place, on the same BLAS path as batch_dot.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ops/blas.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct HeadsAttrs : OpAttrs {
  int64_t heads = 1;
};

enum class Kind { kSelfQK, kSelfValAtt, kEncDecQK, kEncDecValAtt };

// The strided products below: `batch` GEMMs C_i (m x n) = alpha * op(A_i) op(B_i) (+ C_i when
// accumulate), the i-th matrices `stride_*` elements apart.
template <class T>
struct Strided {
  const T* p;
  int64_t ld, stride;
};

template <class T>
void Products(bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, Strided<const T> a,
              Strided<const T> b, T* c, int64_t ldc, int64_t stride_c, bool accumulate) {
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    // An empty sum: nothing to add, zeros to write.
    if (!accumulate)
      for (int64_t i = 0; i < batch; ++i)
        for (int64_t r = 0; r < m; ++r) std::fill_n(c + i * stride_c + r * ldc, n, T(0));
    return;
  }
  blas::GemmBatched(ta, tb, batch, m, n, k, alpha, a.p, a.ld, a.stride, b.p, b.ld, b.stride,
                    accumulate ? T(1) : T(0), c, ldc, stride_c);
}

// The layout of one call: sequence lengths, the (batch, head) pairs, the head size, and the
// row strides (in elements) of the interleaved projections.
struct Layout {
  int64_t lq = 0, lk = 0, pairs = 0, hd = 0;
  int64_t ld_q = 0, ld_kv = 0;   // row strides of queries (or qkv) and keys_values
  int64_t step_q = 0, step_kv = 0;  // distance between consecutive (batch, head) pairs
};

Layout MakeLayout(Kind kind, const HeadsAttrs& a, const Shape& s0, const Shape& s1) {
  Layout l;
  switch (kind) {
    case Kind::kSelfQK:
    case Kind::kSelfValAtt:
      l.lq = l.lk = s0[0];
      l.pairs = s0[1] * a.heads;
      l.hd = s0[2] / 3 / a.heads;
      l.ld_q = l.ld_kv = s0[1] * s0[2];
      l.step_q = l.step_kv = 3 * l.hd;
      break;
    case Kind::kEncDecQK:
      l.lq = s0[0];
      l.lk = s1[0];
      l.pairs = s0[1] * a.heads;
      l.hd = s0[2] / a.heads;
      l.ld_q = s0[1] * s0[2];
      l.ld_kv = s1[1] * s1[2];
      l.step_q = l.hd;
      l.step_kv = 2 * l.hd;
      break;
    case Kind::kEncDecValAtt:
      l.lk = s0[0];
      l.lq = s1[1];
      l.pairs = s0[1] * a.heads;
      l.hd = s0[2] / 2 / a.heads;
      l.ld_kv = s0[1] * s0[2];
      l.step_kv = 2 * l.hd;
      break;
  }
  return l;
}

// scores (pairs, lq, lk) = scale * Q K^T, from the query and key pointers of pair 0.
template <class T>
void QKForward(const Layout& l, const T* q, const T* k, T* out) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(l.hd)));
  Products<T>(false, true, l.pairs, l.lq, l.lk, l.hd, scale, {q, l.ld_q, l.step_q}, {k, l.ld_kv, l.step_kv}, out,
              l.lk, l.lq * l.lk, false);
}

// dQ = scale * G K, dK = scale * G^T Q, accumulated into the gradients (already zero or not).
template <class T>
void QKBackward(const Layout& l, const T* g, const T* q, const T* k, T* dq, T* dk) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(l.hd)));
  const Strided<const T> gs{g, l.lk, l.lq * l.lk};
  if (dq) Products<T>(false, false, l.pairs, l.lq, l.hd, l.lk, scale, gs, {k, l.ld_kv, l.step_kv}, dq, l.ld_q, l.step_q, true);
  if (dk) Products<T>(true, false, l.pairs, l.lk, l.hd, l.lq, scale, gs, {q, l.ld_q, l.step_q}, dk, l.ld_kv, l.step_kv, true);
}

// out (lq, pairs * hd) = attention V, from the value pointer of pair 0.
template <class T>
void ValAttForward(const Layout& l, const T* v, const T* att, T* out) {
  Products<T>(false, false, l.pairs, l.lq, l.hd, l.lk, T(1), {att, l.lk, l.lq * l.lk}, {v, l.ld_kv, l.step_kv}, out,
              l.pairs * l.hd, l.hd, false);
}

// dV = attention^T G (accumulated), d(attention) = G V^T (under `att_req`).
template <class T>
void ValAttBackward(const Layout& l, const T* g, const T* v, const T* att, T* dv, T* datt, OpReq att_req) {
  const Strided<const T> gs{g, l.pairs * l.hd, l.hd};
  if (dv) Products<T>(true, false, l.pairs, l.lk, l.hd, l.lq, T(1), {att, l.lk, l.lq * l.lk}, gs, dv, l.ld_kv, l.step_kv, true);
  if (att_req != OpReq::kNull)
    Products<T>(false, true, l.pairs, l.lq, l.lk, l.hd, T(1), gs, {v, l.ld_kv, l.step_kv}, datt, l.lk, l.lq * l.lk,
                att_req == OpReq::kAdd);
}

// The gradient of an interleaved projection: zeroed first under kWrite (the parts no product
// touches, such as the values of selfatt_qk, are zero); nullptr under kNull.
template <class T>
T* Prepared(const TensorRef& g, OpReq req) {
  if (req == OpReq::kNull) return nullptr;
  if (req == OpReq::kWrite) std::fill_n(g.ptr<T>(), g.size(), T(0));
  return g.ptr<T>();
}

template <class T>
void Forward(Kind kind, const Layout& l, std::span<const TensorRef> in, T* out) {
  const T* p0 = in[0].ptr<T>();
  switch (kind) {
    case Kind::kSelfQK: QKForward<T>(l, p0, p0 + l.hd, out); break;
    case Kind::kSelfValAtt: ValAttForward<T>(l, p0 + 2 * l.hd, in[1].ptr<T>(), out); break;
    case Kind::kEncDecQK: QKForward<T>(l, p0, in[1].ptr<T>(), out); break;
    case Kind::kEncDecValAtt: ValAttForward<T>(l, p0 + l.hd, in[1].ptr<T>(), out); break;
  }
}

template <class T>
void Backward(Kind kind, const Layout& l, const BackwardIO& io) {
  const T* g = io.out_grads[0].ptr<T>();
  const T* p0 = io.inputs[0].ptr<T>();
  T* d0 = Prepared<T>(io.in_grads[0], io.req[0]);
  switch (kind) {
    case Kind::kSelfQK:
      if (d0) QKBackward<T>(l, g, p0, p0 + l.hd, d0, d0 + l.hd);
      break;
    case Kind::kSelfValAtt:
      ValAttBackward<T>(l, g, p0 + 2 * l.hd, io.inputs[1].ptr<T>(), d0 ? d0 + 2 * l.hd : nullptr,
                        io.in_grads[1].ptr<T>(), io.req[1]);
      break;
    case Kind::kEncDecQK: {
      T* d1 = Prepared<T>(io.in_grads[1], io.req[1]);
      QKBackward<T>(l, g, p0, io.inputs[1].ptr<T>(), d0, d1);
      break;
    }
    case Kind::kEncDecValAtt:
      ValAttBackward<T>(l, g, p0 + l.hd, io.inputs[1].ptr<T>(), d0 ? d0 + l.hd : nullptr, io.in_grads[1].ptr<T>(),
                        io.req[1]);
      break;
  }
}

std::string ShapeOf(const Shape& s) { return "an array of shape " + ShapeString(s); }

// Checks the known input shapes and infers the output's.
void InferShape(Kind kind, const std::string& op, const std::vector<std::string>& args, const HeadsAttrs& a,
                std::vector<Shape>& in, std::vector<Shape>& out) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (!ShapeKnownRank(in[i])) return;
    if (in[i].size() != 3) throw OpArgumentError(op, args[i], ShapeOf(in[i]), "3 dimensions");
  }
  const Shape& s0 = in[0];
  const std::string h = std::to_string(a.heads);
  const int64_t parts = kind == Kind::kSelfQK || kind == Kind::kSelfValAtt ? 3 : kind == Kind::kEncDecQK ? 1 : 2;
  if (s0[2] % (parts * a.heads) != 0)
    throw OpArgumentError(op, args[0], ShapeOf(s0),
                          "a last dimension divisible by " + std::to_string(parts) + " * heads = " +
                              std::to_string(parts * a.heads) + " (sequence, batch, " +
                              (parts == 1 ? "" : std::to_string(parts) + " * ") + "heads * head size)");
  Shape o;
  if (kind == Kind::kSelfQK) {
    o = {a.heads * s0[1], s0[0], s0[0]};
  } else if (kind == Kind::kSelfValAtt) {
    const Shape want{s0[1] * a.heads, s0[0], s0[0]};
    if (in[1] != want) throw OpArgumentError(op, "attention", ShapeOf(in[1]), "shape " + ShapeString(want) + " (batch * heads, sequence, sequence)");
    o = {s0[0], s0[1], s0[2] / 3};
  } else if (kind == Kind::kEncDecQK) {
    const Shape& kv = in[1];
    if (kv[1] != s0[1] || kv[2] != 2 * s0[2])
      throw OpArgumentError(op, "keys_values", ShapeOf(kv),
                            "shape (keys, " + std::to_string(s0[1]) + ", " + std::to_string(2 * s0[2]) +
                                "): the batch of queries and twice its projection size");
    o = {s0[1] * a.heads, s0[0], kv[0]};
  } else {
    const Shape& att = in[1];
    if (att[0] != s0[1] * a.heads || att[2] != s0[0])
      throw OpArgumentError(op, "attention", ShapeOf(att),
                            "shape (" + std::to_string(s0[1] * a.heads) + ", queries, " + std::to_string(s0[0]) +
                                "): batch * heads (heads=" + h + ") and the keys of keys_values");
    o = {att[1], s0[1], s0[2] / 2};
  }
  MergeShape(op, "output", out[0], o);
}

OpDef MakeInterleaved(Kind kind, const std::string& name, std::vector<OpInputDoc> inputs, std::string description) {
  OpDef def;
  def.name = name;
  std::vector<std::string> args;
  for (const auto& d : inputs) args.push_back(d.name);
  def.inputs = args;
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"heads"});
    auto a = std::make_shared<HeadsAttrs>();
    a->heads = GetInt(name, attrs, "heads");
    if (a->heads < 1) throw OpArgumentError(name, "heads", attrs.at("heads"), "an integer >= 1");
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [kind, name, args](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    InferShape(kind, name, args, static_cast<const HeadsAttrs&>(attrs), in, out);
  };
  def.infer_type = [name, args](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    SameFloatType(name, args, in, out);
  };
  def.forward = [kind](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                       std::span<const TensorRef> out) {
    const Layout l = MakeLayout(kind, static_cast<const HeadsAttrs&>(attrs), in[0].shape,
                                in.size() > 1 ? in[1].shape : in[0].shape);
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, Forward<T>(kind, l, in, out[0].ptr<T>()));
  };
  def.backward = [kind](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    const Layout l = MakeLayout(kind, static_cast<const HeadsAttrs&>(attrs), io.inputs[0].shape,
                                io.inputs.size() > 1 ? io.inputs[1].shape : io.inputs[0].shape);
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, Backward<T>(kind, l, io));
  };
  return Described(std::move(def), std::move(description), std::move(inputs),
                   {Required("heads", "int", "The number of attention heads.")});
}

// ---- div_sqrt_dim -------------------------------------------------------------------------

template <class T>
void DivideBy(const T* x, T* y, int64_t n, double s, OpReq req) {
  const T d = static_cast<T>(s);
  for (int64_t i = 0; i < n; ++i) Store(y[i], static_cast<T>(x[i] / d), req);
}

OpDef DivSqrtDimDef() {
  const std::string op = "_contrib_div_sqrt_dim";
  OpDef def = UnaryDef(op);
  def.parse = [op](const AttrMap& attrs) {
    CheckAttrs(op, attrs, {});
    return std::shared_ptr<const OpAttrs>(std::make_shared<NoAttrs>());
  };
  def.infer_shape = [op](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape(op, in, out);
    if (ShapeKnownRank(in[0]) && in[0].empty())
      throw OpArgumentError(op, "data", "an array of shape ()", "at least one dimension");
  };
  def.infer_type = [op](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    FloatElemwiseType(op, in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    const double s = std::sqrt(static_cast<double>(in[0].shape.back()));
    FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, DivideBy<T>(in[0].ptr<T>(), out[0].ptr<T>(), in[0].size(), s, OpReq::kWrite));
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    const double s = std::sqrt(static_cast<double>(io.inputs[0].shape.back()));
    FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T,
                         DivideBy<T>(io.out_grads[0].ptr<T>(), io.in_grads[0].ptr<T>(), io.inputs[0].size(), s, io.req[0]));
  };
  def.inplace = {{0, 0}};
  return Described(std::move(def), "The input divided by the square root of its last dimension: data / sqrt(data.shape[-1]).",
                   {{"data", "The input array."}}, {});
}

const bool registered = [] {
  Registry::Add(MakeInterleaved(
      Kind::kSelfQK, "_contrib_interleaved_matmul_selfatt_qk",
      {{"queries_keys_values", "(sequence, batch, 3 * heads * head size): per head its query, key and value."}},
      "Self-attention scores from interleaved projections: for each (batch, head) pair, the queries times the "
      "keys transposed over sqrt(head size), of shape (batch * heads, sequence, sequence)."));
  Registry::Add(MakeInterleaved(
      Kind::kSelfValAtt, "_contrib_interleaved_matmul_selfatt_valatt",
      {{"queries_keys_values", "(sequence, batch, 3 * heads * head size): per head its query, key and value."},
       {"attention", "(batch * heads, sequence, sequence): the attention weights."}},
      "Self-attention output from interleaved projections: for each (batch, head) pair, the attention weights "
      "times the values, of shape (sequence, batch, heads * head size)."));
  Registry::Add(MakeInterleaved(
      Kind::kEncDecQK, "_contrib_interleaved_matmul_encdec_qk",
      {{"queries", "(query sequence, batch, heads * head size): the query projections."},
       {"keys_values", "(key sequence, batch, 2 * heads * head size): per head its key and value."}},
      "Encoder-decoder attention scores: for each (batch, head) pair, the queries times the keys transposed over "
      "sqrt(head size), of shape (batch * heads, query sequence, key sequence)."));
  Registry::Add(MakeInterleaved(
      Kind::kEncDecValAtt, "_contrib_interleaved_matmul_encdec_valatt",
      {{"keys_values", "(key sequence, batch, 2 * heads * head size): per head its key and value."},
       {"attention", "(batch * heads, query sequence, key sequence): the attention weights."}},
      "Encoder-decoder attention output: for each (batch, head) pair, the attention weights times the values, of "
      "shape (query sequence, batch, heads * head size)."));
  Registry::Add(DivSqrtDimDef());
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
