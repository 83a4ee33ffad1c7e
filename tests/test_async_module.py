"""Module with futures, fit_async / score_async / predict_async / iter_predict_async under trio
and asyncio, cancellation, overlap of loading with compute, and the blocking calls inside a
running event loop."""
import asyncio
import signal
import threading

import numpy as np
import pytest
import trio

import flowmod as mx
from flowmod import engine
from flowmod.base import MXNetError
from flowmod.future import when_ready
from flowmod.module.base_module import BaseModule

HANG = 30.0


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.float32)
    return x, y


def _mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=16)
    act = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act, name="fc2", num_hidden=2)
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def _initial_params(seed=3):
    x, y = _data()
    mod = mx.mod.Module(_mlp())
    mod.bind([("data", (20, 8))], [("softmax_label", (20,))])
    mx.random.seed(seed)
    mod.init_params(mx.init.Xavier())
    arg, aux = mod.get_params()
    return {k: v.copy() for k, v in arg.items()}, {k: v.copy() for k, v in aux.items()}


_OPT = {"learning_rate": 0.1, "momentum": 0.9}


def _reference_after(n_updates, arg, aux):
    """Parameters after ``n_updates`` batches of plain step-by-step training."""
    x, y = _data()
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    mod = mx.mod.Module(_mlp())
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(arg_params=arg, aux_params=aux)
    mod.init_optimizer(optimizer="sgd", optimizer_params=_OPT)
    done = 0
    while done < n_updates:
        for batch in it:
            if done == n_updates:
                break
            mod.forward_backward(batch)
            mod.update()
            done += 1
        it.reset()
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def _params(mod):
    return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}


def _assert_params_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def _bound_module():
    x, y = _data()
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    mod = mx.mod.Module(_mlp())
    mod.bind(it.provide_data, it.provide_label)
    arg, aux = _initial_params()
    mod.init_params(arg_params=arg, aux_params=aux)
    mod.init_optimizer(optimizer="sgd", optimizer_params=_OPT)
    return mod, it


# ---- futures from Module calls -----------------------------------------------------------------
def test_forward_future_resolves_to_the_outputs():
    mod, it = _bound_module()
    batch = next(iter(it))
    outs = mod.forward(batch, is_train=False).result(timeout=HANG)
    assert len(outs) == 1 and outs[0].shape == (20, 2)
    np.testing.assert_allclose(outs[0].asnumpy(), mod.get_outputs()[0].asnumpy())
    np.testing.assert_allclose(outs[0].asnumpy().sum(axis=1), np.ones(20), rtol=1e-5)


def test_backward_update_and_metric_futures_resolve_to_none_once_written():
    mod, it = _bound_module()
    batch = next(iter(it))
    before = _params(mod)
    mod.forward(batch)
    assert mod.backward().result(timeout=HANG) is None
    assert mod.update().result(timeout=HANG) is None
    metric = mx.metric.Accuracy()
    assert mod.update_metric(metric, batch.label).result(timeout=HANG) is None
    assert metric.get()[1] >= 0
    assert any(not np.allclose(before[k], v) for k, v in _params(mod).items())


def test_module_futures_are_awaitable_under_trio_and_asyncio():
    mod, it = _bound_module()
    batch = next(iter(it))

    async def step():
        outs = await mod.forward(batch)
        await mod.backward()
        await mod.update()
        return await outs[0].asnumpy_async()
    assert trio.run(step).shape == (20, 2)
    assert asyncio.run(step()).shape == (20, 2)


def test_operator_error_resolves_the_forward_future_and_the_module_stays_usable():
    idx = mx.sym.Variable("data")
    table = mx.sym.Variable("table_weight", shape=(4, 2))
    out = mx.sym.MakeLoss(mx.sym.sum(mx.sym.take(table, idx, mode="raise", name="lookup")))
    mod = mx.mod.Module(out, data_names=["data"], label_names=[])
    mod.bind([("data", (3,))], for_training=False)
    mod.init_params(mx.init.One())

    async def bad():
        await mod.forward(mx.io.DataBatch([mx.nd.array([0, 7, 1])]), is_train=False)
    with pytest.raises(MXNetError, match="take"):
        trio.run(bad)
    good = mod.forward(mx.io.DataBatch([mx.nd.array([0, 1, 1])]), is_train=False)
    np.testing.assert_allclose(good.result(timeout=HANG)[0].asnumpy(), [6.0])


