"""The single-machine key-value store: summing pushes, pulls into several outputs, updates
by an optimizer set on the store, and its optimizer state files."""
from __future__ import annotations

import os

import numpy as np
import pytest

from flowmod import kvstore, nd
from flowmod import optimizer as opt
from flowmod.base import MXNetError

SHAPE = (2, 3)


@pytest.mark.parametrize("name", ["local", "device", "local_update_cpu", "local_allreduce_cpu",
                                  "local_allreduce_device", "Local"])
def test_create_types(name):
    kv = kvstore.create(name)
    assert kv.type == name.lower()
    assert kv.rank == 0 and kv.num_workers == 1
    assert kv.is_capable(kvstore.KVStore.OPTIMIZER)


def test_create_rejects():
    with pytest.raises(TypeError, match="string"):
        kvstore.create(3)
    for name in ("nccl", "horovod", "byteps"):
        with pytest.raises(MXNetError, match="not available"):
            kvstore.create(name)
    assert kvstore.create().type == "local"


def test_push_list_sums_and_pull_into_several_outputs():
    kv = kvstore.create("local")
    kv.init(3, nd.ones(SHAPE))
    vals = [nd.array(np.full(SHAPE, float(i))) for i in range(1, 5)]
    kv.push(3, vals)
    outs = [nd.zeros(SHAPE) for _ in range(3)]
    kv.pull(3, out=outs)
    for o in outs:
        np.testing.assert_array_equal(o.asnumpy(), np.full(SHAPE, 10.0))
    # The pushed arrays are not modified, and the store keeps its own copy.
    np.testing.assert_array_equal(vals[0].asnumpy(), np.ones(SHAPE))
    outs[0][:] = -1
    kv.pull(3, out=outs[1])
    np.testing.assert_array_equal(outs[1].asnumpy(), np.full(SHAPE, 10.0))


def test_lists_of_keys_and_str_keys():
    kv = kvstore.create("device")
    kv.init(["a", "b"], [nd.zeros(SHAPE), nd.ones((4,))])
    kv.push(["a", "b", "a"], [nd.ones(SHAPE), nd.ones((4,)) * 5, nd.ones(SHAPE) * 2])
    a, b = nd.zeros(SHAPE), nd.zeros((4,))
    kv.pull(["a", "b"], out=[a, b])
    np.testing.assert_array_equal(a.asnumpy(), np.full(SHAPE, 3.0))
    np.testing.assert_array_equal(b.asnumpy(), np.full((4,), 5.0))
    with pytest.raises(MXNetError, match="mixed key types"):
        kv.init(7, nd.ones(SHAPE))


def test_init_copies_value_and_rejects_duplicates():
    kv = kvstore.create()
    v = nd.ones(SHAPE)
    kv.init(0, v)
    v[:] = 5
    out = nd.zeros(SHAPE)
    kv.pull(0, out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.ones(SHAPE))
    with pytest.raises(MXNetError, match="duplicate init of key 0"):
        kv.init(0, v)


def test_errors():
    kv = kvstore.create()
    kv.init(0, nd.ones(SHAPE))
    with pytest.raises(MXNetError, match="has not been inited"):
        kv.pull(1, out=nd.zeros(SHAPE))
    with pytest.raises(MXNetError, match="shape"):
        kv.push(0, [nd.ones(SHAPE), nd.ones((3, 2))])
    with pytest.raises(MXNetError, match="initialized with shape"):
        kv.push(0, nd.ones((6,)))
    with pytest.raises(MXNetError, match="shape"):
        kv.pull(0, out=nd.zeros((3,)))
    with pytest.raises(MXNetError, match="expected an int or str"):
        kv.init(1.5, nd.ones(SHAPE))
    with pytest.raises(MXNetError, match="as many values as keys"):
        kv.push([0, 1], [nd.ones(SHAPE)])
    with pytest.raises(MXNetError, match="out is None"):
        kv.pull(0)
    with pytest.raises(MXNetError, match="Optimizer"):
        kv.set_optimizer("sgd")
    with pytest.raises(MXNetError, match="no optimizer"):
        kv.save_optimizer_states("unused")
    kv.set_optimizer(opt.create("sgd"))
    with pytest.raises(MXNetError, match="has not been inited"):
        kv.push(9, nd.ones(SHAPE))


