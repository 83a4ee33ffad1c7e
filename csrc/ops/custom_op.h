// Custom: operators written in Python (mx.operator.CustomOp), as one registered operator whose
// attributes name the registered Python class (op_type) and carry its keyword arguments.
//
// The registry knows nothing of Python: the embedding installs a factory that turns the
// attributes into a CustomProp (csrc/bindings/custom_bindings.cc does it for Python). Shape
// and type inference ask the prop; forward and backward are asynchronous operations on the
// device's Python lane: the kernel hands the prop arrays over the operation's storage, each
// under a var of its own, so that what the Python code pushes on them (an assignment, mx.nd
// operators) is ordered among itself; the operation finishes once all of that has, so that
// whoever reads its outputs sees them written.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ndarray/ndarray.h"
#include "ops/op_registry.h"

namespace flowmod::ops {

// The arrays and requests of one forward or backward call, as the Python operator sees them.
struct CustomCall {
  engine::DeviceId device;
  bool is_train = false;
  std::vector<OpReq> req;  // forward: per output; backward: per argument
  // forward: in_data, out_data, aux; backward: out_grad, in_data, out_data, in_grad, aux
  std::vector<std::vector<NDArray>> groups;
};

class CustomProp {
 public:
  virtual ~CustomProp() = default;

  const std::string& op_type() const { return op_type_; }
  const std::vector<std::string>& arguments() const { return arguments_; }
  const std::vector<std::string>& outputs() const { return outputs_; }
  const std::vector<std::string>& aux_states() const { return aux_; }
  bool need_top_grad() const { return need_top_grad_; }

  // Fill the unknown entries (kUnknownShape, DType::kUnknown) of `in` (arguments then
  // auxiliary states) and `out`; throw OpArgumentError when the Python operator refuses or
  // contradicts a known entry.
  virtual void InferShape(std::vector<Shape>& in, std::vector<Shape>& out) const = 0;
  virtual void InferType(std::vector<DType>& in, std::vector<DType>& out) const = 0;

  // Run the Python operator's forward or backward on the calling thread (taking the
  // interpreter's lock). Return "" or what it raised, with its traceback.
  virtual std::string Forward(const CustomCall& call) = 0;
  virtual std::string Backward(const CustomCall& call) = 0;

 protected:
  std::string op_type_;
  std::vector<std::string> arguments_, outputs_, aux_;
  bool need_top_grad_ = true;
};

// Builds the prop for `op_type` with the other attributes as its keyword arguments; throws
// OpArgumentError when no such operator is registered.
using CustomPropFactory =
    std::function<std::shared_ptr<CustomProp>(const std::string& op_type, const AttrMap& kwargs)>;
void SetCustomPropFactory(CustomPropFactory factory);

}  // namespace flowmod::ops
