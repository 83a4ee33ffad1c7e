"""The executor's cost beside its kernels and its peers, and its memory plan, in one run.

    python benchmarks/executor_bench.py [--repeat 5] [--iters 200]

Rows:
- mlp: forward + backward of the MLP 784-128-64-10 (ReLU, SoftmaxOutput) at batch 100 through
  a bound executor (gradients for the parameters, as Module binds it), per iteration, beside
  the sum of its kernels' times when each is run directly with no engine, one pass after
  another on the calling thread (the floor: what is left is engine and binding overhead), PyTorch (autograd, nn.Linear + cross entropy) and
  MXNet 1.9.1's executor (their venvs, see ../shared/peers/make-venvs.sh: FLOWMOD_PEER_TORCH,
  FLOWMOD_PEER_MXNET).
- lenet: the storage a bound LeNet (batch 64; conv 20 5x5, max pool, conv 50 5x5, max pool,
  fc 500, fc 10) allocates for its intermediate arrays and gradient buffers, for training and
  for inference, beside the naive total (every array its own storage) and beside the
  "Total ... MB allocated" MXNet 1.9.1's executor reports.

Every timing waits for the pushed work (``waitall``) before the clock stops. The executor and
its kernels are timed alike: the mean per iteration over --iters iterations, best of --repeat
runs (the machine is shared; the minimum is the least disturbed).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time

import numpy as np

import flowmod as mx
from _neutral import failure, run_python


def peer(env_var, code):
    """Runs `code` in a peer's Python (which prints one JSON value); None without the peer."""
    python = os.environ.get(env_var)
    if not python:
        return None
    out = run_python(python, textwrap.dedent(code))
    if out.returncode != 0:
        print(f"  ({env_var} failed: {failure(out)})")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio(x, ref):
    return "" if x is None or ref is None else f"{x / ref:6.2f}x"


def fmt_ms(seconds):
    return "     n/a" if seconds is None else f"{seconds * 1e3:8.3f} ms"


def mlp_symbol(sym):
    x = sym.Variable("data")
    x = sym.Activation(sym.FullyConnected(x, num_hidden=128, name="fc1"), act_type="relu")
    x = sym.Activation(sym.FullyConnected(x, num_hidden=64, name="fc2"), act_type="relu")
    return sym.SoftmaxOutput(sym.FullyConnected(x, num_hidden=10, name="fc3"), name="softmax")


def lenet_symbol(sym):
    x = sym.Variable("data")
    x = sym.Convolution(x, kernel=(5, 5), num_filter=20, name="conv1")
    x = sym.Pooling(sym.Activation(x, act_type="tanh"), pool_type="max", kernel=(2, 2),
                    stride=(2, 2))
    x = sym.Convolution(x, kernel=(5, 5), num_filter=50, name="conv2")
    x = sym.Pooling(sym.Activation(x, act_type="tanh"), pool_type="max", kernel=(2, 2),
                    stride=(2, 2))
    x = sym.Activation(sym.FullyConnected(sym.Flatten(x), num_hidden=500, name="fc1"),
                       act_type="tanh")
    return sym.SoftmaxOutput(sym.FullyConnected(x, num_hidden=10, name="fc2"), name="softmax")


def param_req(net):
    return {n: "null" if n in ("data", "softmax_label") else "write"
            for n in net.list_arguments()}


def bind_mlp():
    net = mlp_symbol(mx.sym)
    ex = net.simple_bind(mx.cpu(), grad_req=param_req(net), data=(100, 784))
    rng = np.random.default_rng(0)
    for name, arr in ex.arg_dict.items():
        arr[:] = rng.uniform(-0.05, 0.05, arr.shape)
    ex.arg_dict["softmax_label"][:] = rng.integers(0, 10, 100)
    return ex


def time_executor(ex, iters, repeat):
    best = 1e9
    for _ in range(repeat):
        mx.waitall()
        t = time.perf_counter()
        for _ in range(iters):
            ex.forward(is_train=True)
            ex.backward()
        mx.waitall()
        best = min(best, (time.perf_counter() - t) / iters)
    return best


TORCH_MLP = """
import json, time, torch
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.rand(100, 784); y = torch.randint(0, 10, (100,))
net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                          torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
best = 1e9
for _ in range({repeat}):
    t = time.perf_counter()
    for _ in range({iters}):
        net.zero_grad(set_to_none=False)
        F.cross_entropy(net(x), y).backward()
    best = min(best, (time.perf_counter() - t) / {iters})
print(json.dumps([best, torch.get_num_threads()]))
"""

