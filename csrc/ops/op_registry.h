// The operator registry: every operator is defined once here, with attribute parsing,
// shape and type inference, its forward kernel and its gradient, and is used by NDArray
// (imperative calls) and by Symbol's executor (graphs).
//
// Conventions every operator follows:
// - Inputs are the arguments (`list_inputs`, e.g. data, weight, bias) followed by the
//   auxiliary states (`aux`, e.g. BatchNorm's moving_mean and moving_var). Forward may update
//   auxiliary states in place (they are written vars); arguments are only read.
// - Outputs are the visible outputs followed by hidden ones that only backward reads (for
//   example Dropout's mask).
// - Shape inference runs in both directions: unknown shapes are kUnknownShape (and unknown
//   dimensions -1), and an operator fills every unknown it can from the others (outputs from
//   inputs, and parameter shapes such as FullyConnected's weight from data and attributes).
// - Kernels run on engine workers: they read `in`, write `out`, never touch Python, and
//   report failure by throwing (the engine marks the outputs failed).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
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

// A shape not known yet, in inference. Known shapes have no negative dimension; a known
// rank with some unknown dimensions has -1 there.
inline const Shape kUnknownShape{-1};
inline bool IsKnown(const Shape& s) {
  for (int64_t d : s)
    if (d < 0) return false;
  return true;
}

// How a gradient (or output) is stored: not at all, overwriting, or added to what is there.
enum class OpReq : uint8_t { kNull, kWrite, kAdd };

// What a kernel knows of the call beyond its arrays.
struct OpContext {
  bool is_train = false;
  // The device's random generator, for operators with `needs_rng`; nullptr otherwise.
  // Calls that use it are ordered by the engine, so a seed gives reproducible streams.
  std::mt19937_64* rng = nullptr;
  // Where the kernel runs: set for asynchronous kernels, which push work of their own.
  engine::DeviceId device{};
};

// The arrays a backward kernel sees.
struct BackwardIO {
  std::span<const TensorRef> out_grads;  // one per visible output
  std::span<const TensorRef> inputs;     // forward inputs: arguments then auxiliary states
  std::span<const TensorRef> outputs;    // forward outputs: visible then hidden
  std::span<const TensorRef> in_grads;   // one per argument (not auxiliary states)
  std::span<const OpReq> req;            // one per argument
};

using ParseFn = std::function<std::shared_ptr<const OpAttrs>(const AttrMap&)>;
using NamesFn = std::function<std::vector<std::string>(const OpAttrs&)>;
using CountFn = std::function<int(const OpAttrs&)>;
// Fills unknown entries of `in` and `out` (sized to the op's inputs and outputs); throws
// OpArgumentError naming the argument when two shapes conflict.
using InferShapeFn = std::function<void(const OpAttrs&, std::vector<Shape>& in, std::vector<Shape>& out)>;
// The same for element types, with DType::kUnknown for unknown.
using InferTypeFn = std::function<void(const OpAttrs&, std::vector<DType>& in, std::vector<DType>& out)>;
using ForwardFn = std::function<void(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                                     std::span<const TensorRef> out)>;
using BackwardFn = std::function<void(const OpContext&, const OpAttrs&, const BackwardIO&)>;
// Kernels that finish later, when they call `done` (from any thread): operators written in
// Python, whose code pushes operations of its own that must finish before the kernel does.
using AsyncForwardFn = std::function<void(const OpContext&, const OpAttrs&, std::span<const TensorRef> in,
                                          std::span<const TensorRef> out, engine::Completion done)>;
using AsyncBackwardFn =
    std::function<void(const OpContext&, const OpAttrs&, const BackwardIO&, engine::Completion done)>;

// One attribute of an operator's schema, as MXNet 1.9 documents it. The schema's order is the
// order attributes take by position in mx.nd.<op>(...) and mx.sym.<op>(...), after the inputs.
struct OpParam {
  std::string name;
  // The type as MXNet's documentation spells it, without the required/optional part: "int",
  // "boolean", "Shape(tuple)", "{'relu', 'sigmoid', 'softrelu', 'softsign', 'tanh'}".
  std::string type;
  // The default as MXNet prints it ("0", "'1'", "[]", "'None'", "None"); nullopt: required.
  std::optional<std::string> default_value;
  std::string description;

  bool required() const { return !default_value.has_value(); }
  // The full spelling of MXNet's documentation: "int, required", "boolean, optional,
  // default=0", "{'avg', 'max'},optional, default='max'" (MXNet writes no space after a set).
  std::string TypeString() const;
};

// An input in the operator's calling convention (every input it can take, FullyConnected's
// bias too), with what it is; for operators taking any number of inputs, one entry (data).
struct OpInputDoc {
  std::string name;
  std::string description;
};