def test_optimizer_on_store_updates_with_summed_gradient():
    kv = kvstore.create("local")
    w0 = np.arange(6, dtype=np.float32).reshape(SHAPE) / 10
    kv.init(0, nd.array(w0))
    kv.set_optimizer(opt.create("sgd", learning_rate=0.1, momentum=0.9, rescale_grad=0.5))
    g1 = np.full(SHAPE, 1.0, np.float32)
    g2 = np.full(SHAPE, 3.0, np.float32)
    w, mom = w0.astype(np.float64), np.zeros(SHAPE)
    for _ in range(3):
        kv.push(0, [nd.array(g1), nd.array(g2)])
        mom = 0.9 * mom - 0.1 * 0.5 * (g1 + g2)
        w = w + mom
    out = [nd.zeros(SHAPE), nd.zeros(SHAPE)]
    kv.pull(0, out=out)
    for o in out:
        np.testing.assert_allclose(o.asnumpy(), w, rtol=1e-5)


def test_pushpull_defaults_out_to_value():
    kv = kvstore.create()
    kv.init(0, nd.zeros(SHAPE))
    vals = [nd.ones(SHAPE), nd.ones(SHAPE) * 2]
    kv.pushpull(0, vals)
    for v in vals:
        np.testing.assert_array_equal(v.asnumpy(), np.full(SHAPE, 3.0))
    out = nd.zeros(SHAPE)
    kv.pushpull(0, nd.ones(SHAPE), out=out)
    np.testing.assert_array_equal(out.asnumpy(), np.ones(SHAPE))


@pytest.mark.parametrize("dump_optimizer", [False, True])
def test_save_load_optimizer_states(tmp_path, dump_optimizer):
    def make():
        kv = kvstore.create()
        kv.init(0, nd.array(np.linspace(-1, 1, 6).reshape(SHAPE)))
        kv.set_optimizer(opt.create("adam", learning_rate=0.05, wd=0.01))
        return kv

    grads = [nd.array(np.full(SHAPE, v)) for v in (0.3, -0.2, 0.5, 0.1, -0.4)]
    kv = make()
    for g in grads[:2]:
        kv.push(0, g)
    fname = str(tmp_path / "opt.states")
    kv.save_optimizer_states(fname, dump_optimizer=dump_optimizer)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    w = nd.zeros(SHAPE)
    kv.pull(0, out=w)

    kv2 = make()
    kv2.push(0, grads[0])  # so that the fresh optimizer has counted as many updates
    kv2.push(0, grads[1])
    kv2.load_optimizer_states(fname)
    for g in grads[2:]:
        kv.push(0, g)
        kv2.push(0, g)
    a, b = nd.zeros(SHAPE), nd.zeros(SHAPE)
    kv.pull(0, out=a)
    kv2.pull(0, out=b)
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())

    with open(fname, "wb") as f:
        f.write(b"not optimizer states")
    with pytest.raises(MXNetError, match="malformed"):
        kv2.load_optimizer_states(fname)


def test_load_with_dumped_optimizer_restores_counts(tmp_path):
    kv = kvstore.create()
    kv.init(0, nd.ones(SHAPE))
    kv.set_optimizer(opt.create("adam"))
    for _ in range(4):
        kv.push(0, nd.ones(SHAPE))
    fname = tmp_path / "s.bin"
    kv.save_optimizer_states(fname, dump_optimizer=True)
    kv2 = kvstore.create()
    kv2.init(0, nd.ones(SHAPE))
    kv2.set_optimizer(opt.create("sgd"))
    kv2.load_optimizer_states(fname)
    assert type(kv2._updater.optimizer) is opt.Adam
    assert kv2._updater.optimizer._index_update_count == {0: 4}
