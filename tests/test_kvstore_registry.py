"""mx.kvstore.KVStoreBase.register: other store back ends plug into mx.kv.create (MXNet 1.9's
registry)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import flowmod as mx
from flowmod.base import MXNetError


class _SumStore(mx.kvstore.KVStoreBase):
    """A one-worker store whose pushpull sums the values it is given."""

    def __init__(self):
        self.calls = []

    def broadcast(self, key, value, out, priority=0):
        value.copyto(out)

    def pushpull(self, key, value, out=None, priority=0):
        total = value[0].copy()
        for v in value[1:]:
            total += v
        total.copyto(out)
        self.calls.append(key)

    def is_capable(self, capability):
        return False

    @property
    def type(self):
        return "sumstore"

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1


@pytest.fixture
def registered():
    saved = dict(mx.kvstore.KVStoreBase.kv_registry)
    mx.kvstore.KVStoreBase.register(_SumStore)
    yield
    mx.kvstore.KVStoreBase.kv_registry.clear()
    mx.kvstore.KVStoreBase.kv_registry.update(saved)


def test_create_makes_a_registered_store_by_its_lower_cased_class_name(registered):
    kv = mx.kv.create("_SumStore")
    assert isinstance(kv, _SumStore)
    out = mx.nd.zeros((2,))
    kv.pushpull("a", [mx.nd.ones((2,)), mx.nd.full((2,), 2.0)], out=out)
    assert np.array_equal(out.asnumpy(), [3.0, 3.0]) and kv.calls == ["a"]


def test_registering_a_name_again_warns_and_replaces(registered):
    class _sumstore(mx.kvstore.KVStoreBase):  # noqa: N801 - same lower-cased name
        pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mx.kvstore.KVStoreBase.register(_sumstore)
    assert any("overriding" in str(w.message) for w in caught)
    assert isinstance(mx.kv.create("_sumstore"), _sumstore)


def test_register_refuses_what_is_not_a_class():
    with pytest.raises(MXNetError, match="expected a class"):
        mx.kvstore.KVStoreBase.register(lambda: None)


def test_base_methods_not_implemented_say_which_store(registered):
    class Partial(mx.kvstore.KVStoreBase):
        pass
    with pytest.raises(MXNetError, match="Partial.pushpull"):
        Partial().pushpull("k", mx.nd.ones((1,)))


def test_local_store_is_a_kvstorebase_and_broadcasts():
    kv = mx.kv.create("local")
    assert isinstance(kv, mx.kvstore.KVStoreBase)
    out = mx.nd.zeros((3,))
    kv.broadcast("x", mx.nd.full((3,), 4.0), out=out)
    assert np.array_equal(out.asnumpy(), [4.0] * 3)
