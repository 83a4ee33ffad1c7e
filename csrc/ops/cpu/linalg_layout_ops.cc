// Moving diagonals and triangles between square matrices and vectors, as MXNet 1.9's linalg
// does, batched over leading axes:
//   extractdiag (n x n -> n - |offset|) and makediag (m -> m + |offset| square, zero elsewhere)
//   extracttrian (n x n -> k (k + 1) / 2 with k = n - |offset|) and maketrian (the inverse)
// The diagonal at `offset` lies above the main one when positive, below when negative. A
// triangle is the lower one (lower=true, offset 0, or offset < 0) packed row by row, or the
// upper one (lower=false, offset 0, or offset > 0) packed column by column: either way, entry
// j of row r of the lower triangle of the transposed matrix is at r (r + 1) / 2 + j. Each
// operator's gradient is the other one of its pair applied to the head gradient.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/linalg_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

using linalg::ShapeArg;

struct LayoutAttrs : OpAttrs {
  int64_t offset = 0;
  bool lower = true;
};

// Where entry (r, c) of a square matrix goes in the packed vector: its index, or -1 when it
// is not part of the diagonal (diag) or triangle selected by the attributes.
int64_t PackedIndex(bool diag, const LayoutAttrs& a, int64_t r, int64_t c) {
  const int64_t k = std::abs(a.offset);
  if (diag) {
    if (c - r != a.offset) return -1;
    return a.offset >= 0 ? r : c;
  }
  if (a.offset > 0 || (a.offset == 0 && !a.lower)) std::swap(r, c);
  r -= k;
  return r >= c ? r * (r + 1) / 2 + c : -1;
}

// Matrix side n from the packed length for the `make` direction; -1 when no n fits.
int64_t SideFromPacked(bool diag, const LayoutAttrs& a, int64_t len) {
  const int64_t k = std::abs(a.offset);
  if (diag) return len + k;
  const int64_t m = static_cast<int64_t>(std::floor(0.5 + (std::sqrt(8.0 * double(len) + 1.0) - 1.0) * 0.5));
  return m * (m + 1) / 2 == len ? m + k : -1;
}

void LayoutShape(const std::string& op, bool diag, bool extract, const LayoutAttrs& a, std::vector<Shape>& in,
                 std::vector<Shape>& out) {
  if (!IsKnown(in[0])) return;
  const Shape& s = in[0];
  const int64_t k = std::abs(a.offset);
  if (extract) {
    linalg::CheckMatrices(op, "A", s, true);
    const int64_t n = s.back() - k;
    if (n <= 0)
      throw OpArgumentError(op, "offset", std::to_string(a.offset),
                            "an offset of magnitude below the matrices' size (" + std::to_string(s.back()) + ")");
    MergeShape(op, "output", out[0], linalg::BatchShape(s, 2, {diag ? n : n * (n + 1) / 2}));
    return;
  }
  if (s.empty()) throw OpArgumentError(op, "A", ShapeArg(s), "an array of rank >= 1");
  const int64_t n = SideFromPacked(diag, a, s.back());
  if (n < 0)
    throw OpArgumentError(op, "A", ShapeArg(s), "a last axis of triangular length m (m + 1) / 2");
  MergeShape(op, "output", out[0], linalg::BatchShape(s, 1, {n, n}));
}

// Packed vectors (count x len) to or from matrices (count x n x n), under `req` for the
// destination. Entries of a matrix outside the selection are zero when it is the destination.
template <class T>
void Move(bool diag, bool to_packed, const LayoutAttrs& a, int64_t count, int64_t n, int64_t len, const T* src,
          T* dst, OpReq req) {
  if (req == OpReq::kNull) return;
  for (int64_t b = 0; b < count; ++b) {
    const T* s = src + b * (to_packed ? n * n : len);
    T* d = dst + b * (to_packed ? len : n * n);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < n; ++c) {
        const int64_t p = PackedIndex(diag, a, r, c);
        if (to_packed) {
          if (p >= 0) Store(d[p], s[r * n + c], req);
        } else {
          Store(d[r * n + c], p >= 0 ? s[p] : T(0), req);
        }
      }
  }
}

