"""Optimizer hyperparameters outside MXNet's ranges (NaN or negative learning rates,
momentum outside [0, 1), ...) are refused when the optimizer is built, naming the
argument, instead of silently turning the parameters into NaN."""
import math

import numpy as np
import pytest

import flowmod as mx

NAN, INF = float("nan"), float("inf")

REFUSED = [
    ("sgd", "learning_rate", NAN), ("sgd", "learning_rate", INF),
    ("sgd", "learning_rate", -0.1), ("sgd", "learning_rate", "0.1"),
    ("sgd", "momentum", 1.0), ("sgd", "momentum", -0.5), ("sgd", "momentum", NAN),
    ("sgd", "wd", -1e-4), ("sgd", "wd", INF), ("sgd", "clip_gradient", -1.0),
    ("sgd", "rescale_grad", NAN), ("sgd", "begin_num_update", -1),
    ("nag", "momentum", 1.5),
    ("adam", "beta1", 1.0), ("adam", "beta2", -0.1), ("adam", "epsilon", 0.0),
    ("adam", "learning_rate", NAN),
    ("adagrad", "eps", 0.0), ("adadelta", "rho", 1.5), ("adadelta", "epsilon", -1.0),
    ("rmsprop", "gamma1", 1.0), ("rmsprop", "gamma2", NAN), ("rmsprop", "epsilon", 0.0),
    ("rmsprop", "clip_weights", -1.0),
    ("signum", "momentum", 1.0), ("signum", "wd_lh", -1.0),
    ("ftrl", "lamda1", -0.1), ("ftrl", "beta", -1.0), ("ftrl", "learning_rate", INF),
    ("adamax", "beta1", 2.0), ("nadam", "beta2", 1.0), ("nadam", "schedule_decay", -1.0),
]


@pytest.mark.parametrize("name,arg,value", REFUSED,
                         ids=[f"{n}-{a}-{v}" for n, a, v in REFUSED])
def test_out_of_range_hyperparameter_is_refused_naming_it(name, arg, value):
    with pytest.raises(ValueError, match=rf"{arg}={value!r}: expected"):
        mx.optimizer.create(name, **{arg: value})


ACCEPTED = [
    ("sgd", {"learning_rate": 0.0, "momentum": 0.0, "wd": 0.0, "clip_gradient": None}),
    ("sgd", {"momentum": 0.999, "clip_gradient": 0.0, "rescale_grad": -1.0}),
    ("adam", {"beta1": 0.0, "beta2": 0.0, "epsilon": 1e-30}),
    ("adadelta", {"rho": 1.0}),
    ("sgd", {"learning_rate": None,
             "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=5, base_lr=0.5)}),
    ("sgd", {"learning_rate": np.float32(0.1), "momentum": np.float64(0.5)}),
]


@pytest.mark.parametrize("name,kwargs", ACCEPTED, ids=[f"{n}-{sorted(k)}" for n, k in ACCEPTED])
def test_hyperparameters_at_the_edges_of_their_ranges_are_accepted(name, kwargs):
    opt = mx.optimizer.create(name, **kwargs)
    assert math.isfinite(opt.learning_rate)


def test_init_optimizer_with_a_nan_learning_rate_raises_and_leaves_no_optimizer():
    data = mx.sym.Variable("data")
    mod = mx.mod.Module(mx.sym.SoftmaxOutput(
        mx.sym.FullyConnected(data, name="fc", num_hidden=2), name="softmax"))
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    mod.init_params()
    with pytest.raises(ValueError, match="learning_rate=nan"):
        mod.init_optimizer(optimizer_params={"learning_rate": NAN})
    assert not mod.optimizer_initialized


def test_set_learning_rate_refuses_nan_and_keeps_the_rate():
    opt = mx.optimizer.SGD(learning_rate=0.1)
    with pytest.raises(ValueError, match="learning_rate=nan"):
        opt.set_learning_rate(NAN)
    assert opt.learning_rate == 0.1
