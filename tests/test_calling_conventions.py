"""MXNet 1.9's calling conventions for the generated operator functions and the methods that
wrap them: inputs by position, then attributes by position in the documented order, then
keywords. Expected values are what MXNet 1.9.1 returns for the same calls."""
from __future__ import annotations

import gc
import inspect

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd, sym


def arange(*shape):
    return nd.array(np.arange(np.prod(shape), dtype=np.float32).reshape(shape))


# ---- mx.nd ---------------------------------------------------------------------------------
def test_nd_attribute_by_position_follows_the_inputs():
    x = arange(2, 3, 4)
    np.testing.assert_array_equal(nd.sum(x, 1).asnumpy(), x.asnumpy().sum(1))


def test_nd_attributes_by_position_in_documented_order():
    x = arange(2, 3, 4)
    # sum(data, axis, keepdims, exclude)
    assert nd.sum(x, 1, True).shape == (2, 1, 4)
    assert nd.sum(x, 1, False, True).shape == (3,)


def test_nd_tuple_attribute_by_position():
    assert nd.transpose(arange(2, 3, 4), (2, 0, 1)).shape == (4, 2, 3)


def test_nd_enum_attribute_by_position():
    x = nd.array([[-1.0, 0.5]])
    np.testing.assert_allclose(nd.Activation(x, "tanh").asnumpy(), np.tanh([[-1.0, 0.5]]),
                               rtol=1e-6)


def test_nd_one_hot_depth_by_position():
    np.testing.assert_array_equal(nd.one_hot(nd.array([0, 2]), 3).asnumpy(),
                                  [[1, 0, 0], [0, 0, 1]])


def test_nd_clip_bounds_by_position():
    np.testing.assert_array_equal(nd.clip(nd.array([-1, 1, 3]), 0, 2).asnumpy(), [0, 1, 2])


def test_nd_inputs_then_attributes_by_position():
    x, w, b = nd.ones((2, 3)), nd.ones((4, 3)), nd.ones((4,))
    # FullyConnected(data, weight, bias, num_hidden)
    np.testing.assert_array_equal(nd.FullyConnected(x, w, b, 4).asnumpy(), np.full((2, 4), 4.0))


def test_nd_none_leaves_an_optional_input_out():
    x, w = nd.ones((2, 3)), nd.ones((4, 3))
    out = nd.FullyConnected(x, w, None, 4, True)
    np.testing.assert_array_equal(out.asnumpy(), np.full((2, 4), 3.0))


def test_nd_positional_and_keyword_attributes_mix():
    x = arange(2, 3, 4)
    assert nd.sum(x, 1, keepdims=True).shape == (2, 1, 4)


def test_nd_attribute_given_twice_is_a_type_error():
    with pytest.raises(TypeError, match=r"sum\(\) got multiple values for argument 'axis'"):
        nd.sum(arange(2, 3), 1, axis=0)


def test_nd_extra_positional_value_names_the_operator_position_and_value():
    with pytest.raises(TypeError, match=r"clip: positional argument 3 is 7: expected at most 3 "
                                        r"positional arguments \(data, a_min, a_max\)"):
        nd.clip(nd.ones((2,)), 0, 1, 7)


def test_nd_string_where_an_input_is_expected_names_position_and_value():
    before = pushed()
    with pytest.raises(mx.MXNetError, match=r"clip: positional argument 0 \(data\) is 'a': "
                                            r"expected an NDArray"):
        nd.clip("a", 0, 1)
    assert pushed() == before


def test_nd_array_where_an_attribute_is_expected_is_refused():
    x = arange(2, 3)
    with pytest.raises(mx.MXNetError, match=r"sum: positional argument 1 \(axis\) is NDArray"):
        nd.sum(x, x)


def test_nd_variadic_operator_takes_every_positional_as_input():
    out = nd.Concat(nd.ones((1, 2)), nd.zeros((1, 2)), dim=0)
    np.testing.assert_array_equal(out.asnumpy(), [[1, 1], [0, 0]])
    assert nd.stack(nd.ones((2,)), nd.ones((2,)), axis=1).shape == (2, 2)


def test_nd_variadic_operator_refuses_a_positional_attribute():
    with pytest.raises(mx.MXNetError, match=r"Concat: positional argument 1 is 1: expected an NDArray"):
        nd.Concat(nd.ones((2,)), 1)


def test_nd_out_keyword_writes_into_the_array():
    out = nd.zeros((2,))
    assert nd.clip(nd.array([-1, 3]), 0, 2, out=out) is out
    np.testing.assert_array_equal(out.asnumpy(), [0, 2])


def pushed():
    # Arrays that earlier tests left in reference cycles are released now, not by a garbage
    # collection that happens to run inside the call under test (each release is a push).
    gc.collect()
    mx.waitall()
    return sum(lane.pushed for lane in mx.engine.stats().lanes)


