"""rfft2 / irfft2 against numpy.fft in float64.

The inputs are float32; numpy transforms the same values in float64, so the difference is our
float32 error alone. Tolerance: relative to the L2 norm of the exact output,
||ours - exact|| <= 2e-6 * ||exact||. A float32 FFT's error grows like O(log n) * eps with
eps = 6e-8 in the root-mean-square sense (each of the ~log2(n) passes rounds once, plus the
float32 twiddles); for the lengths here (up to 2048 inside Bluestein's convolution) that is
~1e-6 at the very worst, and what we measure is 1e-7 .. 3e-7. A wrong twiddle, index or
sign gives O(1) errors. The reference kernel (a direct DFT in double, rounded once) is held
to 1e-7.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from deblurcore import ops

FFT_RTOL = 2e-6
REF_RTOL = 1e-7

# (H, W): primes, products of small primes, Bluestein lengths (prime factor > 31) and the
# Analysis network's correlation fields (702x1054, 342x518, 162x250, 72x116), along both axes.
SIZES = [
    (1, 1), (1, 2), (2, 1), (2, 2), (3, 5), (5, 3), (7, 13), (13, 7), (17, 31), (31, 17),
    (37, 4), (4, 37), (97, 3), (3, 97), (127, 6), (6, 127), (2, 1009), (1009, 2),
    (702, 8), (8, 702), (4, 1054), (1054, 4), (518, 6), (6, 518), (250, 116), (116, 250),
    (162, 10), (72, 116), (64, 64), (128, 256), (1024, 3), (11, 19), (23, 29), (9, 74),
    (5, 162), (35, 49), (41, 43), (12, 59),
]


def _rng(*case):
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def _complex(X):
    return X[..., 0].astype(np.float64) + 1j * X[..., 1].astype(np.float64)


def _rel(ours, exact):
    return np.linalg.norm(ours - exact) / np.linalg.norm(exact)


@pytest.mark.parametrize("H,W", SIZES)
def test_rfft2_and_irfft2_match_numpy(H, W):
    x = _rng(H, W).standard_normal((2, 1, H, W)).astype(np.float32)
    X = ops.rfft2(x)
    assert X.shape == (2, 1, H, W // 2 + 1, 2) and X.dtype == np.float32
    exact = np.fft.rfft2(x.astype(np.float64))
    assert _rel(_complex(X), exact) <= FFT_RTOL
    # irfft2 of our spectrum against numpy's irfft2 of the same float32 spectrum.
    y = ops.irfft2(X, W)
    assert y.shape == x.shape and y.dtype == np.float32
    exact_y = np.fft.irfft2(_complex(X), s=(H, W))
    assert _rel(y, exact_y) <= FFT_RTOL


@pytest.mark.parametrize("H,W", [(1, 1), (3, 5), (7, 13), (17, 31), (37, 4), (6, 127), (9, 74),
                                 (12, 59)])
def test_reference_kernels_match_numpy(H, W):
    x = _rng("ref", H, W).standard_normal((1, 2, H, W)).astype(np.float32)
    X = ops.rfft2(x, reference=True)
    assert _rel(_complex(X), np.fft.rfft2(x.astype(np.float64))) <= REF_RTOL
    y = ops.irfft2(X, W, reference=True)
    assert _rel(y, np.fft.irfft2(_complex(X), s=(H, W))) <= REF_RTOL


@pytest.mark.parametrize("H,W", [(5, 8), (6, 7), (4, 1)])
def test_irfft2_ignores_the_imaginary_part_of_real_columns_like_numpy(H, W):
    # An arbitrary (non-Hermitian) spectrum: numpy drops Im of column 0 and, for even W,
    # of column W/2 after the transform along H; so do both our kernels.
    X = _rng("herm", H, W).standard_normal((1, 1, H, W // 2 + 1, 2)).astype(np.float32)
    exact = np.fft.irfft2(_complex(X), s=(H, W))
    for reference in (False, True):
        assert _rel(ops.irfft2(X, W, reference=reference), exact) <= FFT_RTOL


def test_round_trip_and_threads():
    x = _rng("rt").standard_normal((3, 2, 30, 42)).astype(np.float32)
    X1 = ops.rfft2(x, num_threads=1)
    np.testing.assert_array_equal(ops.rfft2(x, num_threads=2), X1)
    y = ops.irfft2(X1, 42)
    np.testing.assert_allclose(y, x, atol=2e-6 * np.abs(x).max())


def test_bad_arguments():
    x = np.zeros((1, 1, 4, 6), np.float32)
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        ops.rfft2(np.zeros((4, 6), np.float32))
    X = ops.rfft2(x)
    with pytest.raises(ValueError, match=r"irfft2: X has 4 columns but width 9 needs"):
        ops.irfft2(X, 9)
    assert ops.irfft2(X, 7).shape == (1, 1, 4, 7)  # 7 // 2 + 1 == 4 as well
    with pytest.raises(ValueError, match=r"irfft2: width must be positive"):
        ops.irfft2(X, 0)
    with pytest.raises(ValueError, match=r"irfft2: X must end in a dimension of 2"):
        ops.irfft2(np.zeros((1, 1, 4, 4, 3), np.float32), 6)
    with pytest.raises(TypeError, match=r"width must be an int"):
        ops.irfft2(X, 6.0)
