"""Max pooling over windows that tile the input (kernel 2x2 or 2, stride equal to the kernel,
no padding) against a numpy reference: values, NaN, the gradient routed to the first maximal
element of each window in row-major order, rows and columns no window covers, and req add."""
from __future__ import annotations

import numpy as np
import pytest

from flowmod import _native, nd
from op_check import _attrs

rng = np.random.default_rng(0)


def _windows(x, kernel):
    """x as (n, c, ho, wo, kh * kw): the full windows, row-major inside each."""
    if x.ndim == 3:
        x = x[:, :, None, :]
        kernel = (1,) + tuple(kernel)
    kh, kw = kernel
    n, c, h, w = x.shape
    ho, wo = h // kh, w // kw
    win = x[:, :, :ho * kh, :wo * kw].reshape(n, c, ho, kh, wo, kw).transpose(0, 1, 2, 4, 3, 5)
    return win.reshape(n, c, ho, wo, kh * kw)


def max_ref(x, kernel):
    """MXNet's max: NaN never wins; a window of NaN only gives the lowest finite value."""
    win = _windows(x, kernel)
    lowest = np.finfo(x.dtype).min
    out = np.where(np.isnan(win), lowest, win).max(axis=-1)
    out = np.maximum(out, lowest)
    return out[:, :, 0, :] if x.ndim == 3 else out


def max_grad_ref(x, y, dy, kernel):
    """Each output's gradient goes to the first element of its window equal to the output."""
    one_d = x.ndim == 3
    x4 = x[:, :, None, :] if one_d else x
    y4, dy4 = (y[:, :, None, :], dy[:, :, None, :]) if one_d else (y, dy)
    kh, kw = ((1,) + tuple(kernel)) if one_d else kernel
    dx = np.zeros(x4.shape, dtype=np.float64)
    n, c, ho, wo = y4.shape
    for b in range(n):
        for ch in range(c):
            for oh in range(ho):
                for ow in range(wo):
                    win = x4[b, ch, oh * kh:(oh + 1) * kh, ow * kw:(ow + 1) * kw].ravel()
                    hits = np.flatnonzero(win == y4[b, ch, oh, ow])
                    if hits.size:
                        i, j = divmod(int(hits[0]), kw)
                        dx[b, ch, oh * kh + i, ow * kw + j] += dy4[b, ch, oh, ow]
    return dx[:, :, 0, :] if one_d else dx


def pool_backward(x, y, dy, kernel, req="write", start=None):
    attrs = _attrs(dict(kernel=kernel, stride=kernel, pool_type="max"))
    grad = nd.array(start if start is not None else np.zeros(x.shape), dtype=x.dtype)
    _native.invoke_backward("Pooling", attrs, [nd.array(dy, dtype=x.dtype)._h], [nd.array(x, dtype=x.dtype)._h],
                            [nd.array(y, dtype=x.dtype)._h], [grad._h], [req], True)
    return grad.asnumpy()


def pool_forward(x, kernel):
    return nd.Pooling(nd.array(x, dtype=x.dtype), kernel=kernel, stride=kernel, pool_type="max").asnumpy()


# Shapes with even sizes, odd sizes (a last row or column no window covers) and 1-D.
SHAPES = [((2, 3, 8, 6), (2, 2)), ((1, 2, 7, 9), (2, 2)), ((3, 1, 5, 2), (2, 2)), ((2, 1, 24, 24), (2, 2)),
          ((2, 3, 9), (2,)), ((1, 2, 8), (2,))]


@pytest.mark.parametrize("shape,kernel", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_tiled_max_pooling_forward_matches_numpy(shape, kernel, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    y = pool_forward(x, kernel)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, max_ref(x, kernel))


@pytest.mark.parametrize("shape,kernel", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_max_pooling_gradient_matches_numpy(shape, kernel, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    y = pool_forward(x, kernel)
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(pool_backward(x, y, dy, kernel), max_grad_ref(x, y, dy, kernel).astype(dtype))


@pytest.mark.parametrize("shape,kernel", SHAPES)
def test_tiled_max_pooling_gradient_goes_to_the_first_maximum_on_ties(shape, kernel):
    # Few distinct values: most windows hold their maximum more than once.
    x = rng.integers(0, 3, shape).astype(np.float32)
    y = pool_forward(x, kernel)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    grad = pool_backward(x, y, dy, kernel)
    np.testing.assert_array_equal(grad, max_grad_ref(x, y, dy, kernel).astype(np.float32))
    # One element per window receives its gradient.
    assert np.count_nonzero(grad) == np.count_nonzero(dy)


def test_tiled_max_pooling_tie_positions_in_row_major_order():
    x = np.array([[[[5, 5, 1, 2, 0, 0],
                    [5, 5, 2, 2, 0, 7]]]], dtype=np.float32)
    y = pool_forward(x, (2, 2))
    np.testing.assert_array_equal(y, [[[[5, 2, 7]]]])
    grad = pool_backward(x, y, np.array([[[[1, 2, 3]]]], dtype=np.float32), (2, 2))
    np.testing.assert_array_equal(grad, [[[[1, 0, 0, 2, 0, 0],
                                           [0, 0, 0, 0, 0, 3]]]])


def test_tiled_max_pooling_nan_never_wins_nor_takes_the_gradient():
    nan = np.nan
    x = np.array([[[[nan, 1, nan, nan],
                    [2, nan, nan, nan]]]], dtype=np.float32)
    y = pool_forward(x, (2, 2))
    lowest = np.finfo(np.float32).min
    np.testing.assert_array_equal(y, [[[[2, lowest]]]])
    grad = pool_backward(x, y, np.array([[[[4, 5]]]], dtype=np.float32), (2, 2))
    np.testing.assert_array_equal(grad, [[[[0, 0, 0, 0], [4, 0, 0, 0]]]])


@pytest.mark.parametrize("shape,kernel", SHAPES)
def test_tiled_max_pooling_gradient_req_add_accumulates_everywhere(shape, kernel):
    x = rng.standard_normal(shape)
    y = pool_forward(x, kernel)
    dy = rng.standard_normal(y.shape)
    start = rng.standard_normal(shape)
    grad = pool_backward(x, y, dy, kernel, req="add", start=start)
    # Uncovered rows and columns keep their values; covered ones add the gradient.
    np.testing.assert_allclose(grad, start + max_grad_ref(x, y, dy, kernel), rtol=0, atol=1e-15)


def test_tiled_max_pooling_gradient_write_clears_uncovered_elements():
    x = rng.standard_normal((1, 1, 5, 5)).astype(np.float32)
    y = pool_forward(x, (2, 2))
    dy = np.ones(y.shape, dtype=np.float32)
    grad = pool_backward(x, y, dy, (2, 2), start=np.full(x.shape, 9.0))
    assert not grad[:, :, 4, :].any() and not grad[:, :, :, 4].any()
    np.testing.assert_array_equal(grad, max_grad_ref(x, y, dy, (2, 2)).astype(np.float32))


def test_tiled_max_pooling_float16_gradient():
    x = rng.standard_normal((2, 2, 6, 7)).astype(np.float16)
    y = pool_forward(x, (2, 2))
    dy = rng.standard_normal(y.shape).astype(np.float16)
    grad = pool_backward(x, y, dy, (2, 2))
    assert grad.dtype == np.float16
    np.testing.assert_array_equal(grad, max_grad_ref(x, y, dy, (2, 2)).astype(np.float16))
