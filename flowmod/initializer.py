"""Weight initializers (``mxnet.initializer``, also ``mx.init``).

An initializer is called with a descriptor of the parameter (an :class:`InitDesc`: its name
and the attributes of its variable) and the array to fill. As in MXNet 1.9 it picks what to
do from the name's ending: ``*weight`` gets the initializer's own rule (``_init_weight``),
``*bias`` and ``*beta`` 0, ``*gamma`` 1, the running statistics ``*moving_mean``,
``*moving_inv_var``, ``*moving_avg`` 0 and ``*moving_var`` 1, ``*min`` 0 and ``*max`` 1.
A variable created with ``mx.sym.Variable(name, init=...)`` carries its own initializer in
the attribute ``__init__`` (the JSON of ``dumps()``), which then decides for that array::

    init = mx.init.Xavier(magnitude=2.0)
    w = mx.nd.empty((64, 32))
    init(mx.init.InitDesc("fc1_weight"), w)

Random initializers draw through ``mx.random`` on the engine, so ``mx.random.seed`` makes
them reproducible.
"""
from __future__ import annotations

import json
import logging
import math
import re
import warnings

import numpy as np

from . import random
from . import ndarray, registry
from .base import string_types
from .ndarray import NDArray, load

# A named logger: records propagate to the handlers the application configures, and
# flowmod never installs one on the root logger (as logging.info would).
_log = logging.getLogger(__name__)

__all__ = ["InitDesc", "Initializer", "register", "alias", "create", "Load", "Mixed", "Zero",
           "One", "Constant", "Uniform", "Normal", "Orthogonal", "Xavier", "MSRAPrelu",
           "Bilinear", "LSTMBias"]


class InitDesc(str):
    """InitDesc(name, attrs=None, global_init=None)

    Describes a parameter to initialize: a ``str`` (the name) with

    Attributes
    ----------
    attrs : dict of str to str
        The attributes of the parameter's variable (from ``Symbol.attr_dict()``);
        ``attrs['__init__']``, when present, names the initializer to use.
    global_init : Initializer
        The initializer that was called first (set by it when None).
    """

    def __new__(cls, name, attrs=None, global_init=None):
        desc = super().__new__(cls, name)
        desc.attrs = attrs or {}
        desc.global_init = global_init
        return desc


def _check_array(arr, who: str) -> None:
    if not isinstance(arr, NDArray):
        raise TypeError(f"{who}: arr={arr!r}: expected an NDArray to initialize")


