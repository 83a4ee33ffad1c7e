// The Python side of the Custom operator (csrc/ops/custom_op.h): a CustomProp that calls the
// bridge object flowmod/operator.py makes for each (op_type, keyword arguments), which wraps
// the user's CustomOpProp and CustomOp.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <vector>

#include "bindings/errors.h"
#include "ops/custom_op.h"

namespace py = pybind11;

namespace flowmod::bindings {

namespace {

// Holds the interpreter's lock on any thread. A native thread Python has never seen (a
// Python-lane worker) gets a thread state it keeps for its life, so that each call does not
// create and destroy one.
class Gil {
 public:
  Gil() {
    if (PyGILState_GetThisThreadState() == nullptr) {
      PyGILState_Ensure();
      PyEval_SaveThread();
    }
    state_ = PyGILState_Ensure();
  }
  ~Gil() { PyGILState_Release(state_); }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  PyGILState_STATE state_;
};

bool PythonGone() { return !Py_IsInitialized() || PythonFinalizing(); }

const char* ReqName(ops::OpReq r) {
  switch (r) {
    case ops::OpReq::kNull: return "null";
    case ops::OpReq::kAdd: return "add";
    default: return "write";
  }
}

// The pending exception's message (its type too, unless it is an MXNetError), clearing it.
std::string FetchMessage() {
  py::error_already_set e;
  const std::string type = py::str(e.type().attr("__name__"));
  const std::string text = py::str(e.value());
  return type == "MXNetError" ? text : type + ": " + text;
}

// Python's message for the pending exception, for errors raised by a prop's inference.
std::string PropError(const std::string& op_type, const char* what) {
  return "custom operator '" + op_type + "': " + what + ": " + FetchMessage();
}

class PyProp final : public ops::CustomProp {
 public:
  PyProp(const std::string& op_type, py::object bridge) : bridge_(bridge.release().ptr()) {
    op_type_ = op_type;
    py::handle b(bridge_);
    arguments_ = b.attr("arguments").cast<std::vector<std::string>>();
    outputs_ = b.attr("outputs").cast<std::vector<std::string>>();
    aux_ = b.attr("aux").cast<std::vector<std::string>>();
    need_top_grad_ = b.attr("need_top_grad").cast<bool>();
  }
  ~PyProp() override {
    // During finalization Python objects can no longer be dropped: the bridge is left to it.
    if (PythonGone()) return;
    Gil gil;
    Py_DECREF(bridge_);
  }

  void InferShape(std::vector<Shape>& in, std::vector<Shape>& out) const override {
    Gil gil;
    py::list shapes;
    for (const Shape& s : in) {
      if (ops::IsKnown(s)) shapes.append(py::tuple(py::cast(s)));
      else shapes.append(py::none());
    }
    py::object result;
    try {
      result = py::handle(bridge_).attr("infer_shape")(shapes);
    } catch (py::error_already_set& e) {
      e.restore();
      throw std::invalid_argument(PropError(op_type_, "infer_shape"));
    }
    if (result.is_none()) return;  // not inferable until more is known
    auto [new_in, new_out] = result.cast<std::pair<std::vector<Shape>, std::vector<Shape>>>();
    Apply(new_in, in, "input", "infer_shape", [](const Shape& s) { return ShapeString(s); });
    Apply(new_out, out, "output", "infer_shape", [](const Shape& s) { return ShapeString(s); });
  }

  void InferType(std::vector<DType>& in, std::vector<DType>& out) const override {
    Gil gil;
    std::vector<int> flags;
    for (DType t : in) flags.push_back(t == DType::kUnknown ? -1 : static_cast<int>(t));
    py::object result;
    try {
      result = py::handle(bridge_).attr("infer_type")(flags);
    } catch (py::error_already_set& e) {
      e.restore();
      throw std::invalid_argument(PropError(op_type_, "infer_type"));
    }
    if (result.is_none()) return;
    auto [new_in, new_out] = result.cast<std::pair<std::vector<int>, std::vector<int>>>();
    auto to_types = [](const std::vector<int>& v) {
      std::vector<DType> t;
      for (int f : v) t.push_back(f < 0 ? DType::kUnknown : static_cast<DType>(f));
      return t;
    };
    Apply(to_types(new_in), in, "input", "infer_type", [](DType t) { return std::string(DTypeName(t)); });
    Apply(to_types(new_out), out, "output", "infer_type", [](DType t) { return std::string(DTypeName(t)); });
  }

  std::string Forward(const ops::CustomCall& call) override { return Run("forward", call); }
  std::string Backward(const ops::CustomCall& call) override { return Run("backward", call); }

 private:
  // Fills the unknown entries of `have` from `got`; a known entry must come back unchanged.
  template <typename T, typename Show>
  void Apply(const std::vector<T>& got, std::vector<T>& have, const char* what, const char* fn,
             Show show) const {
    const auto& names = std::string(what) == "input" ? arguments_ : outputs_;
    auto is_known = [](const T& v) {
      if constexpr (std::is_same_v<T, Shape>) return ops::IsKnown(v);
      else return v != DType::kUnknown;
    };
    for (size_t i = 0; i < have.size() && i < got.size(); ++i) {
      if (!is_known(got[i])) continue;
      const bool known = is_known(have[i]);
      if (known && have[i] != got[i]) {
        const std::string name = i < names.size() ? names[i] : aux_[i - names.size()];
        throw ops::OpArgumentError("Custom", std::string(what) + " '" + name + "'", show(have[i]),
                                   "what " + op_type_ + "'s " + fn + " returned, " + show(got[i]));
      }
      if (!known) have[i] = got[i];
    }
  }

  std::string Run(const char* method, const ops::CustomCall& call) {
    if (PythonGone()) return "the interpreter is shutting down";
    Gil gil;
    try {
      py::list req;
      for (ops::OpReq r : call.req) req.append(ReqName(r));
      py::list groups;
      for (const auto& group : call.groups) groups.append(py::cast(group));
      py::object error = py::handle(bridge_).attr(method)(call.device.index, call.is_train, req, groups);
      return error.is_none() ? std::string() : error.cast<std::string>();
    } catch (py::error_already_set& e) {
      e.restore();
      return FetchPythonError();
    } catch (const std::exception& e) {
      return e.what();
    }
  }

  PyObject* bridge_;
};

std::shared_ptr<ops::CustomProp> MakeProp(const std::string& op_type, const ops::AttrMap& kwargs) {
  if (PythonGone()) throw std::runtime_error("custom operator '" + op_type + "': the interpreter is shutting down");
  Gil gil;
  try {
    py::object bridge = py::module_::import("flowmod.operator").attr("_bridge")(op_type, py::cast(kwargs));
    return std::make_shared<PyProp>(op_type, std::move(bridge));
  } catch (py::error_already_set& e) {
    e.restore();
    throw std::invalid_argument(FetchMessage());
  }
}

}  // namespace

void BindCustomOps(py::module_&) { ops::SetCustomPropFactory(MakeProp); }

}  // namespace flowmod::bindings
