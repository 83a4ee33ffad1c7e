"""Weight update rules (``mx.optimizer``): the Optimizer base class, MXNet 1.9's optimizers
for the Module API, and the Updater that keeps each parameter's optimizer state.

Every update is pushed to the engine and returns at once: the fused native operators
(``sgd_update``, ``adam_update``, ...) write the weight and their state arrays in place, and
the other rules are NDArray arithmetic whose results are copied into the weight and the
states. Nothing here waits for a value, except ``Updater.get_states``, which has to read the
states to serialize them.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..ndarray import NDArray, zeros
from ..ndarray.ops import invoke
from . import _aggregate, _states
from ._hyperparameters import check_hyperparameters

__all__ = ["Optimizer", "SGD", "NAG", "Adam", "AdaGrad", "AdaDelta", "RMSProp", "Signum",
           "Ftrl", "Adamax", "Nadam", "Updater", "create", "get_updater", "register"]


def _check_array(value, arg: str, func: str) -> None:
    if not isinstance(value, NDArray):
        raise TypeError(f"{func}: {arg} is {type(value).__name__}, expected an NDArray")


class Optimizer:
    """The base class of all optimizers.

    Parameters
    ----------
    rescale_grad : float, optional
        Multiplies the gradient by this before updating, often ``1.0 / batch_size``.
    param_idx2name : dict of int to str, optional
        The names of the parameters by index. Names that end neither with ``_weight`` nor
        with ``_gamma`` get a weight decay multiplier of 0 (see :meth:`set_wd_mult`).
    wd : float, optional
        The weight decay (L2 regularization) coefficient.
    clip_gradient : float, optional
        Clips the gradient to ``[-clip_gradient, clip_gradient]``.
    learning_rate : float, optional
        The learning rate; 0.01 when neither it nor ``lr_scheduler`` is given. Given with a
        scheduler, it replaces the scheduler's ``base_lr``.
    lr_scheduler : LRScheduler, optional
        Gives the learning rate from the number of updates.
    sym : Symbol, optional
        The network: its variables' ``__lr_mult__`` and ``__wd_mult__`` attributes set
        the multipliers of those parameters.
    begin_num_update : int, optional
        The number of updates each parameter starts from.
    multi_precision : bool, optional
        For float16 weights, keeps a float32 copy of the weight in the state and updates
        that, writing the result back as float16.
    param_dict : dict, optional
        Parameters by index, whose ``lr_mult`` and ``wd_mult`` attributes come first.
    """

    opt_registry: dict = {}

    def __init__(self, rescale_grad=1., param_idx2name=None, wd=0., clip_gradient=None,
                 learning_rate=None, lr_scheduler=None, sym=None, begin_num_update=0,
                 multi_precision=False, param_dict=None):
        self.rescale_grad = rescale_grad
        self.lr_scheduler = lr_scheduler
        if self.lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01
        self.lr = learning_rate
        if self.lr_scheduler is not None and learning_rate is not None:
            if self.lr_scheduler.base_lr != learning_rate:
                print(UserWarning("learning rate from ``lr_scheduler`` has been "
                                  "overwritten by ``learning_rate`` in optimizer."))
                self.lr_scheduler.base_lr = learning_rate
        self.wd = wd
        self.lr_mult: dict = {}
        self.wd_mult: dict = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._index_update_count: dict = {}
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        # How many parameters one update call may take (0: one at a time); see Updater.
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise TypeError(f"{type(self).__name__}: param_idx2name is "
                            f"{type(param_idx2name).__name__}, expected a dict of parameter "
                            f"indexes to names")
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self.set_lr_mult({})
        self.set_wd_mult({})
        check_hyperparameters(self)

    # -- registry ------------------------------------------------------------------------

    @staticmethod
    def register(klass):
        """Registers an Optimizer subclass under its lower-cased class name, for
        :meth:`create_optimizer`. Usable as a class decorator; returns the class."""
        if not isinstance(klass, type):
            raise TypeError(f"register: {klass!r} is not a class")
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            old = Optimizer.opt_registry[name]
            warnings.warn(f"WARNING: New optimizer {klass.__module__}.{klass.__name__} is "
                          f"overriding existing optimizer {old.__module__}.{old.__name__}")
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name, **kwargs):
        """Creates the optimizer registered as ``name`` (case-insensitive) with ``kwargs``.
        ``mx.optimizer.create`` is this function."""
        if not isinstance(name, str):
            raise TypeError(f"create_optimizer: name={name!r}: expected a str")
        if name.lower() in Optimizer.opt_registry:
            return Optimizer.opt_registry[name.lower()](**kwargs)
        raise ValueError(f"Cannot find optimizer {name}")

    # -- learning rate and multipliers ---------------------------------------------------

    @property
    def learning_rate(self) -> float:
        """The current learning rate (the scheduler's at ``num_update`` if there is one)."""
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr) -> None:
        """Sets the learning rate; raises UserWarning if a scheduler gives the rate."""
        if self.lr_scheduler is not None:
            raise UserWarning("LRScheduler of the optimizer has already been defined. Note "
                              "that set_learning_rate can mutate the value of the learning "
                              "rate of the optimizer only when the LRScheduler of the "
                              "optimizer is undefined.")
        old, self.lr = self.lr, lr
        try:
            check_hyperparameters(self)
        except ValueError:
            self.lr = old
            raise

    def set_lr_scale(self, args_lrscale):  # noqa: ARG002
        """Deprecated: use :meth:`set_lr_mult`."""
        raise DeprecationWarning("set_lr_scale is deprecated; use set_lr_mult")

    def set_lr_mult(self, args_lr_mult: dict) -> None:
        """Sets the learning rate multipliers, by parameter name or index. Replaces the
        previous ones; the symbol's ``__lr_mult__`` attributes apply unless overridden."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__lr_mult__" in attr[name]:
                    self.lr_mult[name] = float(attr[name]["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        """Sets the weight decay multipliers, by parameter name or index. Replaces the
        previous ones. Parameters named in ``param_idx2name`` whose names end neither with
        ``_weight`` nor with ``_gamma`` get 0; then the symbol's ``__wd_mult__`` attributes
        apply, then ``args_wd_mult``."""
        self.wd_mult = {}
        for n in self.idx2name.values():
            if not (n.endswith("_weight") or n.endswith("_gamma")):
                self.wd_mult[n] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _update_count(self, index) -> None:
        """Counts one more update of ``index`` (or of each index of a list)."""
        indices = index if isinstance(index, (list, tuple)) else [index]
        for idx in indices:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _begin_update(self, index, weight, grad) -> tuple[float, float]:
        """Checks an update's arrays and counts the update; returns the parameter's learning
        rate and weight decay as of this update."""
        who = f"{type(self).__name__}.update"
        _check_array(weight, "weight", who)
        _check_array(grad, "grad", who)
        self._update_count(index)
        return self._get_lr(index), self._get_wd(index)

    def _get_lrs(self, indices) -> list:
        if self.lr_scheduler is not None:
            lr = self.lr_scheduler(self.num_update)
        else:
            lr = self.lr
        lrs = [lr for _ in indices]
        for i, index in enumerate(indices):
            if index in self.param_dict:
                lrs[i] *= self.param_dict[index].lr_mult
            elif index in self.lr_mult:
                lrs[i] *= self.lr_mult[index]
            elif index in self.idx2name:
                lrs[i] *= self.lr_mult.get(self.idx2name[index], 1.0)
        return lrs

    def _get_lr(self, index) -> float:
        """The learning rate of parameter ``index``: the rate times its multiplier."""
        return self._get_lrs([index])[0]

    def _get_wds(self, indices) -> list:
        wds = [self.wd for _ in indices]
        for i, index in enumerate(indices):
            if index in self.param_dict:
                wds[i] *= self.param_dict[index].wd_mult
            elif index in self.wd_mult:
                wds[i] *= self.wd_mult[index]
            elif index in self.idx2name:
                wds[i] *= self.wd_mult.get(self.idx2name[index], 1.0)
        return wds

    def _get_wd(self, index) -> float:
        """The weight decay of parameter ``index``: ``wd`` times its multiplier."""
        return self._get_wds([index])[0]

    # -- states and updates --------------------------------------------------------------

    def create_state(self, index, weight):
        """The state the update of ``weight`` needs (None, an NDArray or a tuple of them).
        The base class needs none."""
        return None

    def create_state_multi_precision(self, index, weight):
        """Like :meth:`create_state`; with ``multi_precision`` and a float16 weight, the
        state is ``(float32 copy of weight, create_state(index, that copy))``."""
        if self.multi_precision and weight.dtype == np.float16:
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        if weight.dtype == np.float16 and not self.multi_precision:
            warnings.warn("Accumulating with float16 in optimizer can lead to poor accuracy "
                          "or slow convergence. Consider using multi_precision=True option "
                          "of the optimizer")
        return self.create_state(index, weight)

    def update(self, index, weight, grad, state):
        """Updates ``weight`` in place from ``grad`` and ``state``; each optimizer defines
        its rule."""
        raise TypeError(
            f"{type(self).__name__} does not define update(index, weight, grad, state): "
            f"Optimizer is the base class; create one of {sorted(Optimizer.opt_registry)}")

    def update_multi_precision(self, index, weight, grad, state):
        """:meth:`update`, through the float32 copy for float16 weights under
        ``multi_precision``."""
        if self.multi_precision and weight.dtype == np.float16:
            master, inner = state[0], state[1]
            self.update(index, master, grad.astype(np.float32), inner)
            invoke("cast", [master], out=weight, dtype=str(np.dtype(weight.dtype)))
        else:
            self.update(index, weight, grad, state)

    def _clip_kwargs(self, kwargs: dict) -> dict:
        # The fused operators take clip_gradient only when it is set and non-zero.
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        return kwargs

    def _preprocess(self, grad: NDArray, weight: NDArray | None = None, wd: float = 0.0
                    ) -> NDArray:
        """``clip(grad * rescale_grad [+ wd * weight], clip_gradient)`` as a new array."""
        g = grad * self.rescale_grad
        if weight is not None:
            g = g + weight * wd
        if self.clip_gradient is not None:
            g = invoke("clip", [g], a_min=-self.clip_gradient, a_max=self.clip_gradient)
        return g


create = Optimizer.create_optimizer
register = Optimizer.register


@register
class SGD(Optimizer):
    """Stochastic gradient descent, with momentum if ``momentum`` is not 0::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        state = momentum * state - lr * (rescaled_grad + wd * weight)
        weight += state

    and without: ``weight = weight - lr * (rescaled_grad + wd * weight)``.

    Updates of several parameters (``update`` with lists, as :class:`Updater` passes them in
    groups of ``aggregate_num``) go through the multi-weight operators, one push per group;
    ``aggregate_num`` is ``MXNET_OPTIMIZER_AGGREGATION_SIZE`` (default 4), as in MXNet. With
    ``multi_precision``, float16 weights are updated through their float32 master copies
    (``mp_sgd_update`` and ``multi_mp_sgd_*``).

    Parameters
    ----------
    momentum : float, optional
    lazy_update : bool, optional
        With a row_sparse gradient, update only the rows it stores (weight decay and
        momentum included); otherwise the standard dense update of every row.
    """

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = _aggregate.size_from_env(4)
        check_hyperparameters(self)

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return zeros(weight.shape, weight.context, dtype=weight.dtype)
        return None

    def update(self, index, weight, grad, state):
        self._update_impl(index, weight, grad, state, mixed=False)

    def update_multi_precision(self, index, weight, grad, state):
        first = weight[0] if isinstance(index, (list, tuple)) else weight
        mixed = self.multi_precision and isinstance(first, NDArray) and first.dtype == np.float16
        self._update_impl(index, weight, grad, state, mixed=mixed)

    def _update_impl(self, index, weight, grad, state, mixed):
        indices, weights, grads, states = _aggregate.as_lists(index, weight, grad, state)
        who = f"{type(self).__name__}.update"
        for w, g in zip(weights, grads):
            _check_array(w, "weight", who)
            _check_array(g, "grad", who)
        self._update_count(indices)
        lrs, wds = self._get_lrs(indices), self._get_wds(indices)
        kwargs = self._clip_kwargs({"rescale_grad": self.rescale_grad})
        momentum = self.momentum > 0
        if momentum:
            kwargs["momentum"] = self.momentum
        if len(indices) == 1:
            _aggregate.sgd_single(weights[0], grads[0], states[0], lrs[0], wds[0], mixed, momentum,
                                  self.lazy_update, kwargs)
        else:
            _aggregate.sgd_group(weights, grads, states, lrs, wds, mixed, momentum, kwargs)


@register
class NAG(Optimizer):
    """Nesterov accelerated gradient::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient) + wd * weight
        state = momentum * state - lr * rescaled_grad
        weight += momentum * state - lr * rescaled_grad

    Without momentum it is :class:`SGD`'s plain update.
    """

    def __init__(self, momentum=0.0, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        check_hyperparameters(self)

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return zeros(weight.shape, weight.context, dtype=weight.dtype)
        return None

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        kwargs = self._clip_kwargs({"rescale_grad": self.rescale_grad})
        if state is not None:
            if self.momentum > 0:
                kwargs["momentum"] = self.momentum
            invoke("nag_mom_update", [weight, grad, state], out=weight, lr=lr, wd=wd, **kwargs)
        else:
            invoke("sgd_update", [weight, grad], out=weight, lr=lr, wd=wd, **kwargs)


@register
class Adam(Optimizer):
    """Adam (Kingma and Ba, 2014)::

        rescaled_grad = clip(grad * rescale_grad + wd * weight, clip_gradient)
        m = beta1 * m + (1 - beta1) * rescaled_grad
        v = beta2 * v + (1 - beta2) * rescaled_grad ** 2
        lr_t = lr * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        weight -= lr_t * m / (sqrt(v) + epsilon)

    with ``t`` the number of updates of this parameter.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 lazy_update=True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.lazy_update = lazy_update
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                zeros(weight.shape, weight.context, dtype=weight.dtype))

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        t = self._index_update_count[index]
        coef1 = 1. - self.beta1 ** t
        coef2 = 1. - self.beta2 ** t
        lr *= math.sqrt(coef2) / coef1
        kwargs = self._clip_kwargs({"beta1": self.beta1, "beta2": self.beta2,
                                    "epsilon": self.epsilon, "rescale_grad": self.rescale_grad})
        mean, var = state
        invoke("adam_update", [weight, grad, mean, var], out=weight,
               lazy_update=self.lazy_update, lr=lr, wd=wd, **kwargs)


