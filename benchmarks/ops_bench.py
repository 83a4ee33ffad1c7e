"""Operator costs beside their peers and floors, in one run.

    python benchmarks/ops_bench.py [--repeat 5] [--only iadd,fc,conv,linalg,custom,rss]

Rows:
- iadd: ``a += b`` on 16 float32 from a Python loop, 100k times, then a wait for the result:
  flowmod beside numpy (in process), PyTorch and MXNet 1.9.1 (their venvs, see
  ../shared/peers/make-venvs.sh: FLOWMOD_PEER_TORCH, FLOWMOD_PEER_MXNET).
- fc: FullyConnected forward + backward (data, weight and bias gradients) at (batch 100,
  784 -> 128) and (1000, 784 -> 1024), beside the floor: the three float32 products it needs,
  called directly on the same BLAS from C++; and beside PyTorch's linear forward + backward.
- conv: LeNet's convolutions forward + backward (batch 64, 1x28x28 -> 20 5x5 -> max pool 2
  -> 50 5x5 -> max pool 2), beside PyTorch.
- argsort: argsort of 256 x 4096 float32 along the last axis, beside PyTorch's torch.argsort.
- custom: a trivial operator written in Python (mx.operator.CustomOp, identity by
  ``self.assign``) called imperatively on 16 float32 and waited for, per call, beside the same
  operator under MXNet 1.9.1 (its venv, FLOWMOD_PEER_MXNET), the two taking turns.
- linalg: linalg.gemm2 on a batch of 64 float32 128x128 matrices beside torch.bmm, and
  linalg.potrf on 64 float64 128x128 symmetric positive-definite matrices beside
  torch.linalg.cholesky.
- upsampling: UpSampling nearest, scale 2, on (32, 64, 56, 56) float32, forward and forward +
  backward, beside PyTorch's ``F.interpolate(mode="nearest")``.
- norms: LRN (nsize 5 on (32, 64, 28, 28)) and LayerNorm (last axis of (256, 1024)) float32,
  forward and forward + backward, beside PyTorch's ``F.local_response_norm`` and
  ``F.layer_norm``.
- rss: resident memory before and after 10k create-compute-drop iterations.

Every flowmod timing waits for the pushed work (``waitall``) before the clock stops. The best
of --repeat runs is reported: the machine is shared, and the minimum is the least disturbed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

import flowmod as mx
from _neutral import failure, run_python
from flowmod import _native, nd


def best(fn, repeat):
    return min(fn() for _ in range(repeat))


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


def fmt(seconds, unit=1e6, suffix="us"):
    return "     n/a" if seconds is None else f"{seconds * unit:8.2f} {suffix}"


# --- a += b -------------------------------------------------------------------------------
IADD_N = 100_000

TORCH_IADD = f"""
import json, time, torch
torch.set_num_threads(1)
a = torch.zeros(16); b = torch.ones(16)
best = 1e9
for _ in range({{repeat}}):
    t = time.perf_counter()
    for _ in range({IADD_N}):
        a += b
    a.sum().item()
    best = min(best, (time.perf_counter() - t) / {IADD_N})
print(json.dumps(best))
"""

MXNET_IADD = f"""
import json, time, mxnet as mx
a = mx.nd.zeros((16,)); b = mx.nd.ones((16,))
best = 1e9
for _ in range({{repeat}}):
    t = time.perf_counter()
    for _ in range({IADD_N}):
        a += b
    a.wait_to_read()
    best = min(best, (time.perf_counter() - t) / {IADD_N})
