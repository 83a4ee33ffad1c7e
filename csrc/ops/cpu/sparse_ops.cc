// Kernels of the sparse storage types, on their component arrays (flowmod/ndarray/sparse.py
// holds the arrays and dispatches to these). A CSR matrix of shape (m, n) is data (nnz,),
// indices (nnz,) int64 column indices, sorted within each row, and indptr (m + 1,) int64; a
// row_sparse array of shape (N, ...) is data (r, ...) holding rows indices (r,) int64, sorted
// and unique. Every component is an NDArray of its own engine var, so these are ordinary
// operators: they read and write vars and order like dense ones.
//
// An array's shape is fixed when it is created (NDArray::Empty), so an output whose number
// of stored elements depends on the values cannot be sized inside the operator as MXNet's
// CheckAndAlloc does. The Python side therefore computes such an output's index set first
// (from the index arrays, which are small, or with _sparse_row_nnz on the engine) and pushes
// these value kernels with known shapes: every output shape here follows from the input
// shapes and the attributes.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cpu/kernel_util.h"
#include "ops/op_registry.h"
#include "ops/op_util.h"

namespace flowmod::ops {

namespace {

bool IsFloat(DType t) { return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16; }

template <class T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

struct SparseAttrs : OpAttrs {
  int64_t num_rows = 0, num_cols = 0, nnz = 0, axis = 0;
  bool transpose_b = false;
};

void NeedRank(const std::string& op, const std::string& arg, const Shape& s, size_t lo, size_t hi) {
  if (s.size() < lo || s.size() > hi)
    throw OpArgumentError(op, arg, "an array of shape " + ShapeString(s),
                          lo == hi ? std::to_string(lo) + " dimension(s)"
                                   : std::to_string(lo) + " to " + std::to_string(hi) + " dimensions");
}

void NeedIndexType(const std::string& op, std::vector<DType>& in, std::initializer_list<int> which) {
  for (int i : which) {
    if (in[i] == DType::kUnknown) in[i] = DType::kInt64;
    if (in[i] != DType::kInt64)
      throw OpArgumentError(op, "input " + std::to_string(i), DTypeName(in[i]), "int64 indices");
  }
}

// Row r's column range in a CSR matrix, checked against the stored element count.
inline void RowRange(const int64_t* indptr, int64_t r, int64_t nnz, int64_t* b, int64_t* e) {
  *b = indptr[r];
  *e = indptr[r + 1];
  if (*b < 0 || *e < *b || *e > nnz) throw std::runtime_error("csr indptr is not non-decreasing within [0, nnz]");
}

inline void CheckIndex(int64_t j, int64_t n, const char* what) {
  if (j < 0 || j >= n)
    throw std::runtime_error(std::string(what) + " index " + std::to_string(j) + " out of range [0, " +
                             std::to_string(n) + ")");
}

// Position of `key` among the sorted `idx`, or -1.
inline int64_t Find(const int64_t* idx, int64_t n, int64_t key) {
  const int64_t* p = std::lower_bound(idx, idx + n, key);
  return (p != idx + n && *p == key) ? p - idx : -1;
}

std::shared_ptr<const OpAttrs> ParseSparse(const std::string& op, const AttrMap& attrs) {
  CheckAttrs(op, attrs, {"num_rows", "num_cols", "nnz", "axis", "transpose_b"});
  auto a = std::make_shared<SparseAttrs>();
  a->num_rows = GetInt(op, attrs, "num_rows", 0);
  a->num_cols = GetInt(op, attrs, "num_cols", 0);
  a->nnz = GetInt(op, attrs, "nnz", 0);
  a->axis = GetInt(op, attrs, "axis", 0);
  a->transpose_b = GetBool(op, attrs, "transpose_b", false);
  for (const char* k : {"num_rows", "num_cols", "nnz"})
    if (GetInt(op, attrs, k, 0) < 0) throw OpArgumentError(op, k, attrs.at(k), "a size >= 0");
  return a;
}

void ValueType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out, int value_in,
               std::initializer_list<int> same) {
  for (int i : same) MergeType(op, "input " + std::to_string(i), in[i], in[value_in]);
  for (int i : same) MergeType(op, "input " + std::to_string(value_in), in[value_in], in[i]);
  if (in[value_in] != DType::kUnknown && !IsFloat(in[value_in]))
    throw OpArgumentError(op, "data", DTypeName(in[value_in]), "a floating point type");
  MergeType(op, "output", out[0], in[value_in]);
}

// ---- csr x dense, csr.T x dense, dense x csr ------------------------------------------------

void CsrDnsDot(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t m = in[2].size() - 1, k = in[3].shape[0], n = in[3].size() / std::max<int64_t>(k, 1);
  const int64_t nnz = in[0].size();
  const int64_t* col = in[1].ptr<int64_t>();
  const int64_t* ptr = in[2].ptr<int64_t>();
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* v = in[0].ptr<T>();
    const T* x = in[3].ptr<T>();
    T* y = out[0].ptr<T>();
    std::vector<Acc<T>> row(n);
    for (int64_t r = 0; r < m; ++r) {
      int64_t b, e;
      RowRange(ptr, r, nnz, &b, &e);
      std::fill(row.begin(), row.end(), Acc<T>(0));
      for (int64_t p = b; p < e; ++p) {
        CheckIndex(col[p], k, "csr column");
        const Acc<T> a = Acc<T>(v[p]);
        const T* xr = x + col[p] * n;
        for (int64_t j = 0; j < n; ++j) row[j] += a * Acc<T>(xr[j]);
      }
      for (int64_t j = 0; j < n; ++j) y[r * n + j] = T(row[j]);
    }
  });
}

