"""MXNet 1.9's calling conventions, compared with what MXNet 1.9.1 returns for the same calls
(recorded by ``tests/data/make_mxnet_conventions_refs.py`` into
``tests/data/mxnet_conventions_refs.json``): the examples the classic scripts use, the
signatures, the errors for bad positional values, Symbol composition and the methods that
forward to one operator."""
from __future__ import annotations

import ast
import inspect
import json
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd, sym

with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_conventions_refs.json")) as f:
    REF = json.load(f)


def arange_234():
    return nd.array(np.arange(1, 25, dtype=np.float32).reshape(2, 3, 4) / 4)


def close(got, key, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64),
                               np.asarray(REF["positional"][key], dtype=np.float64),
                               rtol=rtol, atol=1e-7)


# ---- the examples ---------------------------------------------------------------------------
def test_clip_bounds_by_position_as_mxnet():
    close(nd.clip(arange_234(), 0, 2).asnumpy(), "nd.clip(x, 0, 2)")


def test_sum_axis_by_position_as_mxnet():
    close(nd.sum(arange_234(), 1).asnumpy(), "nd.sum(x, 1)")


def test_sum_method_axis_by_position_as_mxnet():
    close(arange_234().sum(1).asnumpy(), "x.sum(1)")


def test_clip_method_bounds_by_position_as_mxnet():
    close(arange_234().clip(0, 2).asnumpy(), "x.clip(0, 2)")


def test_transpose_axes_by_position_as_mxnet():
    close(nd.transpose(arange_234(), (2, 0, 1)).asnumpy(), "nd.transpose(x, (2, 0, 1))")


def test_one_hot_depth_by_position_as_mxnet():
    close(nd.one_hot(nd.array([0, 2, 1]), 3).asnumpy(), "nd.one_hot(i, 3)")


def test_activation_type_by_position_as_mxnet():
    close(nd.Activation(arange_234(), "tanh").asnumpy(), "nd.Activation(x, 'tanh')")


def test_fully_connected_inputs_then_num_hidden_by_position_as_mxnet():
    x = arange_234().reshape((2, 12))
    out = nd.FullyConnected(x, nd.ones((4, 12)) / 10, nd.arange(4), 4)
    close(out.asnumpy(), "nd.FullyConnected(x2, w, b, 4)", rtol=1e-5)


@pytest.mark.parametrize("call", ["sym.clip(data, 0, 6)", "sym.Dropout(data, 0.5)",
                                  "sym.Activation(data, 'tanh')"])
def test_symbol_attributes_by_position_as_mxnet(call):
    made = eval(call, {"sym": sym, "data": sym.Variable("data")})
    assert made.list_attr() == REF["positional"][call]


def test_symbol_fully_connected_inputs_then_num_hidden_as_mxnet():
    data, w, b = sym.Variable("data"), sym.Variable("w"), sym.Variable("b")
    fc = sym.FullyConnected(data, w, b, 10)
    ref = REF["positional"]["sym.FullyConnected(data, w, b, 10)"]
    assert fc.list_attr() == ref["attr"]
    assert fc.list_arguments() == ref["arguments"]


# ---- signatures -----------------------------------------------------------------------------
def _signature(fn):
    return [[p.name, str(p.kind), repr(p.default)]
            for p in inspect.signature(fn).parameters.values()]


with open(os.path.join(os.path.dirname(__file__), "data", "mxnet_op_schemas.json")) as f:
    SCHEMAS = json.load(f)["operators"]


def _documented_default(op, attr):
    """The default MXNet 1.9.1 documents for an attribute ("boolean, optional, default=0"),
    as a Python value; MXNet's signature shows ``_Null`` for it."""
    text = dict(SCHEMAS[op]["params"])[attr]
    if "default=" not in text:
        return "_Null"
    raw = text.split("default=", 1)[1].strip()
    if text.startswith("boolean") and raw in ("0", "1"):
        return repr(raw == "1")
    if text.split(",")[0].split()[0] in ("int", "long", "float", "double") and raw.startswith("'") \
            and raw.strip("'") != "None":
        raw = raw.strip("'")  # MXNet quotes some numeric defaults ("int, default='-1'")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return repr(raw)
    if isinstance(value, list):
        value = tuple(value)
    if value == "None":
        value = None
    return repr(value)


@pytest.mark.parametrize("key", sorted(k for k, v in REF["signatures"].items()
                                       if v[0][1] != "VAR_POSITIONAL"))
