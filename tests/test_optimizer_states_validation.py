"""load_optimizer_states / Updater.set_states check what they load: the optimizer's class
and data attributes, and each state's structure, shape and dtype against its parameter.
Every mismatch is an MXNetError at load naming the key, and nothing is changed."""
import json
import struct

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError
from flowmod.optimizer import _states

_PREFIX = struct.Struct("<IQ")


def _split(buf):
    fixed = len(_states.MAGIC) + _PREFIX.size
    _, size = _PREFIX.unpack_from(buf, len(_states.MAGIC))
    return json.loads(buf[fixed:fixed + size]), buf[fixed + size:]


def _join(header, rest):
    text = json.dumps(header).encode()
    return _states.MAGIC + _PREFIX.pack(_states.VERSION, len(text)) + text + rest


def _edit_optimizer(buf, edit):
    header, rest = _split(buf)
    edit(header["optimizer"]["attrs"])
    return _join(header, rest)


def _sgd_updater_states():
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.9, learning_rate=0.1))
    w, g = mx.nd.ones((2, 3)), mx.nd.ones((2, 3))
    updater(0, g, w)
    return updater, updater.get_states(dump_optimizer=True)


def _module(num_hidden=3, optimizer="sgd", params=None, dtype=np.float32):
    data = mx.sym.Variable("data", dtype=dtype)
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, name="fc", num_hidden=num_hidden),
                               name="softmax")
    mod = mx.mod.Module(net)
    mod.bind([mx.io.DataDesc("data", (4, 5), dtype)],
             [mx.io.DataDesc("softmax_label", (4,), dtype)])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(optimizer=optimizer,
                       optimizer_params=params or {"learning_rate": 0.1, "momentum": 0.9})
    batch = mx.io.DataBatch([mx.nd.ones((4, 5), dtype=dtype)], [mx.nd.zeros((4,), dtype=dtype)])
    mod.forward_backward(batch)
    mod.update()
    return mod


# ---- the optimizer saved with the states -------------------------------------------------

def test_saved_optimizer_round_trips():
    updater, buf = _sgd_updater_states()
    fresh = mx.optimizer.get_updater(mx.optimizer.Adam())
    fresh.set_states(buf)
    assert type(fresh.optimizer) is mx.optimizer.SGD
    assert fresh.optimizer.momentum == 0.9 and fresh.optimizer.lr == 0.1


def test_method_name_among_the_attributes_is_refused():
    _, buf = _sgd_updater_states()
    bad = _edit_optimizer(buf, lambda a: a.update(update=1))
    with pytest.raises(MXNetError, match="'update' is not a data attribute of SGD"):
        mx.optimizer.get_updater(mx.optimizer.SGD()).set_states(bad)


def test_missing_attribute_is_refused_naming_it():
    _, buf = _sgd_updater_states()
    bad = _edit_optimizer(buf, lambda a: a.pop("momentum"))
    with pytest.raises(MXNetError, match="attribute 'momentum' is missing"):
        mx.optimizer.get_updater(mx.optimizer.SGD()).set_states(bad)


def test_attribute_of_the_wrong_kind_is_refused_naming_it():
    _, buf = _sgd_updater_states()
    bad = _edit_optimizer(buf, lambda a: a.update(rescale_grad="fast"))
    with pytest.raises(MXNetError, match="attribute 'rescale_grad' is 'fast'"):
        mx.optimizer.get_updater(mx.optimizer.SGD()).set_states(bad)


def test_attribute_out_of_range_is_refused_naming_it():
    _, buf = _sgd_updater_states()
    bad = _edit_optimizer(buf, lambda a: a.update(momentum=5))
    with pytest.raises(MXNetError, match="momentum=5"):
        mx.optimizer.get_updater(mx.optimizer.SGD()).set_states(bad)


def test_learning_rate_scheduler_with_a_method_attribute_is_refused():
    opt = mx.optimizer.SGD(lr_scheduler=mx.lr_scheduler.FactorScheduler(step=10))
    buf = mx.optimizer.get_updater(opt).get_states(dump_optimizer=True)
    bad = _edit_optimizer(buf, lambda a: a["lr_scheduler"]["attrs"].update(__call__=1))
    with pytest.raises(MXNetError, match="'__call__' is not a data attribute of "
                                         "FactorScheduler"):
        mx.optimizer.get_updater(mx.optimizer.SGD()).set_states(bad)


