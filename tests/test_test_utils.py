"""``mx.test_utils``: MXNet 1.9's public test helpers, one test per behaviour, compared with
MXNet 1.9.1's results where they are observable (``tests/data/mxnet_conventions_refs.json``)
and otherwise with numpy."""
from __future__ import annotations

import gzip
import inspect
import json
import os
import struct

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd, sym
from flowmod import test_utils as tu

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_conventions_refs.json")) as f:
    REF = json.load(f)["test_utils"]


@pytest.mark.parametrize("name", sorted(REF["signatures"]))
def test_helper_signature_is_mxnets(name):
    assert str(inspect.signature(getattr(tu, name))).split(" ->")[0].replace(
        "sym: 'Symbol'", "sym").replace("array1: 'NDArray', array2: 'NDArray'",
                                        "array1, array2").replace("ctx: 'Context'", "ctx") \
        == REF["signatures"][name]


def test_star_import_gives_the_helpers_and_numpy():
    scope: dict = {}
    exec("from flowmod.test_utils import *", scope)
    for name in ("assert_almost_equal", "check_consistency", "default_context", "np",
                 "rand_ndarray"):
        assert name in scope


# ---- contexts ---------------------------------------------------------------------------------
def test_default_context_is_the_current_context():
    assert tu.default_context() == mx.cpu(0)
    with mx.Context(mx.cpu(1)):
        assert tu.default_context() == mx.cpu(1)


def test_set_default_context_changes_where_arrays_are_made():
    before = tu.default_context()
    try:
        tu.set_default_context(mx.cpu(2))
        assert tu.default_context() == mx.cpu(2)
        assert nd.ones((1,)).context == mx.cpu(2)
    finally:
        tu.set_default_context(before)


def test_set_default_context_refuses_what_is_not_a_context():
    with pytest.raises(mx.MXNetError, match="set_default_context: ctx='cpu': expected a Context"):
        tu.set_default_context("cpu")


def test_list_gpus_is_empty_without_gpus():
    assert list(tu.list_gpus()) == list(range(mx.context.num_gpus()))


# ---- comparing --------------------------------------------------------------------------------
A = np.array([1.0, 2.0, 3.0], dtype=np.float32)
B = np.array([1.0, 2.5, 3.0], dtype=np.float32)


def test_assert_almost_equal_mismatch_message_is_mxnets():
    ref = REF["assert_almost_equal_mismatch"]
    with pytest.raises(AssertionError) as info:
        tu.assert_almost_equal(A, B, names=("x", "y"))
    assert ref["type"] == "AssertionError"
    assert str(info.value) == ref["full"]


def test_assert_almost_equal_takes_ndarrays_and_explicit_tolerances():
    tu.assert_almost_equal(nd.array(A), nd.array(B), rtol=0.3, atol=0)
    with pytest.raises(AssertionError, match=r"rtol=1.000000e-01, atol=1.000000e-01"):
        tu.assert_almost_equal(nd.array(A), nd.array(B), rtol=0.1, atol=0.1)


def test_assert_almost_equal_treats_nan_as_unequal_unless_equal_nan():
    nan = np.array([np.nan, 1.0])
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(nan, nan)
    tu.assert_almost_equal(nan, nan, equal_nan=True)


def test_assert_almost_equal_default_tolerance_is_the_looser_types():
    # float16's rtol (1e-2) applies when either side is float16.
    tu.assert_almost_equal(np.float16([1.0]), np.float32([1.005]))
    with pytest.raises(AssertionError):
        tu.assert_almost_equal(np.float32([1.0]), np.float32([1.005]))


def test_default_tolerances_are_mxnets():
    assert {np.dtype(k).name: v for k, v in tu.default_rtols().items()} == REF["default_rtols"]
    assert {np.dtype(k).name: v for k, v in tu.default_atols().items()} == REF["default_atols"]


def test_almost_equal_results_are_mxnets():
    nan = np.array([np.nan])
    assert [tu.almost_equal(A, B), tu.almost_equal(A, B, rtol=0.3),
            tu.almost_equal(nan, nan), tu.almost_equal(nan, nan, equal_nan=True)] == \
        REF["almost_equal"]