// out[pos(c)] += v * rhs[r] for every stored (r, c, v); `rows` (the output's row indices)
// holds every column the matrix stores.
void CsrTDnsDot(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t m = in[2].size() - 1, n = in[3].size() / std::max<int64_t>(in[3].shape[0], 1);
  const int64_t nnz = in[0].size(), nrows = in[4].size();
  const int64_t* col = in[1].ptr<int64_t>();
  const int64_t* ptr = in[2].ptr<int64_t>();
  const int64_t* rows = in[4].ptr<int64_t>();
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* v = in[0].ptr<T>();
    const T* x = in[3].ptr<T>();
    T* y = out[0].ptr<T>();
    std::vector<Acc<T>> acc(static_cast<size_t>(nrows * n), Acc<T>(0));
    for (int64_t r = 0; r < m; ++r) {
      int64_t b, e;
      RowRange(ptr, r, nnz, &b, &e);
      for (int64_t p = b; p < e; ++p) {
        const int64_t at = Find(rows, nrows, col[p]);
        if (at < 0) throw std::runtime_error("csr column " + std::to_string(col[p]) + " is not in the output rows");
        const Acc<T> a = Acc<T>(v[p]);
        for (int64_t j = 0; j < n; ++j) acc[at * n + j] += a * Acc<T>(x[r * n + j]);
      }
    }
    for (int64_t i = 0; i < nrows * n; ++i) y[i] = T(acc[i]);
  });
}

// lhs (m, k) x csr (k, n) -> (m, n); with transpose_b, lhs (m, n') x csr(r, n')^T -> (m, r).
void DnsCsrDot(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in,
               std::span<const TensorRef> out) {
  const auto& a = static_cast<const SparseAttrs&>(attrs);
  const int64_t m = in[0].shape[0], k = in[0].shape[1], rows = in[3].size() - 1;
  const int64_t nnz = in[1].size(), on = out[0].shape[1];
  const int64_t* col = in[2].ptr<int64_t>();
  const int64_t* ptr = in[3].ptr<int64_t>();
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    const T* v = in[1].ptr<T>();
    T* y = out[0].ptr<T>();
    std::vector<Acc<T>> acc(static_cast<size_t>(m * on), Acc<T>(0));
    for (int64_t r = 0; r < rows; ++r) {
      int64_t b, e;
      RowRange(ptr, r, nnz, &b, &e);
      for (int64_t p = b; p < e; ++p) {
        const int64_t c = col[p];
        CheckIndex(c, a.transpose_b ? k : on, "csr column");
        const Acc<T> s = Acc<T>(v[p]);
        // Not transposed: element (r, c) adds x[:, r] * s to y[:, c]; transposed: x[:, c] * s to y[:, r].
        const int64_t from = a.transpose_b ? c : r, to = a.transpose_b ? r : c;
        for (int64_t i = 0; i < m; ++i) acc[i * on + to] += Acc<T>(x[i * k + from]) * s;
      }
    }
    for (int64_t i = 0; i < m * on; ++i) y[i] = T(acc[i]);
  });
}