# ---- the async loops give what the blocking ones give ------------------------------------------
def test_fit_async_under_trio_trains_like_fit():
    x, y = _data()
    arg, aux = _initial_params()
    results = []
    for run in ("sync", "trio"):
        it = mx.io.NDArrayIter(x, y, batch_size=20)
        mod = mx.mod.Module(_mlp())
        kwargs = dict(optimizer="sgd", optimizer_params=_OPT, arg_params=arg, aux_params=aux,
                      num_epoch=3)
        if run == "sync":
            mod.fit(it, **kwargs)
        else:
            trio.run(lambda: mod.fit_async(it, **kwargs))
        results.append(_params(mod))
    _assert_params_equal(*results)
    _assert_params_equal(results[0], _reference_after(3 * 20, arg, aux))


def test_score_predict_and_iter_predict_async_match_the_blocking_calls():
    mod, it = _bound_module()
    expected_score = mod.score(it, "acc")
    expected_pred = mod.predict(it).asnumpy()

    async def main():
        score = await mod.score_async(it, "acc")
        pred = await mod.predict_async(it)
        parts = []
        async for outs, i, batch in mod.iter_predict_async(it):
            parts.append((i, outs[0].asnumpy()))
        return score, pred, parts
    score, pred, parts = asyncio.run(main())
    assert score == expected_score
    np.testing.assert_allclose(pred.asnumpy(), expected_pred)
    assert [i for i, _ in parts] == list(range(20))
    np.testing.assert_allclose(np.concatenate([p for _, p in parts]), expected_pred)


def test_fit_async_takes_an_async_iterator_of_batches():
    x, y = _data()
    arg, aux = _initial_params()

    async def batches():
        for i in range(0, 400, 20):
            await trio.sleep(0)
            yield mx.io.DataBatch([mx.nd.array(x[i:i + 20])], [mx.nd.array(y[i:i + 20])])

    mod = mx.mod.Module(_mlp())
    trio.run(lambda: mod.fit_async(batches(), optimizer="sgd", optimizer_params=_OPT,
                                   arg_params=arg, aux_params=aux, num_epoch=1))
    _assert_params_equal(_params(mod), _reference_after(20, arg, aux))


def test_two_modules_train_concurrently_in_one_trio_loop():
    x, y = _data()
    arg, aux = _initial_params()
    mods = [mx.mod.Module(_mlp()), mx.mod.Module(_mlp())]

    async def main():
        async with trio.open_nursery() as nursery:
            for mod in mods:
                it = mx.io.NDArrayIter(x, y, batch_size=20)
                nursery.start_soon(lambda m=mod, i=it: m.fit_async(
                    i, optimizer="sgd", optimizer_params=_OPT, arg_params=arg,
                    aux_params=aux, num_epoch=2))
    trio.run(main)
    ref = _reference_after(40, arg, aux)
    for mod in mods:
        _assert_params_equal(_params(mod), ref)


# ---- cancellation ------------------------------------------------------------------------------
def _fit_kwargs(arg, aux, callback):
    return dict(optimizer="sgd", optimizer_params=_OPT, arg_params=arg, aux_params=aux,
                num_epoch=5, batch_end_callback=callback)


def test_trio_cancel_mid_epoch_leaves_the_parameters_of_the_last_update():
    x, y = _data()
    arg, aux = _initial_params()
    mod = mx.mod.Module(_mlp())
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    seen = []

    async def main():
        with trio.CancelScope() as scope:
            def on_batch(param):
                seen.append(param.nbatch)
                if len(seen) == 27:  # epoch 1, batch 6: its update is pushed
                    scope.cancel()
            await mod.fit_async(it, **_fit_kwargs(arg, aux, on_batch))
        return scope.cancelled_caught
    assert trio.run(main)
    assert len(seen) == 27
    _assert_params_equal(_params(mod), _reference_after(27, arg, aux))
    # The epoch's reader thread was stopped with it.
    assert not [t for t in threading.enumerate() if t.name == "flowmod-prefetch"]


def test_asyncio_cancel_mid_epoch_leaves_the_parameters_of_the_last_update():
    x, y = _data()
    arg, aux = _initial_params()
    mod = mx.mod.Module(_mlp())
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    seen = []

    async def main():
        task = None

        def on_batch(param):
            seen.append(param.nbatch)
            if len(seen) == 13:
                task.cancel()
        task = asyncio.ensure_future(mod.fit_async(it, **_fit_kwargs(arg, aux, on_batch)))
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())
    assert len(seen) == 13
    _assert_params_equal(_params(mod), _reference_after(13, arg, aux))
    # The module stays usable: training goes on from there (with MXNet's warning that the
    # parameters are already initialized).
    with pytest.warns(UserWarning, match="already initialized"):
        mod.fit(mx.io.NDArrayIter(x, y, batch_size=20), optimizer="sgd", num_epoch=1,
                optimizer_params=_OPT)
    after = _params(mod)
    assert all(np.isfinite(v).all() for v in after.values())
    assert any(not np.allclose(after[k], v) for k, v in _reference_after(13, arg, aux).items())


