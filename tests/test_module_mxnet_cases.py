"""Cases from MXNet 1.9.1's own tests/python/unittest/test_module.py that flowmod must run as
MXNet does (restated here; the suite does not need MXNet)."""
from __future__ import annotations

import numpy as np

import flowmod as mx


def test_fit_of_a_base_module_with_replaced_methods_reads_label_only_of_the_current_batch():
    # test_reference_single_batch_during_fit: a batch object with no data, a label property
    # that may be read only while that batch is the iterator's current one, and get_params
    # giving (None, None).
    current = {"i": None}

    class Batch:
        def __init__(self, i):
            self.i = i

        @property
        def label(self):
            assert self.i == current["i"]

    class Data:
        provide_data = None
        provide_label = None

        def __init__(self, n):
            self.n, self.k = n, 0

        def reset(self):
            self.k = 0

        def __iter__(self):
            self.k = 0
            return self

        def __next__(self):
            if self.k == self.n:
                raise StopIteration
            current["i"] = self.k
            self.k += 1
            return Batch(current["i"])

        next = __next__

    mod = mx.mod.BaseModule()
    calls = []

    def record(name):
        return lambda *a, **k: calls.append(name)

    for name in ("bind", "init_params", "init_optimizer", "forward", "backward", "update",
                 "update_metric"):
        setattr(mod, name, record(name))
    mod.get_params = lambda: (None, None)
    mod.fit(Data(2), num_epoch=1)
    assert calls.count("forward") == 2 and calls.count("update") == 2


def test_states_saved_by_a_store_updated_module_load_into_a_locally_updated_one(tmp_path):
    # test_save_load's multi-device half: states keyed by parameter name (the store's
    # updater) loaded by a one-device module whose updater keys them by index.
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=4, name="fc")
    mod = mx.mod.Module(net, ("data",), label_names=None, context=[mx.cpu(0), mx.cpu(1)])
    mod.bind(data_shapes=[("data", (4, 3))])
    mod.init_params()
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    mod.forward(mx.io.DataBatch([mx.nd.ones((4, 3))]), is_train=True)
    mod.backward([mx.nd.ones((4, 4))])
    mod.update()
    prefix = str(tmp_path / "net")
    mod.save_checkpoint(prefix, 0, save_optimizer_states=True)
    mod2 = mx.mod.Module.load(prefix, 0, load_optimizer_states=True, data_names=("data",),
                              label_names=None)
    mod2.bind(data_shapes=[("data", (4, 3))])
    mod2.init_optimizer(optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    assert mod._update_on_kvstore  # several devices: the store updates, keyed by name
    saved = mod._kvstore._updater.states
    loaded = mod2._updater.states
    assert set(saved) == set(loaded)
    for k in saved:
        np.testing.assert_array_equal(saved[k].asnumpy(), loaded[k].asnumpy())
