// How native errors reach Python: as flowmod.base.MXNetError, naming what failed.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "engine.h"

namespace flowmod::bindings {

// The pending Python exception as "TypeName: message", clearing it. With the GIL.
std::string FetchPythonError();

// True once the interpreter has begun to finalize: native threads must not touch Python.
bool PythonFinalizing();

// An MXNetError for a failed operation, with attributes op_name and op_message.
pybind11::object MakeMXNetError(const flowmod::engine::ErrorInfo& error);

void RegisterErrorTranslators();

}  // namespace flowmod::bindings