def test_lr_scheduler_attribute_that_is_no_scheduler_is_refused():
    _, buf = _sgd_updater_states()
    bad = _edit_optimizer(buf, lambda a: a.update(lr_scheduler=3))
    with pytest.raises(MXNetError, match="'lr_scheduler' is 3"):
        mx.optimizer.get_updater(mx.optimizer.SGD()).set_states(bad)


# ---- states against parameters ----------------------------------------------------------

def test_sgd_states_into_an_adam_module_are_refused_naming_the_key(tmp_path):
    fname = str(tmp_path / "sgd.states")
    _module().save_optimizer_states(fname)
    adam = _module(optimizer="adam", params={"learning_rate": 0.01})
    before = {k: [s.asnumpy() for s in v] for k, v in adam._updater.states.items()}
    with pytest.raises(MXNetError, match=r"state 0 \(Adam\) is an array of shape \(3, 5\), "
                                         r"expected a tuple of 2"):
        adam.load_optimizer_states(fname)
    # Nothing changed: the module goes on with its own states.
    for k, v in adam._updater.states.items():
        for got, want in zip(v, before[k]):
            np.testing.assert_array_equal(got.asnumpy(), want)


def test_states_of_another_shape_are_refused_naming_the_key(tmp_path):
    fname = str(tmp_path / "m.states")
    _module(num_hidden=3).save_optimizer_states(fname)
    with pytest.raises(MXNetError, match=r"state 0 \(SGD\) has shape \(3, 5\) and dtype "
                                         r"float32, expected shape \(4, 5\)"):
        _module(num_hidden=4).load_optimizer_states(fname)


def test_states_of_another_dtype_are_refused_naming_the_key(tmp_path):
    fname = str(tmp_path / "m.states")
    _module(dtype=np.float64).save_optimizer_states(fname)
    with pytest.raises(MXNetError, match=r"state 0 \(SGD\) has shape \(3, 5\) and dtype "
                                         r"float64, expected shape \(3, 5\) and dtype float32"):
        _module().load_optimizer_states(fname)


def test_states_for_no_parameter_are_refused_naming_the_key(tmp_path):
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.9))
    updater.states = {0: mx.nd.zeros((3, 5)), 1: mx.nd.zeros((3,)), 7: mx.nd.zeros((3,))}
    fname = tmp_path / "m.states"
    fname.write_bytes(updater.get_states())
    with pytest.raises(MXNetError, match=r"the state 7 belongs to no parameter"):
        _module().load_optimizer_states(str(fname))


def test_states_where_the_optimizer_keeps_none_are_refused(tmp_path):
    fname = str(tmp_path / "m.states")
    _module().save_optimizer_states(fname)
    plain = _module(params={"learning_rate": 0.1})    # SGD without momentum: no state
    with pytest.raises(MXNetError, match=r"state 0 \(SGD\) holds an array of shape \(3, 5\), "
                                         r"where the optimizer keeps no state"):
        plain.load_optimizer_states(fname)


def test_matching_states_load_into_a_module(tmp_path):
    fname = str(tmp_path / "m.states")
    source = _module()
    source.save_optimizer_states(fname)
    target = _module()
    target.load_optimizer_states(fname)
    for k, v in source._updater.states.items():
        np.testing.assert_array_equal(target._updater.states[k].asnumpy(), v.asnumpy())


def test_set_states_checks_against_the_states_held(tmp_path):
    updater, _ = _sgd_updater_states()
    other = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.9))
    other.states = {0: mx.nd.zeros((7,))}
    with pytest.raises(MXNetError, match=r"state 0 \(SGD\) has shape \(7,\)"):
        updater.set_states(other.get_states())


def test_kvstore_checks_states_against_its_values(tmp_path):
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.SGD(momentum=0.9))
    kv.init(0, mx.nd.ones((2, 3)))
    other = mx.optimizer.get_updater(mx.optimizer.SGD(momentum=0.9))
    other.states = {0: mx.nd.zeros((3, 2))}
    fname = tmp_path / "kv.states"
    fname.write_bytes(other.get_states())
    with pytest.raises(MXNetError, match=r"state 0 \(SGD\) has shape \(3, 2\)"):
        kv.load_optimizer_states(str(fname))