print(json.dumps(best))
"""


def bench_iadd(repeat):
    b = nd.ones((16,))

    def run():
        a = nd.zeros((16,))
        t = time.perf_counter()
        for _ in range(IADD_N):
            a += b
        a.wait_to_read()
        return (time.perf_counter() - t) / IADD_N

    an, bn = np.zeros(16, np.float32), np.ones(16, np.float32)

    def run_numpy():
        t = time.perf_counter()
        for _ in range(IADD_N):
            an.__iadd__(bn)
        return (time.perf_counter() - t) / IADD_N

    fm = best(run, repeat)
    rows = [("flowmod", fm), ("numpy", best(run_numpy, repeat)),
            ("torch", peer("FLOWMOD_PEER_TORCH", TORCH_IADD.format(repeat=repeat))),
            ("mxnet 1.9.1", peer("FLOWMOD_PEER_MXNET", MXNET_IADD.format(repeat=repeat)))]
    print(f"a += b, 16 float32, {IADD_N} times then a wait (per op; ratio = flowmod / peer)")
    for label, t in rows:
        print(f"  {label:12s} {fmt(t)}  {ratio(fm, t) if label != 'flowmod' else ''}")


# --- FullyConnected -----------------------------------------------------------------------
TORCH_FC = """
import json, time, torch
torch.manual_seed(0)
x = torch.randn({batch}, {k}); w = torch.randn({n}, {k}, requires_grad=True)
b = torch.zeros({n}, requires_grad=True); x.requires_grad_(True)
g = torch.randn({batch}, {n})
best = 1e9
for _ in range({repeat}):
    t = time.perf_counter()
    for _ in range({iters}):
        y = torch.nn.functional.linear(x, w, b)
        y.backward(g)
    best = min(best, (time.perf_counter() - t) / {iters})
print(json.dumps(best))
"""


def bench_fc(repeat):
    print("FullyConnected forward + backward (per pass; ratio = flowmod / reference)")
    for batch, k, n, iters in [(100, 784, 128, 200), (1000, 784, 1024, 20)]:
        rng = np.random.default_rng(0)
        x = nd.array(rng.standard_normal((batch, k)), dtype="float32")
        w = nd.array(rng.standard_normal((n, k)) * 0.05, dtype="float32")
        b = nd.zeros((n,))
        og = nd.array(rng.standard_normal((batch, n)), dtype="float32")
        gx, gw, gb = nd.zeros(x.shape), nd.zeros(w.shape), nd.zeros(b.shape)
        y = nd.zeros((batch, n))
        attrs = {"num_hidden": str(n)}
        fwd = _native.prepare("FullyConnected", attrs)
        handles = [x._h, w._h, b._h]
        grads = [gx._h, gw._h, gb._h]

        def run():
            mx.waitall()
            t = time.perf_counter()
            for _ in range(iters):
                fwd.push(y._h, True, *handles)
                _native.invoke_backward("FullyConnected", attrs, [og._h], handles, [y._h], grads,
                                        ["write"] * 3, True)
            mx.waitall()
            return (time.perf_counter() - t) / iters

        fm = best(run, repeat)
        floor = (_native.measure_sgemm(batch, n, k, False, True) +   # y = x w^T
                 _native.measure_sgemm(batch, k, n, False, False) +  # gx = og w
                 _native.measure_sgemm(n, k, batch, True, False))    # gw = og^T x
        th = peer("FLOWMOD_PEER_TORCH", TORCH_FC.format(batch=batch, k=k, n=n, repeat=repeat,
                                                        iters=iters))
        print(f"  ({batch}, {k}->{n}): flowmod {fmt(fm, 1e3, 'ms')}   3 x sgemm {fmt(floor, 1e3, 'ms')}"
              f" {ratio(fm, floor)}   torch {fmt(th, 1e3, 'ms')} {ratio(fm, th)}")


# --- LeNet convolutions -------------------------------------------------------------------
TORCH_CONV = """
import json, time, torch
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn(64, 1, 28, 28)
w1 = (torch.randn(20, 1, 5, 5) * 0.1).requires_grad_(); b1 = torch.zeros(20, requires_grad=True)
w2 = (torch.randn(50, 20, 5, 5) * 0.1).requires_grad_(); b2 = torch.zeros(50, requires_grad=True)
def step():
    h = F.max_pool2d(F.conv2d(x, w1, b1), 2)
    out = F.max_pool2d(F.conv2d(h, w2, b2), 2)
    out.backward(torch.ones_like(out))
for _ in range(3): step()
best = 1e9
for _ in range({repeat}):
    t = time.perf_counter()
    for _ in range({iters}):
        step()
    best = min(best, (time.perf_counter() - t) / {iters})
