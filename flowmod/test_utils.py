"""Helpers for testing models and operators (``mxnet.test_utils``).

The public helpers of MXNet 1.9's ``test_utils`` that users' own tests import with
``from mxnet.test_utils import *``, with MXNet's signatures and defaults: comparing arrays
(``assert_almost_equal``, ``almost_equal``, ``same_array``), making random inputs
(``rand_ndarray``, ``rand_shape_2d``, ``random_arrays``, ...), checking a symbol's forward and
backward against expected values and finite differences (``check_symbolic_forward``,
``check_symbolic_backward``, ``check_numeric_gradient``), across contexts and types
(``check_consistency``), and reading MNIST and CIFAR-10 from a local ``data`` directory.

Nothing is downloaded: ``get_mnist``, ``get_mnist_ubyte``, ``get_mnist_iterator`` and
``get_cifar10`` read the files MXNet's versions would download, from ``./data`` (or
``./data/cifar``), and say which files to put where when they are
missing.

Like MXNet's, the module defines no ``__all__``, so a star import also brings the modules it
imports (``np``, ``os``, ``sys``, ...), which MXNet's own tests rely on.
"""
from __future__ import annotations

import gzip
import numbers
import os
import struct
import sys  # noqa: F401  (exported by ``from test_utils import *``, as MXNet's is)
import traceback

import numpy as np
import numpy.random as rnd
import numpy.testing as npt

from . import context as _context_mod
from . import ndarray as _nd
from . import symbol as _sym
from .base import MXNetError
from .context import Context, current_context
from .ndarray import NDArray, array
from .symbol import Symbol


# ---- contexts and tolerances ---------------------------------------------------------------
def default_context() -> Context:
    """default_context(): the context tests run on (``mx.current_context()``)."""
    return current_context()


def set_default_context(ctx: Context) -> None:
    """set_default_context(ctx): makes ``ctx`` the current context of this thread (and so
    ``default_context()`` and the default of every array-making function)."""
    if not isinstance(ctx, Context):
        raise MXNetError(f"set_default_context: ctx={ctx!r}: expected a Context such as "
                         f"mx.cpu(0)")
    _context_mod._current.set(ctx)


def default_dtype():
    """default_dtype(): the type of the arrays the helpers make (float32)."""
    return np.float32


_INTEGER_TOL = {np.dtype(t): 0 for t in (np.bool_, np.int8, np.uint8, np.int32, np.uint32,
                                         np.int64, np.uint64)}


def default_rtols() -> dict:
    """default_rtols(): relative tolerance by type."""
    tols = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4,
            np.dtype(np.float64): 1e-5}
    tols.update(_INTEGER_TOL)
    return tols


def default_atols() -> dict:
    """default_atols(): absolute tolerance by type."""
    tols = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
            np.dtype(np.float64): 1e-20}
    tols.update(_INTEGER_TOL)
    return tols


def default_numeric_eps() -> dict:
    """default_numeric_eps(): the finite-difference step by type (powers of two, so adding
    and removing it loses no bits)."""
    return {np.dtype(np.float16): 1.0 / 2 ** 6, np.dtype(np.float32): 1.0 / 2 ** 9,
            np.dtype(np.float64): 1.0 / 2 ** 14}


def get_tolerance(dat, tol, default_tol):
    """get_tolerance(dat, tol, default_tol): ``tol`` if it is a number, else the entry for
    ``dat``'s type in ``tol`` (a dict) or in ``default_tol``."""
    if isinstance(tol, numbers.Number):
        return tol
    dtype = np.dtype(dat.dtype)
    tol = {} if tol is None else tol
    return tol.get(dtype, default_tol.get(dtype, 0))


def get_tols(x, y, rtol, atol):
    """get_tols(x, y, rtol, atol) -> (rtol, atol) for comparing ``x`` with ``y``: the looser
    of the two types' tolerances where not given."""
    x = np.array(x) if isinstance(x, numbers.Number) else x
    y = np.array(y) if isinstance(y, numbers.Number) else y
    rtol = max(get_tolerance(x, rtol, default_rtols()), get_tolerance(y, rtol, default_rtols()))
    atol = max(get_tolerance(x, atol, default_atols()), get_tolerance(y, atol, default_atols()))
    return rtol, atol


def get_atol(atol=None, dtype=np.dtype(np.float64)):
    """get_atol(atol=None, dtype=float64): ``atol``, or the default for ``dtype``."""
    return default_atols()[np.dtype(dtype)] if atol is None else atol


