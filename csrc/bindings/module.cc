// flowmod._native: the extension module. Each part of the native core binds itself here.
#include <pybind11/pybind11.h>

#include "bindings/errors.h"
#include "bindings/wait_hooks.h"

namespace py = pybind11;

namespace flowmod::bindings {
void BindEngine(py::module_& m);
void BindEngineMeasure(py::module_& m);
void BindNDArray(py::module_& m);
void BindOps(py::module_& m);
void BindExecutor(py::module_& m);
void BindCustomOps(py::module_& m);
void BindImage(py::module_& m);
void BindProfiler(py::module_& m);
}

PYBIND11_MODULE(_native, m) {
  m.doc() = "flowmod's native core: the dependency engine and its operators.";
  flowmod::bindings::RegisterErrorTranslators();
  flowmod::bindings::InstallWaitHooks();
  flowmod::bindings::BindEngine(m);
  flowmod::bindings::BindEngineMeasure(m);
  flowmod::bindings::BindNDArray(m);
  flowmod::bindings::BindOps(m);
  flowmod::bindings::BindExecutor(m);
  flowmod::bindings::BindCustomOps(m);
  flowmod::bindings::BindImage(m);
  flowmod::bindings::BindProfiler(m);
}
