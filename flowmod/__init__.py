"""flowmod: an asynchronous dataflow engine for training neural networks with MXNet's
Module API.

``import flowmod as mx`` gives MXNet 1.9's names (``mx.nd``, ``mx.sym``, ``mx.mod``, ``mx.io``,
...); the additions, ``mx.Future`` and ``mx.telemetry``, are described in README.md.
"""
from __future__ import annotations

# Loads OpenBLAS and oneDNN into the process before flowmod._native, which links them.
from . import _libs

_libs.require_native()

from . import base, context, engine, ndarray
from . import ndarray as nd
from . import random
from . import attribute, name, symbol
from . import registry
from . import callback, initializer, io, kvstore, lr_scheduler, metric, model, optimizer
from . import initializer as init
from . import executor, module, monitor, rnn
from . import operator
from . import telemetry
from . import profiler
from . import recordio
from . import image
from . import module as mod
from . import monitor as mon
from . import kvstore as kv
from . import optimizer as opt
from . import symbol as sym
from .attribute import AttrScope
from .base import MXNetError
from .future import Future
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus
from .ndarray import waitall

__version__ = "0.1.0"
