"""Runs every fuzz target for a bounded number of inputs, starting from its seed corpus;
exits non-zero if any target found a crash or an exception other than MXNetError.

    python tests/fuzz/run_all.py                      # CI: about a minute in all
    python tests/fuzz/run_all.py --runs 1000000 --seconds 3600 --target sym_load_json

Each target runs in its own process (libFuzzer ends the process when it is done). The
inputs it finds go to a temporary directory, so the seed corpus is left as it is; an input
that fails is kept in --artifacts (printed), to turn into a regression test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ("nd_load_frombuffer", "sym_load_json", "module_load", "load_optimizer_states")
# Inputs per target for the default run: about what each manages in 10 s on a 2-core
# machine (the checkpoint and states targets bind and update a module per input).
DEFAULT_RUNS = {"nd_load_frombuffer": 20000, "sym_load_json": 20000, "module_load": 1000,
                "load_optimizer_states": 1500}


def run(target: str, runs: int, seconds: int, artifacts: str) -> int:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as found:
        cmd = [sys.executable, os.path.join(HERE, f"fuzz_{target}.py"), found,
               os.path.join(HERE, "corpus", target), f"-runs={runs}",
               f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=4096",
               f"-artifact_prefix={artifacts}{os.sep}{target}-", "-print_final_stats=1"]
        start = time.monotonic()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        took = time.monotonic() - start
    done = [line for line in proc.stdout.splitlines() if line.startswith("Done ")]
    summary = done[-1] if done else "no summary"
    print(f"{target}: exit {proc.returncode} after {took:.1f} s ({summary})", flush=True)
    if proc.returncode != 0:
        print(proc.stdout[-6000:], flush=True)
    return proc.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="append", choices=TARGETS,
                        help="run only this target (repeatable; default: all)")
    parser.add_argument("--runs", type=int, default=None,
                        help="inputs per target (default: a CI-sized number for each)")
    parser.add_argument("--seconds", type=int, default=30,
                        help="at most this long per target, whatever --runs says")
    parser.add_argument("--artifacts", default=os.path.join(tempfile.gettempdir(),
                                                            "flowmod-fuzz-artifacts"),
                        help="where failing inputs are written")
    args = parser.parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    os.makedirs(args.artifacts, exist_ok=True)
    failed = [t for t in (args.target or TARGETS)
              if run(t, args.runs or DEFAULT_RUNS[t], args.seconds, args.artifacts) != 0]
    if failed:
        print(f"fuzzing failed for {', '.join(failed)}; inputs in {args.artifacts}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
