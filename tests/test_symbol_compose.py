"""Symbol composition (``net(data=other)``), ``eval``, ``debug_str``, ``astype`` and
``mx.sym.arange``, stated as MXNet 1.9.1 behaves."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd, sym


def two_nets():
    data = sym.Variable("data")
    net1 = sym.FullyConnected(data=data, name="fc1", num_hidden=10)
    net2 = sym.FullyConnected(name="fc3", num_hidden=10)
    net2 = sym.Activation(data=net2, act_type="relu", name="act")
    return net1, net2


def test_compose_replaces_a_variable_by_a_symbol():
    net1, net2 = two_nets()
    composed = net2(fc3_data=net1)
    assert composed.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc3_weight",
                                         "fc3_bias"]


def test_compose_leaves_the_original_unchanged():
    net1, net2 = two_nets()
    net2(fc3_data=net1)
    assert net2.list_arguments() == ["fc3_data", "fc3_weight", "fc3_bias"]


def test_compose_name_renames_the_head_node():
    net1, net2 = two_nets()
    composed = net2(fc3_data=net1, name="composed")
    assert composed.name == "composed"
    assert composed.list_outputs() == ["composed_output"]


def test_compose_of_an_arithmetic_node():
    a, b = sym.Variable("a"), sym.Variable("b")
    assert (a + b)(a=sym.Variable("c")).list_arguments() == ["c", "b"]


def test_compose_by_position_is_refused_as_mxnet_does():
    net1, net2 = two_nets()
    with pytest.raises(mx.MXNetError, match="only supports keyword arguments"):
        net2(net1)


def test_compose_with_an_unknown_name_lists_the_candidates():
    net1, net2 = two_nets()
    with pytest.raises(mx.MXNetError, match="'nosuch' is not a Variable.*fc3_data"):
        net2(nosuch=net1)


def test_compose_with_a_non_symbol_is_a_type_error():
    _, net2 = two_nets()
    with pytest.raises(TypeError, match="fc3_data=1: expected a Symbol"):
        net2(fc3_data=1)


def test_composed_graph_computes_the_chain():
    x = sym.Variable("x")
    inner = x * 2
    outer = sym.Variable("y") + 1
    out = outer(y=inner).eval(mx.cpu(), x=nd.array([1.0, 2.0]))
    np.testing.assert_array_equal(out[0].asnumpy(), [3.0, 5.0])


def test_eval_returns_the_list_of_outputs():
    x = sym.Variable("x")
    outs = sym.Group([x * 2, x + 1]).eval(ctx=mx.cpu(), x=nd.ones((2,)))
    assert isinstance(outs, list) and len(outs) == 2
    np.testing.assert_array_equal(outs[0].asnumpy(), [2.0, 2.0])
    np.testing.assert_array_equal(outs[1].asnumpy(), [2.0, 2.0])


# MXNet 1.9.1's debug_str of net2(fc3_data=net1, name='composed').
MXNET_DEBUG_STR = """Symbol Outputs:
\toutput[0]=composed(0)
Variable:data
Variable:fc1_weight
Variable:fc1_bias
--------------------
Op:FullyConnected, Name=fc1
Inputs:
\targ[0]=data(0) version=0
\targ[1]=fc1_weight(0) version=0
\targ[2]=fc1_bias(0) version=0
Attrs:
\tnum_hidden=10
Variable:fc3_weight
Variable:fc3_bias
--------------------
Op:FullyConnected, Name=fc3
Inputs:
\targ[0]=fc1(0)
\targ[1]=fc3_weight(0) version=0
\targ[2]=fc3_bias(0) version=0
Attrs:
\tnum_hidden=10
--------------------
Op:Activation, Name=composed
Inputs:
\targ[0]=fc3(0)
Attrs:
\tact_type=relu
"""


def test_debug_str_is_mxnets_dump():
    net1, net2 = two_nets()
    assert net2(fc3_data=net1, name="composed").debug_str() == MXNET_DEBUG_STR


def test_debug_str_shows_auxiliary_state_versions():
    text = sym.BatchNorm(sym.Variable("data"), name="bn").debug_str()
    assert "\targ[3]=bn_moving_mean(0) version=1\n" in text


def test_astype_is_a_cast_node():
    cast = sym.Variable("x").astype("float16")
    assert cast.list_attr() == {"dtype": "float16"}
    assert cast.infer_type(x=np.float32)[1] == [np.float16]


def test_arange_values_and_shape():
    r = sym.arange(0, 5, 2)
    assert r.infer_shape()[1] == [(3,)]
    np.testing.assert_array_equal(r.eval(mx.cpu())[0].asnumpy(), [0.0, 2.0, 4.0])


def test_arange_with_stop_none_counts_from_zero_and_repeats():
    np.testing.assert_array_equal(sym.arange(3, repeat=2).eval(mx.cpu())[0].asnumpy(),
                                  [0, 0, 1, 1, 2, 2])


def test_arange_attributes_are_mxnets():
    attrs = sym.arange(3).list_attr()
    assert attrs["start"] == "3" and attrs["dtype"] == "float32"


def test_arange_infer_range_is_refused():
    with pytest.raises(mx.MXNetError, match="infer_range"):
        sym.arange(0, 3, infer_range=True)
