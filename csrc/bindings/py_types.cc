#include "bindings/py_types.h"

#include <structmember.h>

namespace py = pybind11;
namespace eng = flowmod::engine;

namespace flowmod::bindings {

PyTypeObject* var_type = nullptr;
PyTypeObject* native_op_type = nullptr;

namespace {

PyObject* VarNew(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  if (PyTuple_GET_SIZE(args) != 0 || (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0)) {
    PyErr_SetString(PyExc_TypeError, "Var() takes no arguments");
    return nullptr;
  }
  auto* self = reinterpret_cast<VarObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->var = eng::Engine::Get()->NewVar();
  return reinterpret_cast<PyObject*>(self);
}

void VarDealloc(PyObject* o) {
  auto* self = reinterpret_cast<VarObject*>(o);
  // Deferred by the engine until the operations using the var have finished.
  if (self->var != nullptr) eng::Engine::Get()->DeleteVar(self->var);
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);
  Py_DECREF(type);
}

PyObject* VarVersion(PyObject* o, void*) {
  return PyLong_FromUnsignedLongLong(eng::Engine::VersionOf(VarOf(o)));
}

PyGetSetDef var_getset[] = {
    {"version", VarVersion, nullptr, "How many writes of this var have finished.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot var_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(VarNew)},
    {Py_tp_dealloc, reinterpret_cast<void*>(VarDealloc)},
    {Py_tp_getset, var_getset},
    {Py_tp_doc, const_cast<char*>("Var()\n\nA versioned engine handle; see flowmod.engine.")},
    {0, nullptr}};

PyType_Spec var_spec = {"flowmod._native.Var", sizeof(VarObject), 0, Py_TPFLAGS_DEFAULT,
                        var_slots};

void NativeOpDealloc(PyObject* o) {
  delete reinterpret_cast<NativeOpObject*>(o)->op;
  PyTypeObject* type = Py_TYPE(o);
  type->tp_free(o);
  Py_DECREF(type);
}

PyObject* NativeOpRepr(PyObject* o) {
  return PyUnicode_FromFormat("<NativeOp %s>", NativeOpOf(o).label.c_str());
}

PyObject* NativeOpName(PyObject* o, void*) {
  return PyUnicode_FromString(NativeOpOf(o).label.c_str());
}

PyGetSetDef native_op_getset[] = {
    {"name", NativeOpName, nullptr, "The operation's name.", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot native_op_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(NativeOpDealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(NativeOpRepr)},
    {Py_tp_getset, native_op_getset},
    {Py_tp_doc, const_cast<char*>("A native operation; see flowmod.engine.NativeOp.")},
    {0, nullptr}};

// No tp_new: native operations come from the factories, never from Python data.
PyType_Spec native_op_spec = {"flowmod._native.NativeOp", sizeof(NativeOpObject), 0,
                              Py_TPFLAGS_DEFAULT, native_op_slots};

}  // namespace

py::object WrapNativeOp(NativeOp op) {
  auto* self = PyObject_New(NativeOpObject, native_op_type);
  if (self == nullptr) throw py::error_already_set();
  self->op = new NativeOp(std::move(op));
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(self));
}

void RegisterTypes(py::module_& m) {
  var_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&var_spec));
  native_op_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&native_op_spec));
  if (var_type == nullptr || native_op_type == nullptr) throw py::error_already_set();
  // The module keeps a reference; the globals borrow it for the life of the process.
  m.add_object("Var", py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(var_type)));
  m.add_object("NativeOp",
               py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(native_op_type)));
}

}  // namespace flowmod::bindings
