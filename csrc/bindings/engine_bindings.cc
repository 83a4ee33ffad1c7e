// flowmod._native's engine surface: vars, pushes of Python callables and native operations,
// waits, completion callbacks and counters. flowmod/engine.py is the documented face.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bindings/errors.h"
#include "bindings/py_types.h"
#include "engine.h"
#include "ndarray/ndarray.h"

namespace py = pybind11;
namespace eng = flowmod::engine;

namespace flowmod::bindings {

namespace {

eng::Engine* TheEngine() { return eng::Engine::Get(); }

// A reference to a Python object held by native code that may drop it on any thread. Take()
// hands it back to a thread that holds the GIL; only a holder never taken (an operation that
// was skipped) takes the GIL to drop it.
class PyRef {
 public:
  explicit PyRef(py::object obj) : obj_(obj.release().ptr()) {}
  PyRef(const PyRef&) = delete;
  ~PyRef() {
    if (obj_ == nullptr || !Py_IsInitialized() || PythonFinalizing()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(obj_);
  }
  py::object Take() {  // with the GIL
    PyObject* obj = obj_;
    obj_ = nullptr;
    return py::reinterpret_steal<py::object>(obj);
  }

 private:
  PyObject* obj_;
};

void CallPythonOp(PyRef& ref) {
  if (PythonFinalizing()) throw std::runtime_error("the interpreter is shutting down");
  py::gil_scoped_acquire gil;
  py::object fn = ref.Take();
  PyObject* result = PyObject_CallNoArgs(fn.ptr());
  if (result == nullptr) throw std::runtime_error(FetchPythonError());
  Py_DECREF(result);
}

// The vars of a `reads` or `writes` argument: a Var, a sequence of Vars, or None. Most
// operations use a handful, kept inline; the caller keeps the argument alive meanwhile.
class VarList {
 public:
  // Returns false with a Python TypeError set when `arg` is not of that form.
  bool Parse(PyObject* arg, const char* what) {
    size_ = 0;
    if (arg == Py_None) return true;
    if (IsVar(arg)) return Add(VarOf(arg)), true;
    if (PyTuple_Check(arg) || PyList_Check(arg)) {
      const Py_ssize_t n = PySequence_Fast_GET_SIZE(arg);
      PyObject** items = PySequence_Fast_ITEMS(arg);
      for (Py_ssize_t i = 0; i < n; ++i) {
        if (!IsVar(items[i])) return Fail(what, i, items[i]);
        Add(VarOf(items[i]));
      }
      return true;
    }
    PyObject* fast = PySequence_Fast(arg, "");
    if (fast == nullptr) {
      PyErr_Clear();
      return Fail(what, -1, arg);
    }
    py::object hold = py::reinterpret_steal<py::object>(fast);
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject** items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!IsVar(items[i])) return Fail(what, i, items[i]);
      Add(VarOf(items[i]));
    }
    return true;
  }
  // Throws TypeError instead, for pybind11 callers.
  void ParseOrThrow(py::handle arg, const char* what) {
    if (!Parse(arg.ptr(), what)) throw py::error_already_set();
  }
  std::span<eng::Var* const> span() const { return {data(), size_}; }

