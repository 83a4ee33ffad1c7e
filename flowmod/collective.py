"""Collectives between the workers of a distributed job, over MPI (``mpi4py``).

Every MPI call of the process is made by one thread, the *communication thread*, so no MPI
thread level beyond ``MPI_THREAD_SERIALIZED`` is needed. Work reaches it in submission order
(the order the program submits it, the same on every worker, since every worker runs the same
program): a collective starts once its local data is ready, is driven with non-blocking MPI
calls (which release the GIL) and waited for under a watchdog:

- a worker whose program raises tells the others before it exits (:func:`install_excepthook`),
  and their pending and later collectives fail with ``MXNetError`` naming its rank and error;
- a collective that does not complete within ``FLOWMOD_DIST_TIMEOUT`` seconds (default 60)
  fails with ``MXNetError`` naming the ranks found no longer running (checked by process id
  for peers on this host), or saying that none could be checked;
- after a failure, every later collective fails at once with the same error.

Gradient allreduces are engine operations (``engine.push_async``) on the copy lane: they
start as soon as backward has written the gradients they read, hold no worker while they
wait, and overlap the rest of backward.
"""
from __future__ import annotations

import atexit
import collections
import os
import signal
import socket
import sys
import threading
import time

import numpy as np

from .base import MXNetError

__all__ = ["World", "world", "active_rank"]

_FAIL_TAG = 7301
_world: "World | None" = None
_world_lock = threading.Lock()


def _load_mpi():
    try:
        import mpi4py
    except ImportError:
        raise MXNetError("distributed stores need mpi4py and an MPI library: install "
                         "flowmod's 'dist' extra (pip install 'flowmod[dist]') and start the "
                         "workers with python -m flowmod.launch") from None
    # The communication thread stops before MPI is finalized (see World.close).
    mpi4py.rc.threads = True
    mpi4py.rc.thread_level = "serialized"
    from mpi4py import MPI
    return MPI


def world() -> "World":
    """The process's MPI world, initialized (and its communication thread started) on first
    use."""
    global _world
    with _world_lock:
        if _world is None:
            _world = World(_load_mpi())
            atexit.register(_world.close)
        return _world


def active_rank() -> int:
    """This worker's rank if a distributed store has been created, else 0."""
    return _world.rank if _world is not None else 0


class _Item:
    """One unit of work for the communication thread: ``run(world)`` does its MPI calls;
    ``ready`` is set once its local data may be read."""
    __slots__ = ("name", "run", "ready", "finish")

    def __init__(self, name, run, finish, ready=None):
        self.name = name
        self.run = run
        self.finish = finish
        self.ready = ready


