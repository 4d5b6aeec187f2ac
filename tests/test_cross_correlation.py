"""cross_correlation (the CrossCorrelationFFT layer) against its definition in float64.

The expected values come from numpy in float64 straight from the formula of the spec (no
transform): standardise each channel (population sigma, zero when sigma < 1e-9), then
cc_ij[dy, dx] = sum_{y,x} a_i[(y+dy) mod h, (x+dx) mod w] * a_j[y, x], the centred window
out[r, c] = cc[(r-m) mod h, (c-m) mod w], pairs i <= j i-major, then the flipped copies.

Tolerance: every channel has unit L2 norm, so each output lies in [-1, 1] and is a sum of h*w
products whose absolute values sum to at most 1 (Cauchy-Schwarz). The fast kernel computes it
with float32 FFTs (rfft2 of each channel, the product, the inverse along both axes), whose
error relative to the norm of the data is ~(log2 h + log2 w) * 6e-8 ~ 1e-6; per element that
gives an absolute error of the same order, so |ours - exact| <= 5e-6 absolute. (Measured:
below 3e-7.) The reference kernel sums in double and rounds once: 1e-7.
"""

from __future__ import annotations

import time
import zlib

import numpy as np
import pytest

from deblurcore import ops

ATOL = 5e-6
REF_ATOL = 1e-7


def _rng(*case):
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def expected(x, m, add_flips=True):
    N, C, h, w = x.shape
    x = x.astype(np.float64)
    R = 2 * m + 1
    out = []
    for n in range(N):
        a = []
        for c in range(C):
            v = x[n, c] - x[n, c].mean()
            sigma = np.sqrt((v * v).mean())
            a.append(np.zeros_like(v) if sigma < 1e-9 else v / (sigma * np.sqrt(h * w)))
        rows = (np.arange(R) - m) % h
        cols = (np.arange(R) - m) % w
        chans = []
        for i in range(C):
            for j in range(i, C):
                win = np.empty((R, R))
                for r, dy in enumerate(rows):
                    shifted = np.roll(a[i], -dy, axis=0)
                    for c, dx in enumerate(cols):
                        win[r, c] = np.sum(np.roll(shifted, -dx, axis=1) * a[j])
                chans.append(win)
        if add_flips:
            chans += [ch[::-1, ::-1] for ch in chans]
        out.append(np.stack(chans))
    return np.stack(out)


CASES = [
    # (N, C, h, w), m
    ((1, 3, 16, 20), 4),
    ((2, 2, 9, 11), 3),          # odd sizes
    ((1, 2, 7, 30), 6),          # h < 2m+1: the window wraps along H
    ((1, 2, 12, 5), 3),          # w < 2m+1 along W, odd w
    ((1, 3, 37, 23), 5),         # Bluestein along H (37), odd w
    ((1, 2, 20, 74), 7),         # Bluestein along W (74/2 = 37)
    ((1, 32, 14, 18), 4),        # the model's channel count
    ((1, 1, 8, 8), 0),           # m = 0: one value per pair
]


@pytest.mark.parametrize("shape,m", CASES)
def test_matches_the_definition(shape, m):
    x = _rng(shape, m).standard_normal(shape).astype(np.float32) * 3 + 1
    exp = expected(x, m)
    N, C = shape[:2]
    P = C * (C + 1) // 2
    got = ops.cross_correlation(x, m)
    assert got.shape == (N, 2 * P, 2 * m + 1, 2 * m + 1) and got.dtype == np.float32
    assert np.abs(got - exp).max() <= ATOL
    ref = ops.cross_correlation(x, m, reference=True)
    assert np.abs(ref - exp).max() <= REF_ATOL


def test_constant_channel_gives_zeros_and_no_flips():
    x = _rng("const").standard_normal((1, 3, 10, 12)).astype(np.float32)
    x[0, 1] = 7.5  # sigma = 0 -> the channel is exactly 0
    for reference in (False, True):
        got = ops.cross_correlation(x, 3, add_flips=False, reference=reference)
        assert got.shape == (1, 6, 7, 7)
        # pairs (0,1), (1,1), (1,2) are channels 1, 3, 4
        for ch in (1, 3, 4):
            assert not got[0, ch].any()
        assert np.abs(got - expected(x, 3, add_flips=False)).max() <= ATOL


def test_zero_shift_autocorrelation_is_one_and_threads_agree():
    x = _rng("auto").standard_normal((1, 4, 33, 40)).astype(np.float32)
    got = ops.cross_correlation(x, 5, num_threads=1)
    np.testing.assert_array_equal(ops.cross_correlation(x, 5, num_threads=2), got)
    for ch in (0, 4, 7, 9):  # pairs (i, i)
        assert abs(got[0, ch, 5, 5] - 1.0) <= ATOL


def test_bad_arguments():
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"cross_correlation: max_shift must be non-negative"):
        ops.cross_correlation(x, -1)
    with pytest.raises(ValueError, match=r"x must be 4-D"):
        ops.cross_correlation(np.zeros((8, 8), np.float32), 2)
    with pytest.raises(TypeError, match=r"add_flips must be a bool"):
        ops.cross_correlation(x, 2, add_flips=1)


@pytest.mark.parametrize("h,w,m", [(342, 518, 21), (702, 1054, 42)])
def test_timing_at_the_analysis_sizes(h, w, m, capsys):
    """Runs the two largest Analysis levels (C = 32) on 2 threads and reports the time; the
    values are spot-checked against the definition at a few pairs."""
    x = _rng("time", h, w).standard_normal((1, 32, h, w)).astype(np.float32)
    t = time.perf_counter()
    got = ops.cross_correlation(x, m, num_threads=2)
    elapsed = time.perf_counter() - t
    with capsys.disabled():
        print(f"\ncross_correlation 1x32x{h}x{w}, m={m}, 2 threads: {elapsed:.2f} s")
    assert got.shape == (1, 1056, 2 * m + 1, 2 * m + 1)
    sub = x[:, [0, 31]]
    a = expected(sub[:, :, :, :], 0, add_flips=False)  # zero-shift values only (cheap)
    assert abs(got[0, 0, m, m] - a[0, 0, 0, 0]) <= ATOL          # pair (0, 0)
    assert abs(got[0, 31, m, m] - a[0, 1, 0, 0]) <= ATOL         # pair (0, 31)
    assert abs(got[0, 527, m, m] - a[0, 2, 0, 0]) <= ATOL        # pair (31, 31)
