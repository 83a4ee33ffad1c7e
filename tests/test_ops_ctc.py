"""CTCLoss and its aliases: the loss against a float64 reference that sums the probability of
every alignment, loss and gradient against PyTorch's ctc_loss (recorded by
tests/data/make_torch_ctc_refs.py), the gradient against float64 finite differences under
write, add and null, MXNet's lengths and blank conventions, and the error messages."""
from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward

rng = np.random.default_rng(47)
TORCH = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "torch_ctc_refs.npz"))
ALIASES = ["CTCLoss", "ctc_loss", "_contrib_CTCLoss", "_contrib_ctc_loss"]


def collapse(path, blank):
    out = [k for i, k in enumerate(path) if k != blank and (i == 0 or path[i - 1] != k)]
    return tuple(out)


def ctc_ref(x, labels, blank, data_lengths=None):
    """-log of the summed probability of every path that collapses to each label: a float64
    reference independent of the forward-backward recursion (small T and alphabets only). A
    label with no path costs 0, as in MXNet."""
    t_max, batch, a = x.shape
    e = np.exp(x - x.max(axis=2, keepdims=True))
    y = e / e.sum(axis=2, keepdims=True)
    out = np.zeros(batch)
    for b in range(batch):
        t = t_max if data_lengths is None else int(data_lengths[b])
        p = sum(np.prod([y[i, b, k] for i, k in enumerate(path)])
                for path in itertools.product(range(a), repeat=t) if collapse(path, blank) == tuple(labels[b]))
        out[b] = -np.log(p) if p > 0 else 0.0
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("blank_label", ["first", "last"])
def test_ctc_loss_sums_every_alignment(dtype, blank_label):
    x = rng.uniform(-2, 2, (5, 3, 4))
    if blank_label == "first":
        labels, padded, blank = [[1, 2], [3, 3], [2, 1, 3]], [[1, 2, 0], [3, 3, 0], [2, 1, 3]], 0
    else:
        labels, padded, blank = [[0, 1], [2, 2], [1, 0, 2]], [[0, 1, -1], [2, 2, -1], [1, 0, 2]], 3
    (got,) = forward("CTCLoss", [x.astype(dtype), np.array(padded, dtype=dtype)], blank_label=blank_label)
    assert got.dtype == np.dtype(dtype) and got.shape == (3,)
    np.testing.assert_allclose(got, ctc_ref(x, labels, blank), rtol=1e-5 if dtype == "float32" else 1e-10)


def test_ctc_loss_with_data_and_label_lengths():
    x = rng.uniform(-2, 2, (5, 3, 4))
    label = np.array([[1, 2, 3], [3, 1, 1], [2, 2, 2]], dtype=np.float64)
    data_lengths, label_lengths = np.array([5, 3, 4.0]), np.array([3, 1, 2.0])
    (got,) = forward("CTCLoss", [x, label, data_lengths, label_lengths], use_data_lengths=True, use_label_lengths=True)
    want = ctc_ref(x, [[1, 2, 3], [3], [2, 2]], 0, data_lengths)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_ctc_loss_of_a_label_with_no_alignment_is_zero():
    x = rng.uniform(-1, 1, (3, 1, 3))
    (got,) = forward("CTCLoss", [x, np.array([[1.0, 1.0, 2.0]])])
    np.testing.assert_array_equal(got, [0.0])


