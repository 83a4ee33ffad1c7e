// flowmod._native's array surface: the handle flowmod.ndarray.NDArray wraps, and the native
// operations on it. Arguments are checked in Python (flowmod/ndarray/ndarray.py) before
// they get here; the checks below guard memory safety only.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings/errors.h"
#include "bindings/py_types.h"
#include "ndarray/ndarray.h"
#include "ops/op_registry.h"
#include "storage/host_pool.h"

namespace py = pybind11;
namespace eng = flowmod::engine;

namespace flowmod::bindings {

namespace {

eng::DeviceId DeviceOf(int dev_type, int dev_id) {
  if (dev_type != 1 || dev_id < 0)
    throw std::invalid_argument("device (" + std::to_string(dev_type) + ", " +
                                std::to_string(dev_id) + "): expected a CPU device");
  return eng::DeviceId::Cpu(dev_id);
}

DType DTypeOf(int flag) {
  if (!IsDType(flag)) throw std::invalid_argument("dtype flag " + std::to_string(flag) + " is unknown");
  return static_cast<DType>(flag);
}

Shape ShapeOf(const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (d < 0) throw std::invalid_argument("shape dimensions must be >= 0");
  return Shape(dims.begin(), dims.end());
}

// A C-contiguous numpy array whose bytes are exactly `a`'s contents.
// Copies from host memory of at least this many bytes release the GIL.
constexpr size_t kCopyWithoutGil = size_t{1} << 16;

py::buffer_info CheckedBuffer(const py::array& host, const NDArray& a) {
  py::buffer_info info = host.request();
  if (!(host.flags() & py::array::c_style) ||
      static_cast<size_t>(info.size * info.itemsize) != a.nbytes() ||
      static_cast<size_t>(info.itemsize) != DTypeSize(a.dtype()))
    throw std::invalid_argument("host buffer does not match the array's size and type");
  return info;
}

const ops::OpDef& FindOp(const std::string& name) {
  const ops::OpDef* op = ops::Registry::Find(name);
  if (op == nullptr) throw std::invalid_argument("no operator named '" + name + "'");
  return *op;
}

py::list ShapeList(const std::vector<Shape>& v) {
  py::list out;
  for (const auto& s : v) {
    if (s == ops::kUnknownShape) out.append(py::none());
    else out.append(py::tuple(py::cast(s)));
  }
  return out;
}

py::list TypeList(const std::vector<DType>& v) {
  py::list out;
  for (DType t : v) out.append(static_cast<int>(t));
  return out;
}

// One operator's shape and type inference, in both directions (see "infer" below).
py::tuple InferOne(const std::string& name, const ops::AttrMap& attrs, const std::vector<py::object>& in_shapes,
             const std::vector<int>& in_types, const std::vector<py::object>& known_out_shapes,
             const std::vector<int>& known_out_types) {
  const ops::OpDef& op = FindOp(name);
  auto parsed = op.parse(attrs);
  const size_t n_in = op.NumInputs(*parsed);
  if (in_shapes.size() != n_in || in_types.size() != n_in)
    throw std::invalid_argument(name + ": inputs=" + std::to_string(in_shapes.size()) +
                                " shapes: expected " + std::to_string(n_in));
  std::vector<Shape> shapes;
  for (const auto& s : in_shapes) {
    if (s.is_none()) shapes.push_back(ops::kUnknownShape);
    else shapes.push_back(s.cast<std::vector<int64_t>>());
  }
  std::vector<DType> types;
  for (int t : in_types) types.push_back(t < 0 ? DType::kUnknown : DTypeOf(t));
  const size_t n_out = op.NumOutputs(*parsed);
  std::vector<Shape> out_shapes(n_out, ops::kUnknownShape);
  std::vector<DType> out_types(n_out, DType::kUnknown);
  // Known outputs (from the nodes that consume them) let inference run backwards too.
  if (!known_out_shapes.empty() && known_out_shapes.size() != n_out)
    throw std::invalid_argument(name + ": out_shapes=" + std::to_string(known_out_shapes.size()) +
                                " shapes: expected " + std::to_string(n_out));
  for (size_t i = 0; i < known_out_shapes.size(); ++i)
    if (!known_out_shapes[i].is_none()) out_shapes[i] = known_out_shapes[i].cast<std::vector<int64_t>>();
  if (!known_out_types.empty() && known_out_types.size() != n_out)
    throw std::invalid_argument(name + ": out_types=" + std::to_string(known_out_types.size()) +
                                " types: expected " + std::to_string(n_out));
  for (size_t i = 0; i < known_out_types.size(); ++i)
    if (known_out_types[i] >= 0) out_types[i] = DTypeOf(known_out_types[i]);
  op.infer_shape(*parsed, shapes, out_shapes);
  op.infer_type(*parsed, types, out_types);
  return py::make_tuple(ShapeList(shapes), ShapeList(out_shapes), TypeList(types), TypeList(out_types));
}

void BindHandle(py::module_& m) {
  py::class_<NDArray>(m, "NDArrayHandle", "Native storage of a flowmod.nd.NDArray.")
      .def_property_readonly("shape",
                             [](const NDArray& a) {
                               py::tuple t(a.shape().size());
                               for (size_t i = 0; i < a.shape().size(); ++i) t[i] = a.shape()[i];
                               return t;
                             })
      .def_property_readonly("dtype", [](const NDArray& a) { return static_cast<int>(a.dtype()); })
      .def_property_readonly("device",
                             [](const NDArray& a) {
                               return py::make_tuple(static_cast<int>(a.device().type),
                                                     a.device().index);
                             })
      .def_property_readonly("size", &NDArray::size)
      .def_property_readonly("version", [](const NDArray& a) { return eng::Engine::VersionOf(a.var()); })
      .def("shares_storage_with",
           [](const NDArray& a, const NDArray& b) { return a.chunk() == b.chunk(); })
      .def("slice", &NDArray::SliceFirstAxis, py::arg("begin"), py::arg("end"))
      .def("reshape", [](const NDArray& a, const std::vector<int64_t>& s) { return a.Reshaped(ShapeOf(s)); })
      .def("fill", [](const NDArray& a, double v) { Fill(a, v); })
      .def("copy_to", [](const NDArray& a, const NDArray& dst) { Copy(a, dst); })
      .def("set_from_numpy",
           [](const NDArray& a, const py::array& host) {
             py::buffer_info info = CheckedBuffer(host, a);
             std::vector<char> bytes(a.nbytes());
             if (!bytes.empty()) std::memcpy(bytes.data(), info.ptr, bytes.size());
             CopyFromHost(a, std::move(bytes));
           })
      .def("to_numpy",
           [](const NDArray& a, py::array& out) {
             py::buffer_info info = CheckedBuffer(out, a);
             void* ptr = info.ptr;
             // Dropped with the GIL wherever the last holder is: an interrupted wait leaves
             // it to the engine's callback thread, once the copy into it has run.
             std::shared_ptr<const void> keep(out.inc_ref().ptr(), [](const void* obj) {
               if (!Py_IsInitialized() || PythonFinalizing()) return;
               py::gil_scoped_acquire gil;
               Py_DECREF(static_cast<PyObject*>(const_cast<void*>(obj)));
             });
             py::gil_scoped_release nogil;
             CopyToHost(a, ptr, keep);
           })
      .def("on_complete",
           [](const NDArray& a, py::object callback) {
             // The copy keeps the storage (and its var) alive until the callback has run.
             CallOnComplete(a.var(), std::move(callback), std::make_shared<const NDArray>(a));
           },
           py::arg("callback"),
           "Calls callback(error_or_None) on the engine's callback thread once the writes of "
           "this array pushed so far are done.")
      .def("wait_to_read", [](const NDArray& a) {
        eng::Var* v = a.var();
        py::gil_scoped_release nogil;
        eng::Engine::Get()->WaitForVar(v);
      });
}

// New arrays: empty, from numpy, and a writable view of a new array's bytes.
void BindCreation(py::module_& m) {
  m.def(
      "ndarray_empty",
      [](const std::vector<int64_t>& shape, int dtype, int dev_type, int dev_id) {
        return NDArray(ShapeOf(shape), DTypeOf(dtype), DeviceOf(dev_type, dev_id));
      },
      py::arg("shape"), py::arg("dtype"), py::arg("dev_type"), py::arg("dev_id"));
  m.def(
      "ndarray_host_bytes",
      [](const NDArray& a) {
        // A writable uint8 view of a new host array's bytes, to fill it in place before any
        // operation can use it (the image pipeline decodes straight into its batches, with no
        // copy and without the GIL). The view holds the storage alive.
        auto* keep = new NDArray(a);
        py::capsule owner(keep, [](void* p) { delete static_cast<NDArray*>(p); });
        return py::array(py::dtype("uint8"), {static_cast<py::ssize_t>(a.nbytes())}, {1},
                         a.data(), owner);
      },
      py::arg("array"));
  m.def(
      "ndarray_from_numpy",
      [](const py::array& host, int dtype, int dev_type, int dev_id) {
        Shape shape(host.shape(), host.shape() + host.ndim());
        NDArray a(shape, DTypeOf(dtype), DeviceOf(dev_type, dev_id));
        py::buffer_info info = CheckedBuffer(host, a);
        // A new array: no operation can be using it yet, so the copy happens right here, without
        // the GIL when it is large enough to matter (an iterator's batch, copied on a reader
        // thread while the training loop runs Python), as numpy's own copies release it.
        if (a.nbytes() >= kCopyWithoutGil) {
          py::gil_scoped_release nogil;
          std::memcpy(a.data(), info.ptr, a.nbytes());
        } else if (a.nbytes() > 0) {
          std::memcpy(a.data(), info.ptr, a.nbytes());
        }
        return a;
      },
      py::arg("host"), py::arg("dtype"), py::arg("dev_type"), py::arg("dev_id"));
}

std::vector<ops::OpReq> ReqsOf(const std::vector<std::string>& req) {
  std::vector<ops::OpReq> reqs;
  for (const auto& r : req) {
    if (r == "null") reqs.push_back(ops::OpReq::kNull);
    else if (r == "write") reqs.push_back(ops::OpReq::kWrite);
    else if (r == "add") reqs.push_back(ops::OpReq::kAdd);
    else throw std::invalid_argument("grad_req='" + r + "': expected 'write', 'add' or 'null'");
  }
  return reqs;
}

// Imperative operator calls: forward and the gradient kernel.
void BindInvoke(py::module_& m) {
  m.def(
      "invoke",
      [](const std::string& name, const std::vector<NDArray>& inputs, const ops::AttrMap& attrs,
         std::vector<NDArray> out, bool is_train, bool all_outputs) {
        const ops::OpDef& op = FindOp(name);
        std::vector<NDArray> outputs = ops::Invoke(op, inputs, attrs, std::move(out), is_train);
        if (!all_outputs) outputs.erase(outputs.begin() + op.NumVisibleOutputs(*op.parse(attrs)), outputs.end());
        return outputs;
      },
      py::arg("name"), py::arg("inputs"), py::arg("attrs"), py::arg("out"),
      py::arg("is_train") = false, py::arg("all_outputs") = false,
      "invoke(name, inputs, attrs, out, is_train=False, all_outputs=False) -> handles: runs a\n"
      "registered operator; returns its visible outputs (every output with all_outputs).");
  m.def(
      "invoke_backward",
      [](const std::string& name, const ops::AttrMap& attrs, const std::vector<NDArray>& out_grads,
         const std::vector<NDArray>& inputs, const std::vector<NDArray>& outputs,
         const std::vector<NDArray>& in_grads, const std::vector<std::string>& req, bool is_train) {
        ops::InvokeBackward(FindOp(name), attrs, out_grads, inputs, outputs, in_grads, ReqsOf(req), is_train);
      },
      py::arg("name"), py::arg("attrs"), py::arg("out_grads"), py::arg("inputs"), py::arg("outputs"),
      py::arg("in_grads"), py::arg("req"), py::arg("is_train") = true,
      "invoke_backward(name, attrs, out_grads, inputs, outputs, in_grads, req, is_train=True):\n"
      "pushes the operator's gradient kernel, writing in_grads under req ('write', 'add', 'null').");
}

// What the registry knows of an operator: names, counts, inference.
void BindOpQueries(py::module_& m) {
  m.def(
      "op_info",
      [](const std::string& name, const ops::AttrMap& attrs) {
        const ops::OpDef& op = FindOp(name);
        auto parsed = op.parse(attrs);
        py::dict info;
        info["arguments"] = op.Arguments(*parsed);
        info["aux"] = op.AuxStates(*parsed);
        info["outputs"] = op.OutputNames(*parsed);
        info["num_outputs"] = op.NumOutputs(*parsed);
        info["key_var_num_args"] = op.key_var_num_args;
        info["has_backward"] = op.HasBackward();
        info["needs_rng"] = op.NeedsRng(*parsed);
        return info;
      },
      py::arg("name"), py::arg("attrs"),
      "op_info(name, attrs) -> dict: the operator's argument, auxiliary and output names.");
  m.def(
      "infer",
      &InferOne,
      py::arg("name"), py::arg("attrs"), py::arg("in_shapes"), py::arg("in_types"),
      py::arg("out_shapes") = std::vector<py::object>{}, py::arg("out_types") = std::vector<int>{},
      "infer(name, attrs, in_shapes, in_types, out_shapes=[], out_types=[])\n"
      "    -> (in_shapes, out_shapes, in_types, out_types)\n\n"
      "Runs one operator's shape and type inference in both directions, from what is known of\n"
      "its inputs and (optionally) its outputs. Unknown shapes are None, unknown dimensions -1,\n"
      "unknown types -1; conflicts raise MXNetError naming the argument.");
  m.def(
      "op_key_var_num_args", [](const std::string& name) { return FindOp(name).key_var_num_args; },
      py::arg("name"));
  m.def("list_ops", &ops::Registry::Names);
  m.def("registry_conflicts", &ops::Registry::Conflicts);
}

}  // namespace

void BindNDArray(py::module_& m) {
  BindHandle(m);
  BindCreation(m);
  BindInvoke(m);
  BindOpQueries(m);
  m.def(
      "random_seed",
      [](uint64_t seed, int dev_type, int dev_id) {
        if (dev_type < 0) ops::SeedAll(seed);
        else ops::SeedDevice(DeviceOf(dev_type, dev_id), seed);
      },
      py::arg("seed"), py::arg("dev_type") = -1, py::arg("dev_id") = 0,
      "random_seed(seed, dev_type=-1, dev_id=0): reseeds every device's generator, or one's.");
  m.def("storage_bytes", [] {
    auto& pool = storage::HostPool::Get();
    return py::make_tuple(pool.bytes_in_use(), pool.bytes_pooled());
  });
  m.def("storage_release", [] { storage::HostPool::Get().ReleaseAll(); });
}

}  // namespace flowmod::bindings
