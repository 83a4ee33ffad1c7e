#include "bindings/errors.h"

#include "bindings/wait_hooks.h"

#include <stdexcept>

namespace py = pybind11;

namespace flowmod::bindings {

namespace {
py::object MXNetErrorType() {
  return py::module_::import("flowmod.base").attr("MXNetError");
}
}  // namespace

std::string FetchPythonError() {
  py::error_already_set e;  // takes and clears the pending exception
  std::string type = py::str(e.type().attr("__name__"));
  std::string text = py::str(e.value());
  return text.empty() ? type : type + ": " + text;
}

bool PythonFinalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

py::object MakeMXNetError(const flowmod::engine::ErrorInfo& error) {
  py::object exc = MXNetErrorType()(error.What());
  exc.attr("op_name") = error.op_name;
  exc.attr("op_message") = error.message;
  return exc;
}

void RegisterErrorTranslators() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const flowmod::engine::OpError& e) {
      py::object exc = MakeMXNetError(e.info());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    } catch (const flowmod::engine::WaitInterrupted&) {
      RaiseInterruption();
    } catch (const flowmod::engine::WaitCycle& e) {
      PyErr_SetString(MXNetErrorType().ptr(), e.what());
    } catch (const flowmod::engine::EngineUnavailable& e) {
      PyErr_SetString(MXNetErrorType().ptr(), e.what());
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(MXNetErrorType().ptr(), e.what());
    }
  });
}

}  // namespace flowmod::bindings
