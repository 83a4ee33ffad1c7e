"""Records MXNet 1.9.1's operator calling conventions into mxnet_op_schemas.json, which
tests/test_op_schema.py compares flowmod's registry with. Run once with MXNet's venv:

    /work/main/.peers/mxnet/bin/python tests/data/record_mxnet_op_schemas.py

For every operator MXNet registers (gradient operators left out): its inputs in calling
order, its attributes in documented order with their type strings (which carry the
defaults), and the attribute holding the input count of variadic operators. Descriptions
are not recorded."""
import ctypes
import json
import os

import mxnet as mx
from mxnet.base import _LIB, check_call, mx_uint, py_str


def _list_ops():
    size = mx_uint()
    names = ctypes.POINTER(ctypes.c_char_p)()
    check_call(_LIB.MXListAllOpNames(ctypes.byref(size), ctypes.byref(names)))
    return sorted(py_str(names[i]) for i in range(size.value))


def _schema(name):
    handle = ctypes.c_void_p()
    check_call(_LIB.NNGetOpHandle(mx.base.c_str(name), ctypes.byref(handle)))
    real_name, desc, key_var = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
    ret_type = ctypes.c_char_p()
    num_args = mx_uint()
    arg_names = ctypes.POINTER(ctypes.c_char_p)()
    arg_types = ctypes.POINTER(ctypes.c_char_p)()
    arg_descs = ctypes.POINTER(ctypes.c_char_p)()
    check_call(_LIB.MXSymbolGetAtomicSymbolInfo(
        handle, ctypes.byref(real_name), ctypes.byref(desc), ctypes.byref(num_args),
        ctypes.byref(arg_names), ctypes.byref(arg_types), ctypes.byref(arg_descs),
        ctypes.byref(key_var), ctypes.byref(ret_type)))
    inputs, params = [], []
    for i in range(num_args.value):
        arg, typ = py_str(arg_names[i]), py_str(arg_types[i])
        if typ.startswith("NDArray-or-Symbol"):
            inputs.append(arg)
        else:
            params.append([arg, typ])
    return {"inputs": inputs, "params": params,
            "key_var_num_args": py_str(key_var.value) if key_var.value else ""}


def main():
    schemas = {name: _schema(name) for name in _list_ops() if not name.startswith("_backward")}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mxnet_op_schemas.json")
    with open(path, "w") as f:
        json.dump({"mxnet_version": mx.__version__, "operators": schemas}, f, indent=0,
                  sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