def test_keyboard_interrupt_in_blocking_fit_stops_between_batches():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    x, y = _data()
    arg, aux = _initial_params()
    mod = mx.mod.Module(_mlp())
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    seen = []

    def on_batch(param):
        seen.append(param.nbatch)
        if len(seen) == 9:
            signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        mod.fit(it, **_fit_kwargs(arg, aux, on_batch))
    assert len(seen) == 9
    _assert_params_equal(_params(mod), _reference_after(9, arg, aux))


# ---- a module whose compute runs as recorded engine operations ----------------------------------
class _RecordingModule(BaseModule):
    """Computes each batch as one Python engine operation, recording when it starts and ends;
    ``gate(k)`` is called inside batch k's operation before it ends."""

    def __init__(self, events, gate=lambda k: None):
        super().__init__()
        self.events, self.gate = events, gate
        self.var = engine.Var()
        self.k = -1

    def bind(self, data_shapes, label_shapes=None, for_training=True, force_rebind=False,
             **kwargs):
        self.binded = True

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        self.params_initialized = True

    def init_optimizer(self, **kwargs):
        self.optimizer_initialized = True

    def get_params(self):
        return {}, {}

    def forward(self, data_batch, is_train=None):
        self.k = k = int(data_batch.data[0].asnumpy()[0])

        def compute():
            self.events.append(("compute start", k))
            self.gate(k)
            self.events.append(("compute end", k))
        engine.push(compute, writes=[self.var], name="recorded_compute")

    def backward(self, out_grads=None):
        pass

    def update(self):
        return when_ready([self.var])

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        return when_ready([self.var])

    def get_outputs(self, merge_multi_context=True):
        return []


class _NumberedIter(mx.io.DataIter):
    def __init__(self, n, events):
        super().__init__(batch_size=1)
        self.n, self.events, self.k = n, events, 0
        self.started = [threading.Event() for _ in range(n + 1)]
        self.provide_data = [mx.io.DataDesc("data", (1,))]
        self.provide_label = []

    def reset(self):
        self.k = 0

    def next(self):
        self.events.append(("load start", self.k))
        self.started[self.k].set()
        if self.k >= self.n:
            raise StopIteration
        batch = mx.io.DataBatch([mx.nd.array([self.k])], [])
        self.k += 1
        return batch


def test_fit_reads_batch_k_plus_1_before_batch_k_computes_to_its_end():
    events = []
    data = _NumberedIter(6, events)
    # Batch k's compute cannot end before batch k+1's read has started: without overlap
    # this waits HANG seconds and the order below shows it.
    mod = _RecordingModule(events, gate=lambda k: data.started[k + 1].wait(HANG))
    mod.fit(data, num_epoch=1, eval_metric=mx.metric.Loss())
    engine.wait(mod.var)
    for k in range(6):
        assert events.index(("load start", k + 1)) < events.index(("compute end", k))


class _ThreadRecordingIter(mx.io.NDArrayIter):
    def __init__(self, n, events):
        super().__init__(np.arange(n, dtype=np.float32), batch_size=1, label_name=None)
        self.events, self.threads = events, set()
        self.started = [threading.Event() for _ in range(n + 1)]

    def next(self):
        k = self.cursor + 1 if self.cursor >= 0 else 0
        self.threads.add(threading.current_thread().name)
        self.events.append(("load start", k))
        self.started[min(k, len(self.started) - 1)].set()
        return super().next()


@pytest.mark.parametrize("on_thread", [False, True])
def test_fit_reads_an_ndarrayiter_in_its_own_thread_and_still_ahead_of_compute(on_thread):
    # An NDArrayIter's batches are slices of host arrays: fit reads them in the calling
    # thread, while the engine computes the batch pushed before (the reads still overlap
    # the compute); an iterator that asks for it is read on the reader thread.
    events = []
    data = _ThreadRecordingIter(6, events)
    data._read_on_thread = on_thread
    mod = _RecordingModule(events, gate=lambda k: data.started[k + 1].wait(HANG))
    mod.fit(data, num_epoch=1, eval_metric=mx.metric.Loss())
    engine.wait(mod.var)
    for k in range(6):
        assert events.index(("load start", k + 1)) < events.index(("compute end", k))
    assert data.threads == ({"flowmod-prefetch"} if on_thread
                            else {threading.current_thread().name})