def test_generated_signature_has_mxnets_names_kinds_and_documented_defaults(key):
    ns, op = key.split(".")
    module = nd if ns == "nd" else sym
    if not hasattr(module, op):
        pytest.skip(f"{op} is not registered yet")
    ref = REF["signatures"][key]
    got = _signature(getattr(module, op))
    assert [p[:2] for p in got] == [p[:2] for p in ref]
    # MXNet shows _Null for every optional attribute; flowmod shows the default it
    # documents (required ones stay _Null).
    want = [_documented_default(op, name) if default == "_Null" else default
            for name, _, default in ref]
    assert [p[2] for p in got] == want


@pytest.mark.parametrize("key", sorted(k for k, v in REF["signatures"].items()
                                       if v[0][1] == "VAR_POSITIONAL"))
def test_variadic_signature_takes_the_inputs_by_position_as_mxnet(key):
    ns, op = key.split(".")
    got = _signature(getattr(nd if ns == "nd" else sym, op))
    ref = REF["signatures"][key]
    assert got[0][:2] == ref[0][:2] and got[-1][:2] == ref[-1][:2]
    # Between them, flowmod names the attributes MXNet only documents.
    documented = {name for name, _ in SCHEMAS[op]["params"]}
    assert {p[0] for p in got[1:-1]} <= documented | {"out", "name", "attr"}


def test_symbol_function_refuses_an_output_array():
    with pytest.raises(mx.MXNetError, match=r"relu: out=.*no output array"):
        sym.relu(sym.Variable("x"), out=nd.ones((1,)))


# ---- bad positional values ------------------------------------------------------------------
def test_string_for_an_ndarray_input_is_refused_where_mxnet_refuses_it():
    # MXNet raises AssertionError; flowmod raises its MXNetError naming the operator, the
    # position and the value, before anything is pushed.
    assert REF["bad_positional"]["nd.clip('a', 0, 1)"]["type"] == "AssertionError"
    with pytest.raises(mx.MXNetError, match=r"clip: positional argument 0 \(data\) is 'a'"):
        nd.clip("a", 0, 1)


def test_string_for_a_symbol_input_is_refused_where_mxnet_refuses_it():
    assert REF["bad_positional"]["sym.clip('a', 0, 1)"]["type"] == "AssertionError"
    with pytest.raises(mx.MXNetError, match=r"clip: positional argument 0 \(data\) is 'a': "
                                            r"expected a Symbol"):
        sym.clip("a", 0, 1)


def test_extra_positional_value_is_a_type_error_as_in_mxnet():
    assert REF["bad_positional"]["nd.clip(x, 0, 1, 7)"]["type"] == "TypeError"
    with pytest.raises(TypeError, match=r"clip: positional argument 3 is 7"):
        nd.clip(arange_234(), 0, 1, 7)


def test_attribute_by_position_and_keyword_has_mxnets_message():
    ref = REF["bad_positional"]["nd.sum(x, 1, axis=0)"]
    with pytest.raises(TypeError) as info:
        nd.sum(arange_234(), 1, axis=0)
    assert str(info.value) == ref["full"]


# ---- symbols --------------------------------------------------------------------------------
def _composed():
    net = sym.FullyConnected(sym.Variable("data"), num_hidden=2, name="fc1")
    return net(data=sym.relu(sym.Variable("inp"), name="r"))


def test_composing_a_variable_with_a_symbol_replaces_it_as_in_mxnet():
    composed = _composed()
    assert composed.list_arguments() == REF["symbols"]["compose_arguments"]
    assert composed.list_outputs() == REF["symbols"]["compose_outputs"]


def test_composition_by_position_is_refused_as_in_mxnet():
    assert REF["symbols"]["compose_positional"]["type"] == "MXNetError"
    net = sym.FullyConnected(sym.Variable("data"), num_hidden=2, name="fc1")
    with pytest.raises(mx.MXNetError, match="only supports keyword arguments"):
        net(sym.Variable("inp"))


def test_composition_with_an_unknown_variable_name_is_refused_as_in_mxnet():
    assert REF["symbols"]["compose_unknown_keyword"]["type"] == "MXNetError"
    net = sym.FullyConnected(sym.Variable("data"), num_hidden=2, name="fc1")
    with pytest.raises(mx.MXNetError, match="'nope' is not a Variable of the symbol"):
        net(nope=sym.Variable("inp"))