@register
class AdaGrad(Optimizer):
    """AdaGrad (Duchi et al., 2011)::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        history += rescaled_grad ** 2
        weight -= lr * (rescaled_grad / sqrt(history + eps) + wd * weight)

    Parameters
    ----------
    eps : float, optional
        Added to the history before the square root.
    """

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return zeros(weight.shape, weight.context, dtype=weight.dtype)

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        kwargs = {"epsilon": self.float_stable_eps, "rescale_grad": self.rescale_grad}
        # Dense gradients are clipped whenever clip_gradient is not None (0 included).
        if self.clip_gradient is not None:
            kwargs["clip_gradient"] = self.clip_gradient
        invoke("adagrad_update", [weight, grad, state], out=weight, lr=lr, wd=wd, **kwargs)


@register
class AdaDelta(Optimizer):
    """AdaDelta (Zeiler, 2012); it has no learning rate::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        acc_grad = rho * acc_grad + (1 - rho) * rescaled_grad ** 2
        delta = sqrt(acc_delta + epsilon) / sqrt(acc_grad + epsilon) * rescaled_grad
        acc_delta = rho * acc_delta + (1 - rho) * delta ** 2
        weight -= delta + wd * weight

    Parameters
    ----------
    rho : float, optional
        Decay rate of both accumulators.
    epsilon : float, optional
    """

    def __init__(self, rho=0.90, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho = rho
        self.epsilon = epsilon
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                zeros(weight.shape, weight.context, dtype=weight.dtype))

    def update(self, index, weight, grad, state):
        _check_array(weight, "weight", "AdaDelta.update")
        _check_array(grad, "grad", "AdaDelta.update")
        wd = self._get_wd(index)
        self._update_count(index)
        g = self._preprocess(grad)
        acc_g, acc_delta = state
        (acc_g * self.rho + invoke("square", [g]) * (1. - self.rho)).copyto(acc_g)
        current_delta = (invoke("sqrt", [acc_delta + self.epsilon])
                         / invoke("sqrt", [acc_g + self.epsilon]) * g)
        (acc_delta * self.rho
         + invoke("square", [current_delta]) * (1. - self.rho)).copyto(acc_delta)
        (weight - (current_delta + weight * wd)).copyto(weight)