OpDef LayoutDef(const std::string& name, bool diag, bool extract) {
  OpDef def;
  def.name = name;
  def.inputs = {"A"};
  def.parse = [name, diag](const AttrMap& m) {
    if (diag) CheckAttrs(name, m, {"offset"});
    else CheckAttrs(name, m, {"offset", "lower"});
    auto a = std::make_shared<LayoutAttrs>();
    a->offset = GetInt(name, m, "offset", 0);
    a->lower = diag ? true : GetBool(name, m, "lower", true);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [name, diag, extract](const OpAttrs& a, std::vector<Shape>& in, std::vector<Shape>& out) {
    LayoutShape(name, diag, extract, static_cast<const LayoutAttrs&>(a), in, out);
  };
  def.infer_type = [name](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    linalg::LinalgType(name, in, out, 1);
  };
  // The matrices are the input when extracting, the output when making.
  auto dims = [extract](const Shape& in, const Shape& out, int64_t* count, int64_t* n, int64_t* len) {
    const Shape& mat = extract ? in : out;
    const Shape& vec = extract ? out : in;
    *count = linalg::MatrixCount(mat);
    *n = mat.back();
    *len = vec.back();
  };
  def.forward = [diag, extract, dims](const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                                      std::span<const TensorRef> out) {
    int64_t count, n, len;
    dims(in[0].shape, out[0].shape, &count, &n, &len);
    FLOWMOD_LINALG_SWITCH(in[0].dtype, T,
                          Move(diag, extract, static_cast<const LayoutAttrs&>(attrs), count, n, len, in[0].ptr<T>(),
                               out[0].ptr<T>(), OpReq::kWrite));
  };
  def.backward = [diag, extract, dims](const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
    int64_t count, n, len;
    dims(io.inputs[0].shape, io.out_grads[0].shape, &count, &n, &len);
    const auto& a = static_cast<const LayoutAttrs&>(attrs);
    FLOWMOD_LINALG_SWITCH(io.inputs[0].dtype, T, {
      T* g = io.in_grads[0].ptr<T>();
      // Extracting drops the unselected entries: their gradient is zero.
      if (extract && io.req[0] == OpReq::kWrite) std::fill(g, g + io.in_grads[0].size(), T(0));
      const OpReq req = extract ? (io.req[0] == OpReq::kNull ? OpReq::kNull : OpReq::kAdd) : io.req[0];
      if (extract) {
        // Scatter the packed head gradient onto the selected entries.
        for (int64_t b = 0; b < count && req != OpReq::kNull; ++b)
          for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < n; ++c) {
              const int64_t p = PackedIndex(diag, a, r, c);
              if (p >= 0) Store(g[b * n * n + r * n + c], io.out_grads[0].ptr<T>()[b * len + p], req);
            }
      } else {
        Move(diag, true, a, count, n, len, io.out_grads[0].ptr<T>(), g, req);
      }
    });
  };
  const std::string what = diag ? "diagonal" : "triangle";
  std::vector<OpParam> params = {Optional("offset", "int", "'0'", "The diagonal's offset from the main diagonal: positive above it, negative below.")};
  if (!diag) params.push_back(Optional("lower", "boolean", "1", "The lower triangle (true) or the upper one (false); only read when offset is 0."));
  if (extract)
    return Described(std::move(def), "The " + what + " of each square matrix of the batch, as a vector.", {{"A", "A batch of square matrices."}}, std::move(params));
  return Described(std::move(def), "Square matrices, zero but for the " + what + " given by each vector of the batch.", {{"A", "A batch of vectors."}}, std::move(params));
}

const bool registered = [] {
  // Aliases are separate definitions, so that errors name the operator as it was called.
  for (const char* prefix : {"_linalg_", "linalg_"}) {
    const std::string p = prefix;
    Registry::Add(LayoutDef(p + "extractdiag", true, true));
    Registry::Add(LayoutDef(p + "makediag", true, false));
    Registry::Add(LayoutDef(p + "extracttrian", false, true));
    Registry::Add(LayoutDef(p + "maketrian", false, false));
  }
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
