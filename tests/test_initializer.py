"""mx.init: dispatch by name, each initializer against its formula, create/register/dumps,
Mixed, Load, the __init__ attribute and reproducibility under mx.random.seed."""
from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

import flowmod as mx
import flowmod.initializer as init
from flowmod.initializer import InitDesc


def _run(initializer, name, shape, attrs=None):
    arr = mx.nd.empty(shape)
    initializer(InitDesc(name, attrs=attrs), arr)
    return arr.asnumpy()


def test_initdesc_is_a_str_with_attrs():
    d = InitDesc("fc_weight", attrs={"a": "1"})
    assert isinstance(d, str) and d == "fc_weight"
    assert d.attrs == {"a": "1"} and d.global_init is None
    assert InitDesc("x").attrs == {}
    u = init.Uniform()
    arr = mx.nd.empty((2, 2))
    u(d, arr)
    assert d.global_init is u


@pytest.mark.parametrize("name,value", [
    ("fc1_bias", 0.0), ("bn_beta", 0.0), ("bn_gamma", 1.0), ("bn_moving_mean", 0.0),
    ("bn_moving_var", 1.0), ("bn_moving_inv_var", 0.0), ("x_moving_avg", 0.0),
    ("q_min", 0.0), ("q_max", 1.0)])
def test_dispatch_by_name_ending(name, value):
    out = _run(init.Uniform(5.0), name, (3, 4))
    np.testing.assert_array_equal(out, np.full((3, 4), value, np.float32))


def test_weight_uses_init_weight_and_unknown_name_raises():
    out = _run(init.Constant(2.5), "conv0_weight", (2, 3))
    np.testing.assert_array_equal(out, np.full((2, 3), 2.5, np.float32))
    with pytest.raises(ValueError, match="Unknown initialization pattern for data"):
        _run(init.Uniform(), "data", (2,))


def test_base_initializer_without_init_weight_raises():
    with pytest.raises(TypeError, match="_init_weight"):
        _run(init.Initializer(), "w_weight", (2,))
    with pytest.raises(TypeError, match="NDArray"):
        init.Uniform()(InitDesc("w_weight"), np.zeros((2, 2)))


def test_init_attribute_overrides_the_global_initializer():
    attrs = {"__init__": init.Constant(7.0).dumps()}
    # Even a name that would be a bias follows the variable's own initializer.
    out = _run(init.Zero(), "fc_bias", (2, 2), attrs)
    np.testing.assert_array_equal(out, np.full((2, 2), 7.0, np.float32))
    out = _run(init.Zero(), "anything", (3,), {"__init__": '["one", {}]'})
    np.testing.assert_array_equal(out, np.ones(3, np.float32))
    v = mx.sym.Variable("v", init=init.Constant(3.0))
    out = _run(init.Zero(), "v", (2,), v.attr_dict()["v"])
    np.testing.assert_array_equal(out, np.full(2, 3.0, np.float32))


def test_dumps_and_create_round_trip():
    assert init.Uniform().dumps() == '["uniform", {"scale": 0.07}]'
    assert json.loads(init.Normal(0.5).dumps()) == ["normal", {"sigma": 0.5}]
    assert json.loads(init.Xavier(factor_type="in", magnitude=2.34).dumps()) == \
        ["xavier", {"rnd_type": "uniform", "factor_type": "in", "magnitude": 2.34}]
    assert json.loads(init.MSRAPrelu().dumps()) == ["msraprelu",
                                                    {"factor_type": "avg", "slope": 0.25}]
    assert json.loads(init.Constant(np.array([1.0, 2.0])).dumps()) == \
        ["constant", {"value": [1.0, 2.0]}]
    x = init.create(init.Xavier(rnd_type="gaussian", magnitude=2).dumps())
    assert isinstance(x, init.Xavier) and x.rnd_type == "gaussian" and x.magnitude == 2.0
    assert isinstance(init.create("zeros"), init.Zero)
    assert isinstance(init.create("ONES"), init.One)
    assert isinstance(init.create("uniform", 0.3), init.Uniform)
    assert init.create("uniform", scale=0.3).scale == 0.3
    u = init.Uniform()
    assert init.create(u) is u
    with pytest.raises(ValueError, match="not registered"):
        init.create("nosuchinit")
    with pytest.raises(ValueError, match="already an instance"):
        init.create(u, 1.0)


