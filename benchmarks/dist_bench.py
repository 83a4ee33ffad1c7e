"""Data-parallel training on 2 workers x 1 thread: flowmod's dist_sync beside PyTorch DDP
(gloo), and beside the same flowmod run without communication.

    python benchmarks/dist_bench.py [--batch 64] [--steps 40] [--workers 2]

Model: MLP 784-1024-1024-10 (ReLU, softmax cross-entropy), SGD with momentum, ``--batch``
samples per worker per step. Prints per-batch time and samples/s (the job's: workers x batch
/ time per batch) for:

- ``flowmod dist_sync``: Module.update through the MPI store (allreduce on the copy lane,
  overlapping backward);
- ``flowmod no comm``: the same workers started the same way, each training alone
  (``kvstore=None``): the time per batch communication would cost nothing;
- ``torch DDP gloo``: the same model and batch in PyTorch (the torch peer, if present).

The ratio dist_sync / no comm is the overlap figure (1.0: communication fully hidden).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TORCH_PY = "/work/main/.peers/torch/bin/python"
THREAD_ENV = {"FLOWMOD_CPU_WORKER_NTHREADS": "1", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _data(batch, seed=0):
    import numpy as np
    rng = np.random.RandomState(seed)
    x = rng.normal(0, 1, (batch, 784)).astype(np.float32)
    y = rng.randint(0, 10, batch).astype(np.float32)
    return x, y


def flowmod_worker(args) -> None:
    import flowmod as mx
    kv = mx.kv.create("dist_sync") if args.mode == "dist" else None
    rank = kv.rank if kv is not None else int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    x = mx.sym.Variable("data")
    h = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=1024, name="fc1"), act_type="relu")
    h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=1024, name="fc2"), act_type="relu")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="fc3"),
                               name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.bind(data_shapes=[("data", (args.batch, 784))],
             label_shapes=[("softmax_label", (args.batch,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(kvstore=kv, optimizer="sgd",
                       optimizer_params=dict(learning_rate=0.01, momentum=0.9))
    xs, ys = _data(args.batch, seed=rank)
    batch = mx.io.DataBatch([mx.nd.array(xs)], [mx.nd.array(ys)])

    def step():
        mod.forward(batch, is_train=True)
        mod.backward()
        mod.update()
    for _ in range(5):
        step()
    mx.nd.waitall()
    if kv is not None:
        kv.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    mod.get_params()[0]["fc1_weight"].asnumpy()
    per_batch = (time.perf_counter() - t0) / args.steps
    if rank == 0:
        print("RESULT " + json.dumps({"per_batch": per_batch}), flush=True)


def torch_worker(rank, args) -> None:
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank,
                            world_size=args.workers)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(),
                                torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                                torch.nn.Linear(1024, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    xs, ys = _data(args.batch, seed=rank)
    x, y = torch.from_numpy(xs), torch.from_numpy(ys).long()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(ddp(x), y).backward()
        opt.step()
    for _ in range(5):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_batch = (time.perf_counter() - t0) / args.steps
    if rank == 0:
        print("RESULT " + json.dumps({"per_batch": per_batch}), flush=True)
    dist.destroy_process_group()


def _result(out: str):
    for line in out.splitlines():
        if "RESULT " in line:
            return json.loads(line.split("RESULT ", 1)[1])["per_batch"]
    return None


def _run_flowmod(args, mode):
    mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = [mpirun, "-n", str(args.workers), "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    env = dict(os.environ, PYTHONPATH=ROOT, **THREAD_ENV)
    for k in ("PYTHONPATH", *THREAD_ENV):
        cmd += ["-x", k]
    cmd += [sys.executable, __file__, "--worker", "flowmod", "--mode", mode,
            "--batch", str(args.batch), "--steps", str(args.steps)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    value = _result(res.stdout)
    if value is None:
        print(res.stdout[-2000:], res.stderr[-2000:], file=sys.stderr)
    return value


def _run_torch(args):
    if not os.access(TORCH_PY, os.X_OK):
        return None
    env = dict(os.environ, **THREAD_ENV)
    env.pop("PYTHONPATH", None)
    cmd = [TORCH_PY, __file__, "--worker", "torch", "--batch", str(args.batch),
           "--steps", str(args.steps), "--workers", str(args.workers)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    value = _result(res.stdout)
    if value is None:
        print(res.stdout[-2000:], res.stderr[-2000:], file=sys.stderr)
    return value


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker", choices=["flowmod", "torch"])
    p.add_argument("--mode", choices=["dist", "nocomm"], default="dist")
    p.add_argument("--port", type=int, default=29533)
    args = p.parse_args()
    if args.worker == "flowmod":
        return flowmod_worker(args)
    if args.worker == "torch":
        import torch.multiprocessing as mp
        mp.spawn(torch_worker, args=(args,), nprocs=args.workers)
        return None
    rows = [("flowmod dist_sync", _run_flowmod(args, "dist")),
            ("flowmod no comm", _run_flowmod(args, "nocomm")),
            ("torch DDP gloo", _run_torch(args))]
    print(f"MLP 784-1024-1024-10, {args.workers} workers x 1 thread, batch {args.batch} "
          f"per worker, {args.steps} steps")
    for name, t in rows:
        if t is None:
            print(f"  {name:20s} (not run)")
        else:
            print(f"  {name:20s} {t * 1e3:8.2f} ms/batch  "
                  f"{args.workers * args.batch / t:9.1f} samples/s")
    if rows[0][1] and rows[1][1]:
        print(f"  dist_sync / no comm: {rows[0][1] / rows[1][1]:.3f}x")
    if rows[0][1] and rows[2][1]:
        print(f"  flowmod / torch samples/s: {rows[2][1] / rows[0][1]:.3f}x")


if __name__ == "__main__":
    main()