def get_rtol(rtol=None, dtype=np.dtype(np.float64)):
    """get_rtol(rtol=None, dtype=float64): ``rtol``, or the default for ``dtype``."""
    return default_rtols()[np.dtype(dtype)] if rtol is None else rtol


# ---- random inputs -------------------------------------------------------------------------
def random_arrays(*shapes):
    """random_arrays(*shapes): standard normal float32 numpy arrays, one per shape (the array
    itself when one shape is given)."""
    arrays = [np.array(np.random.randn(), dtype=default_dtype()) if len(s) == 0
              else np.random.randn(*s).astype(default_dtype()) for s in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
                        data_init=None, rsp_indices=None, modifier_func=None,
                        shuffle_csr_indices=False, ctx=None):
    """rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
    data_init=None, rsp_indices=None, modifier_func=None, shuffle_csr_indices=False,
    ctx=None): a random sparse array and its components, as MXNet's: ``(arr, (data,
    indices, indptr))`` for 'csr' (values uniform in [0, 1), each element stored with
    probability ``density``), ``(arr, (data, indices))`` for 'row_sparse' (each row stored
    with probability ``density``, or the rows ``rsp_indices``). ``data_init`` fills the
    stored values with one number; ``modifier_func`` maps each value."""
    density = rnd.rand() if density is None else density
    dtype = np.float32 if dtype is None else dtype
    if distribution not in (None, "uniform"):
        raise MXNetError(f"rand_sparse_ndarray: distribution={distribution!r}: only "
                         f"'uniform' is supported")
    if stype == "row_sparse":
        if rsp_indices is not None:
            indices = np.unique(np.asarray(rsp_indices, dtype=np.int64))
        else:
            indices = np.argwhere(rnd.rand(shape[0]) < density).flatten().astype(np.int64)
        data = rnd.rand(indices.shape[0], *shape[1:]).astype(dtype)
        if data_init is not None:
            data.fill(data_init)
        if modifier_func is not None:
            data = np.vectorize(modifier_func)(data).astype(dtype)
        arr = _nd.sparse.row_sparse_array((data, indices), shape=shape, dtype=dtype, ctx=ctx)
        return arr, (data, indices)
    if stype == "csr":
        import scipy.sparse as spsp
        if len(shape) != 2:
            raise MXNetError(f"rand_sparse_ndarray: shape={shape}: a csr array is 2-D")
        csr = spsp.random(shape[0], shape[1], density=density, format="csr",
                          random_state=rnd.randint(2 ** 31), dtype=np.float64)
        csr.sort_indices()
        data = csr.data.astype(dtype)
        if data_init is not None:
            data.fill(data_init)
        if modifier_func is not None:
            data = np.vectorize(modifier_func)(data).astype(dtype)
        indices, indptr = csr.indices.astype(np.int64), csr.indptr.astype(np.int64)
        if shuffle_csr_indices:
            for r in range(shape[0]):
                rnd.shuffle(indices[indptr[r]:indptr[r + 1]])
        arr = _nd.sparse.csr_matrix((data, indices, indptr), shape=shape, dtype=dtype, ctx=ctx)
        return arr, (data, indices, indptr)
    raise MXNetError(f"rand_sparse_ndarray: stype={stype!r}: expected 'csr' or 'row_sparse'")


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None) -> NDArray:
    """rand_ndarray(shape, stype='default', density=None, dtype=None, modifier_func=None,
    shuffle_csr_indices=False, distribution=None, ctx=None): a standard normal dense NDArray,
    or with stype 'csr' / 'row_sparse' the array of ``rand_sparse_ndarray``."""
    ctx = ctx if ctx else default_context()
    if stype != "default":
        return rand_sparse_ndarray(shape, stype, density=density, dtype=dtype,
                                   modifier_func=modifier_func,
                                   shuffle_csr_indices=shuffle_csr_indices,
                                   distribution=distribution, ctx=ctx)[0]
    return array(random_arrays(tuple(shape)), ctx=ctx, dtype=dtype)


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False) -> tuple:
    """rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False): a random 2-d shape with each
    dimension in [1, dimK] ([0, dimK] with ``allow_zero_size``)."""
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False) -> tuple:
    """rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False): a random 3-d shape."""
    low = 0 if allow_zero_size else 1
    return rnd.randint(low, dim0 + 1), rnd.randint(low, dim1 + 1), rnd.randint(low, dim2 + 1)


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False) -> tuple:
    """rand_shape_nd(num_dim, dim=10, allow_zero_size=False): a random ``num_dim``-d shape."""
    low = 0 if allow_zero_size else 1
    return tuple(rnd.randint(low, dim + 1, size=num_dim))


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """np_reduce(dat, axis, keepdims, numpy_reduce_func): ``numpy_reduce_func`` (``np.sum``,
    ``np.max``, ...) applied over each axis of ``axis`` (an int, a sequence, or None for
    all), keeping reduced axes as 1 with ``keepdims``."""
    if isinstance(axis, int):
        axes = [axis]
    else:
        axes = list(axis) if axis is not None else list(range(dat.ndim))
    axes = [a % dat.ndim for a in axes] if dat.ndim else axes
    ret = dat
    for a in sorted(axes, reverse=True):
        ret = numpy_reduce_func(ret, axis=a)
    if keepdims:
        shape = list(dat.shape)
        for a in axes:
            shape[a] = 1
        ret = np.reshape(ret, tuple(shape))
    return ret