@register
class RMSProp(Optimizer):
    """RMSProp. With ``centered=False`` (Tieleman and Hinton, 2012)::

        rescaled_grad = clip(grad * rescale_grad + wd * weight, clip_gradient)
        n = (1 - gamma1) * rescaled_grad ** 2 + gamma1 * n
        weight -= lr * rescaled_grad / sqrt(n + epsilon)

    With ``centered=True`` (Graves, 2013)::

        n = (1 - gamma1) * rescaled_grad ** 2 + gamma1 * n
        g = (1 - gamma1) * rescaled_grad + gamma1 * g
        delta = gamma2 * delta - lr * rescaled_grad / sqrt(n - g ** 2 + epsilon)
        weight += delta

    The weight is then clipped to ``[-clip_weights, clip_weights]`` if that is set.
    """

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, clip_weights=None, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1 = gamma1
        self.gamma2 = gamma2
        self.centered = centered
        self.epsilon = epsilon
        self.clip_weights = clip_weights
        check_hyperparameters(self)

    def create_state(self, index, weight):
        if self.centered:
            return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                    zeros(weight.shape, weight.context, dtype=weight.dtype),
                    zeros(weight.shape, weight.context, dtype=weight.dtype))
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),)

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        kwargs = {"gamma1": self.gamma1, "epsilon": self.epsilon,
                  "rescale_grad": self.rescale_grad}
        if self.centered:
            kwargs["gamma2"] = self.gamma2
        self._clip_kwargs(kwargs)
        if self.clip_weights:
            kwargs["clip_weights"] = self.clip_weights
        if not self.centered:
            (n,) = state
            invoke("rmsprop_update", [weight, grad, n], out=weight, lr=lr, wd=wd, **kwargs)
        else:
            n, g, delta = state
            invoke("rmspropalex_update", [weight, grad, n, g, delta], out=weight, lr=lr, wd=wd,
                   **kwargs)


