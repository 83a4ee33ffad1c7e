// The operator registry: every operator is defined once here, with attribute parsing,
// shape and type inference and its kernels, and is used by NDArray now and by Symbol's
// executor later.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ndarray/dtype.h"
#include "ndarray/ndarray.h"

namespace flowmod::ops {

// What a kernel sees of an array: its first element, shape and type.
struct TensorRef {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::kFloat32;
  int64_t size() const { return NumElements(shape); }
  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};

// Attributes as MXNet spells them: strings, as in keyword arguments and symbol JSON.
using AttrMap = std::map<std::string, std::string>;

// An operator's parsed attributes; each operator derives its own.
struct OpAttrs {
  virtual ~OpAttrs() = default;
};

// An error in an operator's arguments: names the operator, the argument, the value and what
// was expected. Raised before anything is pushed.
class OpArgumentError : public std::invalid_argument {
 public:
  OpArgumentError(const std::string& op, const std::string& arg, const std::string& value,
                  const std::string& expected)
      : std::invalid_argument(op + ": " + arg + "=" + value + ": expected " + expected) {}
};

struct OpDef {
  std::string name;
  std::vector<std::string> inputs;  // argument names, in order
  int num_outputs = 1;
  std::function<std::shared_ptr<const OpAttrs>(const AttrMap&)> parse;
  std::function<std::vector<Shape>(const OpAttrs&, const std::vector<Shape>&)> infer_shape;
  std::function<std::vector<DType>(const OpAttrs&, const std::vector<DType>&)> infer_type;
  // Runs on an engine worker: reads `in`, writes `out`. Never touches Python.
  std::function<void(const OpAttrs&, std::span<const TensorRef> in, std::span<const TensorRef> out)>
      forward;
};

class Registry {
 public:
  static void Add(OpDef def);
  // nullptr when there is no operator of that name.
  static const OpDef* Find(const std::string& name);
  static std::vector<std::string> Names();
};

// Registers an operator at load time: FLOWMOD_REGISTER_OP(MakeAddDef()).
#define FLOWMOD_OP_CONCAT_(a, b) a##b
#define FLOWMOD_OP_CONCAT(a, b) FLOWMOD_OP_CONCAT_(a, b)
#define FLOWMOD_REGISTER_OP(...)                                                      \
  static const bool FLOWMOD_OP_CONCAT(flowmod_op_registered_, __LINE__) = [] {        \
    ::flowmod::ops::Registry::Add(__VA_ARGS__);                                       \
    return true;                                                                      \
  }()

// Invokes `op` on `inputs`: parses `attrs`, infers the outputs, allocates them (or checks
// `outputs` when given) and pushes the forward kernel. Returns the outputs.
std::vector<NDArray> Invoke(const OpDef& op, const std::vector<NDArray>& inputs,
                            const AttrMap& attrs, std::vector<NDArray> outputs = {});

// Attribute helpers for parse functions.
double ParseFloat(const std::string& op, const AttrMap& attrs, const std::string& key);

}  // namespace flowmod::ops