// ---- layout conversions ---------------------------------------------------------------------

template <class T>
void CopyRow(const T* src, T* dst, int64_t width) {
  std::copy(src, src + width, dst);
}

// out row i = the row of `data` stored for rows[i], zeros where none is.
void TakeRows(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t r = in[1].size(), width = in[0].shape.empty() ? 1 : Product(in[0].shape, 1, in[0].shape.size());
  const int64_t* idx = in[1].ptr<int64_t>();
  const int64_t* want = in[2].ptr<int64_t>();
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    // Indices sorted and unique, as a row_sparse array keeps them: with its first at 0 and
    // its last at r - 1 it stores every row from 0, so row k is at position k.
    const bool every_row = r > 0 && idx[0] == 0 && idx[r - 1] == r - 1;
    for (int64_t i = 0; i < in[2].size(); ++i) {
      const int64_t at = every_row ? (want[i] >= 0 && want[i] < r ? want[i] : -1) : Find(idx, r, want[i]);
      if (at < 0) std::fill_n(y + i * width, width, T(0));
      else CopyRow(x + at * width, y + i * width, width);
    }
  });
}

void RspToDense(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t width = out[0].shape[0] ? out[0].size() / out[0].shape[0] : 0, n = out[0].shape[0];
  const int64_t* idx = in[1].ptr<int64_t>();
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    std::fill_n(y, out[0].size(), T(0));
    for (int64_t i = 0; i < in[1].size(); ++i) {
      CheckIndex(idx[i], n, "row_sparse row");
      CopyRow(x + i * width, y + idx[i] * width, width);
    }
  });
}

void CsrToDense(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t m = out[0].shape[0], n = out[0].shape[1], nnz = in[0].size();
  const int64_t* col = in[1].ptr<int64_t>();
  const int64_t* ptr = in[2].ptr<int64_t>();
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* v = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    std::fill_n(y, out[0].size(), T(0));
    for (int64_t r = 0; r < m; ++r) {
      int64_t b, e;
      RowRange(ptr, r, nnz, &b, &e);
      for (int64_t p = b; p < e; ++p) {
        CheckIndex(col[p], n, "csr column");
        y[r * n + col[p]] = v[p];
      }
    }
  });
}

// The number of non-zero elements in each row (first-axis slice) of a dense array.
void RowNnz(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t m = in[0].shape.empty() ? 1 : in[0].shape[0];
  const int64_t width = m ? in[0].size() / m : 0;
  int64_t* y = out[0].ptr<int64_t>();
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    for (int64_t r = 0; r < m; ++r) {
      int64_t c = 0;
      for (int64_t j = 0; j < width; ++j) c += x[r * width + j] != T(0);
      y[r] = c;
    }
  });
}

// dense (m, n) and its indptr (from _sparse_row_nnz) -> csr data and column indices.
void DenseToCsr(const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const int64_t m = in[0].shape[0], n = in[0].shape[1], nnz = out[0].size();
  const int64_t* ptr = in[1].ptr<int64_t>();
  int64_t* col = out[1].ptr<int64_t>();
  if (ptr[m] != nnz) throw std::runtime_error("indptr does not end at the output's element count");
  FLOWMOD_DTYPE_SWITCH(in[0].dtype, T, {
    const T* x = in[0].ptr<T>();
    T* v = out[0].ptr<T>();
    for (int64_t r = 0; r < m; ++r) {
      int64_t p = ptr[r];
      for (int64_t j = 0; j < n; ++j) {
        if (x[r * n + j] == T(0)) continue;
        if (p >= ptr[r + 1]) throw std::runtime_error("indptr does not match the dense array's non-zeros");
        v[p] = x[r * n + j];
        col[p++] = j;
      }
    }
  });
}