class Initializer:
    """Initializer(**kwargs)

    The base class of initializers. A subclass defines ``_init_weight(desc, arr)`` and may
    change ``_init_bias``, ``_init_gamma``, ``_init_beta`` (0, 1 and 0 here). The keyword
    arguments given to ``__init__`` are what ``dumps()`` records.
    """

    def __init__(self, **kwargs):
        self._kwargs = kwargs
        self._verbose = False
        self._print_func = None

    def set_verbosity(self, verbose=False, print_func=None):
        """set_verbosity(verbose=False, print_func=None)

        With ``verbose``, logs every array initialized with ``print_func(arr)`` (a str;
        default: the root mean square of the values, ``norm(arr) / sqrt(size)``). Returns
        the initializer.
        """
        self._verbose = verbose
        if print_func is None:
            def rms_stat(x):
                return str((ndarray.norm(x) / math.sqrt(x.size)).asscalar())
            print_func = rms_stat
        self._print_func = print_func
        return self

    def _verbose_print(self, desc, init, arr) -> None:
        if self._verbose and self._print_func:
            _log.info("Initialized %s as %s: %s", desc, init, self._print_func(arr))

    def dumps(self) -> str:
        """dumps() -> str: the JSON ``[name, kwargs]`` that ``create`` makes this initializer
        from, e.g. ``'["normal", {"sigma": 0.5}]'``."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __call__(self, desc, arr):
        """Initializes ``arr`` (an NDArray) for the parameter ``desc`` (an InitDesc; a plain
        str is the deprecated form, dispatched on the name alone)."""
        if not isinstance(desc, InitDesc):
            self._legacy_init(desc, arr)
            return
        _check_array(arr, f"{type(self).__name__}({desc!r})")
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            # The variable's own initializer decides.
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method in _DISPATCH:
            if desc.endswith(suffix):
                getattr(self, method)(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        self._init_default(desc, arr)

    def _legacy_init(self, name, arr) -> None:
        warnings.warn("Calling initializer with init(str, NDArray) has been deprecated. "
                      "please use init(mx.init.InitDesc(...), NDArray) instead.",
                      DeprecationWarning, stacklevel=3)
        if not isinstance(name, string_types):
            raise TypeError(f"{type(self).__name__}: name={name!r}: expected a str or an "
                            f"InitDesc")
        _check_array(arr, f"{type(self).__name__}({name!r})")
        if name.startswith("upsampling"):
            self._init_bilinear(name, arr)
        elif name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, arr)
        elif name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, arr)
        elif name.endswith("bias"):
            self._init_bias(name, arr)
        elif name.endswith("gamma"):
            self._init_gamma(name, arr)
        elif name.endswith("beta"):
            self._init_beta(name, arr)
        elif name.endswith("weight"):
            self._init_weight(name, arr)
        else:
            for suffix, method in _DISPATCH[4:]:
                if name.endswith(suffix):
                    getattr(self, method)(name, arr)
                    return
            self._init_default(name, arr)

    def _init_bilinear(self, _, arr) -> None:
        arr[:] = _bilinear(arr.shape)

    def _init_loc_bias(self, _, arr) -> None:
        if arr.shape[0] != 6:
            raise ValueError(f"stn_loc bias of shape {arr.shape}: expected 6 values")
        arr[:] = np.array([1.0, 0, 0, 0, 1.0, 0])

    def _init_zero(self, _, arr) -> None:
        arr[:] = 0.0

    def _init_one(self, _, arr) -> None:
        arr[:] = 1.0

    def _init_bias(self, _, arr) -> None:
        arr[:] = 0.0

    def _init_gamma(self, _, arr) -> None:
        arr[:] = 1.0

    def _init_beta(self, _, arr) -> None:
        arr[:] = 0.0

    def _init_weight(self, name, arr) -> None:
        raise TypeError(f"{type(self).__name__} cannot initialize the weight {name!r}: an "
                        f"Initializer subclass must define _init_weight(desc, arr)")

    def _init_default(self, name, _) -> None:
        raise ValueError(
            f"Unknown initialization pattern for {name}. Default initialization is now limited "
            f'to "weight", "bias", "gamma" (1.0), and "beta" (0.0). Please use '
            f"mx.sym.Variable(init=mx.init.*) to set initialization pattern")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._kwargs.items())})"


# Name endings and what they get, checked in this order.
_DISPATCH = [("weight", "_init_weight"), ("bias", "_init_bias"), ("gamma", "_init_gamma"),
             ("beta", "_init_beta"), ("moving_mean", "_init_zero"), ("moving_var", "_init_one"),
             ("moving_inv_var", "_init_zero"), ("moving_avg", "_init_zero"),
             ("min", "_init_zero"), ("max", "_init_one")]


def _bilinear(shape) -> np.ndarray:
    """The bilinear upsampling kernel for a 4-d weight of ``shape``: the value at column x,
    row y is (1 - |x/f - c|)(1 - |y/f - c|), f = ceil(width/2), c = (2f - 1 - f%2) / (2f)."""
    if len(shape) != 4:
        raise ValueError(f"Bilinear: weight of shape {shape}: expected 4 dimensions "
                         f"(num_filter, channels, height, width)")
    f = np.ceil(shape[3] / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    x = np.arange(shape[3], dtype=np.float64)
    y = np.arange(shape[2], dtype=np.float64)
    kernel = np.outer(1 - np.abs(y / f - c), 1 - np.abs(x / f - c)).astype(np.float32)
    return np.broadcast_to(kernel, shape)


_register = registry.get_register_func(Initializer, "initializer")
alias = registry.get_alias_func(Initializer, "initializer")
create = registry.get_create_func(Initializer, "initializer")


def register(klass):
    """register(klass): registers a subclass of Initializer under its lower-cased class name,
    so that ``create(name)``, ``module.init_params(name)`` and variables' ``__init__``
    attributes can name it. Returns the class (use as a decorator)::

        @mx.init.register
        class MyInit(mx.init.Initializer):
            def _init_weight(self, _, arr):
                arr[:] = 0.1
    """
    return _register(klass)


class Load:
    """Load(param, default_init=None, verbose=False)

    Initializes parameters from saved values: ``param`` is a file written by ``mx.nd.save``
    (a ``.params`` file) or a dict of name to NDArray. The prefixes ``arg:`` and ``aux:`` are
    dropped from the names. Parameters not found go to ``default_init``.
    """

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            param = load(param)
        if not isinstance(param, dict):
            raise TypeError(f"Load: param={type(param).__name__}: expected a file name or a "
                            f"dict of str to NDArray")
        self.param = {}
        for name, arr in param.items():
            if name.startswith("arg:") or name.startswith("aux:"):
                self.param[name[4:]] = arr
            else:
                self.param[name] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            if arr.shape != self.param[name].shape:
                raise ValueError(f"Parameter {name} cannot be initialized from loading. Shape "
                                 f"mismatch, target {arr.shape} vs loaded "
                                 f"{self.param[name].shape}")
            arr[:] = self.param[name]
            if self.verbose:
                _log.info("Initialized %s by loading", name)
        else:
            if self.default_init is None:
                raise ValueError(f"Cannot Initialize {name}. Not found in loaded param and no "
                                 f"default Initializer is provided.")
            self.default_init(name, arr)
            if self.verbose:
                _log.info("Initialized %s by default", name)


class Mixed:
    """Mixed(patterns, initializers)

    Initializes each parameter with the initializer of the first regular expression in
    ``patterns`` that matches the start of its name (``re.match``)::

        init = mx.init.Mixed(['bias', '.*'], [mx.init.Zero(), mx.init.Uniform(0.1)])
    """

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise ValueError(f"Mixed: {len(patterns)} patterns and {len(initializers)} "
                             f"initializers: expected one initializer per pattern")
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise ValueError(f"Parameter name {name} did not match any pattern. Consider add a "
                         f'".*" pattern at the and with default Initializer.')


@register
@alias("zeros")
class Zero(Initializer):
    """Zero(): initializes weights to 0."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = 0