def test_register_custom_initializer():
    @init.register
    @init.alias("tenth_init")
    class TenthInit(init.Initializer):
        def _init_weight(self, _, arr):
            arr[:] = 0.1

    out = _run(init.create("tentHinit"), "a_weight", (2,))
    np.testing.assert_allclose(out, [0.1, 0.1], rtol=1e-6)
    out = _run(init.Zero(), "a", (2,), {"__init__": '["tenth_init", {}]'})
    np.testing.assert_allclose(out, [0.1, 0.1], rtol=1e-6)
    with pytest.raises(TypeError):
        init.register(int)


def test_uniform_and_normal_statistics():
    out = _run(init.Uniform(0.5), "w_weight", (200, 250))
    assert out.min() >= -0.5 and out.max() <= 0.5
    assert abs(out.mean()) < 0.01
    assert abs(out.var() - 0.25 / 3) < 0.005  # variance of U(-a, a) is a^2/3
    out = _run(init.Normal(2.0), "w_weight", (200, 250))
    assert abs(out.mean()) < 0.05
    assert abs(out.std() - 2.0) < 0.05


@pytest.mark.parametrize("shape", [(64, 32), (16, 8, 3, 3)])
@pytest.mark.parametrize("factor_type", ["avg", "in", "out"])
def test_xavier_uniform_bounds(shape, factor_type):
    hw = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
    fan_in, fan_out = shape[1] * hw, shape[0] * hw
    factor = {"avg": (fan_in + fan_out) / 2, "in": fan_in, "out": fan_out}[factor_type]
    bound = math.sqrt(2.5 / factor)
    out = _run(init.Xavier(factor_type=factor_type, magnitude=2.5), "c_weight", shape)
    assert np.abs(out).max() <= bound * (1 + 1e-6)
    # Uniform on [-bound, bound] nearly reaches it and has variance bound^2 / 3.
    assert np.abs(out).max() > 0.95 * bound
    assert abs(out.var() / (bound ** 2 / 3) - 1) < 0.1


def test_xavier_gaussian_and_msraprelu_std():
    shape = (128, 64, 3, 3)
    fan_in, fan_out = 64 * 9, 128 * 9
    out = _run(init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2), "w_weight",
               shape)
    assert abs(out.std() / math.sqrt(2 / fan_in) - 1) < 0.03
    slope = 0.25
    out = _run(init.MSRAPrelu(factor_type="out", slope=slope), "w_weight", shape)
    assert abs(out.std() / math.sqrt(2 / (1 + slope ** 2) / fan_out) - 1) < 0.03
    assert abs(out.mean()) < 0.01


def test_xavier_errors():
    with pytest.raises(ValueError, match="requires at least 2D"):
        _run(init.Xavier(), "v_weight", (10,))
    with pytest.raises(ValueError, match="factor_type"):
        _run(init.Xavier(factor_type="bad"), "v_weight", (4, 4))
    with pytest.raises(ValueError, match="rnd_type"):
        _run(init.Xavier(rnd_type="bad"), "v_weight", (4, 4))


@pytest.mark.parametrize("shape", [(4, 10), (10, 4), (6, 2, 2, 2)])
@pytest.mark.parametrize("rand_type", ["uniform", "normal"])
def test_orthogonal(shape, rand_type):
    out = _run(init.Orthogonal(scale=1.5, rand_type=rand_type), "o_weight", shape)
    m = out.reshape(shape[0], -1).astype(np.float64) / 1.5
    if m.shape[0] <= m.shape[1]:
        gram = m @ m.T   # orthonormal rows
    else:
        gram = m.T @ m   # orthonormal columns
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)