print(json.dumps(best))
"""


def bench_conv(repeat, iters=20):
    rng = np.random.default_rng(0)
    x = nd.array(rng.standard_normal((64, 1, 28, 28)), dtype="float32")
    w1 = nd.array(rng.standard_normal((20, 1, 5, 5)) * 0.1, dtype="float32")
    b1 = nd.zeros((20,))
    w2 = nd.array(rng.standard_normal((50, 20, 5, 5)) * 0.1, dtype="float32")
    b2 = nd.zeros((50,))
    c1 = {"kernel": "(5, 5)", "num_filter": "20"}
    c2 = {"kernel": "(5, 5)", "num_filter": "50"}
    pool = {"kernel": "(2, 2)", "stride": "(2, 2)", "pool_type": "max"}
    grads = {name: nd.zeros(a.shape) for name, a in
             [("x", x), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)]}

    def back(op, attrs, og, inputs, outputs, in_grads, req):
        _native.invoke_backward(op, attrs, [og._h], [a._h for a in inputs],
                                [o._h for o in outputs], [g._h for g in in_grads], req, True)

    def step():
        h1 = nd.Convolution(x, w1, b1, **c1)
        p1 = nd.Pooling(h1, **pool)
        h2 = nd.Convolution(p1, w2, b2, **c2)
        p2 = nd.Pooling(h2, **pool)
        g_p2 = nd.ones(p2.shape)
        g_h2, g_p1, g_h1 = nd.zeros(h2.shape), nd.zeros(p1.shape), nd.zeros(h1.shape)
        back("Pooling", pool, g_p2, [h2], [p2], [g_h2], ["write"])
        back("Convolution", c2, g_h2, [p1, w2, b2], [h2], [g_p1, grads["w2"], grads["b2"]],
             ["write"] * 3)
        back("Pooling", pool, g_p1, [h1], [p1], [g_h1], ["write"])
        # LeNet's first layer needs no gradient for its input images.
        back("Convolution", c1, g_h1, [x, w1, b1], [h1], [grads["x"], grads["w1"], grads["b1"]],
             ["null", "write", "write"])

    for _ in range(3):
        step()
    mx.waitall()

    def run():
        t = time.perf_counter()
        for _ in range(iters):
            step()
        mx.waitall()
        return (time.perf_counter() - t) / iters

    fm = best(run, repeat)
    th = peer("FLOWMOD_PEER_TORCH", TORCH_CONV.format(repeat=repeat, iters=iters))
    print("LeNet convolutions + max pooling, forward + backward, batch 64 (per step)")
    print(f"  flowmod {fmt(fm, 1e3, 'ms')}   torch {fmt(th, 1e3, 'ms')} {ratio(fm, th)}")


# --- argsort ------------------------------------------------------------------------------
TORCH_ARGSORT = """
import json, time, numpy as np, torch
x = torch.from_numpy(np.random.default_rng(0).standard_normal((256, 4096)).astype(np.float32))
for _ in range(3): torch.argsort(x, dim=-1)
best = 1e9
for _ in range({repeat}):
    t = time.perf_counter()
    for _ in range({iters}):
        torch.argsort(x, dim=-1)
    best = min(best, (time.perf_counter() - t) / {iters})
print(json.dumps(best))
"""


def bench_argsort(repeat, iters=20):
    x = nd.array(np.random.default_rng(0).standard_normal((256, 4096)), dtype="float32")
    out = nd.empty((256, 4096))
    for _ in range(3):
        nd.argsort(x, out=out)
    mx.waitall()

    def run():
        t = time.perf_counter()
        for _ in range(iters):
            nd.argsort(x, out=out)
        mx.waitall()
        return (time.perf_counter() - t) / iters

    fm = best(run, repeat)
    th = peer("FLOWMOD_PEER_TORCH", TORCH_ARGSORT.format(repeat=repeat, iters=iters))
    print("argsort, 256 x 4096 float32 along the last axis")
    print(f"  flowmod {fmt(fm, 1e3, 'ms')}   torch {fmt(th, 1e3, 'ms')} {ratio(fm, th)}")


# --- UpSampling ---------------------------------------------------------------------------
UP_SHAPE = (32, 64, 56, 56)

TORCH_UP = f"""
import json, time, torch
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn({UP_SHAPE}, requires_grad=True)
g = torch.ones({UP_SHAPE[:2]} + ({UP_SHAPE[2] * 2}, {UP_SHAPE[3] * 2}))
def fwd():
    with torch.no_grad():
        F.interpolate(x, scale_factor=2, mode="nearest")