struct OpDef {
  std::string name;
  // What the operator computes (one paragraph), its inputs in calling order (arguments, then
  // auxiliary states) and its attributes in MXNet's documented order: the schema from which
  // the Python front ends build their signatures and docstrings.
  std::string description;
  std::vector<OpInputDoc> input_docs;
  std::vector<OpParam> params;

  // Argument names, in order (data, weight, bias, ...). `list_inputs`, when set, gives them
  // from the attributes instead (FullyConnected without bias, Concat's arg0..argN).
  std::vector<std::string> inputs;
  NamesFn list_inputs;
  // For operators taking any number of inputs (Concat, stack, add_n): the attribute that
  // holds the count, which the NDArray and Symbol front ends fill in ("num_args").
  std::string key_var_num_args;
  // For operators taking any number of inputs whose count is an attribute the caller gives
  // (multi_sgd_update's num_weights, as MXNet has them): the front ends take every input by
  // position and fill in no count.
  bool variadic = false;
  // Auxiliary states, after the arguments (BatchNorm: moving_mean, moving_var); `list_aux`,
  // when set, gives them from the attributes instead (Custom: the Python operator's).
  std::vector<std::string> aux;
  NamesFn list_aux;
  // Arguments the forward kernel updates in place although they are not auxiliary states:
  // the multi-tensor optimizer updates, whose states interleave with weights and gradients
  // in MXNet's input order. They are written vars, not read ones.
  std::function<bool(const OpAttrs&, int)> writes_argument;
  // Output counts: fixed, or from the attributes (SliceChannel's num_outputs).
  int num_outputs = 1;
  CountFn count_outputs;
  int num_visible_outputs = -1;  // -1: all outputs are visible
  CountFn count_visible_outputs;
  // Names of the visible outputs; default "output", or "output0".. when there are several.
  NamesFn list_outputs;

  ParseFn parse;
  InferShapeFn infer_shape;
  InferTypeFn infer_type;
  ForwardFn forward;
  // nullptr: the operator has no gradient, and a graph that needs one through it is an error.
  BackwardFn backward;
  // Set instead of forward and backward by operators whose kernels finish asynchronously;
  // they run on `lane` (Lane::kPython for operators written in Python).
  AsyncForwardFn forward_async;
  AsyncBackwardFn backward_async;
  engine::Lane lane = engine::Lane::kCompute;
  // The operator draws random numbers (ctx.rng): calls are serialized per device.
  // `needs_rng_if`, when set, decides from the attributes instead (LeakyReLU: rrelu only).
  bool needs_rng = false;
  std::function<bool(const OpAttrs&)> needs_rng_if;
  // Pairs (input, output) for which the forward kernel is correct when the output is the
  // input's storage. The executor writes in place only when nothing reads the input later
  // (no other node, and no backward kernel), so backward kernels need not allow for it.
  std::vector<std::pair<int, int>> inplace;
  // The backward kernel never reads the gradients of the outputs: the loss heads, whose
  // gradient is that of the loss they stand for. The executor then fills no gradient for
  // such a node's graph outputs. `ignores_out_grad_if`, when set, decides from the attributes
  // instead (SoftmaxOutput: unless out_grad=True).
  bool ignores_out_grad = false;
  std::function<bool(const OpAttrs&)> ignores_out_grad_if;

  // Convenience accessors that apply the attribute-dependent overrides.
  std::vector<std::string> Arguments(const OpAttrs& a) const { return list_inputs ? list_inputs(a) : inputs; }
  std::vector<std::string> AuxStates(const OpAttrs& a) const { return list_aux ? list_aux(a) : aux; }
  int NumInputs(const OpAttrs& a) const {
    return static_cast<int>((list_inputs ? list_inputs(a).size() : inputs.size()) +
                            (list_aux ? list_aux(a).size() : aux.size()));
  }
  bool HasBackward() const { return backward || backward_async; }
  int NumOutputs(const OpAttrs& a) const { return count_outputs ? count_outputs(a) : num_outputs; }
  int NumVisibleOutputs(const OpAttrs& a) const {
    if (count_visible_outputs) return count_visible_outputs(a);
    return num_visible_outputs < 0 ? NumOutputs(a) : num_visible_outputs;
  }
  std::vector<std::string> OutputNames(const OpAttrs& a) const;
  bool WritesArgument(const OpAttrs& a, int i) const { return writes_argument && writes_argument(a, i); }
  bool NeedsRng(const OpAttrs& a) const { return needs_rng_if ? needs_rng_if(a) : needs_rng; }
  bool IgnoresOutGrad(const OpAttrs& a) const {
    return ignores_out_grad_if ? ignores_out_grad_if(a) : ignores_out_grad;
  }
  // The schema entry named `name`; nullptr when the schema has none.
  const OpParam* FindParam(const std::string& name) const;
};