@register
@alias("ones")
class One(Initializer):
    """One(): initializes weights to 1."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = 1


@register
class Constant(Initializer):
    """Constant(value)

    Initializes weights to ``value``: a number, or an array (NDArray or numpy) of the
    parameter's shape.
    """

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        arr[:] = self.value

    def dumps(self) -> str:
        """dumps(): as Initializer.dumps, with an array value written as nested lists."""
        val = self._kwargs["value"]
        if isinstance(val, NDArray):
            val = val.asnumpy().tolist()
        elif isinstance(val, np.ndarray):
            val = val.tolist()
        elif isinstance(val, np.generic):
            val = val.item()
        return json.dumps([self.__class__.__name__.lower(), dict(self._kwargs, value=val)])


@register
class Uniform(Initializer):
    """Uniform(scale=0.07): weights drawn uniformly from [-scale, scale]."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        random.uniform(-self.scale, self.scale, out=arr)


@register
class Normal(Initializer):
    """Normal(sigma=0.01): weights drawn from the normal distribution N(0, sigma^2)."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        random.normal(0, self.sigma, out=arr)


@register
class Orthogonal(Initializer):
    """Orthogonal(scale=1.414, rand_type='uniform')

    Initializes a weight of shape (n_out, ...) as ``scale`` times a matrix with orthonormal
    rows (when n_out <= n_in, n_in the product of the other dimensions) or orthonormal
    columns: an SVD factor of a random (n_out, n_in) matrix drawn uniformly from [-1, 1]
    (``rand_type='uniform'``) or from N(0, 1) (``'normal'``). After Saxe et al., *Exact
    solutions to the nonlinear dynamics of learning in deep linear neural networks*.
    """

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        if rand_type not in ("uniform", "normal"):
            raise ValueError(f"Orthogonal: rand_type={rand_type!r}: expected 'uniform' or "
                             f"'normal'")
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        nout = arr.shape[0]
        nin = int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            tmp = random.uniform(-1.0, 1.0, shape=(nout, nin)).asnumpy()
        else:
            tmp = random.normal(0.0, 1.0, shape=(nout, nin)).asnumpy()
        u, _, v = np.linalg.svd(tmp, full_matrices=False)
        res = u if u.shape == tmp.shape else v
        arr[:] = self.scale * res.reshape(arr.shape)


@register
class Xavier(Initializer):
    """Xavier(rnd_type='uniform', factor_type='avg', magnitude=3)

    "Xavier" initialization (Glorot and Bengio), keeping the scale of gradients about the
    same in all layers. With fan_in = shape[1] * k and fan_out = shape[0] * k (k the product
    of the dimensions after the second), the factor is (fan_in + fan_out) / 2 ('avg'),
    fan_in ('in') or fan_out ('out'), and the scale c = sqrt(magnitude / factor). Weights are
    drawn uniformly from [-c, c] (``rnd_type='uniform'``) or from N(0, c^2) ('gaussian').
    Needs at least 2 dimensions.
    """

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        if len(shape) < 2:
            raise ValueError(f"Xavier initializer cannot be applied to vector {name}. It "
                             f"requires at least 2D.")
        hw_scale = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        if self.factor_type == "avg":
            factor = (fan_in + fan_out) / 2.0
        elif self.factor_type == "in":
            factor = fan_in
        elif self.factor_type == "out":
            factor = fan_out
        else:
            raise ValueError(f"Incorrect factor type: factor_type={self.factor_type!r}, "
                             f"expected 'avg', 'in' or 'out'")
        scale = float(np.sqrt(self.magnitude / factor))
        if self.rnd_type == "uniform":
            random.uniform(-scale, scale, out=arr)
        elif self.rnd_type == "gaussian":
            random.normal(0, scale, out=arr)
        else:
            raise ValueError(f"Unknown random type: rnd_type={self.rnd_type!r}, expected "
                             f"'uniform' or 'gaussian'")


@register
class MSRAPrelu(Xavier):
    """MSRAPrelu(factor_type='avg', slope=0.25)

    He et al.'s initialization for PReLU networks (*Delving Deep into Rectifiers*): Xavier
    with gaussian draws and magnitude 2 / (1 + slope^2).
    """

    def __init__(self, factor_type="avg", slope=0.25):
        magnitude = 2.0 / (1 + slope ** 2)
        super().__init__("gaussian", factor_type, magnitude)
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """Bilinear(): initializes a 4-d weight (num_filter, channels, height, width) with the
    bilinear upsampling kernel, for Deconvolution layers that upsample."""

    def __init__(self):
        super().__init__()

    def _init_weight(self, _, arr):
        arr[:] = _bilinear(arr.shape)


@register
class LSTMBias(Initializer):
    """LSTMBias(forget_bias=1.0)

    Initializes an LSTM cell's bias (4 gates of num_hidden values: input, forget, cell,
    output) to 0, except the forget gate's, set to ``forget_bias`` (Jozefowicz et al. 2015
    recommend 1.0).
    """

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        arr[:] = 0.0
        num_hidden = int(arr.shape[0] / 4)
        arr[num_hidden:2 * num_hidden] = self.forget_bias
