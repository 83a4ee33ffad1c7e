"""Run under mpirun (tests/test_dist.py): dist_async SGD on a least-squares problem, each
worker on its own shard; after the barrier every worker has applied every gradient."""
from __future__ import annotations

import time

import numpy as np

import flowmod as mx

kv = mx.kv.create("dist_async")
r, n = kv.rank, kv.num_workers
rng = np.random.RandomState(5)
true_w = rng.normal(0, 1, (8,)).astype(np.float32)
x = rng.normal(0, 1, (64 * n, 8)).astype(np.float32)
y = x @ true_w
xs, ys = x[r::n], y[r::n]
kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.2 / n, rescale_grad=1.0 / len(xs)))
kv.init("w", mx.nd.zeros((8,)))
w = mx.nd.zeros((8,))
kv.barrier()  # start together; each step is then paced like a real one
steps = 60
for step in range(steps):
    time.sleep(0.002)
    kv.pull("w", out=w)
    wn = w.asnumpy()
    grad = xs.T @ (xs @ wn - ys)
    kv.push("w", mx.nd.array(grad))
kv.barrier()
kv.pull("w", out=w)
final = w.asnumpy()
loss0 = float(np.mean(y ** 2))
loss = float(np.mean((x @ final - y) ** 2))
if not loss < 0.05 * loss0:
    raise AssertionError(f"rank {r}: dist_async did not converge: loss {loss} from {loss0}")
print("PASS async_converges", flush=True)
# Every worker applied all n * steps gradients: with plain SGD the replicas agree.
total = mx.nd.array(final)
sync = mx.kv.create("dist_sync")
sync.init("f", mx.nd.zeros((8,)))
sync.push("f", total)
sync.pull("f", out=total)
spread = float(np.abs(total.asnumpy() / n - final).max())
if not spread < 1e-4:
    raise AssertionError(f"rank {r}: replicas differ by {spread}")
print("PASS async_replicas_agree", flush=True)
print("DONE", flush=True)