class World:
    """The workers of one job: ``rank``, ``size``, and the communication thread."""

    def __init__(self, MPI):
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.ctrl = MPI.COMM_WORLD.Dup()
        self.p2p = MPI.COMM_WORLD.Dup()
        self.pollers: list = []
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.thread_level = MPI.Query_thread()
        self.timeout = float(os.environ.get("FLOWMOD_DIST_TIMEOUT", "60"))
        self.peers = self.comm.allgather((socket.gethostname(), os.getpid()))
        self._items: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._error: MXNetError | None = None
        self._local_failure: str | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="flowmod-mpi", daemon=True)
        self._thread.start()

    # -- submitting work -------------------------------------------------------------------
    def submit(self, name: str, run, finish, ready: threading.Event | None = None) -> None:
        """Queues ``run(world)`` (MPI calls through :meth:`wait_request`) after every earlier
        submission; ``finish(error_or_None)`` is called on the communication thread."""
        with self._cond:
            self._items.append(_Item(name, run, finish, ready))
            self._cond.notify()

    def call(self, name: str, run):
        """Runs ``run(world)`` on the communication thread and returns its result (waits)."""
        done = threading.Event()
        box: list = []

        def finish(error):
            box.append(error)
            done.set()

        def body(w):
            box.append(run(w))
        self.submit(name, body, finish)
        while not done.wait(0.05):
            pass
        if box[-1] is not None:
            raise MXNetError(box[-1])
        return box[0]

    # -- the communication thread ------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._items and not self._closing:
                    self._cond.wait(0.002 if self.pollers else 0.1)
                item = self._items.popleft() if self._items else None
                closing = self._closing
            if item is None:
                if closing:
                    return
                self._poll_notices()
                self._run_pollers()
                continue
            error = self._error.args[0] if self._error is not None else None
            if error is None:
                try:
                    if item.ready is not None:
                        self._wait_ready(item)
                    item.run(self)
                except MXNetError as e:
                    error = str(e)
                except Exception as e:  # noqa: BLE001 - reported to the waiting operation
                    error = f"{item.name}: {type(e).__name__}: {e}"
            item.finish(error)

    def _wait_ready(self, item: _Item) -> None:
        while not item.ready.wait(0.002 if self.pollers else 0.05):
            self._poll_notices()
            self._run_pollers()
            if self._error is not None:
                raise self._error

    def wait_request(self, request, what: str):
        """Drives ``request`` (a non-blocking MPI request) to completion, watching for peers'
        failure notices and the timeout."""
        deadline = time.monotonic() + self.timeout
        pause = 0.0
        spins = 0
        while True:
            done, _ = request.test()
            if done:
                return
            spins += 1
            if spins % 64 == 0:
                self._poll_notices()
                self._run_pollers()
                if self._error is not None:
                    raise self._error
                if time.monotonic() > deadline:
                    self._error = MXNetError(self._timeout_message(what))
                    raise self._error
            if spins > 200:
                pause = min(0.0003, pause + 0.00005)
                time.sleep(pause)

    def _run_pollers(self) -> None:
        for poll in self.pollers:
            poll(self)

    def _timeout_message(self, what: str) -> str:
        host = socket.gethostname()
        dead = _dead_peers(self)
        unknown = [r for r, (h, _) in enumerate(self.peers) if h != host]
        if dead:
            cause = ", ".join(f"rank {r} (pid {self.peers[r][1]})" for r in dead) + \
                " is no longer running"
        elif unknown:
            cause = f"ranks {unknown} on other hosts could not be checked"
        else:
            cause = "every peer is still running: one may be stuck or far behind"
        return (f"rank {self.rank}: {what} did not complete within {self.timeout:g} s "
                f"(FLOWMOD_DIST_TIMEOUT): {cause}")

    def _poll_notices(self) -> None:
        MPI = self.MPI
        if self._local_failure is not None:
            self._send_failure()
        status = MPI.Status()
        if self.ctrl.iprobe(source=MPI.ANY_SOURCE, tag=_FAIL_TAG, status=status):
            message = self.ctrl.recv(source=status.Get_source(), tag=_FAIL_TAG)
            if self._error is None:
                self._error = MXNetError(
                    f"rank {self.rank}: worker rank {status.Get_source()} failed: {message}")

    def _send_failure(self) -> None:
        message, self._local_failure = self._local_failure, None
        requests = [self.ctrl.isend(message, dest=r, tag=_FAIL_TAG)
                    for r in range(self.size) if r != self.rank]
        deadline = time.monotonic() + 2.0
        while requests and time.monotonic() < deadline:
            requests = [q for q in requests if not q.test()[0]]
            time.sleep(0.001)
        if self._error is None:
            self._error = MXNetError(f"rank {self.rank} failed: {message}")

    # -- failures and shutdown ---------------------------------------------------------------
    def notify_failure(self, message: str) -> None:
        """Tells the other workers that this one failed with ``message`` (waits up to ~2 s
        for the notices to leave)."""
        if self._error is not None and self._local_failure is None:
            return
        self._local_failure = message
        with self._cond:
            self._cond.notify()
        deadline = time.monotonic() + 3.0
        while self._local_failure is not None and time.monotonic() < deadline \
                and self._thread.is_alive():
            time.sleep(0.01)

    def close(self) -> None:
        """Stops the communication thread once its queue is drained (at exit)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout=self.timeout)

    # -- collectives on numpy buffers (on the communication thread) --------------------------
    def allreduce_inplace(self, buf: np.ndarray, what: str) -> None:
        self.wait_request(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM), what)

    def bcast_inplace(self, buf: np.ndarray, what: str, root: int = 0) -> None:
        self.wait_request(self.comm.Ibcast(buf, root=root), what)

    def barrier(self, what: str = "barrier") -> None:
        self.wait_request(self.comm.Ibarrier(), what)


def _dead_peers(w: World) -> list:
    host = socket.gethostname()
    dead = []
    for r, (h, pid) in enumerate(w.peers):
        if r != w.rank and h == host:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(r)
            except PermissionError:
                pass
    return dead


def install_excepthook(w: World) -> None:
    """Makes an uncaught exception of the main thread tell the other workers before the
    process exits, so they fail at once instead of at the timeout; and makes the launcher's
    SIGTERM (mpirun stops the job when a worker dies) raise ``MXNetError`` naming the dead
    rank where it can be found, instead of ending the process silently."""
    if getattr(w, "_hooks_installed", False):
        return
    w._hooks_installed = True
    previous = sys.excepthook
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def on_term(signum, frame):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            dead = _dead_peers(w)
            who = (", ".join(f"worker rank {r} (pid {w.peers[r][1]}) died" for r in dead)
                   or "a worker failed or the job was cancelled")
            error = MXNetError(f"rank {w.rank}: stopped by the launcher (SIGTERM): {who}")
            if w._error is None:
                w._error = error
            raise error
        signal.signal(signal.SIGTERM, on_term)

    def hook(kind, value, tb):
        try:
            w.notify_failure(f"{kind.__name__}: {value}")
        finally:
            previous(kind, value, tb)
    sys.excepthook = hook