def test_composed_symbol_computes_what_mxnets_does():
    out = _composed().eval(ctx=mx.cpu(), inp=nd.array([[-1.0, 2.0, 3.0]]),
                           fc1_weight=nd.ones((2, 3)), fc1_bias=nd.array([0.5, -0.5]))
    np.testing.assert_allclose(out[0].asnumpy(), REF["symbols"]["compose_value"], rtol=1e-6)


def test_eval_binds_the_keyword_arrays_as_in_mxnet():
    a, b = sym.Variable("a"), sym.Variable("b")
    out = (a + 2 * b).eval(ctx=mx.cpu(), a=nd.array([1, 2]), b=nd.array([3, 4]))
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_array_equal(out[0].asnumpy(), REF["symbols"]["eval"])


def test_debug_str_lists_outputs_variables_and_ops_as_mxnet():
    fc = sym.FullyConnected(sym.Variable("x"), num_hidden=2, name="fc")
    assert fc.debug_str() == REF["symbols"]["debug_str"]


def test_astype_casts_with_mxnets_attribute_and_type():
    cast = sym.Variable("x").astype("float16")
    assert cast.list_attr() == REF["symbols"]["astype_attr"]
    assert [np.dtype(t).name for t in cast.infer_type(x="float32")[1]] == \
        REF["symbols"]["astype_type"]


def test_sym_arange_has_mxnets_attributes_and_values():
    r = sym.arange(0, 5, 2)
    assert r.list_attr() == REF["symbols"]["arange_attr"]
    np.testing.assert_array_equal(r.eval()[0].asnumpy(), REF["symbols"]["arange_value"])


# ---- methods that forward to one operator ---------------------------------------------------
_SPECIAL = {"ONES_234": lambda: [nd.ones((2, 3, 4))], "INDICES": lambda: [nd.array([1, 0])],
            "PICK_INDEX": lambda: [nd.array([[0, 1, 2], [3, 2, 1]]), 2]}
_CASES = {
    "broadcast_to": [(2, 3, 4)], "broadcast_like": "ONES_234", "swapaxes": [0, 2],
    "tile": [(1, 2, 1)], "flip": [1], "transpose": [(2, 0, 1)], "sum": [1], "clip": [3, 9],
    "max": [2], "mean": [0], "topk": [], "repeat": [2], "slice_axis": [1, 0, 2],
    "abs": [], "sqrt": [], "square": [], "softmax": [], "log_softmax": [], "relu": [],
    "sigmoid": [], "exp": [], "argmax": [1], "argmin": [2], "norm": [], "prod": [0],
    "split": [2, 2], "take": "INDICES", "pick": "PICK_INDEX", "expand_dims": [1],
    "flatten": [], "squeeze": [], "zeros_like": [], "ones_like": [], "round": [],
    "floor": [], "ceil": [], "sign": [], "reciprocal": [], "rsqrt": [], "tanh": [],
}


def test_method_cases_are_the_recorded_ones():
    assert sorted(_CASES) == sorted(REF["methods"])


@pytest.mark.parametrize("name", sorted(_CASES))
def test_ndarray_method_gives_mxnets_values(name):
    src = nd.array([[[1.0], [2.0], [3.0]]]) if name == "broadcast_to" else arange_234()
    args = _CASES[name]
    args = _SPECIAL[args]() if isinstance(args, str) else args
    out = getattr(src, name)(*args)
    out = out if isinstance(out, list) else [out]
    ref = REF["methods"][name]
    assert len(out) == len(ref)
    for got, want in zip(out, ref):
        np.testing.assert_allclose(got.asnumpy(), np.asarray(want, dtype=np.float64),
                                   rtol=1e-5, atol=1e-6)


def test_broadcast_to_method_refuses_an_impossible_shape_as_mxnet():
    with pytest.raises(ValueError, match=r"\(1, 3, 1\) and requested shape \(2, 2, 3\)"):
        nd.array([[[1.0], [2.0], [3.0]]]).broadcast_to((2, 2, 3))


def test_symbol_forwarding_methods_build_the_operator():
    x = sym.Variable("x")
    assert x.broadcast_to((2, 3)).list_attr() == {"shape": "(2, 3)"}
    assert x.swapaxes(0, 1).list_attr() == {"dim1": "0", "dim2": "1"}
    assert x.diag().list_attr() == {}