def both():
    F.interpolate(x, scale_factor=2, mode="nearest").backward(g)
res = []
for fn in (fwd, both):
    for _ in range(2): fn()
    best = 1e9
    for _ in range({{repeat}}):
        t = time.perf_counter()
        for _ in range({{iters}}):
            fn()
        best = min(best, (time.perf_counter() - t) / {{iters}})
    res.append(best)
print(json.dumps(res))
"""


def bench_upsampling(repeat, iters=5):
    x = nd.array(np.random.default_rng(0).standard_normal(UP_SHAPE), dtype="float32")
    attrs = {"scale": "2", "sample_type": "nearest", "num_args": "1"}
    out_shape = UP_SHAPE[:2] + (UP_SHAPE[2] * 2, UP_SHAPE[3] * 2)
    y, dy, dx = nd.zeros(out_shape), nd.ones(out_shape), nd.zeros(UP_SHAPE)

    def fwd():
        nd.UpSampling(x, scale=2, sample_type="nearest", out=y)

    def both():
        fwd()
        _native.invoke_backward("UpSampling", attrs, [dy._h], [x._h], [y._h], [dx._h], ["write"], True)

    def timed(fn):
        for _ in range(2):
            fn()
        mx.waitall()

        def run():
            t = time.perf_counter()
            for _ in range(iters):
                fn()
            mx.waitall()
            return (time.perf_counter() - t) / iters
        return best(run, repeat)

    fm = [timed(fwd), timed(both)]
    th = peer("FLOWMOD_PEER_TORCH", TORCH_UP.format(repeat=repeat, iters=iters)) or [None, None]
    print(f"UpSampling nearest x2 of {UP_SHAPE} float32 (per call)")
    for label, f, t in zip(("forward", "forward + backward"), fm, th):
        print(f"  {label:18s} flowmod {fmt(f, 1e3, 'ms')}   torch {fmt(t, 1e3, 'ms')} {ratio(f, t)}")


# --- LRN and LayerNorm --------------------------------------------------------------------
LRN_SHAPE = (32, 64, 28, 28)
LN_SHAPE = (256, 1024)

TORCH_NORMS = f"""
import json, time, torch
import torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn({LRN_SHAPE}, requires_grad=True)
h = torch.randn({LN_SHAPE}, requires_grad=True)
gamma = torch.ones({LN_SHAPE[1]}, requires_grad=True); beta = torch.zeros({LN_SHAPE[1]}, requires_grad=True)
gx, gh = torch.ones({LRN_SHAPE}), torch.ones({LN_SHAPE})
def lrn():
    return F.local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0)
def ln():
    return F.layer_norm(h, ({LN_SHAPE[1]},), gamma, beta, eps=1e-5)
def fwd(f):
    def run():
        with torch.no_grad():
            f()
    return run
def both(f, g):
    return lambda: f().backward(g)
res = []
for fn in (fwd(lrn), both(lrn, gx), fwd(ln), both(ln, gh)):
    for _ in range(2): fn()
    best = 1e9
    for _ in range({{repeat}}):
        t = time.perf_counter()
        for _ in range({{iters}}):
            fn()
        best = min(best, (time.perf_counter() - t) / {{iters}})
    res.append(best)