def test_same_array_tells_shared_storage_as_mxnet():
    x = nd.ones((2, 2))
    assert [tu.same_array(x, x), tu.same_array(x, x.copy()),
            tu.same_array(x, x.reshape((4,)))] == REF["same_array"]
    np.testing.assert_array_equal(x.asnumpy(), np.ones((2, 2)))  # left as it was


def test_assert_exception_passes_when_the_function_raises_the_type():
    tu.assert_exception(int, ValueError, "x")


def test_assert_exception_fails_when_the_function_does_not_raise():
    assert REF["assert_exception_no_raise"]["type"] == "AssertionError"
    with pytest.raises(AssertionError):
        tu.assert_exception(lambda: 1, ValueError)


def test_assert_exception_lets_another_exception_through():
    with pytest.raises(KeyError):
        tu.assert_exception(lambda: {}["k"], ValueError)


# ---- random inputs ----------------------------------------------------------------------------
def test_rand_ndarray_is_a_dense_array_of_the_shape_and_type():
    a = tu.rand_ndarray((2, 3))
    assert isinstance(a, nd.NDArray) and a.shape == (2, 3) and a.dtype == np.float32
    assert tu.rand_ndarray((2, 3), dtype="float64").dtype == np.float64


def test_rand_ndarray_makes_sparse_arrays_of_the_density():
    np.random.seed(3)
    c = tu.rand_ndarray((200, 50), stype="csr", density=0.1)
    assert c.stype == "csr" and c.shape == (200, 50)
    assert 0.07 < c.data.shape[0] / c.size < 0.13
    r = tu.rand_ndarray((400, 3), stype="row_sparse", density=0.25)
    assert r.stype == "row_sparse" and 0.18 < r.data.shape[0] / 400 < 0.32
    with pytest.raises(mx.MXNetError, match="stype='bad'"):
        tu.rand_ndarray((2, 3), stype="bad")


def test_rand_shapes_stay_within_their_bounds():
    np.random.seed(0)
    for _ in range(50):
        assert all(1 <= d <= 4 for d in tu.rand_shape_2d(4, 4))
        s3 = tu.rand_shape_3d(2, 3, 4)
        assert len(s3) == 3 and all(1 <= d <= m for d, m in zip(s3, (2, 3, 4)))
        nd_shape = tu.rand_shape_nd(5, 3)
        assert len(nd_shape) == 5 and all(1 <= d <= 3 for d in nd_shape)
    assert any(0 in tu.rand_shape_nd(6, 1, allow_zero_size=True) for _ in range(50))


def test_random_arrays_gives_one_float32_array_or_a_list():
    one = tu.random_arrays((2, 3))
    assert isinstance(one, np.ndarray) and one.shape == (2, 3) and one.dtype == np.float32
    two = tu.random_arrays((2,), (3, 1))
    assert [a.shape for a in two] == [(2,), (3, 1)]
    assert isinstance(tu.random_arrays(()), np.ndarray)


@pytest.mark.parametrize("index", range(5))
def test_np_reduce_matches_mxnet(index):
    axis, keepdims, expected = REF["np_reduce"][index]
    axis = None if axis == "None" else eval(axis)
    d = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(tu.np_reduce(d, axis, keepdims, np.sum), expected)


