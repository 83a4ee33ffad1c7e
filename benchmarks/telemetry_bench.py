"""What turning telemetry on costs a training run, measured within one process.

    python benchmarks/telemetry_bench.py [--rounds 16] [--repeat 3] [--batches 32,100]
                                         [--mode callbacks|following]

module_bench.py compares separate processes with and without telemetry, and on a machine
shared with other work processes differ by more than the cost looked for. Here one process
trains MLP 784-128-64-10 (SGD with momentum, accuracy every batch) and alternates epochs
with a PrometheusReporter as fit's callbacks and the metrics endpoint scraped every second
(by another process, as Prometheus would) and epochs with neither, --rounds pairs in
ABBA order, so slow drifts of the machine fall on both alike. With ``--mode following``
the epochs with telemetry pass no callbacks: fit reports by itself to the endpoint being
served; the epochs without pass ``telemetry=False``. Each line prints both throughputs, the
change telemetry makes, and the change of the process's CPU time per sample (all its
threads: the training thread, the engine's workers and the endpoint's); --repeat runs a
fresh process per batch size.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

from _neutral import failure, run_python

CODE = """
import json, logging, subprocess, sys, time
import numpy as np
logging.disable(logging.WARNING)
import flowmod as mx
from flowmod import telemetry
batch, rounds, SCRAPER, mode = json.loads(sys.argv[1])
samples = 4000 if batch <= 32 else 10000
rng = np.random.default_rng(0)
x = rng.random((samples, 784), dtype=np.float32)
y = rng.integers(0, 10, samples).astype(np.float32)
h = mx.sym.Variable("data")
for i, n in enumerate((128, 64)):
    h = mx.sym.Activation(mx.sym.FullyConnected(h, num_hidden=n, name=f"fc{i}"),
                          act_type="relu")
net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, num_hidden=10, name="out"),
                           name="softmax")
server, _ = telemetry.start_http_server(0)
url = f"http://127.0.0.1:{server.server_port}/metrics"
reporter = telemetry.PrometheusReporter("bench")
# The scraper is another process, as Prometheus is: told on its stdin when to scrape.
scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, url], stdin=subprocess.PIPE)
def scraping(on):
    scraper.stdin.write(b"1" if on else b"0")
    scraper.stdin.flush()
it = mx.io.NDArrayIter(x, y, batch_size=batch)
mod = mx.mod.Module(net, context=mx.cpu())
opt = {"learning_rate": 0.01, "momentum": 0.9}
mod.fit(it, num_epoch=1, optimizer="sgd", optimizer_params=opt, initializer=mx.init.Xavier())
seconds = {False: 0.0, True: 0.0}
cpu = {False: 0.0, True: 0.0}
epoch = 1
for r in range(rounds):
    for on in ((False, True) if r % 2 == 0 else (True, False)):
        scraping(on)
        mx.nd.waitall()
        if not on:
            kwargs = {"telemetry": False}
        else:
            kwargs = reporter.callbacks() if mode == "callbacks" else {}
        t, c = time.perf_counter(), time.process_time()
        mod.fit(it, begin_epoch=epoch, num_epoch=epoch + 1, optimizer="sgd",
                optimizer_params=opt, **kwargs)
        mx.nd.waitall()
        seconds[on] += time.perf_counter() - t
        cpu[on] += time.process_time() - c
        epoch += 1
scraper.kill()
print(json.dumps([rounds * samples / seconds[False], rounds * samples / seconds[True],
                  cpu[True] / cpu[False] - 1]))
"""

SCRAPER = """
import os, select, sys, time, urllib.request
on = False
while True:
    time.sleep(1.0)
    while select.select([0], [], [], 0)[0]:
        got = os.read(0, 64)
        if not got:
            sys.exit(0)
        on = got[-1:] == b"1"
    if on:
        urllib.request.urlopen(sys.argv[1], timeout=10).read()
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=16, help="pairs of epochs per process")
    parser.add_argument("--repeat", type=int, default=3, help="processes per batch size")
    parser.add_argument("--batches", default="32,100", help="batch sizes, comma-separated")
    parser.add_argument("--mode", default="callbacks", choices=("callbacks", "following"),
                        help="a reporter as fit's callbacks, or fit following the endpoint")
    args = parser.parse_args()
    print(f"MLP 784-128-64-10; {args.rounds} epochs each way, interleaved in one process; "
          f"telemetry: {args.mode}")
    print(f"{'batch':>6} {'without':>12} {'with telemetry':>15} {'change':>8} {'CPU/sample':>10}")
    for batch in (int(b) for b in args.batches.split(",")):
        changes, cpu_changes = [], []
        for _ in range(args.repeat):
            res = run_python(sys.executable, textwrap.dedent(CODE),
                             json.dumps([batch, args.rounds, SCRAPER, args.mode]))
            if res.returncode != 0:
                print(f"    (batch {batch}: {failure(res)})")
                continue
            plain, on, cpu_change = json.loads(res.stdout.strip().splitlines()[-1])
            changes.append(on / plain - 1)
            cpu_changes.append(cpu_change)
            print(f"{batch:>6} {plain:>10,.0f}/s {on:>13,.0f}/s {on / plain - 1:>+8.1%} "
                  f"{cpu_change:>+10.1%}")
        if changes:
            print(f"{batch:>6} mean change {sum(changes) / len(changes):+.1%}, CPU per sample "
                  f"{sum(cpu_changes) / len(cpu_changes):+.1%}")


if __name__ == "__main__":
    main()