// sum of a csr matrix over axis 0 (-> (num_cols,)) or axis 1 (-> (m,)).
void CsrSum(const OpContext&, const OpAttrs& attrs, std::span<const TensorRef> in, std::span<const TensorRef> out) {
  const auto& a = static_cast<const SparseAttrs&>(attrs);
  const int64_t m = in[2].size() - 1, nnz = in[0].size();
  const int64_t* col = in[1].ptr<int64_t>();
  const int64_t* ptr = in[2].ptr<int64_t>();
  FLOWMOD_FLOAT_SWITCH(in[0].dtype, T, {
    const T* v = in[0].ptr<T>();
    T* y = out[0].ptr<T>();
    std::vector<Acc<T>> acc(static_cast<size_t>(out[0].size()), Acc<T>(0));
    for (int64_t r = 0; r < m; ++r) {
      int64_t b, e;
      RowRange(ptr, r, nnz, &b, &e);
      for (int64_t p = b; p < e; ++p) {
        if (a.axis == 0) {
          CheckIndex(col[p], a.num_cols, "csr column");
          acc[col[p]] += Acc<T>(v[p]);
        } else {
          acc[r] += Acc<T>(v[p]);
        }
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) y[i] = T(acc[i]);
  });
}

// ---- registration ---------------------------------------------------------------------------

struct Spec {
  const char* name;
  const char* description;
  std::vector<OpInputDoc> inputs;
  std::vector<OpParam> params;
  ForwardFn forward;
  InferShapeFn shape;
  InferTypeFn type;
  int outputs = 1;
};

void Add(Spec s) {
  OpDef def;
  def.name = s.name;
  for (const auto& i : s.inputs) def.inputs.push_back(i.name);
  const std::string name = s.name;
  def.parse = [name](const AttrMap& attrs) { return ParseSparse(name, attrs); };
  def.num_outputs = s.outputs;
  if (s.outputs == 2) def.list_outputs = [](const OpAttrs&) { return std::vector<std::string>{"data", "indices"}; };
  def.infer_shape = std::move(s.shape);
  def.infer_type = std::move(s.type);
  def.forward = std::move(s.forward);
  Registry::Add(Described(std::move(def), s.description, std::move(s.inputs), std::move(s.params)));
}

bool Known(const std::vector<Shape>& in) {
  for (const auto& s : in)
    if (!IsKnown(s)) return false;
  return true;
}

const OpInputDoc kData{"data", "The stored values."};
const OpInputDoc kIndices{"indices", "The int64 column (csr) or row (row_sparse) indices."};
const OpInputDoc kIndptr{"indptr", "The int64 row pointers of the csr matrix."};

OpParam SizeParam(const char* name, const char* what) { return Optional(name, "int", "0", what); }

void RegisterDots() {
  Add({"_sparse_csr_dns_dot", "The product of a csr matrix and a dense matrix, dense.",
       {kData, kIndices, kIndptr, {"rhs", "The dense (k, n) matrix."}}, {}, &CsrDnsDot,
       [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         NeedRank("_sparse_csr_dns_dot", "rhs", in[3], 2, 2);
         MergeShape("_sparse_csr_dns_dot", "output", out[0], {in[2][0] - 1, in[3][1]});
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_csr_dns_dot", in, {1, 2});
         ValueType("_sparse_csr_dns_dot", in, out, 0, {3});
       }});
  Add({"_sparse_csrT_dns_dot",
       "The product of a transposed csr matrix and a dense matrix: the rows of the row_sparse result.",
       {kData, kIndices, kIndptr, {"rhs", "The dense (m, n) matrix."},
        {"rows", "The int64 row indices of the result: every column the csr matrix stores, sorted."}},
       {}, &CsrTDnsDot,
       [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         NeedRank("_sparse_csrT_dns_dot", "rhs", in[3], 2, 2);
         if (in[3][0] != in[2][0] - 1)
           throw OpArgumentError("_sparse_csrT_dns_dot", "rhs", ShapeString(in[3]),
                                 std::to_string(in[2][0] - 1) + " rows, as the csr matrix has");
         MergeShape("_sparse_csrT_dns_dot", "output", out[0], {in[4][0], in[3][1]});
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_csrT_dns_dot", in, {1, 2, 4});
         ValueType("_sparse_csrT_dns_dot", in, out, 0, {3});
       }});
  Add({"_sparse_dns_csr_dot", "The product of a dense matrix and a csr matrix (or its transpose), dense.",
       {{"lhs", "The dense (m, k) matrix."}, kData, kIndices, kIndptr},
       {SizeParam("num_cols", "The csr matrix's column count."),
        Optional("transpose_b", "boolean", "0", "Whether to multiply by the csr matrix's transpose.")},
       &DnsCsrDot,
       [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         const auto& a = static_cast<const SparseAttrs&>(attrs);
         NeedRank("_sparse_dns_csr_dot", "lhs", in[0], 2, 2);
         const int64_t k = a.transpose_b ? a.num_cols : in[3][0] - 1;
         if (in[0][1] != k)
           throw OpArgumentError("_sparse_dns_csr_dot", "lhs", ShapeString(in[0]),
                                 std::to_string(k) + " columns, as the csr matrix has rows");
         MergeShape("_sparse_dns_csr_dot", "output", out[0],
                    {in[0][0], a.transpose_b ? in[3][0] - 1 : a.num_cols});
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_dns_csr_dot", in, {2, 3});
         ValueType("_sparse_dns_csr_dot", in, out, 0, {1});
       }});
}

void AnyValueType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out) {
  MergeType(op, "output", out[0], in[0]);
  MergeType(op, "data", in[0], out[0]);
}

