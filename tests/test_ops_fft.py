"""contrib.fft and contrib.ifft in MXNet 1.9.1's layout (interleaved real and imaginary parts
along the last axis), against numpy.fft; their gradients against float64 finite differences;
the refusals. MXNet runs them on GPUs only, so there is no recording of MXNet's outputs: its
definition (cuFFT's forward transform, and the real part of its unnormalized inverse) is the
reference."""
from __future__ import annotations

import numpy as np
import pytest

import flowmod as mx
from flowmod import nd
from op_check import check_gradient, forward


def interleave(z):
    out = np.empty(z.shape[:-1] + (2 * z.shape[-1],))
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


# Powers of two (radix 2), other lengths (Bluestein) and 1.
LENGTHS = [1, 2, 3, 5, 8, 12, 17, 64, 100]


@pytest.mark.parametrize("d", LENGTHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fft_matches_numpy(d, dtype):
    x = np.random.default_rng(d).standard_normal((3, d)).astype(dtype)
    (y,) = forward("_contrib_fft", [x])
    assert y.shape == (3, 2 * d) and y.dtype == np.dtype(dtype)
    tol = 1e-4 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(y, interleave(np.fft.fft(x.astype(np.float64))), rtol=tol, atol=tol * d)


@pytest.mark.parametrize("d", LENGTHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ifft_is_the_real_part_of_the_unnormalized_inverse(d, dtype):
    z = np.random.default_rng(d + 1).standard_normal((2, 2 * d)).astype(dtype)
    (y,) = forward("_contrib_ifft", [z])
    assert y.shape == (2, d)
    c = z[..., 0::2].astype(np.float64) + 1j * z[..., 1::2].astype(np.float64)
    tol = 1e-4 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(y, (np.fft.ifft(c) * d).real, rtol=tol, atol=tol * d)


def test_fft_of_four_dimensional_data_transforms_the_last_axis():
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 6))
    y = nd.contrib.fft(nd.array(x, dtype="float64"))
    assert y.shape == (2, 3, 2, 12)
    np.testing.assert_allclose(y.asnumpy(), interleave(np.fft.fft(x)), rtol=1e-11, atol=1e-11)


def test_ifft_after_fft_gives_d_times_the_data():
    x = np.random.default_rng(1).standard_normal((4, 10))
    back = nd.contrib.ifft(nd.contrib.fft(nd.array(x, dtype="float64"), compute_size=2))
    np.testing.assert_allclose(back.asnumpy(), 10 * x, rtol=1e-11, atol=1e-11)


def test_a_long_transform_stays_accurate():
    x = np.random.default_rng(2).standard_normal((1, 3000))
    (y,) = forward("_contrib_fft", [x])
    np.testing.assert_allclose(y, interleave(np.fft.fft(x)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("op,shape", [("_contrib_fft", (2, 6)), ("_contrib_fft", (1, 2, 2, 5)),
                                      ("_contrib_ifft", (2, 10)), ("_contrib_ifft", (1, 1, 2, 6))])
def test_fft_gradients_match_finite_differences(op, shape):
    check_gradient(op, [np.random.default_rng(3).standard_normal(shape)], is_train=True)


def test_fft_symbol_infers_the_interleaved_shape():
    sym = mx.sym.contrib.fft(mx.sym.Variable("data"))
    _, outs, _ = sym.infer_shape(data=(5, 7))
    assert outs == [(5, 14)]
    _, outs, _ = mx.sym.contrib.ifft(mx.sym.Variable("data")).infer_shape(data=(5, 14))
    assert outs == [(5, 7)]


@pytest.mark.parametrize("call,match", [
    (lambda: nd.contrib.fft(nd.ones((2, 3, 4))), r"_contrib_fft: data=an array of shape \(2, 3, 4\): expected 2 or 4"),
    (lambda: nd.contrib.ifft(nd.ones((2, 5))), r"_contrib_ifft: data=an array of shape \(2, 5\): expected an even"),
    (lambda: nd.contrib.fft(nd.ones((2, 4)), compute_size=0), r"_contrib_fft: compute_size=0: expected an integer >= 1"),
    (lambda: nd.contrib.fft(nd.ones((2, 4), dtype="int32")), r"_contrib_fft"),
])
def test_fft_refuses_bad_input(call, match):
    with pytest.raises(mx.MXNetError, match=match):
        call()