# ---- comparing -----------------------------------------------------------------------------
def _as_numpy(x):
    return x.asnumpy() if isinstance(x, NDArray) else x


def same(a, b) -> bool:
    """same(a, b): whether two numpy arrays are equal in shape and values."""
    return np.array_equal(a, b)


def checkShapes(a, b) -> None:
    """checkShapes(a, b): raises AssertionError unless ``a`` and ``b`` have one shape."""
    if a.shape != b.shape:
        raise AssertionError(npt.build_err_msg(
            [a, b], err_msg=f"a.shape = {a.shape} and b.shape = {b.shape} are not equal"))


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True) -> bool:
    """almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    ``np.allclose`` with the float64 defaults (rtol 1e-5, atol 1e-20) where not given."""
    a, b = _as_numpy(a), _as_numpy(b)
    if not use_broadcast:
        checkShapes(a, b)
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol),
                            equal_nan=equal_nan))


def _find_max_violation(a, b, rtol, atol):
    # Equal infinities are no violation, as in np.allclose.
    with np.errstate(invalid="ignore"):
        absdiff = np.where(np.equal(a, b), 0, np.abs(a - b))
    violation = absdiff / (atol + rtol * np.abs(b) + 1e-20)
    violation = np.where(np.isnan(violation), np.inf, violation)
    loc = np.unravel_index(np.argmax(violation), violation.shape)
    return loc, np.max(violation)


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)) -> None:
    """assert_almost_equal(a, b, rtol=None, atol=None, names=('a', 'b'), equal_nan=False,
    use_broadcast=True, mismatches=(10, 10))

    Raises AssertionError unless ``|a - b| <= atol + rtol * |b|`` everywhere (NDArrays or
    numpy arrays). The tolerances default by type (``default_rtols()``, ``default_atols()``;
    the looser of the two arrays' types) and may be dicts of type to tolerance. The message
    gives the largest violation, where it is (named by ``names``), and the share of
    elements that violate."""
    if not use_broadcast:
        checkShapes(a, b)
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = np.asarray(_as_numpy(a)), np.asarray(_as_numpy(b))
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        np.testing.assert_equal(a, b)
        return
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    a64, b64 = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    index, rel = _find_max_violation(a64, b64, rtol, atol)
    index = tuple(int(i) for i in index)
    close = np.isclose(a64, b64, rtol=rtol, atol=atol, equal_nan=equal_nan)
    share = 100.0 * np.count_nonzero(~close) / max(close.size, 1)
    where = (f"Location of maximum error: {index}, {names[0]}={a64[index]:.8f}, "
             f"{names[1]}={b64[index]:.8f}") if index != () else ""
    msg = (f"Error {rel:f} exceeds tolerance rtol={rtol:e}, atol={atol:e} (mismatch "
           f"{share:f}%).\n{where}")
    with np.printoptions(threshold=4, suppress=True):
        raise AssertionError(npt.build_err_msg([a, b], err_msg=msg))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True) -> None:
    """assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True)."""
    assert_almost_equal(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


def assert_exception(f, exception_type, *args, **kwargs) -> None:
    """assert_exception(f, exception_type, *args, **kwargs): raises AssertionError unless
    ``f(*args, **kwargs)`` raises ``exception_type``."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError(f"{getattr(f, '__name__', f)!s} did not raise "
                         f"{exception_type.__name__}")


def same_array(array1: NDArray, array2: NDArray) -> bool:
    """same_array(array1, array2): whether the two NDArrays share their memory (a change
    through one is seen through the other)."""
    before = array2.asnumpy()
    array1[:] += 1
    try:
        return not same(before, array2.asnumpy()) and same(array1.asnumpy(), array2.asnumpy())
    finally:
        array1[:] -= 1


# ---- running symbols -----------------------------------------------------------------------
def simple_forward(sym: Symbol, ctx=None, is_train=False, **inputs):
    """simple_forward(sym, ctx=None, is_train=False, **inputs): runs ``sym`` forward on the
    numpy ``inputs`` (by argument name) and returns its output as a numpy array (a list of
    them for several outputs)."""
    ctx = ctx or default_context()
    exe = sym.bind(ctx, args={k: array(v, ctx=ctx) for k, v in inputs.items()})
    exe.forward(is_train=is_train)
    outputs = [x.asnumpy() for x in exe.outputs]
    return outputs[0] if len(outputs) == 1 else outputs


def _check_dtype(dtype, what: str, allow_asnumpy: bool) -> None:
    if allow_asnumpy and isinstance(dtype, str) and dtype == "asnumpy":
        return
    if np.dtype(dtype) not in (np.dtype(np.float16), np.dtype(np.float32),
                               np.dtype(np.float64)):
        raise MXNetError(f"{what}: dtype={dtype!r}: expected np.float16, np.float32, "
                         f"np.float64" + (" or 'asnumpy'" if allow_asnumpy else ""))


def _to_nd(value, ctx, dtype):
    if isinstance(value, NDArray):
        return value
    value = np.asarray(value)
    return array(value, ctx=ctx, dtype=value.dtype if _is_asnumpy(dtype) else dtype)


def _is_asnumpy(dtype) -> bool:
    return isinstance(dtype, str) and dtype == "asnumpy"


def _parse_location(sym, location, ctx, dtype=np.float32) -> dict:
    """{argument name: NDArray} from a list (in list_arguments order) or a dict that must
    name every argument."""
    names = sym.list_arguments()
    if isinstance(location, dict):
        if set(location) != set(names):
            raise ValueError(f"Symbol arguments and keys of the given location do not match. "
                             f"symbol args: {sorted(names)}, location keys: "
                             f"{sorted(location)}")
    elif isinstance(location, (list, tuple)):
        if len(location) != len(names):
            raise ValueError(f"location has {len(location)} arrays for the {len(names)} "
                             f"arguments {names}")
        location = dict(zip(names, location))
    else:
        raise ValueError(f"location={location!r}: expected a list or a dict of arrays")
    return {k: _to_nd(location[k], ctx, dtype) for k in sorted(location)}


def _parse_aux_states(sym, aux_states, ctx, dtype=np.float32):
    if aux_states is None:
        return None
    names = sym.list_auxiliary_states()
    if isinstance(aux_states, dict):
        if set(aux_states) != set(names):
            raise ValueError(f"Symbol aux_states names and given aux_states do not match. "
                             f"symbol aux names: {sorted(names)}, aux_states keys: "
                             f"{sorted(aux_states)}")
    else:
        aux_states = dict(zip(names, aux_states))
    return {k: _to_nd(v, ctx, dtype) for k, v in aux_states.items()}


def numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
                 dtype=np.float32) -> dict:
    """numeric_grad(executor, location, aux_states=None, eps=1e-4, use_forward_train=True,
    dtype=float32): central finite differences of the sum of ``executor``'s first output
    with respect to each array of ``location`` (numpy arrays by argument name)."""
    approx = {k: np.zeros(v.shape, dtype=dtype) for k, v in location.items()}
    for k, v in location.items():
        executor.arg_dict[k][:] = np.asarray(v, dtype=dtype)
    for k in location:
        location[k] = np.array(location[k], order="C")
    for k, v in location.items():
        if v.dtype.kind != "f":
            continue
        original = v.copy()
        flat = v.reshape(-1)
        for i in range(flat.size):
            values = []
            for delta in (eps / 2.0, -eps):
                flat[i] += delta
                executor.arg_dict[k][:] = v.astype(dtype)
                for name, val in (aux_states or {}).items():
                    executor.aux_dict[name][:] = val
                executor.forward(is_train=use_forward_train)
                values.append(executor.outputs[0].asnumpy().astype(np.float64).sum())
            approx[k].reshape(-1)[i] = (values[0] - values[1]) / eps
            flat[i] = original.reshape(-1)[i]
        executor.arg_dict[k][:] = original.astype(dtype)
    return approx


def check_numeric_gradient(sym, location, aux_states=None, numeric_eps=None, rtol=None,
                           atol=None, grad_nodes=None, use_forward_train=True, ctx=None,
                           grad_stype_dict=None, dtype=np.float32) -> None:
    """check_numeric_gradient(sym, location, aux_states=None, numeric_eps=None, rtol=None,
    atol=None, grad_nodes=None, use_forward_train=True, ctx=None, grad_stype_dict=None,
    dtype=float32)

    Checks ``sym``'s backward against central finite differences at ``location`` (numpy
    arrays by position or name): the output is multiplied by a fixed random projection and
    summed, so every output element counts. ``grad_nodes`` (names, or a dict of name to
    grad_req 'write'/'add'/'null') picks the arguments checked, by default all. Raises
    AssertionError (from ``assert_almost_equal``) where they differ."""
    _check_dtype(dtype, "check_numeric_gradient", allow_asnumpy=False)
    if grad_stype_dict:
        raise MXNetError("check_numeric_gradient: grad_stype_dict: flowmod gradients are "
                         "dense; only None is supported")
    ctx = ctx or default_context()
    location = _parse_location(sym, location, ctx, dtype)
    location_npy = {k: v.asnumpy() for k, v in location.items()}
    aux_states = _parse_aux_states(sym, aux_states, ctx, dtype)
    aux_npy = None if aux_states is None else {k: v.asnumpy() for k, v in aux_states.items()}
    if grad_nodes is None:
        grad_nodes = sym.list_arguments()
        grad_req = {k: "write" for k in grad_nodes}
    elif isinstance(grad_nodes, (list, tuple)):
        grad_nodes = list(grad_nodes)
        grad_req = {k: "write" for k in grad_nodes}
    elif isinstance(grad_nodes, dict):
        grad_req = dict(grad_nodes)
        grad_nodes = list(grad_nodes)
    else:
        raise ValueError(f"check_numeric_gradient: grad_nodes={grad_nodes!r}: expected None, "
                         f"a list of argument names or a dict of name to grad_req")
    _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in location.items()})
    proj = _sym.Variable("__random_proj")
    out = _sym.make_loss(sym * proj)
    projection = np.random.rand(*out_shapes[0]) + 0.1  # not too small: precision
    location = dict(location)
    location["__random_proj"] = array(projection, ctx=ctx, dtype=dtype)
    grads_npy = {k: np.random.normal(0, 0.01, size=location[k].shape) for k in grad_nodes}
    grads_npy["__random_proj"] = np.random.normal(0, 0.01, size=out_shapes[0])
    args_grad = {k: array(v, ctx=ctx, dtype=dtype) for k, v in grads_npy.items()}
    grad_req = dict(grad_req)
    grad_req.setdefault("__random_proj", "write")
    for name in out.list_arguments():
        grad_req.setdefault(name, "null")
    executor = out.bind(ctx, args=location, args_grad=args_grad, grad_req=grad_req,
                        aux_states=aux_states)
    executor.forward(is_train=True)
    eps = get_tolerance(executor.outputs[0], numeric_eps, default_numeric_eps())
    if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float16)) and eps < 1e-5:
        raise MXNetError(f"check_numeric_gradient: numeric_eps={eps!r}: finite differences "
                         f"in {np.dtype(dtype).name} need a step of at least 1e-5")
    executor.backward()
    symbolic = {k: v.asnumpy() for k, v in executor.grad_dict.items()}
    numeric = numeric_grad(executor, location_npy, aux_npy, eps=eps,
                           use_forward_train=use_forward_train, dtype=dtype)
    for name in grad_nodes:
        req = grad_req[name]
        labels = (f"NUMERICAL_{name}", f"BACKWARD_{name}")
        if req == "write":
            assert_almost_equal(numeric[name], symbolic[name], rtol, atol, labels)
        elif req == "add":
            assert_almost_equal(numeric[name], symbolic[name] - grads_npy[name], rtol, atol,
                                labels)
        elif req == "null":
            assert_almost_equal(grads_npy[name], args_grad[name].asnumpy(), rtol, atol, labels)
        else:
            raise ValueError(f"Invalid grad_req {req!r} for argument {name!r}")


def check_symbolic_forward(sym, location, expected, rtol=None, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=np.float32) -> list:
    """check_symbolic_forward(sym, location, expected, rtol=None, atol=None, aux_states=None,
    ctx=None, equal_nan=False, dtype=float32)

    Runs ``sym`` forward (``is_train=False``) at ``location`` and compares each output with
    ``expected`` (a list in output order or a dict by output name); returns the outputs."""
    _check_dtype(dtype, "check_symbolic_forward", allow_asnumpy=True)
    ctx = ctx or default_context()
    location = _parse_location(sym, location, ctx, dtype)
    aux_states = _parse_aux_states(sym, aux_states, ctx, dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    executor = sym.bind(ctx=ctx, args=location, aux_states=aux_states, grad_req="null")
    executor.forward(is_train=False)
    for name, expect, output in zip(sym.list_outputs(), expected, executor.outputs):
        assert_almost_equal(expect, output, rtol, atol, (f"EXPECTED_{name}", f"FORWARD_{name}"),
                            equal_nan=equal_nan)
    return executor.outputs


def _out_grads(out_grads, ctx, dtype):
    if out_grads is None:
        return None
    if isinstance(out_grads, dict):
        return {k: _to_nd(v, ctx, dtype) for k, v in out_grads.items()}
    if isinstance(out_grads, (list, tuple)):
        return [_to_nd(v, ctx, dtype) for v in out_grads]
    raise ValueError(f"out_grads={out_grads!r}: expected None, a list or a dict of arrays")


def check_symbolic_backward(sym, location, out_grads, expected, rtol=None, atol=None,
                            aux_states=None, grad_req="write", ctx=None, grad_stypes=None,
                            equal_nan=False, dtype=np.float32) -> dict:
    """check_symbolic_backward(sym, location, out_grads, expected, rtol=None, atol=None,
    aux_states=None, grad_req='write', ctx=None, grad_stypes=None, equal_nan=False,
    dtype=float32)

    Runs ``sym`` forward and backward with ``out_grads`` (one per output; None for loss
    heads) and compares the gradients with ``expected`` (a list in list_arguments order or a
    dict by name). The gradient arrays start with random values, so 'add' is checked as the
    change and 'null' as no change. Returns the gradient arrays by name."""
    _check_dtype(dtype, "check_symbolic_backward", allow_asnumpy=True)
    if grad_stypes and any(s not in (None, "default") for s in grad_stypes.values()):
        raise MXNetError(f"check_symbolic_backward: grad_stypes={grad_stypes!r}: flowmod "
                         f"gradients are dense; only 'default' is supported")
    ctx = ctx or default_context()
    names = sym.list_arguments()
    location = _parse_location(sym, location, ctx, dtype)
    aux_states = _parse_aux_states(sym, aux_states, ctx, dtype)
    if isinstance(expected, (list, tuple)):
        expected = dict(zip(names, expected))
    start_npy = {k: np.random.normal(size=np.shape(v)) for k, v in sorted(expected.items())}
    args_grad = {k: array(v, ctx=ctx, dtype=np.asarray(_as_numpy(expected[k])).dtype
                          if _is_asnumpy(dtype) else dtype) for k, v in start_npy.items()}
    if isinstance(grad_req, str):
        grad_req = {k: grad_req for k in names}
    elif isinstance(grad_req, (list, tuple)):
        grad_req = dict(zip(names, grad_req))
    grad_req = {k: (grad_req.get(k, "null") if k in args_grad else "null") for k in names}
    executor = sym.bind(ctx=ctx, args=location, args_grad=args_grad, aux_states=aux_states,
                        grad_req=grad_req)
    executor.forward(is_train=True)
    executor.backward(_out_grads(out_grads, ctx, dtype))
    for name in expected:
        req = grad_req[name]
        labels = (f"EXPECTED_{name}", f"BACKWARD_{name}")
        got = args_grad[name].asnumpy()
        if req == "write":
            assert_almost_equal(expected[name], got, rtol, atol, labels, equal_nan=equal_nan)
        elif req == "add":
            assert_almost_equal(expected[name], got - start_npy[name], rtol, atol, labels,
                                equal_nan=equal_nan)
        elif req == "null":
            assert_almost_equal(start_npy[name], got, rtol, atol, labels, equal_nan=equal_nan)
        else:
            raise ValueError(f"Invalid grad_req {req!r} for argument {name!r}")
    return args_grad


def _smaller_dtype(dt1, dt2):
    return dt1 if dt2 is None or np.dtype(dt1).itemsize < np.dtype(dt2).itemsize else dt2


def _compare(arr, gtarr, rtol, atol, equal_nan, raise_on_err, what):
    try:
        assert_almost_equal(arr, gtarr, rtol=rtol, atol=atol, equal_nan=equal_nan)
    except AssertionError as e:
        print(what)
        traceback.print_exc()
        if raise_on_err:
            raise
        print(str(e))


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, rtol=None, atol=None, raise_on_err=True,
                      ground_truth=None, equal_nan=False, use_uniform=False,
                      rand_type=np.float64) -> dict:
    """check_consistency(sym, ctx_list, scale=1.0, grad_req='write', arg_params=None,
    aux_params=None, rtol=None, atol=None, raise_on_err=True, ground_truth=None,
    equal_nan=False, use_uniform=False, rand_type=float64)

    Runs ``sym`` (or one symbol per entry) bound by each entry of ``ctx_list``
    (``simple_bind`` keyword arguments: ``ctx``, input shapes, ``type_dict``) on the same
    random inputs, and compares the outputs and, unless ``grad_req`` is 'null', the
    gradients with those of the most precise entry (or ``ground_truth``), at the tolerance
    of the less precise type. Returns the reference arrays by name."""
    if len(ctx_list) < 2:
        raise MXNetError(f"check_consistency: ctx_list has {len(ctx_list)} entries: expected "
                         f"at least two to compare")
    syms = [sym] * len(ctx_list) if isinstance(sym, Symbol) else list(sym)
    if len(syms) != len(ctx_list):
        raise MXNetError(f"check_consistency: {len(syms)} symbols for {len(ctx_list)} "
                         f"contexts")
    output_names, arg_names = syms[0].list_outputs(), syms[0].list_arguments()
    exe_list = []
    for s, ctx in zip(syms, ctx_list):
        if s.list_arguments() != arg_names or s.list_outputs() != output_names:
            raise MXNetError("check_consistency: the symbols differ in their arguments or "
                             "outputs")
        exe_list.append(s.simple_bind(grad_req=grad_req, **ctx))
    arg_params = {} if arg_params is None else arg_params
    aux_params = {} if aux_params is None else aux_params
    for n, arr in sorted(exe_list[0].arg_dict.items()):  # sorted: reproducible draws
        if n not in arg_params:
            if use_uniform:
                arg_params[n] = np.random.uniform(low=-0.92 * scale, high=0.92 * scale,
                                                  size=arr.shape).astype(rand_type)
            else:
                arg_params[n] = np.random.normal(size=arr.shape, scale=scale).astype(rand_type)
    for n in exe_list[0].aux_dict:
        aux_params.setdefault(n, 0)
    for exe in exe_list:
        for name, arr in exe.arg_dict.items():
            arr[:] = arg_params[name]
        for name, arr in exe.aux_dict.items():
            arr[:] = aux_params[name]
        if grad_req == "add":
            for arr in exe.grad_arrays:
                if arr is not None:
                    arr[:] = 0
    dtypes = [np.dtype(exe.outputs[0].dtype) for exe in exe_list]
    gt_idx = int(np.argmax([d.itemsize for d in dtypes]))
    gt = ground_truth
    for exe in exe_list:
        exe.forward(is_train=False)
    if gt is None:
        gt = {k: v.copy() for k, v in exe_list[gt_idx].output_dict.items()}
    for i, exe in enumerate(exe_list):
        if i != gt_idx:
            for name, arr in zip(output_names, exe.outputs):
                _compare(arr, gt[name], rtol, atol, equal_nan, raise_on_err,
                         f"Predict Err: ctx {i} vs ctx {gt_idx} at {name}")
    if grad_req == "null":
        return gt
    for exe in exe_list:
        exe.forward(is_train=True)
    least = [out.dtype for out in exe_list[0].outputs]
    for exe in exe_list:
        least = [_smaller_dtype(out.dtype, dt) for out, dt in zip(exe.outputs, least)]
    golden = [out.asnumpy().astype(dt) for out, dt in zip(exe_list[0].outputs, least)]
    for exe in exe_list:
        exe.backward([array(g, ctx=exe._ctx, dtype=out.dtype)
                      for g, out in zip(golden, exe.outputs)])
    if ground_truth is None:
        gt.update({k: (None if v is None else v.copy())
                   for k, v in exe_list[gt_idx].grad_dict.items()})
        gt.update({k: v.copy() for k, v in exe_list[gt_idx].output_dict.items()})
    for i, exe in enumerate(exe_list):
        if i == gt_idx:
            continue
        for name, arr in zip(output_names + arg_names, exe.outputs + exe.grad_arrays):
            if gt.get(name) is None:
                if arr is not None:
                    raise AssertionError(f"check_consistency: ctx {i} has a gradient for "
                                         f"{name!r}, the reference has none")
                continue
            rt, at = rtol, atol
            small_arr = _smaller_dtype(arr.dtype, dtypes[i])
            small_gt = _smaller_dtype(gt[name].dtype, dtypes[gt_idx])
            if small_arr != arr.dtype or small_gt != gt[name].dtype:
                rt, at = get_tols(arr.astype(small_arr), gt[name].astype(small_gt), rtol, atol)
            _compare(arr, gt[name], rt, at, equal_nan, raise_on_err,
                     f"Train Err: ctx {i} vs ctx {gt_idx} at {name}")
    return gt


def list_gpus() -> range:
    """list_gpus(): the GPU ids, ``range(num_gpus())`` (empty without a CUDA build)."""
    return range(_context_mod.num_gpus())


# ---- data sets, read from a local directory ------------------------------------------------
_MNIST_UBYTE = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR10 = ("cifar/train.rec", "cifar/test.rec", "cifar/train.lst", "cifar/test.lst")


def _require(directory: str, names, what: str, source: str) -> None:
    missing = [n for n in names if not os.path.exists(os.path.join(directory, n))]
    if missing:
        raise MXNetError(
            f"{what}: missing {', '.join(os.path.join(directory, n) for n in missing)}. flowmod "
            f"downloads nothing: put {source} there (the files MXNet's test_utils downloads)")


def get_mnist_ubyte() -> None:
    """get_mnist_ubyte(): checks that MNIST's four idx files are in ``./data``
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``); raises MXNetError naming the missing ones."""
    _require("data", _MNIST_UBYTE, "get_mnist_ubyte",
             "MNIST's idx files, unpacked (from http://data.mxnet.io/mxnet/data/mnist.zip)")


def _read_idx_gz_or_plain(directory: str, name: str) -> bytes:
    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                return f.read()
    raise MXNetError(f"get_mnist: missing {os.path.join(directory, name)}.gz (or unpacked, "
                     f"{os.path.join(directory, name)}). flowmod downloads nothing: put "
                     f"MNIST's four idx files there ({', '.join(_MNIST_UBYTE)}; from "
                     f"http://data.mxnet.io/data/mnist/)")


def _mnist_pair(directory: str, images: str, labels: str):
    raw = _read_idx_gz_or_plain(directory, labels)
    label = np.frombuffer(raw[8:], dtype=np.int8)
    raw = _read_idx_gz_or_plain(directory, images)
    _, _, rows, cols = struct.unpack(">IIII", raw[:16])
    image = np.frombuffer(raw[16:], dtype=np.uint8).reshape(len(label), 1, rows, cols)
    return label, image.astype(np.float32) / 255


def get_mnist() -> dict:
    """get_mnist(): MNIST from ``./data`` (the four idx files, gzipped or not) as a dict of
    ``train_data`` and ``test_data`` (float32 in [0, 1], shape (N, 1, 28, 28)) and
    ``train_label`` and ``test_label`` (int8)."""
    train_lbl, train_img = _mnist_pair("data", _MNIST_UBYTE[0], _MNIST_UBYTE[1])
    test_lbl, test_img = _mnist_pair("data", _MNIST_UBYTE[2], _MNIST_UBYTE[3])
    return {"train_data": train_img, "train_label": train_lbl,
            "test_data": test_img, "test_label": test_lbl}


def get_cifar10() -> None:
    """get_cifar10(): checks that CIFAR-10's record files are in ``./data/cifar``
    (``train.rec``, ``test.rec``, ``train.lst``, ``test.lst``); raises MXNetError naming the
    missing ones."""
    _require("data", _CIFAR10, "get_cifar10",
             "CIFAR-10's record files (from http://data.mxnet.io/mxnet/data/cifar10.zip, "
             "unpacked into data/)")


def get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0):
    """get_mnist_iterator(batch_size, input_shape, num_parts=1, part_index=0) ->
    (train_iter, val_iter): MNISTIter over ``./data``'s idx files (``get_mnist_ubyte``),
    flat unless ``input_shape`` has three dimensions; the training one shuffled."""
    from .io import MNISTIter
    get_mnist_ubyte()
    flat = len(input_shape) != 3
    train = MNISTIter(image="data/train-images-idx3-ubyte",
                      label="data/train-labels-idx1-ubyte", input_shape=input_shape,
                      batch_size=batch_size, shuffle=True, flat=flat, num_parts=num_parts,
                      part_index=part_index)
    val = MNISTIter(image="data/t10k-images-idx3-ubyte", label="data/t10k-labels-idx1-ubyte",
                    input_shape=input_shape, batch_size=batch_size, flat=flat,
                    num_parts=num_parts, part_index=part_index)
    return train, val
