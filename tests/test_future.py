"""Futures: values and errors of engine work, waited for from plain code, trio and asyncio."""
import asyncio
import threading

import numpy as np
import pytest
import trio

import flowmod as mx
from flowmod.base import MXNetError
from flowmod.future import when_ready

HANG = 30.0


def _failing_take():
    a = mx.nd.array(np.arange(8, dtype=np.float32).reshape(4, 2))
    return mx.nd.take(a, mx.nd.array([0, 9]), mode="raise")


def test_result_gives_the_value_once_the_arrays_are_written():
    a = mx.nd.ones((64, 64))
    b = mx.nd.dot(a, a)
    fut = when_ready([b], value="done")
    assert fut.result(timeout=HANG) == "done"
    assert fut.done() and fut.exception() is None
    np.testing.assert_allclose(b.asnumpy(), np.full((64, 64), 64.0))


def test_engine_var_future_resolves_after_its_writes():
    v = mx.engine.Var()
    seen = []
    mx.engine.push(lambda: seen.append(1), writes=[v])
    fut = when_ready([v], value=7)
    assert fut.result(timeout=HANG) == 7 and seen == [1]


def test_failed_operator_resolves_with_an_error_naming_it():
    fut = when_ready([_failing_take()])
    with pytest.raises(MXNetError, match="take"):
        fut.result(timeout=HANG)
    assert isinstance(fut.exception(), MXNetError)


def test_failed_engine_var_resolves_with_its_error():
    v = mx.engine.Var()
    mx.engine.push_native(mx.engine.NativeOp.fail("boom"), writes=[v])
    with pytest.raises(MXNetError, match="boom"):
        when_ready([v]).result(timeout=HANG)


def test_done_callback_runs_once_with_the_future():
    got = []
    ev = threading.Event()
    fut = when_ready([mx.nd.ones((3,)) * 2])
    fut.add_done_callback(lambda f: (got.append(f), ev.set()))
    assert ev.wait(HANG)
    assert got == [fut]
    late = []
    fut.add_done_callback(late.append)  # already done: runs at once
    assert late == [fut]


def test_result_timeout_raises_timeout_error_while_pending():
    fut = mx.Future()
    with pytest.raises(TimeoutError):
        fut.result(timeout=0.01)
    fut.set_result(3)
    assert fut.result() == 3


def test_a_future_resolves_only_once():
    fut = mx.Future()
    fut.set_result(1)
    with pytest.raises(MXNetError, match="once"):
        fut.set_exception(ValueError("x"))


def test_await_under_trio_gives_the_value():
    x = mx.nd.array(np.arange(6, dtype=np.float32))

    async def main():
        y = await (x * 3)
        return await y.asnumpy_async()
    np.testing.assert_allclose(trio.run(main), np.arange(6) * 3)


def test_await_under_asyncio_gives_the_value():
    x = mx.nd.array(np.arange(6, dtype=np.float32))

    async def main():
        return await when_ready([x + 1], value=(x + 1))
    np.testing.assert_allclose(asyncio.run(main()).asnumpy(), np.arange(6) + 1)


def test_await_raises_the_operator_error_under_trio_and_asyncio():
    async def main():
        await _failing_take()
    with pytest.raises(MXNetError, match="take"):
        trio.run(main)
    with pytest.raises(MXNetError, match="take"):
        asyncio.run(main())


def test_awaiting_does_not_block_the_event_loop():
    # A future resolved by another task of the same loop: if await blocked the loop, the
    # resolving task could never run.
    fut = mx.Future()
    order = []

    async def resolver():
        order.append("resolver ran")
        threading.Thread(target=fut.set_result, args=(5,)).start()

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(resolver)
            order.append(await fut)
    trio.run(main)
    assert order == ["resolver ran", 5]


def test_cancelled_trio_await_leaves_the_future_usable():
    fut = mx.Future()

    async def main():
        with trio.move_on_after(0.01):
            await fut
        return "cancelled"
    assert trio.run(main) == "cancelled"
    fut.set_result(1)
    assert fut.result() == 1


def test_await_without_an_event_loop_says_what_to_use():
    fut = mx.Future()
    coro = fut.__await__()
    with pytest.raises(MXNetError, match="result"):
        coro.send(None)