 private:
  static constexpr size_t kInline = 8;
  void Add(eng::Var* v) {
    if (size_ < kInline) {
      inline_[size_++] = v;
      return;
    }
    if (size_ == kInline) heap_.assign(inline_, inline_ + kInline);
    heap_.push_back(v);
    ++size_;
  }
  eng::Var* const* data() const { return size_ <= kInline ? inline_ : heap_.data(); }
  static bool Fail(const char* what, Py_ssize_t index, PyObject* item) {
    PyObject* r = PyObject_Repr(item);
    const char* text = r ? PyUnicode_AsUTF8(r) : "?";
    if (index < 0)
      PyErr_Format(PyExc_TypeError, "%s=%s: expected a flowmod.engine.Var or a sequence of them",
                   what, text);
    else
      PyErr_Format(PyExc_TypeError, "%s[%zd]=%s: expected a flowmod.engine.Var", what, index, text);
    Py_XDECREF(r);
    return false;
  }
  eng::Var* inline_[kInline];
  std::vector<eng::Var*> heap_;
  size_t size_ = 0;
};

eng::Lane LaneOf(int lane) {
  if (lane < 0 || lane >= eng::kNumLanes)
    throw py::value_error("lane=" + std::to_string(lane) + ": expected 0 (compute), 1 (copy) or 2 (python)");
  return static_cast<eng::Lane>(lane);
}

eng::Placement PlacementOf(int dev_type, int dev_id, int lane, int priority) {
  if (dev_type != 1 && dev_type != 2)
    throw py::value_error("device type " + std::to_string(dev_type) + ": expected 1 (cpu) or 2 (gpu)");
  return eng::Placement{eng::DeviceId{static_cast<eng::DeviceType>(dev_type), dev_id},
                        LaneOf(lane), priority};
}

// The naive engine runs the operation inside Push: let other Python threads run meanwhile.
template <typename F>
void PushMaybeReleasing(F&& push) {
  static const bool naive = TheEngine()->Type() == "NaiveEngine";
  if (naive) {
    py::gil_scoped_release nogil;
    push();
  } else {
    push();
  }
}

void PushPython(py::object fn, py::handle reads, py::handle writes, int dev_type, int dev_id,
                int lane, int priority, const std::string& name) {
  if (!PyCallable_Check(fn.ptr()))
    throw py::type_error("fn=" + std::string(py::repr(fn)) + ": expected a callable");
  VarList r, w;
  r.ParseOrThrow(reads, "reads");
  w.ParseOrThrow(writes, "writes");
  const auto where = PlacementOf(dev_type, dev_id, lane, priority);
  const eng::OpName op_name = TheEngine()->stats().Intern(name);
  auto ref = std::make_shared<PyRef>(std::move(fn));
  PushMaybeReleasing([&] {
    TheEngine()->Push(eng::Operation::Sync([ref](const eng::RunContext&) { CallPythonOp(*ref); }),
                      r.span(), w.span(), where, op_name);
  });
}

// An asynchronous Python operation: fn(done) starts the work and returns; the operation is
// finished when done(None) is called, from any thread, or failed with done("message"). Work
// handed to another thread this way (a collective on a communication thread) holds no worker
// of its lane while it waits. Only the first call of done counts; if fn raises before calling
// it, the operation fails with the exception.
void StartPythonAsyncOp(PyRef& ref, eng::Completion completion) {
  if (PythonFinalizing()) {
    completion.Fail("the interpreter is shutting down");
    return;
  }
  auto called = std::make_shared<std::atomic<bool>>(false);
  auto finish = [completion, called](const std::optional<std::string>& error) {
    if (called->exchange(true)) return false;
    if (error) completion.Fail(*error);
    else completion();
    return true;
  };
  py::gil_scoped_acquire gil;
  py::object fn = ref.Take();
  py::cpp_function done(
      [finish](std::optional<std::string> error) {
        py::gil_scoped_release nogil;
        return finish(error);
      },
      py::arg("error") = py::none());
  PyObject* result = PyObject_CallOneArg(fn.ptr(), done.ptr());
  if (result == nullptr) {
    const std::string message = FetchPythonError();
    py::gil_scoped_release nogil;
    finish(message);
    return;
  }
  Py_DECREF(result);
}

// The vars of a sequence of Vars and NDArray handles (an array stands for its storage's var;
// the caller keeps the arrays alive until the operation has finished).
std::vector<eng::Var*> VarsOfArraysOrVars(py::handle seq, const char* what) {
  std::vector<eng::Var*> vars;
  if (seq.is_none()) return vars;
  Py_ssize_t i = 0;
  for (py::handle item : py::iter(seq)) {
    if (IsVar(item.ptr())) {
      vars.push_back(VarOf(item.ptr()));
    } else if (py::isinstance<NDArray>(item)) {
      vars.push_back(item.cast<const NDArray&>().var());
    } else {
      throw py::type_error(std::string(what) + "[" + std::to_string(i) + "]=" +
                           std::string(py::repr(item)) +
                           ": expected a flowmod.engine.Var or an NDArray handle");
    }
    ++i;
  }
  return vars;
}

void PushPythonAsync(py::object fn, py::handle reads, py::handle writes, int dev_type,
                     int dev_id, int lane, int priority, const std::string& name) {
  if (!PyCallable_Check(fn.ptr()))
    throw py::type_error("fn=" + std::string(py::repr(fn)) + ": expected a callable");
  const std::vector<eng::Var*> r = VarsOfArraysOrVars(reads, "reads");
  const std::vector<eng::Var*> w = VarsOfArraysOrVars(writes, "writes");
  const auto where = PlacementOf(dev_type, dev_id, lane, priority);
  const eng::OpName op_name = TheEngine()->stats().Intern(name);
  auto ref = std::make_shared<PyRef>(std::move(fn));
  PushMaybeReleasing([&] {
    TheEngine()->Push(eng::Operation::Async([ref](const eng::RunContext&, eng::Completion done) {
                        StartPythonAsyncOp(*ref, done);
                      }),
                      std::span<eng::Var* const>(r), std::span<eng::Var* const>(w), where,
                      op_name);
  });
}

// push_native(op, reads=(), writes=(), dev_type=1, dev_id=0, lane=0, priority=0), positional:
// the one call per operation that Python makes, so it is written against the C API.
PyObject* PushNativeFast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 7 || !IsNativeOp(args[0])) {
    PyErr_SetString(PyExc_TypeError,
                    "push_native(op, reads=(), writes=(), dev_type=1, dev_id=0, lane=0, "
                    "priority=0): op must be a NativeOp");
    return nullptr;
  }
  VarList r, w;
  if (nargs > 1 && !r.Parse(args[1], "reads")) return nullptr;
  if (nargs > 2 && !w.Parse(args[2], "writes")) return nullptr;
  long placement[4] = {1, 0, 0, 0};
  for (Py_ssize_t i = 3; i < nargs; ++i) {
    placement[i - 3] = PyLong_AsLong(args[i]);
    if (placement[i - 3] == -1 && PyErr_Occurred()) return nullptr;
  }
  try {
    const auto where = PlacementOf(static_cast<int>(placement[0]), static_cast<int>(placement[1]),
                                   static_cast<int>(placement[2]), static_cast<int>(placement[3]));
    const NativeOp& op = NativeOpOf(args[0]);
    PushMaybeReleasing([&] { TheEngine()->Push(op.op, r.span(), w.span(), where, op.name); });
  } catch (py::builtin_exception& e) {
    e.set_error();
    return nullptr;
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (...) {
    // Translated to MXNetError the way pybind11 translates every other native error.
    py::detail::try_translate_exceptions();
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef push_native_def = {"push_native", reinterpret_cast<PyCFunction>(PushNativeFast),
                               METH_FASTCALL,
                               "push_native(op, reads=(), writes=(), dev_type=1, dev_id=0, "
                               "lane=0, priority=0)"};

void PushBulk(py::sequence entries, int dev_type, int dev_id, int lane, int priority) {
  const auto where = PlacementOf(dev_type, dev_id, lane, priority);
  struct Entry {
    const NativeOp* op;
    VarList reads, writes;
  };
  // Everything is converted and checked before the first push, so a bad entry pushes nothing.
  std::vector<Entry> parsed;
  parsed.reserve(py::len(entries));
  size_t i = 0;
  for (py::handle item : entries) {
    if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 3 ||
        !IsNativeOp(PyTuple_GET_ITEM(item.ptr(), 0)))
      throw py::type_error("ops[" + std::to_string(i) + "]=" + std::string(py::repr(item)) +
                           ": expected a tuple (NativeOp, reads, writes)");
    Entry& e = parsed.emplace_back();
    e.op = &NativeOpOf(PyTuple_GET_ITEM(item.ptr(), 0));
    e.reads.ParseOrThrow(PyTuple_GET_ITEM(item.ptr(), 1), "reads");
    e.writes.ParseOrThrow(PyTuple_GET_ITEM(item.ptr(), 2), "writes");
    ++i;
  }
  PushMaybeReleasing([&] {
    for (auto& e : parsed)
      TheEngine()->Push(e.op->op, e.reads.span(), e.writes.span(), where, e.op->name);
  });
}

}  // namespace

