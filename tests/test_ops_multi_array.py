"""multi_sum_sq, multi_all_finite, amp_multicast and reset_arrays: numpy references, MXNet
1.9.1's recorded outputs (tests/data/make_mxnet_added_ops_refs.py), amp_multicast's gradient,
the Symbol front end and the refusals."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import _native, nd

REFS = np.load(os.path.join(os.path.dirname(__file__), "data", "mxnet_added_ops_refs.npz"))
SHAPES = ((5,), (3, 4), (2, 2, 2))


def recorded_arrays():
    flat, out, start = REFS["multi/arrays"], [], 0
    for s in SHAPES:
        n = int(np.prod(s))
        out.append(flat[start:start + n].reshape(s))
        start += n
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multi_sum_sq_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    y = nd.multi_sum_sq(*[nd.array(a, dtype=dtype) for a in arrays], num_arrays=3)
    assert y.shape == (3,) and y.dtype == np.float32
    np.testing.assert_allclose(y.asnumpy(), [np.sum(a.astype(np.float64) ** 2) for a in arrays], rtol=1e-6)


def test_multi_sum_sq_matches_mxnet_1_9_1():
    y = nd.multi_sum_sq(*[nd.array(a) for a in recorded_arrays()], num_arrays=3)
    np.testing.assert_allclose(y.asnumpy(), REFS["multi/sum_sq"], rtol=1e-6)


def test_multi_all_finite_matches_mxnet_1_9_1():
    arrays = recorded_arrays()
    assert nd.multi_all_finite(*[nd.array(a) for a in arrays], num_arrays=3).asnumpy().tolist() == \
        REFS["multi/all_finite_ok"].tolist() == [1.0]
    arrays[1][2, 1] = np.inf
    assert nd.multi_all_finite(*[nd.array(a) for a in arrays], num_arrays=3).asnumpy().tolist() == \
        REFS["multi/all_finite_bad"].tolist() == [0.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_multi_all_finite_finds_any_non_finite_element(bad, dtype):
    a, b = np.ones(1000, dtype=dtype), np.ones((3, 3), dtype=dtype)
    b[1, 2] = bad
    assert nd.multi_all_finite(nd.array(a, dtype=dtype), nd.array(b, dtype=dtype), num_arrays=2).asnumpy()[0] == 0
    assert nd.multi_all_finite(nd.array(a, dtype=dtype), num_arrays=1).asnumpy()[0] == 1


def test_multi_all_finite_without_init_output_only_clears():
    out = nd.full((1,), 1.0)
    nd.multi_all_finite(nd.ones((2,)), num_arrays=1, init_output=False, out=out)
    assert out.asnumpy()[0] == 1
    nd.multi_all_finite(nd.array([np.nan]), num_arrays=1, init_output=False, out=out)
    nd.multi_all_finite(nd.ones((2,)), num_arrays=1, init_output=False, out=out)
    assert out.asnumpy()[0] == 0


def test_amp_multicast_casts_to_the_widest_or_narrowest_type_as_mxnet():
    arrays = recorded_arrays()
    f16, f32 = nd.array(arrays[0], dtype="float16"), nd.array(arrays[1], dtype="float32")
    wide = nd.amp_multicast(f16, f32, num_outputs=2)
    narrow = nd.amp_multicast(f16, f32, num_outputs=2, cast_narrow=True)
    expected = json.loads(str(REFS["multi/multicast_types"]))
    assert [[f"<class 'numpy.{np.dtype(o.dtype).name}'>" for o in outs] for outs in (wide, narrow)] == expected
    np.testing.assert_array_equal(wide[1].asnumpy(), REFS["multi/multicast_wide1"])
    np.testing.assert_array_equal(narrow[1].asnumpy().astype(np.float32), REFS["multi/multicast_narrow1"])
    np.testing.assert_array_equal(wide[0].asnumpy(), arrays[0].astype(np.float16).astype(np.float32))


def test_amp_multicast_passes_other_types_through():
    outs = nd.amp_multicast(nd.ones((2,), dtype="float64"), nd.ones((2,), dtype="int32"), nd.ones((2,)),
                            num_outputs=3)
    assert [np.dtype(o.dtype).name for o in outs] == ["float64", "int32", "float32"]


def test_amp_multicast_gradient_is_cast_back_to_each_input_type():
    a, b = nd.ones((3,), dtype="float16"), nd.ones((2,), dtype="float32")
    attrs = {"num_outputs": "2"}
    outs = _native.invoke("amp_multicast", [a._h, b._h], attrs, [], True, True)
    heads = [nd.array([0.5, 1.5, 2.5]), nd.array([3.0, 4.0])]
    ga, gb = nd.full((3,), 1.0, dtype="float16"), nd.zeros((2,))
    _native.invoke_backward("amp_multicast", attrs, [h._h for h in heads], [a._h, b._h], outs,
                            [ga._h, gb._h], ["add", "write"], True)
    assert ga.dtype == np.float16
    np.testing.assert_array_equal(ga.asnumpy(), [1.5, 2.5, 3.5])
    np.testing.assert_array_equal(gb.asnumpy(), [3.0, 4.0])
    gnull = nd.full((2,), 7.0)
    _native.invoke_backward("amp_multicast", attrs, [h._h for h in heads], [a._h, b._h], outs,
                            [ga._h, gnull._h], ["write", "null"], True)
    np.testing.assert_array_equal(gnull.asnumpy(), [7.0, 7.0])


def test_reset_arrays_zeroes_every_array_in_place_and_returns_nothing():
    arrays = [nd.array(a) for a in recorded_arrays()]
    result = nd.reset_arrays(*arrays, num_arrays=3)
    assert repr(result) == json.loads(str(REFS["multi/reset_result"])) == "[]"
    assert [float(np.abs(a.asnumpy()).sum()) for a in arrays] == REFS["multi/reset_sums"].tolist()


def test_reset_arrays_is_ordered_after_pending_writes():
    a = nd.ones((1000,))
    b = a * 3  # pushed, maybe not run yet
    nd.reset_arrays(b, num_arrays=1)
    assert b.asnumpy().sum() == 0


def test_multi_array_symbols_name_their_inputs_array_i():
    xs = [mx.sym.Variable(f"x{i}") for i in range(3)]
    sym = mx.sym.multi_sum_sq(*xs, num_arrays=3)
    assert sym.list_arguments() == ["x0", "x1", "x2"]
    _, outs, _ = sym.infer_shape(x0=(2,), x1=(3, 3), x2=(1,))
    assert outs == [(3,)]
    exe = sym.simple_bind(mx.cpu(), grad_req="null", x0=(2,), x1=(3, 3), x2=(1,))
    for i, name in enumerate(["x0", "x1", "x2"]):
        exe.arg_dict[name][:] = i + 1
    exe.forward()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), [2.0, 36.0, 9.0])
    cast = mx.sym.amp_multicast(*xs[:2], num_outputs=2)
    assert len(cast.list_outputs()) == 2


@pytest.mark.parametrize("call,match", [
    (lambda: nd.multi_sum_sq(nd.ones((2,)), nd.ones((2,)), num_arrays=3),
     r"multi_sum_sq: inputs=2 arrays: expected 3"),
    (lambda: nd.multi_sum_sq(nd.ones((2,))), r"multi_sum_sq: num_arrays=\(missing\)"),
    (lambda: nd.multi_sum_sq(nd.ones((2,)), num_arrays=0), r"multi_sum_sq: num_arrays=0: expected an integer >= 1"),
    (lambda: nd.multi_sum_sq(nd.ones((2,)), nd.ones((2,), dtype="float64"), num_arrays=2),
     r"multi_sum_sq: array_1="),
    (lambda: nd.multi_sum_sq(nd.ones((2,), dtype="int32"), num_arrays=1),
     r"multi_sum_sq: array_0=an array of type int32: expected a floating-point array"),
    (lambda: nd.multi_all_finite(nd.ones((2,), dtype="int32"), num_arrays=1),
     r"multi_all_finite: array_0=an array of type int32: expected a floating-point array"),
    (lambda: nd.amp_multicast(nd.ones((2,)), num_outputs=2), r"amp_multicast: inputs=1 arrays: expected 2"),
    (lambda: nd.reset_arrays(nd.ones((2,)), num_arrays=2, foo=1), r"reset_arrays: foo='1': expected an attribute"),
])
def test_multi_array_operators_refuse_bad_input(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
