// Helpers every operator uses: attribute parsing in MXNet's spellings, shape and type
// inference building blocks, and storing results under an OpReq.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "ops/op_registry.h"

namespace flowmod::ops {

// ---- Attributes ------------------------------------------------------------------------
// The parsed attributes of an operator that takes none.
struct NoAttrs : OpAttrs {};

// `s` without leading and trailing whitespace.
std::string Trim(const std::string& s);
// `v` in single quotes: how error messages show an attribute value received.
std::string Quoted(const std::string& v);

// Each getter reads `key` from `attrs`; a missing key gives `def` (or throws when the getter
// has no default); a malformed value throws OpArgumentError naming op, key, value and the
// expected form. Values are strings as MXNet writes them: "3", "0.5", "True", "(5, 5)",
// "[5,5]", "5", "None", "relu".

// Throws if `attrs` has a key not in `known` (keys starting and ending with "__", such as
// __lr_mult__, belong to the graph and are ignored).
void CheckAttrs(const std::string& op, const AttrMap& attrs, std::initializer_list<const char*> known);
void CheckAttrs(const std::string& op, const AttrMap& attrs, const std::vector<std::string>& known);
// The same, the known keys being the names of an operator's documented parameters.
void CheckAttrs(const std::string& op, const AttrMap& attrs, const std::vector<OpParam>& params);

bool Has(const AttrMap& attrs, const std::string& key);
double GetFloat(const std::string& op, const AttrMap& attrs, const std::string& key);
double GetFloat(const std::string& op, const AttrMap& attrs, const std::string& key, double def);
int64_t GetInt(const std::string& op, const AttrMap& attrs, const std::string& key);
int64_t GetInt(const std::string& op, const AttrMap& attrs, const std::string& key, int64_t def);
// "None" or missing gives nullopt.
std::optional<int64_t> GetOptionalInt(const std::string& op, const AttrMap& attrs, const std::string& key);
std::optional<double> GetOptionalFloat(const std::string& op, const AttrMap& attrs, const std::string& key);
bool GetBool(const std::string& op, const AttrMap& attrs, const std::string& key, bool def);
// A tuple of integers: "(5, 5)", "[5,5]", "(5,)", "5", "()". "None" gives `def`.
std::vector<int64_t> GetTuple(const std::string& op, const AttrMap& attrs, const std::string& key);
std::vector<int64_t> GetTuple(const std::string& op, const AttrMap& attrs, const std::string& key,
                              std::vector<int64_t> def);
// A tuple whose entries may be None, as slice's begin, end and step: "(1, None, -2)". A
// missing key throws when `required`, and otherwise gives an empty tuple, as does "None".
std::vector<std::optional<int64_t>> GetOptionalTuple(const std::string& op, const AttrMap& attrs,
                                                     const std::string& key, bool required);
// One of `choices`; quotes around the value are accepted ("'relu'").
std::string GetEnum(const std::string& op, const AttrMap& attrs, const std::string& key,
                    std::initializer_list<const char*> choices, const std::string& def);
std::string GetEnum(const std::string& op, const AttrMap& attrs, const std::string& key,
                    std::initializer_list<const char*> choices);
// An element type by name ("float32", "int64", ...).
DType GetDType(const std::string& op, const AttrMap& attrs, const std::string& key);
DType GetDType(const std::string& op, const AttrMap& attrs, const std::string& key, DType def);

// ---- Shape and type inference -------------------------------------------------------------
// Merges `value` into `slot`: unknown parts of either are filled from the other; known parts
// that differ throw OpArgumentError(op, arg, "shape <slot>", "<value>").
void MergeShape(const std::string& op, const std::string& arg, Shape& slot, const Shape& value);
void MergeType(const std::string& op, const std::string& arg, DType& slot, DType value);
// Every input and output has one shape (type): for unary and equal-shape binary operators.
void ElemwiseShape(const std::string& op, std::vector<Shape>& in, std::vector<Shape>& out);
void ElemwiseType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out);
// Normalizes a possibly negative `axis` for rank `ndim`; throws naming `arg` when outside.
int NormalizeAxis(const std::string& op, const std::string& arg, int64_t axis, int ndim);
// An axis of `shape`, of rank >= 1 (0-d arrays have none: MXNet's legacy arrays always have a
// dimension), negative values counting from the end; `what` names the array in errors.
int AxisOf(const std::string& op, const std::string& arg, int64_t axis, const Shape& shape,
           const std::string& what = "data");
// Whether the rank of `s` is known (its dimensions may still be unknown).
inline bool ShapeKnownRank(const Shape& s) { return s != kUnknownShape; }
// The product of dimensions [begin, end) of `shape`.
inline int64_t Product(const Shape& shape, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= shape[i];
  return n;
}

// ---- Definitions -----------------------------------------------------------------------
// An operator of one input "data" and one output of the same type; the caller adds parse,
// infer_shape, forward and backward.
OpDef UnaryDef(const std::string& name);

// ---- Kernels ---------------------------------------------------------------------------
template <typename T>
inline void Store(T& dst, T value, OpReq req) {
  if (req == OpReq::kWrite) dst = value;
  else if (req == OpReq::kAdd) dst = static_cast<T>(dst + value);
}

// Runs `body` with T bound to the floating type of `dtype` (float32, float64, float16);
// other types throw (checked in infer_type, so only a bug reaches this).
#define FLOWMOD_FLOAT_SWITCH(dtype, T, ...)                                              \
  switch (dtype) {                                                                       \
    case ::flowmod::DType::kFloat32: { using T = float; __VA_ARGS__; break; }            \
    case ::flowmod::DType::kFloat64: { using T = double; __VA_ARGS__; break; }           \
    case ::flowmod::DType::kFloat16: { using T = _Float16; __VA_ARGS__; break; }         \
    default: throw std::logic_error("floating point kernel called on a non-float array"); \
  }

// Type inference for operators defined on floating types only: every input and output
// has the same float type.
void FloatElemwiseType(const std::string& op, std::vector<DType>& in, std::vector<DType>& out);

}  // namespace flowmod::ops
