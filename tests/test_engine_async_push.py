"""engine.push_async: an operation that finishes when its completion callback is called, from
any thread, holding no worker meanwhile (the communication lane's allreduces are these)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import flowmod as mx
from flowmod import engine
from flowmod.base import MXNetError

from conftest import bounded


def test_dependents_run_after_done_is_called_from_another_thread():
    v = engine.Var()
    order = []

    def start(done):
        order.append("started")
        threading.Timer(0.05, lambda: (order.append("done"), done())).start()
    engine.push_async(start, writes=[v])
    engine.push(lambda: order.append("reader"), reads=[v])
    bounded(engine.wait_all)
    assert order == ["started", "done", "reader"] and v.version == 1


def test_done_with_a_message_fails_what_it_writes():
    v = engine.Var()
    engine.push_async(lambda done: done("the peer went away"), writes=[v], name="allreduce(x)")
    with pytest.raises(MXNetError, match="the peer went away"):
        bounded(engine.wait, v)


def test_fn_raising_before_done_fails_the_operation():
    v = engine.Var()

    def start(done):
        raise ValueError("could not start")
    engine.push_async(start, writes=[v])
    with pytest.raises(MXNetError, match="could not start"):
        bounded(engine.wait, v)


def test_only_the_first_done_counts():
    v = engine.Var()
    results = []
    both = threading.Event()

    def start(done):
        results.append(done())
        results.append(done("too late"))
        both.set()
    engine.push_async(start, writes=[v])
    bounded(engine.wait, v)
    assert both.wait(10)
    assert results == [True, False] and v.version == 1


def test_a_pending_operation_holds_no_worker_of_its_lane():
    # With one copy worker, a pending async op that held it would keep the second copy-lane
    # op, whose run completes the first, from ever running.
    if engine.num_workers(lane="copy") != 1:
        pytest.skip("needs exactly one copy worker")
    a, b = engine.Var(), engine.Var()
    pending = []
    engine.push_async(lambda done: pending.append(done), writes=[a], lane="copy")
    engine.push(lambda: pending[0](), writes=[b], lane="copy")
    bounded(engine.wait, a)
    bounded(engine.wait, b)


def test_ndarray_handles_order_like_their_vars():
    x = mx.nd.zeros((4,))
    from flowmod.kvstore_dist import host_view

    def start(done):
        def later():
            host_view(x)[...] = 7.0
            done()
        threading.Thread(target=later).start()
    x += 1.0
    engine.push_async(start, reads=[], writes=[x.handle])
    y = x * 2.0
    assert np.array_equal(bounded(y.asnumpy), [14.0] * 4)


def test_bad_arguments_are_refused_before_anything_is_pushed():
    with pytest.raises(MXNetError, match="fn="):
        engine.push_async(3)
    with pytest.raises(TypeError, match="reads\\[0\\]"):
        engine.push_async(lambda done: done(), reads=["not a var"])