def test_fit_async_keeps_a_heartbeat_task_ticking_while_engine_work_waits_for_it():
    events = []
    data = _NumberedIter(8, events)
    ticks = []
    tick_events = [threading.Event() for _ in range(9)]
    # Batch k's compute waits for tick k: if fit_async blocked the event loop while
    # waiting on the engine, the heartbeat could not tick and training would stall.
    mod = _RecordingModule(events, gate=lambda k: tick_events[k].wait(HANG))

    async def heartbeat():
        while True:
            ticks.append(len(ticks))
            events.append(("tick", ticks[-1]))
            tick_events[min(len(ticks) - 1, 8)].set()
            await trio.sleep(0.001)

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(heartbeat)
            await mod.fit_async(data, num_epoch=1, eval_metric=mx.metric.Loss())
            nursery.cancel_scope.cancel()
    trio.run(main)
    for k in range(8):
        assert events.index(("tick", k)) < events.index(("compute end", k))
    assert len(ticks) >= 8


def test_fit_bounds_how_far_pushing_runs_ahead_of_the_engine():
    events = []
    data = _NumberedIter(8, events)
    release = [threading.Event() for _ in range(8)]
    mod = _RecordingModule(events, gate=lambda k: release[k].wait(HANG))
    pushed = []
    orig = mod.forward

    def forward(batch, is_train=None):
        pushed.append(int(batch.data[0].asnumpy()[0]))
        # At most depth (2) batches in flight: batch k is pushed after batch k-2 ended.
        if len(pushed) > 2:
            assert ("compute end", pushed[-1] - 2) in events
        orig(batch, is_train)
        release[pushed[-1]].set()
    mod.forward = forward
    mod.fit(data, num_epoch=1, eval_metric=mx.metric.Loss(), prefetch_depth=2)
    assert pushed == list(range(8))


# ---- blocking calls inside a running event loop (a notebook) -----------------------------------
def test_blocking_fit_and_score_work_inside_a_running_asyncio_loop():
    x, y = _data()
    arg, aux = _initial_params()

    async def cell():
        mod = mx.mod.Module(_mlp())
        it = mx.io.NDArrayIter(x, y, batch_size=20)
        mod.fit(it, optimizer="sgd", optimizer_params=_OPT, arg_params=arg, aux_params=aux,
                num_epoch=1)
        return mod, mod.score(it, "acc")
    mod, score = asyncio.run(cell())
    assert score[0][0] == "accuracy"
    _assert_params_equal(_params(mod), _reference_after(20, arg, aux))


def test_keyboard_interrupt_under_trio_stops_fit_async_between_batches():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    x, y = _data()
    arg, aux = _initial_params()
    mod = mx.mod.Module(_mlp())
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    seen = []

    def on_batch(param):
        seen.append(param.nbatch)
        if len(seen) == 11:
            signal.raise_signal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        trio.run(lambda: mod.fit_async(it, **_fit_kwargs(arg, aux, on_batch)))
    assert len(seen) == 11
    _assert_params_equal(_params(mod), _reference_after(11, arg, aux))


def test_blocking_score_inside_a_fit_callback_shares_the_interrupt_guard():
    x, y = _data()
    arg, aux = _initial_params()
    mod = mx.mod.Module(_mlp())
    it = mx.io.NDArrayIter(x, y, batch_size=20)
    val = mx.io.NDArrayIter(x[:100], y[:100], batch_size=20)
    scores = []

    def on_epoch(epoch, sym, arg_params, aux_params):
        scores.append(mod.score(val, "acc")[0][1])
    mod.fit(it, optimizer="sgd", optimizer_params=_OPT, arg_params=arg, aux_params=aux,
            num_epoch=2, epoch_end_callback=on_epoch)
    assert len(scores) == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_loader_error_mid_epoch_is_raised_by_fit():
    x, y = _data()

    class Broken(mx.io.NDArrayIter):
        def next(self):
            if self.cursor >= 100:
                raise OSError("disk went away at sample 120")
            return super().next()
    mod = mx.mod.Module(_mlp())
    with pytest.raises(OSError, match="disk went away"):
        mod.fit(Broken(x, y, batch_size=20), optimizer="sgd", num_epoch=1)
    with pytest.raises(OSError, match="disk went away"):
        trio.run(lambda: mod.fit_async(Broken(x, y, batch_size=20), optimizer="sgd",
                                       num_epoch=1, force_init=True))


def test_operator_error_during_fit_is_raised_naming_the_operator():
    idx = mx.sym.Variable("data")
    table = mx.sym.Variable("table_weight", shape=(4, 2))
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.take(table, idx, mode="raise", name="lookup")))
    mod = mx.mod.Module(loss, data_names=["data"], label_names=[])
    bad = mx.io.NDArrayIter(np.array([[0, 1, 2]] * 3 + [[0, 5, 1]] * 3, dtype=np.float32),
                            batch_size=1)

    async def main():
        await mod.fit_async(bad, optimizer="sgd", num_epoch=1, eval_metric=mx.metric.Loss(),
                            initializer=mx.init.One())
    with pytest.raises(MXNetError, match="take"):
        trio.run(main)