void CallOnComplete(eng::Var* var, py::object callback, std::shared_ptr<const void> keep_alive) {
  if (!PyCallable_Check(callback.ptr()))
    throw py::type_error("callback=" + std::string(py::repr(callback)) + ": expected a callable");
  auto ref = std::make_shared<PyRef>(std::move(callback));
  auto run = [ref, keep = std::move(keep_alive)](const eng::ErrorInfo* error) {
    if (PythonFinalizing()) return;
    py::gil_scoped_acquire gil;
    py::object fn = ref->Take();
    try {
      fn(error ? MakeMXNetError(*error) : py::none());
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("flowmod.engine.on_complete callback");
    }
  };
  PushMaybeReleasing([&] { TheEngine()->OnComplete(var, std::move(run)); });
}

namespace {

void OnComplete(py::handle var, py::object callback) {
  if (!IsVar(var.ptr()))
    throw py::type_error("var=" + std::string(py::repr(var)) + ": expected a flowmod.engine.Var");
  CallOnComplete(VarOf(var.ptr()), std::move(callback), nullptr);
}

py::tuple StatsTuple() {
  const eng::StatsSnapshot snap = TheEngine()->stats().Snapshot();
  py::list lanes;
  for (const auto& l : snap.lanes)
    lanes.append(py::make_tuple(eng::DeviceTypeName(l.device.type), l.device.index,
                                eng::LaneName(l.lane), l.pushed, l.completed, l.failed,
                                l.skipped, l.waiting, l.ready, l.running));
  py::list bounds;
  for (int i = 0; i < eng::kLatencyBuckets; ++i) bounds.append(eng::LatencyBucketBound(i));
  py::list latency;
  for (const auto& h : snap.latency) {
    py::list buckets;
    for (uint64_t b : h.buckets) buckets.append(b);
    latency.append(py::make_tuple(h.op_name, buckets, h.count, h.sum_seconds));
  }
  return py::make_tuple(lanes, latency, bounds);
}

}  // namespace

