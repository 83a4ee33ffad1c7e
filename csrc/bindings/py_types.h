// Var and NativeOp as plain CPython types, so that the per-operation path (push_native)
// checks and unwraps its arguments with a pointer comparison and a field read.
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "engine.h"

namespace flowmod::bindings {

// A native operation that Python can push: the callable and its interned name.
struct NativeOp {
  engine::Operation op;
  engine::OpName name = 0;
  std::string label;
};

struct VarObject {
  PyObject_HEAD
  engine::Var* var;
};

struct NativeOpObject {
  PyObject_HEAD
  NativeOp* op;
};

extern PyTypeObject* var_type;
extern PyTypeObject* native_op_type;

inline bool IsVar(PyObject* o) { return Py_TYPE(o) == var_type; }
inline engine::Var* VarOf(PyObject* o) { return reinterpret_cast<VarObject*>(o)->var; }
inline bool IsNativeOp(PyObject* o) { return Py_TYPE(o) == native_op_type; }
inline const NativeOp& NativeOpOf(PyObject* o) { return *reinterpret_cast<NativeOpObject*>(o)->op; }

// A new NativeOp object owning `op`.
pybind11::object WrapNativeOp(NativeOp op);

// Calls `callback(error_or_None)` on the engine's callback thread once the writes of `var`
// pushed so far are done; `keep_alive` (the array owning the var, say) is held until then.
void CallOnComplete(engine::Var* var, pybind11::object callback,
                    std::shared_ptr<const void> keep_alive);

// Creates both types and adds them to `m` as Var and NativeOp.
void RegisterTypes(pybind11::module_& m);

}  // namespace flowmod::bindings