void RegisterLayout() {
  Add({"_sparse_take_rows", "The stored rows of a row_sparse array for the given row indices (zeros for rows not stored).",
       {kData, kIndices, {"rows", "The int64 row indices wanted, in the output's order."}}, {}, &TakeRows,
       [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         Shape s = in[0];
         if (s.empty()) throw OpArgumentError("_sparse_take_rows", "data", "()", "at least 1 dimension");
         s[0] = in[2][0];
         MergeShape("_sparse_take_rows", "output", out[0], s);
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_take_rows", in, {1, 2});
         AnyValueType("_sparse_take_rows", in, out);
       }});
  Add({"_sparse_rsp_to_dense", "The dense array of a row_sparse array.", {kData, kIndices},
       {SizeParam("num_rows", "The row count of the dense array.")}, &RspToDense,
       [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         Shape s = in[0];
         s[0] = static_cast<const SparseAttrs&>(attrs).num_rows;
         MergeShape("_sparse_rsp_to_dense", "output", out[0], s);
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_rsp_to_dense", in, {1});
         AnyValueType("_sparse_rsp_to_dense", in, out);
       }});
  Add({"_sparse_csr_to_dense", "The dense matrix of a csr matrix.", {kData, kIndices, kIndptr},
       {SizeParam("num_cols", "The column count.")}, &CsrToDense,
       [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         MergeShape("_sparse_csr_to_dense", "output", out[0],
                    {in[2][0] - 1, static_cast<const SparseAttrs&>(attrs).num_cols});
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_csr_to_dense", in, {1, 2});
         AnyValueType("_sparse_csr_to_dense", in, out);
       }});
  Add({"_sparse_row_nnz", "The number of non-zero elements in each row of a dense array, int64.",
       {{"data", "The dense array."}}, {}, &RowNnz,
       [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         MergeShape("_sparse_row_nnz", "output", out[0], {in[0].empty() ? 1 : in[0][0]});
       },
       [](const OpAttrs&, std::vector<DType>&, std::vector<DType>& out) {
         MergeType("_sparse_row_nnz", "output", out[0], DType::kInt64);
       }});
  Add({"_sparse_dense_to_csr", "The stored values and column indices of a dense matrix as csr, given its indptr.",
       {{"data", "The dense matrix."}, kIndptr}, {SizeParam("nnz", "The number of non-zero elements.")},
       &DenseToCsr,
       [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
         if (!Known(in)) return;
         NeedRank("_sparse_dense_to_csr", "data", in[0], 2, 2);
         const int64_t nnz = static_cast<const SparseAttrs&>(attrs).nnz;
         MergeShape("_sparse_dense_to_csr", "data", out[0], {nnz});
         MergeShape("_sparse_dense_to_csr", "indices", out[1], {nnz});
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_dense_to_csr", in, {1});
         AnyValueType("_sparse_dense_to_csr", in, out);
         MergeType("_sparse_dense_to_csr", "indices", out[1], DType::kInt64);
       },
       2});
  Add({"_sparse_csr_sum", "The sum of a csr matrix over axis 0 or 1, dense.", {kData, kIndices, kIndptr},
       {Optional("axis", "int", "0", "The axis summed over, 0 or 1."), SizeParam("num_cols", "The column count.")},
       &CsrSum,
       [](const OpAttrs& attrs, std::vector<Shape>& in, std::vector<Shape>& out) {
         const auto& a = static_cast<const SparseAttrs&>(attrs);
         if (a.axis != 0 && a.axis != 1)
           throw OpArgumentError("_sparse_csr_sum", "axis", std::to_string(a.axis), "0 or 1");
         if (!Known(in)) return;
         MergeShape("_sparse_csr_sum", "output", out[0], {a.axis == 0 ? a.num_cols : in[2][0] - 1});
       },
       [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
         NeedIndexType("_sparse_csr_sum", in, {1, 2});
         ValueType("_sparse_csr_sum", in, out, 0, {});
       }});
}