print(json.dumps(res))
"""


def _timed_calls(fn, repeat, iters):
    for _ in range(2):
        fn()
    mx.waitall()

    def run():
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        mx.waitall()
        return (time.perf_counter() - t) / iters
    return best(run, repeat)


def bench_norms(repeat, iters=10):
    rng = np.random.default_rng(0)
    x = nd.array(rng.standard_normal(LRN_SHAPE), dtype="float32")
    y, norm, dy, dx = nd.zeros(LRN_SHAPE), nd.zeros(LRN_SHAPE), nd.ones(LRN_SHAPE), nd.zeros(LRN_SHAPE)
    lrn_attrs = {"nsize": "5", "alpha": "0.0001", "beta": "0.75", "knorm": "2"}
    lrn = _native.prepare("LRN", lrn_attrs)
    h = nd.array(rng.standard_normal(LN_SHAPE), dtype="float32")
    gamma, beta = nd.ones((LN_SHAPE[1],)), nd.zeros((LN_SHAPE[1],))
    rows = (LN_SHAPE[0], 1)
    hy, mean, std = nd.zeros(LN_SHAPE), nd.zeros(rows), nd.zeros(rows)
    hdy, hdx, dgamma, dbeta = nd.ones(LN_SHAPE), nd.zeros(LN_SHAPE), nd.zeros((LN_SHAPE[1],)), nd.zeros((LN_SHAPE[1],))
    ln_attrs = {"axis": "-1", "eps": "1e-05"}
    ln = _native.prepare("LayerNorm", ln_attrs)

    def lrn_fwd():
        lrn.push([y._h, norm._h], False, x._h)

    def lrn_both():
        lrn_fwd()
        _native.invoke_backward("LRN", lrn_attrs, [dy._h], [x._h], [y._h, norm._h], [dx._h], ["write"], True)

    def ln_fwd():
        ln.push([hy._h, mean._h, std._h], False, h._h, gamma._h, beta._h)

    def ln_both():
        ln_fwd()
        _native.invoke_backward("LayerNorm", ln_attrs, [hdy._h], [h._h, gamma._h, beta._h], [hy._h, mean._h, std._h],
                                [hdx._h, dgamma._h, dbeta._h], ["write"] * 3, True)

    fm = [_timed_calls(f, repeat, iters) for f in (lrn_fwd, lrn_both, ln_fwd, ln_both)]
    th = peer("FLOWMOD_PEER_TORCH", TORCH_NORMS.format(repeat=repeat, iters=iters)) or [None] * 4
    labels = (f"LRN nsize 5 {LRN_SHAPE} forward", f"LRN nsize 5 {LRN_SHAPE} forward + backward",
              f"LayerNorm {LN_SHAPE} forward", f"LayerNorm {LN_SHAPE} forward + backward")
    print("LRN and LayerNorm, float32 (per call; ratio = flowmod / torch)")
    for label, f, t in zip(labels, fm, th):
        print(f"  {label:45s} flowmod {fmt(f, 1e3, 'ms')}   torch {fmt(t, 1e3, 'ms')} {ratio(f, t)}")


# --- a custom operator written in Python ------------------------------------------------
CUSTOM_N = 2000

# The identity operator, the same source for flowmod and MXNet; TURN times a turn of calls.
CUSTOM_OP = f"""
import json, sys, time

class Identity(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0])