@pytest.mark.parametrize("case", ["blank_first", "blank_last", "data_lengths", "single_class"])
def test_ctc_loss_and_gradient_match_torch(case):
    r = {k.split("/")[1]: TORCH[k] for k in TORCH.files if k.startswith(case + "/")}
    blank = "first" if int(r["blank"]) == 0 else "last"
    inputs = [r["data"], r["label"], r["data_lengths"], r["label_lengths"]]
    attrs = {"use_data_lengths": True, "use_label_lengths": True, "blank_label": blank}
    (loss,) = forward("CTCLoss", inputs, **attrs)
    np.testing.assert_allclose(loss, r["loss"], rtol=1e-10)
    grad = check_gradient("CTCLoss", inputs, wrt=[0], head_grads=[r["head"]], **attrs)[0]
    np.testing.assert_allclose(grad, r["grad"], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("attrs", [{}, {"blank_label": "last"}, {"use_data_lengths": True}])
def test_ctc_loss_gradient(attrs):
    x = rng.uniform(-2, 2, (6, 2, 5))
    label = np.array([[1, 2, 2, 0], [3, 1, 0, 0]] if not attrs.get("blank_label") else [[1, 2, 2, -1], [3, 1, -1, -1]],
                     dtype=np.float64)
    inputs = [x, label] + ([np.array([6.0, 4.0])] if attrs.get("use_data_lengths") else [])
    grad = check_gradient("CTCLoss", inputs, wrt=[0], **attrs)[0]
    if attrs.get("use_data_lengths"):
        np.testing.assert_array_equal(grad[4:, 1], 0)


@pytest.mark.parametrize("name", ALIASES)
def test_ctc_loss_aliases_compute_the_same(name):
    x = rng.uniform(-2, 2, (4, 2, 3))
    label = np.array([[1, 2], [2, 0]], dtype=np.float64)
    np.testing.assert_array_equal(forward(name, [x, label])[0], forward("CTCLoss", [x, label])[0])


def test_ctc_loss_takes_integer_labels():
    x = rng.uniform(-2, 2, (4, 2, 3)).astype(np.float32)
    got = nd.ctc_loss(nd.array(x), nd.array([[1, 2], [2, 0]], dtype="int32"))
    np.testing.assert_allclose(got.asnumpy(), ctc_ref(x.astype(np.float64), [[1, 2], [2]], 0), rtol=1e-5)


def test_ctc_loss_inputs_follow_the_length_attributes():
    assert mx.sym.CTCLoss(mx.sym.var("data"), mx.sym.var("label")).list_arguments() == ["data", "label"]
    s = mx.sym.CTCLoss(data=mx.sym.var("data"), label=mx.sym.var("label"), label_lengths=mx.sym.var("ll"),
                       use_label_lengths=True)
    assert s.list_arguments() == ["data", "label", "ll"]


def test_ctc_loss_trains_in_a_module_graph():
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("label")
    fc = mx.sym.FullyConnected(mx.sym.reshape(data, shape=(-1, 3)), num_hidden=4, name="fc")
    act = mx.sym.reshape(fc, shape=(5, 2, 4))
    loss = mx.sym.MakeLoss(mx.sym.sum(mx.sym.contrib.ctc_loss(act, label)))
    exe = loss.simple_bind(mx.cpu(), data=(5, 2, 3), label=(2, 2))
    x, w, b = rng.standard_normal((5, 2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    exe.arg_dict["data"][:] = x
    exe.arg_dict["label"][:] = np.array([[1, 2], [3, 0]])
    exe.arg_dict["fc_weight"][:] = w
    exe.arg_dict["fc_bias"][:] = b
    exe.forward(is_train=True)
    exe.backward()
    acts = (x.reshape(-1, 3) @ w.T + b).reshape(5, 2, 4)
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), ctc_ref(acts, [[1, 2], [3]], 0).sum(), rtol=1e-5)
    assert np.abs(exe.grad_dict["fc_weight"].asnumpy()).sum() > 0


@pytest.mark.parametrize("call,match", [
    (lambda: nd.CTCLoss(nd.ones((4, 2)), nd.ones((2, 2))),
     r"CTCLoss: data=an array of shape \(4, 2\): expected 3 dimensions \(sequence, batch, alphabet\)"),
    (lambda: nd.CTCLoss(nd.ones((4, 2, 3)), nd.ones((3, 2))),
     r"CTCLoss: label=an array of shape \(3, 2\): expected the batch size of data, 2"),
    (lambda: nd.CTCLoss(nd.ones((4, 2, 3)), nd.ones((2, 5))),
     r"CTCLoss: label=an array of shape \(2, 5\): expected label sequences no longer than the sequence length of data, 4"),
    (lambda: nd.ctc_loss(nd.ones((4, 2, 3)), nd.ones((2, 2)), nd.ones((3,)), use_data_lengths=True),
     r"ctc_loss: data_lengths=shape \(3,\): expected shape \(2,\)"),
    (lambda: nd.CTCLoss(nd.ones((4, 2, 3)), nd.ones((2, 2)), blank_label="middle"),
     r"CTCLoss: blank_label='middle': expected one of 'first', 'last'"),
    (lambda: nd.CTCLoss(nd.ones((4, 2, 3), dtype="int32"), nd.ones((2, 2))),
     r"CTCLoss: data=an array of type int32: expected float32, float64 or float16"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()


def test_label_outside_the_alphabet_fails_when_read():
    out = nd.CTCLoss(nd.ones((4, 1, 3)), nd.array([[1, 5]]))
    with pytest.raises(mx.MXNetError, match=r"CTCLoss: label=5 in sample 0: expected a class in \[0, 3\) other than the blank 0"):
        out.asnumpy()
