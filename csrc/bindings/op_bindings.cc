// flowmod._native.PreparedOp: an operator with parsed attributes that Python calls once per
// operation (every NDArray arithmetic operator goes through one), so the call is written
// against the C API: positional arguments, array handles unwrapped in place, no dict or list
// built per call.
#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "ndarray/ndarray.h"
#include "ops/op_registry.h"

namespace py = pybind11;

namespace flowmod::bindings {

namespace {

struct PreparedObject {
  PyObject_HEAD
  ops::PreparedOp* op;
};

PyTypeObject* prepared_type = nullptr;

// The NDArray inside a flowmod._native.NDArrayHandle; nullptr (with a TypeError set) if `o`
// is not one.
const NDArray* HandleOf(PyObject* o, const char* what) {
  py::detail::make_caster<NDArray> caster;
  if (!caster.load(py::handle(o), false)) {
    PyErr_Format(PyExc_TypeError, "%s: expected an NDArray handle, got %s", what, Py_TYPE(o)->tp_name);
    return nullptr;
  }
  return &py::detail::cast_op<const NDArray&>(caster);
}

void PreparedDealloc(PyObject* o) {
  delete reinterpret_cast<PreparedObject*>(o)->op;
  PyTypeObject* type = Py_TYPE(o);
  PyObject_Free(o);
  Py_DECREF(type);
}

// push(out, is_train, *inputs): `out` is None, a handle, or a list/tuple of handles. Returns
// None when `out` covers every visible output, else the new visible output (a handle) or a list
// of them.
PyObject* PreparedPush(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  ops::PreparedOp& op = *reinterpret_cast<PreparedObject*>(self)->op;
  if (nargs < 2) {
    PyErr_SetString(PyExc_TypeError, "push(out, is_train, *inputs)");
    return nullptr;
  }
  constexpr int kInline = 8;
  const NDArray* in_buf[kInline];
  std::vector<const NDArray*> in_heap;
  const Py_ssize_t n_in = nargs - 2;
  const NDArray** in = in_buf;
  if (n_in > kInline) {
    in_heap.resize(n_in);
    in = in_heap.data();
  }
  for (Py_ssize_t i = 0; i < n_in; ++i)
    if ((in[i] = HandleOf(args[i + 2], "inputs")) == nullptr) return nullptr;
  const NDArray* out_buf[kInline];
  std::vector<const NDArray*> out_heap;
  const NDArray** out = out_buf;
  Py_ssize_t n_out = 0;
  PyObject* out_arg = args[0];
  if (out_arg != Py_None) {
    if (PyList_Check(out_arg) || PyTuple_Check(out_arg)) {
      PyObject* seq = out_arg;
      n_out = PySequence_Fast_GET_SIZE(seq);
      if (n_out > kInline) {
        out_heap.resize(n_out);
        out = out_heap.data();
      }
      for (Py_ssize_t i = 0; i < n_out; ++i)
        if ((out[i] = HandleOf(PySequence_Fast_GET_ITEM(seq, i), "out")) == nullptr) return nullptr;
    } else {
      n_out = 1;
      if ((out[0] = HandleOf(out_arg, "out")) == nullptr) return nullptr;
    }
  }
  const int is_train = PyObject_IsTrue(args[1]);
  if (is_train < 0) return nullptr;
  std::vector<NDArray> allocated;
  try {
    op.Push({in, static_cast<size_t>(n_in)}, {out, static_cast<size_t>(n_out)}, is_train != 0, &allocated);
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
  const Py_ssize_t n_visible = op.num_visible_outputs();
  if (n_out >= n_visible) Py_RETURN_NONE;
  try {
    if (n_out == 0 && n_visible == 1) return py::cast(std::move(allocated[0])).release().ptr();
    py::list result;
    for (Py_ssize_t i = n_out; i < n_visible; ++i) result.append(py::cast(std::move(allocated[i - n_out])));
    return result.release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();
    return nullptr;
  }
}

PyObject* PreparedRepr(PyObject* self) {
  return PyUnicode_FromFormat("<PreparedOp %s>", reinterpret_cast<PreparedObject*>(self)->op->op().name.c_str());
}

PyMethodDef prepared_methods[] = {
    {"push", reinterpret_cast<PyCFunction>(PreparedPush), METH_FASTCALL,
     "push(out, is_train, *inputs): pushes the operator; returns its new visible outputs, or None "
     "when out covers them."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot prepared_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(PreparedDealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(PreparedRepr)},
    {Py_tp_methods, prepared_methods},
    {Py_tp_doc, const_cast<char*>("An operator with parsed attributes; made by prepare(name, attrs).")},
    {0, nullptr}};

PyType_Spec prepared_spec = {"flowmod._native.PreparedOp", sizeof(PreparedObject), 0, Py_TPFLAGS_DEFAULT,
                             prepared_slots};

}  // namespace

void BindOps(py::module_& m) {
  prepared_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&prepared_spec));
  if (prepared_type == nullptr) throw py::error_already_set();
  m.add_object("PreparedOp", py::reinterpret_borrow<py::object>(reinterpret_cast<PyObject*>(prepared_type)));
  m.def(
      "prepare",
      [](const std::string& name, const ops::AttrMap& attrs) {
        const ops::OpDef* def = ops::Registry::Find(name);
        if (def == nullptr) throw std::invalid_argument("no operator named '" + name + "'");
        auto prepared = std::make_unique<ops::PreparedOp>(*def, attrs);  // parses: may throw
        auto* self = PyObject_New(PreparedObject, prepared_type);
        if (self == nullptr) throw py::error_already_set();
        self->op = prepared.release();
        return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(self));
      },
      py::arg("name"), py::arg("attrs"),
      "prepare(name, attrs) -> PreparedOp: parses the attributes of a registered operator once.");
  m.def(
      "op_schema",
      [](const std::string& name) {
        const ops::OpDef* def = ops::Registry::Find(name);
        if (def == nullptr) throw std::invalid_argument("no operator named '" + name + "'");
        py::list inputs;
        for (const auto& in : def->input_docs) inputs.append(py::make_tuple(in.name, in.description));
        py::list params;
        for (const auto& p : def->params) {
          py::dict entry;
          entry["name"] = p.name;
          entry["type"] = p.type;
          entry["type_string"] = p.TypeString();
          entry["default"] = p.default_value ? py::object(py::str(*p.default_value)) : py::object(py::none());
          entry["description"] = p.description;
          params.append(entry);
        }
        py::dict schema;
        schema["name"] = def->name;
        schema["description"] = def->description;
        schema["inputs"] = inputs;
        schema["params"] = params;
        schema["key_var_num_args"] = def->key_var_num_args;
        schema["variadic"] = def->variadic || !def->key_var_num_args.empty();
        return schema;
      },
      py::arg("name"),
      "op_schema(name) -> dict: the operator's calling convention as MXNet documents it:\n"
      "description, inputs [(name, description)] in calling order, params [{name, type,\n"
      "type_string, default (None when required), description}] in MXNet's order, and\n"
      "key_var_num_args for operators taking any number of inputs (variadic: whether it\n"
      "takes any number, counted by that attribute or by one the caller gives).");
}

}  // namespace flowmod::bindings
