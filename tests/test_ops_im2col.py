"""im2col and col2im against a numpy transcription of their definition (patches as columns,
channel-major rows), each the other's transpose and gradient, with float64 finite differences
and the errors for bad attributes and shapes."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward

rng = np.random.default_rng(59)


def im2col_ref(x, kernel, stride, pad, dilate):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, pad, dilate
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    col = np.zeros((n, c, kh, kw, oh, ow))
    for i in range(kh):
        for j in range(kw):
            col[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return col.reshape(n, c * kh * kw, oh * ow)


CASES = [
    dict(kernel=(3, 3)),
    dict(kernel=(2, 3), stride=(1, 2), pad=(1, 0), dilate=(2, 1)),
    dict(kernel=(3, 2), stride=(2, 2), pad=(1, 1)),
]


def full(attrs):
    return [attrs.get(k, (d, d)) for k, d in (("kernel", 1), ("stride", 1), ("pad", 0), ("dilate", 1))]


@pytest.mark.parametrize("attrs", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_im2col_lays_patches_out_as_columns(attrs, dtype):
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    (col,) = forward("im2col", [x], **attrs)
    np.testing.assert_array_equal(col, im2col_ref(x, *full(attrs)))


def test_im2col_one_dimensional_patches():
    x = rng.standard_normal((2, 3, 9))
    (col,) = forward("im2col", [x], kernel=(3,), stride=(2,), pad=(1,))
    np.testing.assert_array_equal(col, im2col_ref(x[:, :, None, :], (1, 3), (1, 2), (0, 1), (1, 1)))


@pytest.mark.parametrize("attrs", CASES)
def test_col2im_is_the_transpose_of_im2col(attrs):
    x = rng.standard_normal((2, 2, 6, 7))
    (col,) = forward("im2col", [x], **attrs)
    c = rng.standard_normal(col.shape)
    (img,) = forward("col2im", [c], output_size=(6, 7), **attrs)
    # <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose(np.sum(col * c), np.sum(x * img), rtol=1e-10)


@pytest.mark.parametrize("attrs", CASES[1:])
def test_im2col_and_col2im_gradients(attrs):
    x = rng.standard_normal((1, 2, 4, 5))
    check_gradient("im2col", [x], **attrs)
    (col,) = forward("im2col", [x], **attrs)
    check_gradient("col2im", [rng.standard_normal(col.shape)], output_size=(4, 5), **attrs)


X = nd.zeros((1, 2, 4, 4))


@pytest.mark.parametrize("call,match", [
    (lambda: nd.im2col(X, kernel=(2, 2, 2)), r"kernel=.*expected \(w,\) or \(h, w\)"),
    (lambda: nd.im2col(X, kernel=(2, 2), stride=(1,)), r"stride=.*expected 2 values"),
    (lambda: nd.im2col(X, kernel=(2, 2), pad=(-1, 0)), r"pad=.*expected every padding >= 0"),
    (lambda: nd.im2col(X, kernel=(5, 5)), r"expected a dilated kernel no larger than the padded input"),
    (lambda: nd.im2col(nd.zeros((1, 2, 4)), kernel=(2, 2)), r"expected 4 dimensions for a 2-D kernel"),
    (lambda: nd.col2im(nd.zeros((1, 8, 10)), output_size=(4, 4), kernel=(2, 2)), r"expected \(batch, C \* 4, 9\)"),
    (lambda: nd.col2im(nd.zeros((1, 7, 9)), output_size=(4, 4), kernel=(2, 2)), r"data=an array of shape \(1, 7, 9\)"),
    (lambda: nd.col2im(nd.zeros((1, 8, 9)), output_size=(4,), kernel=(2, 2)), r"output_size=.*expected 2 sizes"),
])
def test_bad_arguments_raise_naming_the_problem(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
