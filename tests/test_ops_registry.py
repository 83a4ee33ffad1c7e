"""Properties every registered operator has: attributes checked before anything is pushed,
consistent argument and output names, and operators reachable as mx.nd functions."""
from __future__ import annotations

import gc

import pytest

import flowmod as mx
from flowmod import _native, nd

OPS = _native.list_ops()


def pushed_total():
    # Arrays that earlier tests left in reference cycles are released now, not by a garbage
    # collection that happens to run inside the call under test (each release is a push).
    gc.collect()
    mx.waitall()
    return sum(lane.pushed for lane in mx.engine.stats().lanes)


def test_no_operator_name_is_registered_twice():
    assert _native.registry_conflicts() == []


@pytest.mark.parametrize("op", OPS)
def test_unknown_attribute_names_the_operator_and_the_attribute(op):
    before = pushed_total()
    with pytest.raises(mx.MXNetError, match=rf"{op}: no_such_attribute='1': expected"):
        _native.prepare(op, {"no_such_attribute": "1"})
    assert pushed_total() == before


@pytest.mark.parametrize("op", OPS)
def test_every_operator_is_an_nd_function(op):
    assert callable(getattr(nd, op))


def test_graph_attributes_are_ignored_by_operators():
    # Symbol JSON carries __lr_mult__, __init__ and friends on every node.
    out = nd.invoke("_plus_scalar", [nd.ones((2,))], scalar=1, __lr_mult__=2.0)
    assert out.asnumpy().tolist() == [2.0, 2.0]


def test_wrong_input_count_names_the_expected_inputs():
    with pytest.raises(mx.MXNetError, match=r"broadcast_add: inputs=1 arrays: expected 2 \(lhs, rhs\)"):
        nd.invoke("broadcast_add", [nd.ones((2,))])


def test_inputs_by_name_follow_the_operator_argument_order():
    a, b = nd.array([1.0, 2.0]), nd.array([10.0, 20.0])
    assert nd.broadcast_sub(rhs=a, lhs=b).asnumpy().tolist() == [9.0, 18.0]
    with pytest.raises(mx.MXNetError, match="broadcast_sub: weight=<NDArray>"):
        nd.broadcast_sub(a, weight=b)
    with pytest.raises(mx.MXNetError, match="input 'rhs' is missing"):
        nd.broadcast_sub(lhs=a)


def test_failed_kernel_reaches_the_reader_and_the_engine_keeps_running():
    zero = nd.zeros((3,), dtype="int32")
    bad = nd.ones((3,), dtype="int32") / zero
    with pytest.raises(mx.MXNetError, match="broadcast_div.*integer division by zero") as info:
        bad.asnumpy()
    assert info.value.op_name == "broadcast_div"
    assert (nd.ones((3,)) + 1).asnumpy().tolist() == [2.0, 2.0, 2.0]


def test_inference_runs_both_ways_and_names_conflicts():
    in_shapes, out_shapes, in_types, out_types = _native.infer(
        "FullyConnected", {"num_hidden": "10"}, [(5, 784), None, None], [0, -1, -1])
    assert in_shapes == [(5, 784), (10, 784), (10,)] and out_shapes == [(5, 10)]
    assert in_types == [0, 0, 0] and out_types == [0]
    # BatchNorm's parameters and auxiliary states follow the channel axis.
    in_shapes, _, _, _ = _native.infer("BatchNorm", {}, [(5, 3, 4, 4)] + [None] * 4, [0] + [-1] * 4)
    assert in_shapes[1:] == [(3,)] * 4
    # Unknown data leaves the outputs unknown rather than failing.
    _, out_shapes, _, _ = _native.infer("Convolution", {"kernel": "(3, 3)", "num_filter": "4"},
                                        [None, None, None], [-1, -1, -1])
    assert out_shapes == [None]
    with pytest.raises(mx.MXNetError, match=r"FullyConnected: weight=shape \(10, 700\): expected shape \(10, 784\)"):
        _native.infer("FullyConnected", {"num_hidden": "10"}, [(5, 784), (10, 700), None], [0, -1, -1])
