"""Run under mpirun (tests/test_dist.py): ``faults.py raise|kill|stall``: rank 1 raises, is
killed, or stops taking part (sleeps) after two steps; every other rank must get an
MXNetError naming rank 1 (raise, kill) or the watchdog's timeout (stall)."""
from __future__ import annotations

import os
import signal
import sys
import time

import flowmod as mx

mode = sys.argv[1]
kv = mx.kv.create("dist_sync")
kv.init("g", mx.nd.zeros((1000,)))
out = mx.nd.zeros((1000,))
start = time.monotonic()
try:
    for step in range(1000):
        if kv.rank == 1 and step == 2:
            if mode == "raise":
                raise ValueError("the data loader of rank 1 broke")
            if mode == "stall":
                time.sleep(15)
                os._exit(0)
            os.kill(os.getpid(), signal.SIGKILL)
        kv.push("g", mx.nd.ones((1000,)))
        kv.pull("g", out=out)
        out.asnumpy()
except mx.base.MXNetError as e:
    elapsed = time.monotonic() - start
    named = ("did not complete within" in str(e)) if mode == "stall" else ("rank 1" in str(e))
    print(f"{'PASS' if named else 'FAIL'} fault_{mode} after {elapsed:.1f}s: {e}", flush=True)
    sys.stdout.flush()
    os._exit(0 if named else 3)
print("FAIL no error", flush=True)