void BindEngine(py::module_& m) {
  RegisterTypes(m);
  py::handle op_type(reinterpret_cast<PyObject*>(native_op_type));
  op_type.attr("noop") = py::staticmethod(py::cpp_function(
      [] {
        return WrapNativeOp({eng::Operation::Sync([](const eng::RunContext&) {}),
                             TheEngine()->stats().Intern("noop"), "noop"});
      },
      "noop()\n\nAn operation that does nothing: the engine's own cost, measured."));
  op_type.attr("sleep") = py::staticmethod(py::cpp_function(
      [](double seconds) {
        if (!(seconds >= 0) || seconds > 3600)
          throw std::invalid_argument("seconds=" + std::string(py::repr(py::float_(seconds))) +
                                      ": expected a duration in [0, 3600]");
        const auto d = std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
        return WrapNativeOp(
            {eng::Operation::Sync([d](const eng::RunContext&) { std::this_thread::sleep_for(d); }),
             TheEngine()->stats().Intern("sleep"), "sleep"});
      },
      py::arg("seconds"), "sleep(seconds)\n\nAn operation that holds its worker for `seconds`."));
  op_type.attr("fail") = py::staticmethod(py::cpp_function(
      [](std::string message) {
        return WrapNativeOp({eng::Operation::Sync([message](const eng::RunContext&) {
                               throw std::runtime_error(message);
                             }),
                             TheEngine()->stats().Intern("fail"), "fail"});
      },
      py::arg("message"), "fail(message)\n\nAn operation that fails with `message`."));

  m.def("push_python", &PushPython, py::arg("fn"), py::arg("reads"), py::arg("writes"),
        py::arg("dev_type"), py::arg("dev_id"), py::arg("lane"), py::arg("priority"),
        py::arg("name"));
  m.def("push_python_async", &PushPythonAsync, py::arg("fn"), py::arg("reads"),
        py::arg("writes"), py::arg("dev_type"), py::arg("dev_id"), py::arg("lane"),
        py::arg("priority"), py::arg("name"));
  m.add_object("push_native",
               py::reinterpret_steal<py::object>(PyCFunction_New(&push_native_def, nullptr)));
  m.def("push_bulk", &PushBulk, py::arg("ops"), py::arg("dev_type") = 1, py::arg("dev_id") = 0,
        py::arg("lane") = 0, py::arg("priority") = 0);
  m.def(
      "wait",
      [](py::handle var) {
        if (!IsVar(var.ptr()))
          throw py::type_error("var=" + std::string(py::repr(var)) + ": expected a flowmod.engine.Var");
        eng::Var* v = VarOf(var.ptr());
        py::gil_scoped_release nogil;
        TheEngine()->WaitForVar(v);
      },
      py::arg("var"));
  m.def("wait_all", [] {
    py::gil_scoped_release nogil;
    TheEngine()->WaitForAll();
  });
  m.def("on_complete", &OnComplete, py::arg("var"), py::arg("callback"));
  m.def("shutdown", [] {
    py::gil_scoped_release nogil;
    TheEngine()->Shutdown();
  });
  m.def("engine_type", [] { return std::string(TheEngine()->Type()); });
  m.def(
      "num_workers",
      [](int dev_type, int dev_id, int lane) {
        return TheEngine()->NumWorkers(
            eng::DeviceId{static_cast<eng::DeviceType>(dev_type), dev_id}, LaneOf(lane));
      },
      py::arg("dev_type"), py::arg("dev_id"), py::arg("lane"));
  m.def("stats", &StatsTuple);
}

}  // namespace flowmod::bindings