@register
class Signum(Optimizer):
    """Signum (Bernstein et al., 2018): SGD on the sign of the momentum::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        state = momentum * state - (1 - momentum) * (rescaled_grad + wd * weight)
        weight = (1 - lr * wd_lh) * weight + lr * sign(state)

    With ``momentum`` 0 it is signSGD: ``weight = (1 - lr * wd) * weight - lr * sign(grad)``.

    Parameters
    ----------
    momentum : float, optional
    wd_lh : float, optional
        Decoupled weight decay (Loshchilov and Hutter).
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, wd_lh=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh
        check_hyperparameters(self)

    def create_state(self, index, weight):
        if self.momentum != 0.0:
            return zeros(weight.shape, weight.context, dtype=weight.dtype)
        return None

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        kwargs = self._clip_kwargs({"rescale_grad": self.rescale_grad})
        if state is not None:
            if self.momentum > 0:
                kwargs["momentum"] = self.momentum
            if self.wd_lh:
                kwargs["wd_lh"] = self.wd_lh
            invoke("signum_update", [weight, grad, state], out=weight, lr=lr, wd=wd, **kwargs)
        else:
            invoke("signsgd_update", [weight, grad], out=weight, lr=lr, wd=wd, **kwargs)


@register
class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al., 2013)::

        rescaled_grad = clip(grad * rescale_grad, clip_gradient)
        z += rescaled_grad - (sqrt(n + rescaled_grad ** 2) - sqrt(n)) * weight / lr
        n += rescaled_grad ** 2
        weight = (sign(z) * lamda1 - z) / ((beta + sqrt(n)) / lr + wd) * (abs(z) > lamda1)

    Parameters
    ----------
    lamda1 : float, optional
        L1 regularization coefficient.
    learning_rate : float, optional
    beta : float, optional
        Per-coordinate learning rate correlation parameter.
    """

    def __init__(self, lamda1=0.01, learning_rate=0.1, beta=1, **kwargs):
        super().__init__(**kwargs)
        self.lamda1 = lamda1
        self.beta = beta
        self.lr = learning_rate
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                zeros(weight.shape, weight.context, dtype=weight.dtype))

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        kwargs = self._clip_kwargs({"lamda1": self.lamda1, "beta": self.beta,
                                    "rescale_grad": self.rescale_grad})
        z, n = state
        invoke("ftrl_update", [weight, grad, z, n], out=weight, lr=lr, wd=wd, **kwargs)