// Shorthands for schema entries: Required("num_hidden", "int", "...") and
// Optional("no_bias", "boolean", "0", "...").
inline OpParam Required(std::string name, std::string type, std::string description) {
  return OpParam{std::move(name), std::move(type), std::nullopt, std::move(description)};
}
inline OpParam Optional(std::string name, std::string type, std::string default_value, std::string description) {
  return OpParam{std::move(name), std::move(type), std::move(default_value), std::move(description)};
}
// An attribute MXNet documents by its type alone, neither required nor with a default
// (smooth_l1's scalar): the operator's own default applies when it is not given.
inline OpParam Undocumented(std::string name, std::string type, std::string description) {
  return OpParam{std::move(name), std::move(type), std::string(), std::move(description)};
}
// `def` with its schema: what it computes, its inputs in calling order and its attributes in
// MXNet's documented order, for definitions shared by several operators.
inline OpDef Described(OpDef def, std::string description, std::vector<OpInputDoc> inputs,
                       std::vector<OpParam> params) {
  def.description = std::move(description);
  def.input_docs = std::move(inputs);
  def.params = std::move(params);
  return def;
}

class Registry {
 public:
  static void Add(OpDef def);
  // nullptr when there is no operator of that name.
  static const OpDef* Find(const std::string& name);
  static std::vector<std::string> Names();
  // Names that were registered more than once: a build error the tests check for.
  static std::vector<std::string> Conflicts();
};

// Registers an operator at load time: FLOWMOD_REGISTER_OP(MakeAddDef()).
#define FLOWMOD_OP_CONCAT_(a, b) a##b
#define FLOWMOD_OP_CONCAT(a, b) FLOWMOD_OP_CONCAT_(a, b)
#define FLOWMOD_REGISTER_OP(...)                                                      \
  static const bool FLOWMOD_OP_CONCAT(flowmod_op_registered_, __LINE__) = [] {        \
    ::flowmod::ops::Registry::Add(__VA_ARGS__);                                       \
    return true;                                                                      \
  }()

// Runs shape and type inference for `op` with every input known and checks that every output
// came out known. Throws OpArgumentError.
void InferOutputs(const OpDef& op, const OpAttrs& attrs, const std::vector<Shape>& in_shapes,
                  const std::vector<DType>& in_types, std::vector<Shape>* out_shapes,
                  std::vector<DType>* out_types);

// A call prepared once and pushed many times: the operator with its parsed attributes, and
// the inference for the last input shapes and types seen, reused while they repeat (a
// training loop calls the same operator on the same shapes). Not thread-safe: each front end
// object owns one (Python's under the GIL).
class PreparedOp {
 public:
  PreparedOp(const OpDef& op, const AttrMap& attrs);

  const OpDef& op() const { return *def_; }
  const OpAttrs& attrs() const { return *attrs_; }
  int num_visible_outputs() const { return num_visible_; }

  // Checks `inputs` (arguments then auxiliary states) and `outputs` (empty, the visible
  // outputs, or all of them), allocates the missing outputs and pushes the forward kernel.
  // Appends the outputs it allocated to `*allocated`.
  void Push(std::span<const NDArray* const> inputs, std::span<const NDArray* const> outputs,
            bool is_train, std::vector<NDArray>* allocated);

  // Kernel arguments without their data: the inferred shapes and types.
  struct Plan {
    std::vector<TensorRef> in, out;
  };

 private:
  const Plan& PlanFor(std::span<const NDArray* const> inputs);

  const OpDef* def_;
  std::shared_ptr<const OpAttrs> attrs_;
  engine::OpName name_;
  int num_args_, num_inputs_, num_outputs_, num_visible_;
  bool needs_rng_;
  std::shared_ptr<const Plan> plan_;  // for the last inputs seen
};

// Invokes `op` on `inputs` (arguments then auxiliary states): parses `attrs`, infers the
// outputs, allocates them (or checks `outputs` when given) and pushes the forward kernel.
// Returns every output, hidden ones included.
std::vector<NDArray> Invoke(const OpDef& op, const std::vector<NDArray>& inputs,
                            const AttrMap& attrs, std::vector<NDArray> outputs = {},
                            bool is_train = false);

// Pushes `op`'s backward kernel: reads out_grads, inputs and outputs, writes in_grads
// (one per argument; req kNull entries may be empty arrays and are not touched).
void InvokeBackward(const OpDef& op, const AttrMap& attrs, const std::vector<NDArray>& out_grads,
                    const std::vector<NDArray>& inputs, const std::vector<NDArray>& outputs,
                    const std::vector<NDArray>& in_grads, const std::vector<OpReq>& req,
                    bool is_train = true);

// The random generator of `device` and the engine var that orders its use.
struct RandomResource {
  engine::Var* var;
  std::mt19937_64* gen;
};
RandomResource RandomFor(engine::DeviceId device);
// Reseeds the generator of every device created so far and of devices created later
// (each device's stream is derived from `seed` and its index), ordered after pending draws.
void SeedAll(uint64_t seed);
// Reseeds one device's generator.
void SeedDevice(engine::DeviceId device, uint64_t seed);

}  // namespace flowmod::ops
