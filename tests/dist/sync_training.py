"""Run under mpirun (tests/test_dist.py): the dist_sync store's operations and data-parallel
training checked against one process. Each rank prints ``PASS name`` per check, or raises."""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

import flowmod as mx

TOL = 1e-5


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError(f"rank {KV.rank}: {name} failed: {detail}")
    print(f"PASS {name}", flush=True)


def store_operations():
    kv, r, n = KV, KV.rank, KV.num_workers
    check("type_rank_workers", kv.type == "dist_sync" and 0 <= r < n and
          n == int(os.environ["OMPI_COMM_WORLD_SIZE"]), (kv.type, r, n))
    # init takes rank 0's value everywhere.
    kv.init("w", mx.nd.full((3, 4), 10.0 + r))
    out = mx.nd.zeros((3, 4))
    kv.pull("w", out=out)
    check("init_broadcasts_rank0", np.array_equal(out.asnumpy(), np.full((3, 4), 10.0)))
    # push without an optimizer stores the sum over workers and devices.
    kv.push("w", [mx.nd.full((3, 4), r + 1.0), mx.nd.ones((3, 4))])
    kv.pull("w", out=out)
    want = n * (n + 1) / 2 + n
    check("push_sums_workers", np.allclose(out.asnumpy(), want), out.asnumpy()[0, 0])
    # Several keys in one push are fused into buckets: small and large arrays alike.
    shapes = [(5,), (300, 1000), (7, 3), (2,)]
    keys = [f"k{i}" for i in range(len(shapes))]
    kv.init(keys, [mx.nd.zeros(s) for s in shapes])
    vals = [mx.nd.array(np.arange(np.prod(s), dtype=np.float32).reshape(s) * (r + 1))
            for s in shapes]
    outs = [mx.nd.zeros(s) for s in shapes]
    kv.pushpull(keys, vals, out=outs)
    ok = all(np.allclose(o.asnumpy(), np.arange(np.prod(s)).reshape(s) * n * (n + 1) / 2)
             for o, s in zip(outs, shapes))
    check("pushpull_buckets", ok)
    b = mx.nd.zeros((2, 2))
    kv.broadcast("b", mx.nd.full((2, 2), float(r)), out=b)
    check("broadcast_rank0", np.array_equal(b.asnumpy(), np.zeros((2, 2))))
    # An optimizer set on the store applies the summed gradient identically everywhere.
    kv2 = mx.kv.create("dist_device_sync")
    kv2.set_optimizer(mx.optimizer.SGD(learning_rate=0.5, momentum=0.9, rescale_grad=1.0))
    kv2.init(3, mx.nd.ones((4,)))
    w = mx.nd.zeros((4,))
    weight, mom = np.ones(4), np.zeros(4)
    for step in range(3):
        kv2.push(3, mx.nd.full((4,), float(r + step)))
        kv2.pull(3, out=w)
        g = sum(q + step for q in range(n))
        mom = 0.9 * mom - 0.5 * g
        weight = weight + mom
    check("set_optimizer_momentum", np.allclose(w.asnumpy(), weight, atol=TOL), w.asnumpy())
    path = os.path.join(tempfile.gettempdir(), f"flowmod_dist_states_{os.getpid()}")
    kv2.save_optimizer_states(path)
    kv2.load_optimizer_states(path)
    os.remove(path)
    kv2.barrier()
    check("barrier_and_states", True)


