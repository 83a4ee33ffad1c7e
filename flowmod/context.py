"""Devices: ``Context``, ``cpu(i)``, ``gpu(i)`` and the default context (``mxnet.context``)."""
from __future__ import annotations

import contextvars

from .base import MXNetError

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus"]


class Context:
    """Context(device_type, device_id=0)

    A device an array lives on and an operator runs on. ``cpu(i)`` for any ``i >= 0`` is a
    device with its own engine workers; ``gpu(i)`` needs a CUDA build (``num_gpus()``).
    A context is also a ``with`` block that sets the default context::

        with flowmod.cpu(1):
            assert flowmod.current_context() == flowmod.cpu(1)

    Parameters
    ----------
    device_type : {'cpu', 'gpu', 'cpu_pinned', 'cpu_shared'} or Context
    device_id : int
    """

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
    __slots__ = ("device_typeid", "device_id", "_tokens")

    def __init__(self, device_type: "str | Context", device_id: int = 0):
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
        else:
            if device_type not in self.devstr2type:
                raise MXNetError(
                    f"device_type={device_type!r}: expected one of "
                    f"{sorted(self.devstr2type)} or a Context")
            self.device_typeid = self.devstr2type[device_type]
            if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
                raise MXNetError(f"device_id={device_id!r}: expected an integer >= 0")
            self.device_id = device_id
        self._tokens: list = []

    @property
    def device_type(self) -> str:
        """The device's kind: 'cpu', 'gpu', 'cpu_pinned' or 'cpu_shared'."""
        return self.devtype2str[self.device_typeid]

    @property
    def engine_device(self) -> tuple[int, int]:
        """(type, index) of the engine device that runs this context's work. Pinned and
        shared CPU memory are host memory: their work runs on the CPU device."""
        return (2 if self.device_typeid == 2 else 1), self.device_id

    def __hash__(self) -> int:
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Context) and self.device_typeid == other.device_typeid
                and self.device_id == other.device_id)

    def __str__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    __repr__ = __str__

    def __enter__(self) -> "Context":
        self._tokens.append(_current.set(self))
        return self

    def __exit__(self, *exc) -> None:
        _current.reset(self._tokens.pop())


def cpu(device_id: int = 0) -> Context:
    """cpu(device_id=0): the CPU context ``device_id``."""
    return Context("cpu", device_id)


def gpu(device_id: int = 0) -> Context:
    """gpu(device_id=0): the GPU context ``device_id`` (usable when ``num_gpus() > device_id``)."""
    return Context("gpu", device_id)


def cpu_pinned(device_id: int = 0) -> Context:
    """cpu_pinned(device_id=0): page-locked host memory, for fast copies to a GPU."""
    return Context("cpu_pinned", device_id)


def num_gpus() -> int:
    """The number of GPUs flowmod can drive: 0 in a build without CUDA."""
    return 0


_CPU0 = Context("cpu", 0)
# The default context of each thread (and of each asyncio task, which copies its creator's).
# A context variable, not threading.local: it is read once per operation, and is far cheaper.
_current: contextvars.ContextVar = contextvars.ContextVar("flowmod_context", default=None)


def current_context() -> Context:
    """The default context: ``cpu(0)`` unless a ``with ctx:`` block sets another."""
    return _current.get() or _CPU0
