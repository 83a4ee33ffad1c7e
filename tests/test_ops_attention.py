"""The interleaved attention products of mx.nd.contrib (selfatt_qk, selfatt_valatt, encdec_qk,
encdec_valatt) and div_sqrt_dim against numpy einsum references, their gradients against
float64 finite differences under write, add and null, and their error messages."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward

rng = np.random.default_rng(43)


def split_heads(x, heads, parts):
    """(L, B, parts * heads * hd) -> parts arrays (B * heads, L, hd)."""
    length, batch, width = x.shape
    hd = width // parts // heads
    r = x.reshape(length, batch, heads, parts, hd)
    return [r[:, :, :, p].transpose(1, 2, 0, 3).reshape(batch * heads, length, hd) for p in range(parts)]


def merge_heads(x, batch):
    """(B * heads, L, hd) -> (L, B, heads * hd)."""
    bh, length, hd = x.shape
    return x.reshape(batch, bh // batch, length, hd).transpose(2, 0, 1, 3).reshape(length, batch, -1)


def selfatt_qk_ref(qkv, heads):
    q, k, _ = split_heads(qkv, heads, 3)
    return np.einsum("bid,bjd->bij", q, k) / np.sqrt(q.shape[-1])


def selfatt_valatt_ref(qkv, att, heads):
    _, _, v = split_heads(qkv, heads, 3)
    return merge_heads(np.einsum("bij,bjd->bid", att, v), qkv.shape[1])


def encdec_qk_ref(q, kv, heads):
    (qh,) = split_heads(q, heads, 1)
    k, _ = split_heads(kv, heads, 2)
    return np.einsum("bid,bjd->bij", qh, k) / np.sqrt(qh.shape[-1])


def encdec_valatt_ref(kv, att, heads):
    _, v = split_heads(kv, heads, 2)
    return merge_heads(np.einsum("bij,bjd->bid", att, v), kv.shape[1])


def randn(*shape):
    return rng.standard_normal(shape)


CASES = {
    "selfatt_qk": ("_contrib_interleaved_matmul_selfatt_qk", lambda: [randn(4, 2, 18)], selfatt_qk_ref, 2),
    "selfatt_valatt": ("_contrib_interleaved_matmul_selfatt_valatt", lambda: [randn(4, 2, 18), randn(4, 4, 4)],
                       selfatt_valatt_ref, 2),
    "encdec_qk": ("_contrib_interleaved_matmul_encdec_qk", lambda: [randn(3, 2, 6), randn(5, 2, 12)], encdec_qk_ref, 3),
    "encdec_valatt": ("_contrib_interleaved_matmul_encdec_valatt", lambda: [randn(5, 2, 12), randn(6, 3, 5)],
                      encdec_valatt_ref, 3),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_interleaved_product_forward(case, dtype):
    op, make, ref, heads = CASES[case]
    inputs = make()
    (got,) = forward(op, [x.astype(dtype) for x in inputs], heads=heads)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, ref(*inputs, heads), rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_interleaved_product_gradient(case):
    op, make, _, heads = CASES[case]
    check_gradient(op, make(), heads=heads)


def test_selfatt_qk_gradient_of_the_values_is_zero():
    qkv = randn(3, 1, 12)
    grad = check_gradient("_contrib_interleaved_matmul_selfatt_qk", [qkv], heads=2)[0]
    v = grad.reshape(3, 1, 2, 3, 2)[:, :, :, 2]
    np.testing.assert_array_equal(v, 0)
    assert np.abs(grad).sum() > 0


def test_selfatt_matches_the_composition_in_mxnets_documentation():
    # MXNet documents selfatt_qk as reshape / transpose / div_sqrt_dim / batch_dot.
    heads, qkv = 3, randn(5, 2, 3 * 3 * 4)
    tmp = nd.reshape(nd.array(qkv), shape=(0, 0, heads, 3, -1))
    q = nd.reshape(nd.transpose(tmp[:, :, :, 0, :], axes=(1, 2, 0, 3)), shape=(-1, 0, 0), reverse=True)
    k = nd.reshape(nd.transpose(tmp[:, :, :, 1, :], axes=(1, 2, 0, 3)), shape=(-1, 0, 0), reverse=True)
    want = nd.batch_dot(nd.contrib.div_sqrt_dim(q), k, transpose_b=True)
    got = nd.contrib.interleaved_matmul_selfatt_qk(nd.array(qkv), heads=heads)
    np.testing.assert_allclose(got.asnumpy(), want.asnumpy(), rtol=1e-5, atol=1e-6)


def test_attention_block_in_a_symbol_graph_trains_end_to_end():
    qkv = mx.sym.Variable("qkv")
    scores = mx.sym.contrib.interleaved_matmul_selfatt_qk(qkv, heads=2)
    att = mx.sym.softmax(scores, axis=-1)
    out = mx.sym.contrib.interleaved_matmul_selfatt_valatt(qkv, att, heads=2)
    loss = mx.sym.MakeLoss(mx.sym.sum(out * out))
    x = randn(4, 2, 12)
    exe = loss.simple_bind(mx.cpu(), qkv=x.shape)
    exe.arg_dict["qkv"][:] = x
    exe.forward(is_train=True)
    exe.backward()
    q, k, v = split_heads(x, 2, 3)
    s = np.einsum("bid,bjd->bij", q, k) / np.sqrt(q.shape[-1])
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    want = (merge_heads(np.einsum("bij,bjd->bid", a, v), 2) ** 2).sum()
    np.testing.assert_allclose(exe.outputs[0].asnumpy(), want, rtol=1e-5)
    assert exe.grad_dict["qkv"].shape == x.shape and np.isfinite(exe.grad_dict["qkv"].asnumpy()).all()


# ---- div_sqrt_dim ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_div_sqrt_dim_forward(dtype):
    x = randn(3, 2, 9).astype(dtype)
    (got,) = forward("_contrib_div_sqrt_dim", [x])
    np.testing.assert_allclose(got, x / 3.0, rtol=1e-7)


def test_div_sqrt_dim_gradient():
    check_gradient("_contrib_div_sqrt_dim", [randn(2, 5)])


# ---- Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: nd.contrib.interleaved_matmul_selfatt_qk(nd.ones((4, 2, 18))),
     r"_contrib_interleaved_matmul_selfatt_qk: heads=\(missing\): expected an integer"),
    (lambda: nd.contrib.interleaved_matmul_selfatt_qk(nd.ones((4, 2, 18)), heads=0),
     r"_contrib_interleaved_matmul_selfatt_qk: heads=0: expected an integer >= 1"),
    (lambda: nd.contrib.interleaved_matmul_selfatt_qk(nd.ones((4, 2, 18)), heads=4),
     r"queries_keys_values=an array of shape \(4, 2, 18\): expected a last dimension divisible by 3 \* heads = 12"),
    (lambda: nd.contrib.interleaved_matmul_selfatt_qk(nd.ones((4, 18)), heads=2),
     r"queries_keys_values=an array of shape \(4, 18\): expected 3 dimensions"),
    (lambda: nd.contrib.interleaved_matmul_selfatt_valatt(nd.ones((4, 2, 18)), nd.ones((4, 3, 4)), heads=2),
     r"_contrib_interleaved_matmul_selfatt_valatt: attention=an array of shape \(4, 3, 4\): expected shape \(4, 4, 4\)"),
    (lambda: nd.contrib.interleaved_matmul_encdec_qk(nd.ones((3, 2, 6)), nd.ones((5, 2, 6)), heads=3),
     r"_contrib_interleaved_matmul_encdec_qk: keys_values=an array of shape \(5, 2, 6\): expected shape \(keys, 2, 12\)"),
    (lambda: nd.contrib.interleaved_matmul_encdec_valatt(nd.ones((5, 2, 12)), nd.ones((6, 3, 4)), heads=3),
     r"_contrib_interleaved_matmul_encdec_valatt: attention=an array of shape \(6, 3, 4\): expected shape \(6, queries, 5\)"),
    (lambda: nd.contrib.interleaved_matmul_encdec_qk(nd.ones((3, 2, 6)), nd.ones((5, 2, 12), dtype="float64"), heads=3),
     r"_contrib_interleaved_matmul_encdec_qk: keys_values=an array of type float64: expected float32"),
    (lambda: nd.contrib.div_sqrt_dim(nd.ones((2, 3), dtype="int32")),
     r"_contrib_div_sqrt_dim: .*int32"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