@register
class Adamax(Optimizer):
    """AdaMax (Kingma and Ba, 2014, section 7), Adam with the infinity norm::

        rescaled_grad = clip(grad * rescale_grad + wd * weight, clip_gradient)
        m = beta1 * m + (1 - beta1) * rescaled_grad
        u = maximum(beta2 * u, abs(rescaled_grad))
        weight -= lr / (1 - beta1 ** t) * m / u
    """

    def __init__(self, learning_rate=0.002, beta1=0.9, beta2=0.999, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                zeros(weight.shape, weight.context, dtype=weight.dtype))

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        t = self._index_update_count[index]
        lr /= (1. - self.beta1 ** t)
        g = self._preprocess(grad, weight, wd)
        m_t, u_t = state
        (m_t * self.beta1 + g * (1. - self.beta1)).copyto(m_t)
        invoke("broadcast_maximum", [u_t * self.beta2, invoke("abs", [g])], out=u_t)
        (weight - m_t * lr / u_t).copyto(weight)


@register
class Nadam(Optimizer):
    """Nesterov Adam (Dozat, 2015)::

        rescaled_grad = clip(grad * rescale_grad + wd * weight, clip_gradient)
        momentum_t = beta1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))
        momentum_t_1 = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * schedule_decay))
        m_schedule = m_schedule * momentum_t
        m = beta1 * m + (1 - beta1) * rescaled_grad
        v = beta2 * v + (1 - beta2) * rescaled_grad ** 2
        m_bar = (1 - momentum_t) * rescaled_grad / (1 - m_schedule)
                + momentum_t_1 * m / (1 - m_schedule * momentum_t_1)
        weight -= lr * m_bar / (sqrt(v / (1 - beta2 ** t)) + epsilon)

    ``m_schedule`` is one product for the optimizer, advanced by every update of any
    parameter, as in MXNet 1.9.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 schedule_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.
        check_hyperparameters(self)

    def create_state(self, index, weight):
        return (zeros(weight.shape, weight.context, dtype=weight.dtype),
                zeros(weight.shape, weight.context, dtype=weight.dtype))

    def update(self, index, weight, grad, state):
        lr, wd = self._begin_update(index, weight, grad)
        t = self._index_update_count[index]
        g = self._preprocess(grad, weight, wd)
        momentum_t = self.beta1 * (1. - 0.5 * (pow(0.96, t * self.schedule_decay)))
        momentum_t_1 = self.beta1 * (1. - 0.5 * (pow(0.96, (t + 1) * self.schedule_decay)))
        self.m_schedule = self.m_schedule * momentum_t
        m_schedule_next = self.m_schedule * momentum_t_1
        m_t, v_t = state
        (m_t * self.beta1 + g * (1. - self.beta1)).copyto(m_t)
        (v_t * self.beta2 + invoke("square", [g]) * (1. - self.beta2)).copyto(v_t)
        grad_prime = g / (1. - self.m_schedule)
        m_t_prime = m_t / (1. - m_schedule_next)
        v_t_prime = v_t / (1. - pow(self.beta2, t))
        m_t_bar = grad_prime * (1. - momentum_t) + m_t_prime * momentum_t_1
        (weight - m_t_bar * lr / (invoke("sqrt", [v_t_prime]) + self.epsilon)).copyto(weight)


class Updater:
    """Applies an optimizer to parameters by index, keeping each one's state.

    ``updater(index, grad, weight)`` creates the state of ``index`` on first use and updates
    ``weight`` in place; ``index``, ``grad`` and ``weight`` may also be lists of the same
    length. ``states`` maps each index to its state.
    """

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Updater: optimizer is {type(optimizer).__name__}, expected an "
                            f"Optimizer")
        self.optimizer = optimizer
        self.states: dict = {}
        self.states_synced: dict = {}

    def __call__(self, index, grad, weight) -> None:
        if isinstance(index, bytes):
            index = index.decode("utf-8")
        if isinstance(index, (list, tuple)):
            indices, grads, weights = list(index), list(grad), list(weight)
            if not len(indices) == len(grads) == len(weights):
                raise ValueError(f"Updater: {len(indices)} indices, {len(grads)} gradients "
                                 f"and {len(weights)} weights: expected as many of each")
        else:
            indices, grads, weights = [index], [grad], [weight]
        for i, idx in enumerate(indices):
            _check_array(weights[i], "weight", "Updater")
            _check_array(grads[i], "grad", "Updater")
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, weights[i])
                self.states_synced[idx] = True
            elif not self.states_synced.get(idx, False):
                self.states[idx] = self.sync_state_context(self.states[idx], weights[i].context)
                self.states_synced[idx] = True
        size = getattr(self.optimizer, "aggregate_num", 0)
        if size > 0 and len(indices) > 1:
            # MXNet's grouping: by weight type, in groups of aggregate_num, one call each.
            for group in _aggregate.groups(list(zip(indices, weights, grads)), size):
                idx, w, g = (list(x) for x in zip(*group))
                self.optimizer.update_multi_precision(idx, w, g, [self.states[i] for i in idx])
            return
        for idx, w, g in zip(indices, weights, grads):
            self.optimizer.update_multi_precision(idx, w, g, self.states[idx])

    def sync_state_context(self, state, context):
        """``state`` with every NDArray in it on ``context``."""
        if isinstance(state, NDArray):
            return state.as_in_context(context)
        if isinstance(state, (tuple, list)):
            synced = [self.sync_state_context(s, context) for s in state]
            return tuple(synced) if isinstance(state, tuple) else synced
        return state

    def get_states(self, dump_optimizer: bool = False) -> bytes:
        """The states serialized as bytes (see ``flowmod.optimizer._states`` for the format),
        with the optimizer (its class, hyperparameters and update counts) if
        ``dump_optimizer``. Waits for the states' pending updates."""
        return _states.dumps(self.states, self.optimizer if dump_optimizer else None)

    def set_states(self, states: bytes) -> None:
        """Restores states written by :meth:`get_states`; restores the optimizer too if they
        include it. Raises MXNetError for bytes that are not such states, or whose states
        do not fit those this updater holds (see :meth:`load_states`)."""
        self.load_states(states, None)

    def load_states(self, states: bytes, weights: dict | None) -> None:
        """:meth:`set_states`, checking each state against the weight of its index in
        ``weights`` (index -> NDArray; None: against the state held now, if any): its
        structure, shapes and dtypes must be those the optimizer creates for that weight.
        Any mismatch raises MXNetError naming the index, and nothing is changed."""
        new_states, optimizer = _states.loads(states, Optimizer.opt_registry, self.optimizer)
        _states.check_states(new_states, optimizer if optimizer is not None else self.optimizer,
                             weights, self.states)
        if optimizer is not None:
            self.optimizer = optimizer
        self.states = new_states
        self.states_synced = dict.fromkeys(self.states.keys(), False)


def get_updater(optimizer: Optimizer) -> Updater:
    """An :class:`Updater` applying ``optimizer``."""
    return Updater(optimizer)

