// Python's part in the engine's blocking calls: a thread that blocks in the engine lets go of
// the GIL (so that the Python operations it waits for can run), and the main thread checks
// for signals between slices of its wait, so that Ctrl-C raises KeyboardInterrupt there.
#include "bindings/wait_hooks.h"

#include <pythread.h>

#include "bindings/errors.h"
#include "engine.h"

namespace py = pybind11;

namespace flowmod::bindings {

namespace {

unsigned long main_thread_ident = 0;

// The exception a signal handler raised during a wait, until the wait's WaitInterrupted
// reaches the translator on the same thread.
struct Stashed {
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* traceback = nullptr;
};
thread_local Stashed stashed;

void* ReleaseGilIfHeld() {
  if (!Py_IsInitialized() || PythonFinalizing() || !PyGILState_Check()) return nullptr;
  return PyEval_SaveThread();
}

void RestoreGil(void* state) {
  if (state != nullptr) PyEval_RestoreThread(static_cast<PyThreadState*>(state));
}

bool SignalRaised() {
  // Python runs signal handlers on the main thread only; other threads' waits go on.
  if (PyThread_get_thread_ident() != main_thread_ident) return false;
  if (!Py_IsInitialized() || PythonFinalizing()) return false;
  const PyGILState_STATE gil = PyGILState_Ensure();
  const bool raised = PyErr_CheckSignals() != 0;
  if (raised) {
    Py_XDECREF(stashed.type);
    Py_XDECREF(stashed.value);
    Py_XDECREF(stashed.traceback);
    PyErr_Fetch(&stashed.type, &stashed.value, &stashed.traceback);
  }
  PyGILState_Release(gil);
  return raised;
}

}  // namespace

void InstallWaitHooks() {
  main_thread_ident =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  engine::WaitHooks hooks;
  hooks.before_block = &ReleaseGilIfHeld;
  hooks.after_block = &RestoreGil;
  hooks.interrupted = &SignalRaised;
  engine::SetWaitHooks(hooks);
}

void RaiseInterruption() {
  if (stashed.type == nullptr) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    return;
  }
  PyErr_Restore(stashed.type, stashed.value, stashed.traceback);
  stashed = Stashed{};
}

}  // namespace flowmod::bindings
