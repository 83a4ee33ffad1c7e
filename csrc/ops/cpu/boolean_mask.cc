// _contrib_boolean_mask: the rows of data (along axis 0, the only axis MXNet 1.9.1 supports)
// whose entry in the 1-d index is non-zero, in order. The output's first dimension depends on
// index's values, so no shape inference can give it from shapes alone: the NDArray front end
// (flowmod/ndarray/contrib.py) waits for index, counts its non-zero entries and passes the
// count as the graph attribute __num_selected__; the kernel checks that count again. Without
// it (a Symbol graph) the output's shape stays unknown and binding fails, as in MXNet, whose
// boolean_mask runs only imperatively. The gradient copies each selected row's head gradient
// back to its row and gives the other rows zero; index gets none.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "_contrib_boolean_mask";
const char* const kCount = "__num_selected__";

struct BooleanMaskAttrs : OpAttrs {
  int64_t selected = -1;  // -1: not counted yet
};

std::shared_ptr<const OpAttrs> ParseBooleanMask(const AttrMap& attrs) {
  CheckAttrs(kOp, attrs, {"axis"});
  auto a = std::make_shared<BooleanMaskAttrs>();
  const int64_t axis = GetInt(kOp, attrs, "axis", 0);
  if (axis != 0) throw OpArgumentError(kOp, "axis", attrs.at("axis"), "0 (the only axis MXNet supports)");
  if (Has(attrs, kCount)) {
    a->selected = GetInt(kOp, attrs, kCount);
    if (a->selected < 0) throw OpArgumentError(kOp, kCount, attrs.at(kCount), "a count >= 0");
  }
  return a;
}

void BooleanMaskInferShape(const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
  const auto& a = static_cast<const BooleanMaskAttrs&>(attrs);
  if (in[1] != kUnknownShape && in[1].size() != 1)
    throw OpArgumentError(kOp, "index", "an array of shape " + ShapeString(in[1]), "a 1-d array");
  if (in[0] == kUnknownShape) return;
  if (in[0].empty()) throw OpArgumentError(kOp, "data", "an array of shape ()", "an array of at least 1 dimension");
  MergeShape(kOp, "index", in[1], Shape{in[0][0]});
  Shape result = in[0];
  result[0] = a.selected;
  if (a.selected > in[0][0])
    throw OpArgumentError(kOp, kCount, std::to_string(a.selected), "at most the " + std::to_string(in[0][0]) + " rows of data");
  MergeShape(kOp, "output", out[0], result);
}

void BooleanMaskInferType(const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
  MergeType(kOp, "output", out[0], in[0]);
  MergeType(kOp, "data", in[0], out[0]);
}

// The selected rows of index, in order; throws when their number is not `expected`.
std::vector<int64_t> SelectedRows(const TensorRef& index, int64_t expected) {
  std::vector<int64_t> rows;
  FLOWMOD_DTYPE_SWITCH(index.dtype, I, {
    const I* v = index.ptr<I>();
    for (int64_t i = 0, n = index.size(); i < n; ++i)
      if (v[i] != I(0)) rows.push_back(i);
  });
  if (static_cast<int64_t>(rows.size()) != expected)
    throw std::runtime_error(std::string(kOp) + ": index has " + std::to_string(rows.size()) +
                             " non-zero entries, but the output was sized for " + std::to_string(expected) +
                             " (index changed after it was counted)");
  return rows;
}

void BooleanMaskForward(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
                        std::span<const TensorRef> out) {
  const auto& a = static_cast<const BooleanMaskAttrs&>(attrs);
  const std::vector<int64_t> rows = SelectedRows(in[1], a.selected);
  const int64_t n = in[0].shape[0];
  const size_t row_bytes = n == 0 ? 0 : static_cast<size_t>(in[0].size() / n) * DTypeSize(in[0].dtype);
  const char* src = static_cast<const char*>(in[0].data);
  char* dst = static_cast<char*>(out[0].data);
  for (size_t k = 0; k < rows.size(); ++k) std::memcpy(dst + k * row_bytes, src + rows[k] * row_bytes, row_bytes);
}

void BooleanMaskBackward(const OpContext&, const OpAttrs& attrs, const BackwardIO& io) {
  const auto& a = static_cast<const BooleanMaskAttrs&>(attrs);
  if (io.req.size() > 1) ZeroWithReq(io.in_grads[1], io.req[1]);
  if (io.req[0] == OpReq::kNull) return;
  const std::vector<int64_t> rows = SelectedRows(io.inputs[1], a.selected);
  const int64_t n = io.inputs[0].shape[0];
  const int64_t cols = n == 0 ? 0 : io.inputs[0].size() / n;
  ZeroWithReq(io.in_grads[0], io.req[0]);
  FLOWMOD_FLOAT_SWITCH(io.in_grads[0].dtype, T, {
    const T* dy = io.out_grads[0].ptr<T>();
    T* dx = io.in_grads[0].ptr<T>();
    for (size_t k = 0; k < rows.size(); ++k) {
      T* d = dx + rows[k] * cols;
      const T* s = dy + static_cast<int64_t>(k) * cols;
      for (int64_t c = 0; c < cols; ++c) d[c] = static_cast<T>(d[c] + s[c]);
    }
  });
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.inputs = {"data", "index"};
  def.parse = &ParseBooleanMask;
  def.infer_shape = &BooleanMaskInferShape;
  def.infer_type = &BooleanMaskInferType;
  def.forward = &BooleanMaskForward;
  def.backward = &BooleanMaskBackward;
  Registry::Add(Described(
      std::move(def),
      "The rows of data whose entry in the 1-d index is non-zero, in order; the output's first dimension is the "
      "number of such rows, known only from index's values (so it runs on NDArrays only).",
      {{"data", "The array whose rows are selected."}, {"index", "The mask: one entry for each row of data."}},
      {Optional("axis", "int", "'0'", "The axis along which rows are selected (0, the only one supported).")}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