MXNET_MLP = """
import json, time, mxnet as mx
x = mx.sym.Variable("data")
x = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=128, name="fc1"), act_type="relu")
x = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=64, name="fc2"), act_type="relu")
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(x, num_hidden=10, name="fc3"), name="softmax")
req = {{n: "null" if n in ("data", "softmax_label") else "write" for n in net.list_arguments()}}
ex = net.simple_bind(mx.cpu(), grad_req=req, data=(100, 784))
for n, a in ex.arg_dict.items():
    a[:] = mx.nd.random.uniform(-0.05, 0.05, a.shape)
ex.arg_dict["softmax_label"][:] = mx.nd.array([i % 10 for i in range(100)])
best = 1e9
for _ in range({repeat}):
    mx.nd.waitall()
    t = time.perf_counter()
    for _ in range({iters}):
        ex.forward(is_train=True)
        ex.backward()
    mx.nd.waitall()
    best = min(best, (time.perf_counter() - t) / {iters})
print(json.dumps(best))
"""

MXNET_LENET_MB = """
import json, re, mxnet as mx
sym = mx.sym
{lenet}
net = lenet_symbol(sym)
req = {{n: "null" if n in ("data", "softmax_label") else "write" for n in net.list_arguments()}}
train = net.simple_bind(mx.cpu(), grad_req=req, data=(64, 1, 28, 28))
infer = net.simple_bind(mx.cpu(), grad_req="null", data=(64, 1, 28, 28))
mb = lambda ex: float(re.search(r"Total ([0-9.]+) MB allocated", ex.debug_str()).group(1))
print(json.dumps([mb(train), mb(infer)]))
"""


def run_mlp(repeat, iters):
    ex = bind_mlp()
    time_executor(ex, 10, 1)  # warm-up: storage pools, BLAS threads
    executor = time_executor(ex, iters, repeat)
    # The same statistic as the executor's: mean per pass over `iters` passes, best of `repeat`.
    kernels = min((ex._handle.measure_kernels(True, iters) for _ in range(repeat)),
                  key=lambda ks: sum(t for _, t in ks))
    floor = sum(t for _, t in kernels)
    torch_res = peer("FLOWMOD_PEER_TORCH", TORCH_MLP.format(repeat=repeat, iters=iters))
    mxnet_res = peer("FLOWMOD_PEER_MXNET", MXNET_MLP.format(repeat=repeat, iters=iters))
    print(f"MLP 784-128-64-10, batch 100, forward + backward per iteration "
          f"({iters} iterations, best of {repeat})")
    print(f"  {'flowmod executor':34s}{fmt_ms(executor)}   {ratio(executor, floor)} of kernels")
    print(f"  {'its kernels alone (sum)':34s}{fmt_ms(floor)}")
    for name, t in kernels:
        print(f"    {name:32s}{fmt_ms(t)}")
    if torch_res is not None:
        t, threads = torch_res
        print(f"  {f'PyTorch ({threads} threads)':34s}{fmt_ms(t)}   {ratio(executor, t)} flowmod/torch")
    else:
        print("  PyTorch: set FLOWMOD_PEER_TORCH")
    if mxnet_res is not None:
        print(f"  {'MXNet 1.9.1 executor':34s}{fmt_ms(mxnet_res)}   "
              f"{ratio(executor, mxnet_res)} flowmod/mxnet")
    else:
        print("  MXNet 1.9.1: set FLOWMOD_PEER_MXNET")


def run_lenet():
    import inspect
    net = lenet_symbol(mx.sym)
    train = net.simple_bind(mx.cpu(), grad_req=param_req(net), data=(64, 1, 28, 28)).plan_stats
    infer = net.simple_bind(mx.cpu(), grad_req="null", data=(64, 1, 28, 28)).plan_stats
    mxnet_res = peer("FLOWMOD_PEER_MXNET",
                     MXNET_LENET_MB.format(lenet=inspect.getsource(lenet_symbol)))
    print("LeNet, batch 64: storage for intermediate arrays and gradient buffers")
    for name, s, i in (("training", train, 0), ("inference", infer, 1)):
        planned, naive = s["planned_bytes"] / 2**20, s["naive_bytes"] / 2**20
        line = (f"  {name:10s} flowmod {planned:7.2f} MB in {s['blocks']:2d} blocks for "
                f"{s['entries']:2d} arrays ({s['inplace']} in place); naive {naive:7.2f} MB "
                f"({planned / naive:.2f}x)")
        if mxnet_res is not None:
            line += f"; MXNet 1.9.1 reports {mxnet_res[i]:.2f} MB"
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()
    print(f"flowmod {mx.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, BLAS threads per product {mx._native.blas_threads()}")
    run_mlp(args.repeat, args.iters)
    run_lenet()


if __name__ == "__main__":
    main()
