// FullyConnected: out = data · weightᵀ + bias, with data flattened to (batch, in_units)
// (flatten=True) or applied along its last axis (flatten=False). Every product is one BLAS
// call; the bias is written into the output first and the product added to it (beta = 1), so
// it costs no extra pass.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/blas.h"
#include "ops/cpu/nn_common.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

struct FCAttrs : OpAttrs {
  int64_t num_hidden = 0;
  bool no_bias = false;
  bool flatten = true;
};

// data as a (rows, in_units) matrix (infer_shape rejects 0-d data).
void DataMatrix(const FCAttrs& a, const Shape& d, int64_t* rows, int64_t* cols) {
  if (a.flatten) {
    *rows = d[0];
    *cols = NumElements(Shape(d.begin() + 1, d.end()));
  } else {
    *rows = NumElements(Shape(d.begin(), d.end() - 1));
    *cols = d.back();
  }
}

// C = A·op(B) (m x n, inner dimension k) stored under `req`: overwritten or added to.
template <class T>
void GemmReq(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
             int64_t ldb, T* c, int64_t ldc, OpReq req) {
  if (req == OpReq::kNull || m == 0 || n == 0) return;
  if (k == 0) {
    // An empty sum: nothing to add, zeros to write.
    if (req == OpReq::kWrite)
      for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, T(0));
    return;
  }
  blas::Gemm(ta, tb, m, n, k, T(1), a, lda, b, ldb, req == OpReq::kAdd ? T(1) : T(0), c, ldc);
}

// y[i, :] += b for each of the m rows of y (m x n).
template <class T>
void AddBiasRows(const T* __restrict b, int64_t m, int64_t n, T* __restrict y) {
  for (int64_t i = 0; i < m; ++i) {
    T* __restrict row = y + i * n;
    for (int64_t j = 0; j < n; ++j) row[j] += b[j];
  }
}

void FCForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
               std::span<const TensorRef> out) {
  const auto& a = static_cast<const FCAttrs&>(attrs);
  int64_t m, k;
  DataMatrix(a, in[0].shape, &m, &k);
  const int64_t n = a.num_hidden;
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    const T* w = in[1].ptr<T>();
    T* y = out[0].ptr<T>();
    if (a.no_bias) {
      GemmReq(false, true, m, n, k, x, k, w, k, y, n, OpReq::kWrite);
    } else {
      // The product written (beta = 0, which oneDNN and the split across workers run at
      // full speed), then the bias added row by row: cheaper than broadcasting the bias into
      // y first and accumulating the product onto it.
      GemmReq(false, true, m, n, k, x, k, w, k, y, n, OpReq::kWrite);
      AddBiasRows(in[2].ptr<T>(), m, n, y);
    }
  });
}

// Column sums of g (m x n) stored into `out` under `req`.
template <class T>
void ColumnSums(const T* g, int64_t m, int64_t n, T* out, OpReq req) {
  if (req == OpReq::kNull) return;
  if constexpr (std::is_same_v<T, _Float16>) {
    // Summed in float: float16 would lose the small rows.
    std::vector<float> acc(n, 0.f);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) acc[j] += static_cast<float>(g[i * n + j]);
    for (int64_t j = 0; j < n; ++j) Store(out[j], static_cast<T>(acc[j]), req);
  } else {
    // Row by row into the result: contiguous and vectorized.
    if (req == OpReq::kWrite) std::fill_n(out, n, T(0));
    for (int64_t i = 0; i < m; ++i) {
      const T* row = g + i * n;
      for (int64_t j = 0; j < n; ++j) out[j] += row[j];
    }
  }
}

void FCBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const FCAttrs&>(attrs);
  int64_t m, k;
  DataMatrix(a, io.inputs[0].shape, &m, &k);
  const int64_t n = a.num_hidden;
  FLOWMOD_FLOAT_SWITCH(io.inputs[0].dtype, T, {
    const T* g = io.out_grads[0].ptr<T>();
    const T* x = io.inputs[0].ptr<T>();
    const T* w = io.inputs[1].ptr<T>();
    // d(data) = g · weight: (m x n)(n x k).
    GemmReq(false, false, m, k, n, g, n, w, k, io.in_grads[0].ptr<T>(), k, io.req[0]);
    // d(weight) = gᵀ · data: (n x m)(m x k).
    GemmReq(true, false, n, k, m, g, n, x, k, io.in_grads[1].ptr<T>(), k, io.req[1]);
    if (!a.no_bias) ColumnSums(g, m, n, io.in_grads[2].ptr<T>(), io.req[2]);
  });
}

OpDef MakeFullyConnected() {
  const std::string name = "FullyConnected";
  OpDef def;
  def.name = name;
  def.description = "A fully connected layer: data times the transposed weight, plus the bias.";
  def.input_docs = {{"data", "The input array."},
                    {"weight", "The weight, of shape (num_hidden, input features)."},
                    {"bias", "The bias, of shape (num_hidden,) (absent with no_bias)."}};
  def.params = {
      Required("num_hidden", "int", "The number of output features."),
      Optional("no_bias", "boolean", "0", "Whether the layer has no bias."),
      Optional("flatten", "boolean", "1",
               "Whether to flatten all but the first axis of data; otherwise the product is over the last axis."),
  };
  def.list_inputs = [](const OpAttrs& attrs) {
    return static_cast<const FCAttrs&>(attrs).no_bias ? std::vector<std::string>{"data", "weight"}
                                                      : std::vector<std::string>{"data", "weight", "bias"};
  };
  def.parse = [name](const AttrMap& attrs) {
    CheckAttrs(name, attrs, {"num_hidden", "no_bias", "flatten"});
    auto p = std::make_shared<FCAttrs>();
    p->num_hidden = GetInt(name, attrs, "num_hidden");
    if (p->num_hidden < 1)
      throw OpArgumentError(name, "num_hidden", std::to_string(p->num_hidden), "an integer >= 1");
    p->no_bias = GetBool(name, attrs, "no_bias", false);
    p->flatten = GetBool(name, attrs, "flatten", true);
    return std::shared_ptr<const OpAttrs>(p);
  };
  def.infer_shape = [name](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
    const auto& a = static_cast<const FCAttrs&>(attrs);
    Shape& d = in[0];
    if (d == kUnknownShape) return;  // MXNet needs the data's rank to infer anything
    if (d.empty())
      throw OpArgumentError(name, "data", "an array of shape ()", "an array of at least one dimension");
    int64_t units = -1;
    if (!a.flatten) {
      units = d.back();
    } else {
      units = 1;
      for (size_t i = 1; i < d.size(); ++i) units = d[i] < 0 || units < 0 ? -1 : units * d[i];
    }
    MergeShape(name, "weight", in[1], Shape{a.num_hidden, units});
    if (!a.no_bias) {
      // MXNet also accepts a (num_hidden, 1) bias.
      const Shape column{a.num_hidden, 1};
      if (in[2] != column) MergeShape(name, "bias", in[2], Shape{a.num_hidden});
    }
    Shape oshape;
    if (a.flatten) {
      oshape = {d[0], a.num_hidden};
    } else {
      oshape = d;
      oshape.back() = a.num_hidden;
    }
    MergeShape(name, "output", out[0], oshape);
    // The batch size can come back from the output.
    if ((a.flatten || d.size() >= 2) && d[0] < 0) d[0] = out[0][0];
  };
  def.infer_type = [name, args = def.list_inputs](const OpAttrs& attrs, std::vector<DType>& in,
                                                   std::vector<DType>& out) {
    SameFloatType(name, args(attrs), in, out);
  };
  def.forward = &FCForward;
  def.backward = &FCBackward;
  return def;
}

FLOWMOD_REGISTER_OP(MakeFullyConnected());

}  // namespace

}  // namespace flowmod::ops