// cast_storage on dense arrays (graphs, and NDArrays cast to 'default'): the values, copied;
// flowmod/ndarray/sparse_ops.py converts NDArrays to and from the sparse storage types, and
// in a graph the storage type an executor gives the output is the planner's (its values are
// these either way). The gradient passes through.
void RegisterCastStorage() {
  OpDef def;
  def.name = "cast_storage";
  def.inputs = {"data"};
  def.parse = [](const AttrMap& attrs) {
    CheckAttrs("cast_storage", attrs, {"stype"});
    if (!Has(attrs, "stype")) throw OpArgumentError("cast_storage", "stype", "(missing)", "'default', 'row_sparse' or 'csr'");
    GetEnum("cast_storage", attrs, "stype", {"csr", "default", "row_sparse"});
    return std::shared_ptr<const OpAttrs>(std::make_shared<SparseAttrs>());
  };
  def.infer_shape = [](const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out) {
    ElemwiseShape("cast_storage", in, out);
  };
  def.infer_type = [](const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out) {
    ElemwiseType("cast_storage", in, out);
  };
  def.forward = [](const OpContext&, const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out) {
    CopyData(in[0], out[0]);
  };
  def.backward = [](const OpContext&, const OpAttrs&, const BackwardIO& io) {
    CopyWithReq(io.out_grads[0], io.in_grads[0], io.req[0]);
  };
  def.inplace = {{0, 0}};
  Registry::Add(Described(std::move(def), "The input in another storage type: dense (default), row_sparse or csr.",
                          {{"data", "The input array."}},
                          {Required("stype", "{'csr', 'default', 'row_sparse'}", "The storage type of the output.")}));
}

const bool registered = [] {
  RegisterCastStorage();
  RegisterDots();
  RegisterLayout();
  return true;
}();

}  // namespace

}  // namespace flowmod::ops