@mx.operator.register("bench_identity")
class IdentityProp(mx.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return Identity()

x = mx.nd.ones((16,))

def turn():
    t = time.perf_counter()
    for _ in range({CUSTOM_N}):
        mx.nd.Custom(x, op_type="bench_identity").wait_to_read()
    return (time.perf_counter() - t) / {CUSTOM_N}

turn()
"""

# MXNet's side: one turn per line read, so that the two runtimes alternate on the machine.
MXNET_CUSTOM = "import mxnet as mx\n" + CUSTOM_OP + """
print("ready", flush=True)
for line in sys.stdin:
    print(json.dumps(turn()), flush=True)
"""


def bench_custom(repeat):
    scope = {"mx": mx}
    exec(CUSTOM_OP, scope)
    python = os.environ.get("FLOWMOD_PEER_MXNET")
    peer_proc = None
    if python:
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(MXNET_CUSTOM)
        peer_proc = subprocess.Popen([python, f.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir())
        if peer_proc.stdout.readline().strip() != "ready":
            print("  (FLOWMOD_PEER_MXNET failed to start)")
            peer_proc = None
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(scope["turn"]())
        if peer_proc is not None:
            peer_proc.stdin.write("turn\n")
            peer_proc.stdin.flush()
            theirs.append(json.loads(peer_proc.stdout.readline()))
    if peer_proc is not None:
        peer_proc.stdin.close()
        peer_proc.wait()
    fm, mxn = min(ours), (min(theirs) if theirs else None)
    print(f"custom operator (Python identity), mx.nd.Custom on 16 float32 then a wait, "
          f"{CUSTOM_N} calls a turn (per call; ratio = flowmod / peer)")
    print(f"  flowmod      {fmt(fm)}")
    print(f"  mxnet 1.9.1  {fmt(mxn)}  {ratio(fm, mxn)}")


# --- linalg ---------------------------------------------------------------------------------
TORCH_LINALG = """
import json, time, torch
torch.manual_seed(0)
a = torch.randn(64, 128, 128); b = torch.randn(64, 128, 128)
s = torch.randn(64, 128, 128, dtype=torch.float64); s = s @ s.transpose(1, 2) + 128 * torch.eye(128, dtype=torch.float64)
def timed(fn, iters):
    fn()
    best = 1e9
    for _ in range({repeat}):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        best = min(best, (time.perf_counter() - t) / iters)
    return best
print(json.dumps([timed(lambda: torch.bmm(a, b), 50), timed(lambda: torch.linalg.cholesky(s), 20)]))
"""


def bench_linalg(repeat):
    print("linalg (per call; ratio = flowmod / torch)")
    rng = np.random.default_rng(0)
    a = nd.array(rng.standard_normal((64, 128, 128)), dtype="float32")
    b = nd.array(rng.standard_normal((64, 128, 128)), dtype="float32")
    s = rng.standard_normal((64, 128, 128))
    spd = nd.array(s @ s.transpose(0, 2, 1) + 128 * np.eye(128), dtype="float64")
    out32, out64 = nd.zeros((64, 128, 128)), nd.zeros((64, 128, 128), dtype="float64")
    gemm2, potrf = _native.prepare("_linalg_gemm2", {}), _native.prepare("_linalg_potrf", {})

    def timed(push, iters):
        def run():
            mx.waitall()
            t = time.perf_counter()
            for _ in range(iters):
                push()
            mx.waitall()
            return (time.perf_counter() - t) / iters
        run()
        return best(run, repeat)

    fm = [timed(lambda: gemm2.push(out32._h, False, a._h, b._h), 50),
          timed(lambda: potrf.push(out64._h, False, spd._h), 20)]
    th = peer("FLOWMOD_PEER_TORCH", TORCH_LINALG.format(repeat=repeat)) or [None, None]
    for label, f, t in zip(["gemm2 64 x 128x128 float32 (torch.bmm)",
                            "potrf 64 x 128x128 float64 (torch.linalg.cholesky)"], fm, th):
        print(f"  {label}: flowmod {fmt(f, 1e3, 'ms')}   torch {fmt(t, 1e3, 'ms')} {ratio(f, t)}")


# --- RSS ----------------------------------------------------------------------------------
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def bench_rss(iters=10_000):
    def loop(n):
        for i in range(n):
            a = nd.ones((256, 64))
            b = a * 2.0 + a
            c = nd.FullyConnected(b, nd.ones((32, 64)), nd.zeros((32,)), num_hidden=32)
            del a, b, c
        mx.waitall()

    loop(1000)  # warm the pool and the allocator
    marks = [rss_mib()]
    t = time.perf_counter()
    for _ in range(4):
        loop(iters // 4)
        marks.append(rss_mib())
    elapsed = time.perf_counter() - t
    used, pooled = _native.storage_bytes()
    print(f"create-compute-drop, {iters} iterations ({elapsed / iters * 1e6:.1f} us each)")
    print("  RSS every quarter: " + " -> ".join(f"{m:.1f}" for m in marks) +
          f" MiB; storage in use {used / 2**20:.2f} MiB, pooled {pooled / 2**20:.2f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="iadd,fc,conv,argsort,custom,linalg,upsampling,norms,rss")
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"flowmod {mx.__version__}: {mx.engine.num_workers()} compute workers on cpu(0), "
          f"BLAS threads {_native.blas_threads()}, "
          f"python {sys.version.split()[0]}")
    if "iadd" in only:
        bench_iadd(args.repeat)
    if "fc" in only:
        bench_fc(args.repeat)
    if "conv" in only:
        bench_conv(args.repeat)
    if "argsort" in only:
        bench_argsort(args.repeat)
    if "custom" in only:
        bench_custom(args.repeat)
    if "linalg" in only:
        bench_linalg(args.repeat)
    if "upsampling" in only:
        bench_upsampling(args.repeat)
    if "norms" in only:
        bench_norms(args.repeat)
    if "rss" in only:
        bench_rss()


if __name__ == "__main__":
    main()
