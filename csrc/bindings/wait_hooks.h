// The engine's blocking calls, made interruptible from Python (wait_hooks.cc).
#pragma once

#include <pybind11/pybind11.h>

namespace flowmod::bindings {

// Installs the engine's WaitHooks for Python. At module import, with the GIL.
void InstallWaitHooks();

// Sets the exception a signal handler raised during an interrupted engine wait on this
// thread (KeyboardInterrupt if none was kept). With the GIL, for the error translator.
void RaiseInterruption();

}  // namespace flowmod::bindings