# ---- signatures and docstrings -------------------------------------------------------------
def test_nd_signature_shows_mxnets_names_and_defaults():
    assert str(inspect.signature(nd.clip)) == \
        "(data=None, a_min=_Null, a_max=_Null, out=None, name=None, **kwargs)"
    params = inspect.signature(nd.FullyConnected).parameters
    assert list(params)[:6] == ["data", "weight", "bias", "num_hidden", "no_bias", "flatten"]
    assert params["no_bias"].default is False and params["flatten"].default is True


def test_sym_signature_ends_with_name_and_attr():
    params = list(inspect.signature(sym.Convolution).parameters)
    assert params[:5] == ["data", "weight", "bias", "kernel", "stride"]
    assert params[-4:] == ["name", "attr", "out", "kwargs"]


def test_variadic_signature_takes_data_by_position_and_attributes_by_keyword():
    sig = inspect.signature(nd.Concat)
    assert str(sig) == "(*data, dim=1, out=None, name=None, **kwargs)"


def test_docstring_lists_inputs_and_attributes_with_mxnets_types():
    doc = sym.Convolution.__doc__
    assert "data : Symbol" in doc
    assert "kernel : Shape(tuple), required" in doc
    assert "no_bias : boolean, optional, default=0" in doc
    assert "name : string, optional." in doc
    assert "a_min : float, required" in nd.clip.__doc__


# ---- mx.sym --------------------------------------------------------------------------------
def test_sym_attributes_by_position():
    data = sym.Variable("data")
    assert sym.clip(data, 0, 6).list_attr() == {"a_max": "6", "a_min": "0"}
    assert sym.Dropout(data, 0.5).list_attr() == {"p": "0.5"}
    assert sym.Activation(data, "tanh").list_attr() == {"act_type": "tanh"}


def test_sym_inputs_then_attributes_by_position():
    data, w, b = sym.Variable("data"), sym.Variable("w"), sym.Variable("b")
    fc = sym.FullyConnected(data, w, b, 10)
    assert fc.list_arguments() == ["data", "w", "b"]
    assert fc.list_attr() == {"num_hidden": "10"}


def test_sym_none_inputs_become_variables_or_are_left_out():
    data = sym.Variable("data")
    fc = sym.FullyConnected(data, None, None, 10, True, name="fc")
    assert fc.list_arguments() == ["data", "fc_weight"]
    conv = sym.Convolution(data, None, None, (3, 3), name="c", num_filter=2)
    assert conv.list_attr() == {"kernel": "(3, 3)", "num_filter": "2"}


def test_sym_string_where_an_input_is_expected_names_position_and_value():
    with pytest.raises(mx.MXNetError, match=r"clip: positional argument 0 \(data\) is 'a': "
                                            r"expected a Symbol"):
        sym.clip("a", 0, 1)


def test_sym_variadic_fills_the_count():
    data = sym.Variable("data")
    assert sym.Concat(data, data, dim=0).list_attr() == {"dim": "0", "num_args": "2"}


# ---- methods -------------------------------------------------------------------------------
def test_ndarray_methods_take_the_operators_remaining_arguments_by_position():
    x = arange(2, 3, 4)
    assert x.sum(1).shape == (2, 4)
    assert x.sum(1, True).shape == (2, 1, 4)
    np.testing.assert_array_equal(nd.array([-1, 1, 3]).clip(0, 2).asnumpy(), [0, 1, 2])
    assert x.transpose((2, 0, 1)).shape == (4, 2, 3)
    assert nd.array([0, 1]).one_hot(3).shape == (2, 3)


def test_ndarray_inplace_methods_give_views():
    x = arange(2, 3, 4)
    view = x.expand_dims(0, inplace=True)
    assert view.shape == (1, 2, 3, 4)
    assert x.flatten().shape == (2, 12)
    assert nd.ones((1, 3, 1)).squeeze().shape == (3,)
    flat = x.flatten(inplace=True)
    flat[:] = 0
    assert x.asnumpy().sum() == 0


def test_symbol_astype_and_reshape_methods():
    x = sym.Variable("x")
    assert x.astype("float16").list_attr() == {"dtype": "float16"}
    assert x.reshape((2, 3)).list_attr() == {"shape": "(2, 3)"}


def test_methods_exist_only_for_registered_operators():
    assert hasattr(nd.NDArray, "tile") and hasattr(sym.Symbol, "topk")
    assert hasattr(nd.NDArray, "arccos") and hasattr(sym.Symbol, "swapaxes")
    assert hasattr(nd.NDArray, "argsort") and hasattr(sym.Symbol, "slice_like")
    from flowmod import operator_methods

    class Bare:
        pass

    operator_methods.attach(Bare, {"tile": nd.tile}, is_array=True)
    assert hasattr(Bare, "tile") and not hasattr(Bare, "argsort")