# ---- symbols ----------------------------------------------------------------------------------
def test_simple_forward_matches_mxnet():
    out = tu.simple_forward(sym.relu(sym.Variable("v")), v=np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(out, REF["simple_forward"])


def test_check_numeric_gradient_passes_a_correct_gradient():
    x = sym.Variable("x")
    tu.check_numeric_gradient(sym.tanh(x) * x, {"x": np.random.RandomState(0).randn(3, 4)},
                              numeric_eps=1e-3, rtol=1e-2, atol=1e-3)


def test_check_numeric_gradient_fails_a_wrong_gradient():
    # BlockGrad's gradient is zero while its output is its input: finite differences see 1.
    x = sym.Variable("x")
    with pytest.raises(AssertionError):
        tu.check_numeric_gradient(sym.BlockGrad(x) * 2, {"x": np.ones((2, 2))})


def test_check_symbolic_forward_compares_with_the_expected_outputs():
    x = sym.Variable("x")
    tu.check_symbolic_forward(sym.square(x), {"x": np.array([1.0, -2.0])}, [np.array([1.0, 4.0])])
    with pytest.raises(AssertionError):
        tu.check_symbolic_forward(sym.square(x), {"x": np.array([1.0, -2.0])},
                                  [np.array([1.0, 4.5])])


def test_check_symbolic_backward_returns_the_gradients_mxnet_returns():
    x = sym.Variable("v")
    grads = tu.check_symbolic_backward(sym.square(x), {"v": np.array([1.0, -2.0])},
                                       [np.array([1.0, 1.0])], {"v": np.array([2.0, -4.0])})
    assert {k: np.asarray(v).tolist() for k, v in grads.items()} == \
        REF["check_symbolic_backward_grads"]


def test_check_symbolic_backward_fails_a_wrong_expected_gradient():
    x = sym.Variable("v")
    with pytest.raises(AssertionError):
        tu.check_symbolic_backward(sym.square(x), {"v": np.array([1.0, -2.0])},
                                   [np.array([1.0, 1.0])], {"v": np.array([2.0, 4.0])})


def test_check_consistency_across_contexts_and_types():
    net = sym.FullyConnected(sym.Variable("data"), num_hidden=3, name="fc")
    shapes = {"data": (4, 5)}
    ctx_list = [{"ctx": mx.cpu(0), "type_dict": {"data": np.float64}, **shapes},
                {"ctx": mx.cpu(1), "type_dict": {"data": np.float32}, **shapes}]
    ref = tu.check_consistency(net, ctx_list)
    assert set(ref) >= {"data", "fc_weight", "fc_bias"}


def test_check_consistency_reports_symbols_that_differ():
    a = sym.clip(sym.Variable("data"), -1, 1, name="c")
    b = sym.clip(sym.Variable("data"), -2, 2, name="c")
    ctx_list = [{"ctx": mx.cpu(0), "data": (200,)}, {"ctx": mx.cpu(1), "data": (200,)}]
    with pytest.raises(AssertionError):
        tu.check_consistency([a, b], ctx_list, grad_req="null")


# ---- data sets from a local directory ---------------------------------------------------------
def _write_mnist(folder, count=12):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(1)
    for prefix in ("train", "t10k"):
        images = rng.randint(0, 256, (count, 28, 28)).astype(np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28) + images.tobytes())
        with gzip.open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, count) + labels.tobytes())
        with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, count) + labels.tobytes())
    return images, labels


def test_get_mnist_reads_the_local_idx_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images, labels = _write_mnist("data")
    mnist = tu.get_mnist()
    assert mnist["test_data"].shape == (12, 1, 28, 28)
    np.testing.assert_allclose(mnist["test_data"][:, 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(mnist["test_label"], labels)


def test_get_mnist_names_the_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mx.MXNetError, match=r"missing data/train-labels-idx1-ubyte.gz .*"
                                            r"downloads nothing"):
        tu.get_mnist()


def test_get_mnist_ubyte_checks_the_four_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mx.MXNetError, match=r"get_mnist_ubyte: missing "
                                            r"data/train-images-idx3-ubyte, "):
        tu.get_mnist_ubyte()
    _write_mnist("data")
    tu.get_mnist_ubyte()


def test_get_mnist_iterator_iterates_the_local_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_mnist("data")
    train, val = tu.get_mnist_iterator(batch_size=4, input_shape=(784,))
    assert train.provide_data[0].shape == (4, 784)
    assert len(list(val)) == 3


def test_get_cifar10_names_the_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(mx.MXNetError, match=r"get_cifar10: missing data/cifar/train.rec"):
        tu.get_cifar10()
    os.makedirs("data/cifar")
    for name in ("train.rec", "test.rec", "train.lst", "test.lst"):
        open(os.path.join("data/cifar", name), "wb").close()
    tu.get_cifar10()
