// khatri_rao: the column-wise Kronecker product of matrices A_1 (M_1 x N), ..., A_n (M_n x N):
// X[(r_1, ..., r_n), k] = A_1[r_1, k] * ... * A_n[r_n, k], the rows (r_1, ..., r_n) ordered with
// r_n fastest. MXNet defines no gradient for it.
#include <memory>
#include <string>
#include <vector>

#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

const char* const kOp = "khatri_rao";

struct KhatriRaoAttrs : OpAttrs {
  int num_args = 1;
};

std::string ArgName(size_t i) { return "arg" + std::to_string(i); }

template <class T>
void KhatriRaoKernel(std::span<const TensorRef> in, const TensorRef& out) {
  const int64_t cols = out.shape[1];
  const size_t n = in.size();
  std::vector<int64_t> rows(n), index(n, 0);
  for (size_t i = 0; i < n; ++i) rows[i] = in[i].shape[0];
  T* y = out.ptr<T>();
  for (int64_t r = 0, total = out.shape[0]; r < total; ++r) {
    T* dst = y + r * cols;
    for (int64_t k = 0; k < cols; ++k) dst[k] = in[0].ptr<T>()[index[0] * cols + k];
    for (size_t i = 1; i < n; ++i) {
      const T* src = in[i].ptr<T>() + index[i] * cols;
      for (int64_t k = 0; k < cols; ++k) dst[k] = static_cast<T>(dst[k] * src[k]);
    }
    for (size_t i = n; i-- > 0;) {  // the next row: an odometer, the last matrix fastest
      if (++index[i] < rows[i]) break;
      index[i] = 0;
    }
  }
}

const bool registered = [] {
  OpDef def;
  def.name = kOp;
  def.list_inputs = [](const OpAttrs& attrs) {
    std::vector<std::string> names;
    for (int i = 0; i < static_cast<const KhatriRaoAttrs&>(attrs).num_args; ++i) names.push_back(ArgName(i));
    return names;
  };
  def.key_var_num_args = "num_args";
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs(kOp, attrs, {"num_args"});
    auto a = std::make_shared<KhatriRaoAttrs>();
    const int64_t n = GetInt(kOp, attrs, "num_args");
    if (n < 1) throw OpArgumentError(kOp, "num_args", attrs.at("num_args"), "at least 1");
    a->num_args = static_cast<int>(n);
    return std::shared_ptr<const OpAttrs>(a);
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    int64_t rows = 1, cols = -1;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!IsKnown(in[i])) return;
      if (in[i].size() != 2)
        throw OpArgumentError(kOp, ArgName(i), "an array of shape " + ShapeString(in[i]), "a matrix (2 dimensions)");
      if (cols >= 0 && in[i][1] != cols)
        throw OpArgumentError(kOp, ArgName(i), "an array of shape " + ShapeString(in[i]),
                              std::to_string(cols) + " columns, as arg0 has");
      cols = in[i][1];
      rows *= in[i][0];
    }
    MergeShape(kOp, "output", out[0], Shape{rows, cols});
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    DType common = out[0];
    for (size_t i = 0; i < in.size(); ++i) MergeType(kOp, ArgName(i), common, in[i]);
    for (auto& t : in) t = common;
    out[0] = common;
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    if (out[0].size() == 0) return;
    FLOWMOD_DTYPE_SWITCH(out[0].dtype, T, KhatriRaoKernel<T>(in, out[0]));
  };
  Registry::Add(Described(std::move(def), "The column-wise Kronecker (Khatri-Rao) product of matrices with a common number of columns.", {{"args", "The matrices, M_i x N each."}}, {}));
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