def test_bilinear_against_the_formula():
    shape = (2, 3, 4, 5)
    out = _run(init.Bilinear(), "up_weight", shape)
    f = math.ceil(shape[3] / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    expected = np.zeros(shape, np.float32)
    for i in range(int(np.prod(shape))):
        x = i % shape[3]
        y = (i // shape[3]) % shape[2]
        expected.flat[i] = (1 - abs(x / f - c)) * (1 - abs(y / f - c))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    # A 4x4 kernel (upsampling by 2): the classic separable [0.25, 0.75, 0.75, 0.25].
    k = _run(init.Bilinear(), "up_weight", (1, 1, 4, 4))[0, 0]
    v = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(k, np.outer(v, v), rtol=1e-6)


def test_constant_one_zero_lstmbias():
    np.testing.assert_array_equal(_run(init.One(), "w_weight", (2, 2)), np.ones((2, 2)))
    np.testing.assert_array_equal(_run(init.Zero(), "w_weight", (2, 2)), np.zeros((2, 2)))
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(_run(init.Constant(value), "w_weight", (2, 3)), value)
    np.testing.assert_array_equal(_run(init.Constant(mx.nd.array(value)), "w_weight", (2, 3)),
                                  value)
    out = _run(init.LSTMBias(forget_bias=2.0), "lstm_i2h_weight", (12,))
    np.testing.assert_array_equal(out, [0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0])


def test_mixed_dispatches_on_the_first_matching_pattern():
    mixed = init.Mixed(["fc1_.*", "fc.*", ".*"],
                       [init.Constant(3.0), init.Constant(5.0), init.One()])
    # The matching initializer applies its own name rules: a bias still gets 0.
    for name, value in [("fc1_weight", 3.0), ("fc1_bias", 0.0), ("fc2_weight", 5.0),
                        ("conv_weight", 1.0), ("bn_gamma", 1.0)]:
        arr = mx.nd.empty((2,))
        mixed(InitDesc(name), arr)
        np.testing.assert_array_equal(arr.asnumpy(), [value, value])
    strict = init.Mixed(["fc1_.*"], [init.Zero()])
    with pytest.raises(ValueError, match="did not match any pattern"):
        strict(InitDesc("fc2_weight"), mx.nd.empty((2,)))
    with pytest.raises(ValueError):
        init.Mixed(["a", "b"], [init.Zero()])


def test_load_from_dict_and_file(tmp_path, caplog):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    params = {"arg:fc_weight": mx.nd.array(w), "aux:bn_moving_var": mx.nd.array([4.0, 5.0])}
    path = str(tmp_path / "p.params")
    mx.nd.save(path, params)
    for source in (params, path):
        loader = init.Load(source, default_init=init.Constant(9.0), verbose=True)
        arr = mx.nd.empty((2, 3))
        with caplog.at_level(logging.INFO):
            loader(InitDesc("fc_weight"), arr)
        np.testing.assert_array_equal(arr.asnumpy(), w)
        assert "Initialized fc_weight by loading" in caplog.text
        arr = mx.nd.empty((2,))
        loader(InitDesc("bn_moving_var"), arr)
        np.testing.assert_array_equal(arr.asnumpy(), [4.0, 5.0])
        arr = mx.nd.empty((2,))
        loader(InitDesc("other_weight"), arr)
        np.testing.assert_array_equal(arr.asnumpy(), [9.0, 9.0])
    with pytest.raises(ValueError, match="Shape mismatch"):
        init.Load(params)(InitDesc("fc_weight"), mx.nd.empty((3, 2)))
    with pytest.raises(ValueError, match="no default Initializer"):
        init.Load(params)(InitDesc("missing_weight"), mx.nd.empty((1,)))


@pytest.mark.parametrize("initializer", [init.Uniform(1.0), init.Normal(1.0), init.Xavier(),
                                         init.MSRAPrelu(), init.Orthogonal()])
def test_seed_makes_draws_reproducible(initializer):
    mx.random.seed(1234)
    a = _run(initializer, "w_weight", (8, 6))
    b = _run(initializer, "w_weight", (8, 6))
    mx.random.seed(1234)
    c = _run(initializer, "w_weight", (8, 6))
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_legacy_string_call_warns_and_dispatches():
    arr = mx.nd.empty((1, 1, 4, 4))
    with pytest.warns(DeprecationWarning):
        init.Zero()("upsampling0_weight", arr)
    v = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(arr.asnumpy()[0, 0], np.outer(v, v), rtol=1e-6)
    arr = mx.nd.empty((6,))
    with pytest.warns(DeprecationWarning):
        init.Zero()("stn_loc_bias", arr)
    np.testing.assert_array_equal(arr.asnumpy(), [1, 0, 0, 0, 1, 0])
    arr = mx.nd.empty((3,))
    with pytest.warns(DeprecationWarning):
        init.Uniform()("bn_moving_var", arr)
    np.testing.assert_array_equal(arr.asnumpy(), [1, 1, 1])


def test_verbose_logs_each_array(caplog):
    u = init.Constant(2.0).set_verbosity(True)
    with caplog.at_level(logging.INFO):
        _run(u, "fc_weight", (2, 2))
    assert "Initialized fc_weight as weight: 2.0" in caplog.text
