"""Training inside an event loop: ``fit_async``, a slow data producer and the metrics endpoint
side by side.

    python examples/async_training.py [--asyncio] [--port 8000] [--epochs 5]

Under trio (default) a nursery runs three tasks: a producer that makes batches of
scikit-learn's 8x8 digits at its own pace (a sleep standing in for reading from storage) into
a memory channel, ``await mod.fit_async(...)`` reading that channel as an async iterator of
DataBatch, and a heartbeat that prints how many batches were produced and trained each
second. The training metrics and the engine's counters are served at
``http://127.0.0.1:PORT/metrics`` meanwhile. ``--asyncio`` runs the same with asyncio tasks
and an asyncio.Queue. Validation then runs with ``score_async``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import time
import urllib.request

import numpy as np
import trio

import flowmod as mx
from flowmod import telemetry

BATCH = 50
LOAD_S = 0.005  # how long the producer takes per batch


def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx[:1500]], y[idx[:1500]], x[idx[1500:]], y[idx[1500:]]


def mlp():
    data = mx.sym.Variable("data")
    fc1 = mx.sym.FullyConnected(data, name="fc1", num_hidden=64)
    act1 = mx.sym.Activation(fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(act1, name="fc2", num_hidden=10)
    return mx.sym.SoftmaxOutput(fc2, name="softmax")


def scrape(url: str) -> list[str]:
    """The training lines of the metrics page, as Prometheus would read them."""
    with urllib.request.urlopen(url, timeout=10) as page:
        text = page.read().decode()
    return [line for line in text.splitlines()
            if line.startswith(("flowmod_training_batches_total", "flowmod_training_metric",
                                "flowmod_evaluation_metric"))]


def batch_of(x, y, i):
    return mx.io.DataBatch([mx.nd.array(x[i:i + BATCH])], [mx.nd.array(y[i:i + BATCH])])


class Progress:
    """Counts produced and trained batches for the heartbeat."""

    def __init__(self):
        self.produced = 0
        self.trained = 0
        self.done = False

    def on_batch(self, param) -> None:
        self.trained += 1


class ChannelEpochs:
    """An async iterable of DataBatch: each ``__aiter__()`` is one epoch of ``batches``
    batches taken from the producer's channel."""

    def __init__(self, receive, batches: int):
        self.receive, self.batches = receive, batches

    def __aiter__(self):
        return self._epoch()

    async def _epoch(self):
        for _ in range(self.batches):
            yield await self.receive()


def fit_args(progress, reporter, epochs):
    callbacks = reporter.callbacks()
    callbacks["batch_end_callback"] = [progress.on_batch, callbacks["batch_end_callback"]]
    return dict(optimizer="sgd", optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
                initializer=mx.init.Xavier(), num_epoch=epochs, **callbacks)


async def main_trio(url: str, epochs: int) -> None:
    x, y, vx, vy = digits()
    batches = len(x) // BATCH
    mod = mx.mod.Module(mlp())
    progress = Progress()
    reporter = telemetry.PrometheusReporter("digits_trio", batch_size=BATCH)
    send, receive = trio.open_memory_channel(4)  # the producer runs at most 4 batches ahead

    async def producer():
        async with send:
            for _ in range(epochs):
                for i in range(0, batches * BATCH, BATCH):
                    await trio.sleep(LOAD_S)
                    await send.send(batch_of(x, y, i))
                    progress.produced += 1

    async def heartbeat():
        start = time.monotonic()
        while not progress.done:
            print(f"  t={time.monotonic() - start:5.2f}s produced={progress.produced:4d} "
                  f"trained={progress.trained:4d}")
            await trio.sleep(0.25)

    async def train():
        await mod.fit_async(ChannelEpochs(receive.receive, batches),
                            **fit_args(progress, reporter, epochs))
        progress.done = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        nursery.start_soon(heartbeat)
        nursery.start_soon(train)
    val = mx.io.NDArrayIter(vx, vy, batch_size=BATCH)
    (name, acc), = await mod.score_async(val, "acc")
    print(f"validation {name} {acc:.4f}")
    for line in await trio.to_thread.run_sync(scrape, url):
        print("  " + line)


async def main_asyncio(url: str, epochs: int) -> None:
    x, y, vx, vy = digits()
    batches = len(x) // BATCH
    mod = mx.mod.Module(mlp())
    progress = Progress()
    reporter = telemetry.PrometheusReporter("digits_asyncio", batch_size=BATCH)
    queue: asyncio.Queue = asyncio.Queue(maxsize=4)

    async def producer():
        for _ in range(epochs):
            for i in range(0, batches * BATCH, BATCH):
                await asyncio.sleep(LOAD_S)
                await queue.put(batch_of(x, y, i))
                progress.produced += 1

    async def heartbeat():
        start = time.monotonic()
        while not progress.done:
            print(f"  t={time.monotonic() - start:5.2f}s produced={progress.produced:4d} "
                  f"trained={progress.trained:4d}")
            await asyncio.sleep(0.25)

    async def train():
        await mod.fit_async(ChannelEpochs(queue.get, batches),
                            **fit_args(progress, reporter, epochs))
        progress.done = True

    await asyncio.gather(producer(), heartbeat(), train())
    val = mx.io.NDArrayIter(vx, vy, batch_size=BATCH)
    (name, acc), = await mod.score_async(val, "acc")
    print(f"validation {name} {acc:.4f}")
    for line in await asyncio.to_thread(scrape, url):
        print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--asyncio", action="store_true", help="run under asyncio, not trio")
    parser.add_argument("--port", type=int, default=8000,
                        help="metrics port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    server, _ = telemetry.start_http_server(args.port)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    print(f"metrics at {url}")
    if args.asyncio:
        asyncio.run(main_asyncio(url, args.epochs))
    else:
        trio.run(main_trio, url, args.epochs)


if __name__ == "__main__":
    main()