def mlp(num_hidden=32):
    x = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=num_hidden, name="fc1"),
                          act_type="relu")
    h = mx.sym.FullyConnected(h, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(h, name="softmax")


def shard(x, per_rank, rank, n):
    """Rank ``rank``'s rows: its slice of every global batch of ``per_rank * n`` rows."""
    rows = [np.arange(j + rank * per_rank, j + (rank + 1) * per_rank)
            for j in range(0, len(x), per_rank * n)]
    return x[np.concatenate(rows)]


def init_params(rng):
    return {"fc1_weight": rng.normal(0, 0.3, (32, 20)).astype(np.float32),
            "fc1_bias": rng.normal(0, 0.1, (32,)).astype(np.float32),
            "fc2_weight": rng.normal(0, 0.3, (10, 32)).astype(np.float32),
            "fc2_bias": np.zeros(10, np.float32)}


def mlp_matches_global_batch():
    r, n = KV.rank, KV.num_workers
    per_rank, steps = 8, 5
    rng = np.random.RandomState(7)
    x = rng.normal(0, 1, (per_rank * n * steps, 20)).astype(np.float32)
    y = rng.randint(0, 10, len(x)).astype(np.float32)
    params = init_params(rng)
    opt = dict(learning_rate=0.1, momentum=0.9, wd=1e-4)
    # Each rank starts from different parameters: fit's init takes rank 0's.
    mine = {k: mx.nd.array(v + 0.05 * r) for k, v in params.items()}
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    it = mx.io.NDArrayIter(shard(x, per_rank, r, n), shard(y, per_rank, r, n), per_rank,
                           label_name="softmax_label")
    mod.fit(it, num_epoch=1, kvstore=KV, optimizer="sgd", optimizer_params=opt,
            arg_params=mine, eval_metric="acc")
    ref = mx.mod.Module(mlp(), context=mx.cpu())
    it = mx.io.NDArrayIter(x, y, per_rank * n, label_name="softmax_label")
    ref.fit(it, num_epoch=1, kvstore=None, optimizer="sgd", optimizer_params=opt,
            arg_params={k: mx.nd.array(v) for k, v in params.items()}, eval_metric="acc")
    got, want = mod.get_params()[0], ref.get_params()[0]
    diff = max(float(np.abs(got[k].asnumpy() - want[k].asnumpy()).max()) for k in want)
    moved = max(float(np.abs(want[k].asnumpy() - params[k]).max()) for k in want)
    check("mlp_sync_sgd_equals_global_batch", diff < TOL and moved > 1e-3, (diff, moved))
    prefix = os.path.join(os.environ["FLOWMOD_TEST_DIR"], "ckpt")
    mod.save_checkpoint(prefix, 1)
    KV.barrier()
    check("checkpoint_rank0_only", os.path.exists(f"{prefix}-0001.params"))


def bucket_sym(seq_len):
    data = mx.sym.Variable("data")
    emb = mx.sym.Embedding(data, input_dim=50, output_dim=8, name="embed")
    pooled = mx.sym.sum(emb, axis=1) / float(seq_len)
    fc = mx.sym.FullyConnected(pooled, num_hidden=5, name="fc")
    return mx.sym.SoftmaxOutput(fc, name="softmax"), ("data",), ("softmax_label",)


def bucketing_matches_global_batch():
    r, n = KV.rank, KV.num_workers
    per_rank = 4
    rng = np.random.RandomState(3)
    lens = [6, 3, 6, 4]
    batches = [(rng.randint(0, 50, (per_rank * n, L)).astype(np.float32),
                rng.randint(0, 5, per_rank * n).astype(np.float32)) for L in lens]
    params = {"embed_weight": rng.normal(0, 0.5, (50, 8)).astype(np.float32),
              "fc_weight": rng.normal(0, 0.5, (5, 8)).astype(np.float32),
              "fc_bias": np.zeros(5, np.float32)}

    def train(kv, rows):
        mod = mx.mod.BucketingModule(bucket_sym, default_bucket_key=max(lens),
                                     context=mx.cpu())
        b = len(rows)
        mod.bind(data_shapes=[("data", (b, max(lens)))],
                 label_shapes=[("softmax_label", (b,))])
        mod.init_params(arg_params={k: mx.nd.array(v) for k, v in params.items()})
        mod.init_optimizer(kvstore=kv, optimizer="sgd",
                           optimizer_params=dict(learning_rate=0.2, momentum=0.9))
        for (xb, yb), L in zip(batches, lens):
            batch = mx.io.DataBatch([mx.nd.array(xb[rows])], [mx.nd.array(yb[rows])],
                                    bucket_key=L, provide_data=[("data", (b, L))],
                                    provide_label=[("softmax_label", (b,))])
            mod.forward(batch, is_train=True)
            mod.backward()
            mod.update()
        return mod.get_params()[0]
    got = train(KV, np.arange(r * per_rank, (r + 1) * per_rank))
    want = train(None, np.arange(per_rank * n))
    diff = max(float(np.abs(got[k].asnumpy() - want[k].asnumpy()).max()) for k in want)
    check("bucketing_sync_sgd_equals_global_batch", diff < TOL, diff)


def compression_matches_numpy():
    r, n = KV.rank, KV.num_workers
    kv = mx.kv.create("dist_sync")
    kv.set_gradient_compression({"type": "2bit", "threshold": 0.5})
    kv.init("c", mx.nd.zeros((6,)))
    rng = np.random.RandomState(11)
    grads = rng.uniform(-1, 1, (3, n, 6)).astype(np.float32)
    residual = np.zeros((n, 6), np.float32)
    out = mx.nd.zeros((6,))
    for step in range(3):
        kv.push("c", mx.nd.array(grads[step, r]))
        kv.pull("c", out=out)
        residual += grads[step]
        q = np.where(residual >= 0.5, 0.5, np.where(residual <= -0.5, -0.5, 0.0))
        residual -= q
        want = q.sum(axis=0)
    check("two_bit_compression", np.allclose(out.asnumpy(), want), (out.asnumpy(), want))


if __name__ == "__main__":
    KV = mx.kv.create("dist_sync")
    which = sys.argv[1:] or ["store", "mlp", "bucketing", "compression"]
    for name in which:
        {"store": store_operations, "mlp": mlp_matches_global_batch,
         "bucketing": bucketing_matches_global_batch,
         "compression": compression_matches_numpy}[name]()
    KV.barrier()
    print("DONE", flush=True)
