"""precision='bf16' of conv2d / conv_transpose2d (AVX512_BF16's vdpbf16ps), against float64.

The bf16 kernel rounds every weight and input value to bfloat16 (round to nearest, ties to
even) and accumulates the products in float32. Two checks per case:

* The kernel itself: against float64 on the *same* bf16-rounded operands (rounded here in
  numpy), the only difference left is the float32 accumulation. A product of two bf16 values
  (8 significant bits each) is exact in float32 and vdpbf16ps rounds once per pair, so the
  summation bound of test_conv_kernels.py applies: |ours - exact| <= gamma(K + 4) * (S + |res|)
  with S = sum |w_bf16||x_bf16| + |bias|. A wrong pairing, tap or padding is off by whole terms.
* The rounding: against float64 on the original operands the error of each product is at most
  (1 + 2^-9)^2 - 1 < 2^-8 of it, so |ours - exact| <= (2^-8 + gamma(K + 4)) * (S + |res|).

Skipped on CPUs without AVX512_BF16 (there, precision='bf16' must raise ValueError).
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import assert_sum_close, case_rng, randn, torch_epilogue

torch = pytest.importorskip("torch")
F = torch.nn.functional

U = 2.0**-24
HAS_BF16 = deblurcore.cpu_supports_bf16()
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU has no AVX512_BF16")


def gamma(n):
    return n * U / (1 - n * U)


def to_bf16(a):
    """float32 -> nearest bfloat16 (ties to even), returned as float32."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def _t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


CONV_CASES = [
    # (N, Cin, H, W, Cout, k, stride, padding, dilation)
    (1, 32, 17, 40, 32, 3, 1, 1, 1),
    (2, 7, 12, 33, 13, 3, 1, 1, 1),   # odd Cin (last pair half zero), Cout not a multiple of 8
    (1, 64, 16, 20, 64, 3, 2, 1, 1),
    (1, 16, 15, 35, 24, 3, 1, 2, 2),
    (1, 128, 9, 50, 40, 1, 1, 0, 1),
    (1, 3, 20, 24, 32, 5, 1, 2, 1),
    (1, 300, 6, 70, 8, 3, 1, 1, 1),   # several K blocks
    (2, 32, 9, 70, 3, 3, 1, 1, 1),    # few output channels (their own tile kernel)
]
EPILOGUES = [(None, 0.01, False, False), ("leaky_relu", 0.1, True, False),
             ("leaky_relu", 0.2, True, True)]


def _check(ours, x, w, b, res, act, slope, before, conv, what):
    K = w.shape[0 if conv.transposed else 1] * w.shape[2] * w.shape[3]
    xb, wb = to_bf16(x), to_bf16(w)
    exact_b = torch_epilogue(conv(_t(xb), _t(wb), _t(b)), act, slope,
                             None if res is None else _t(res), before).numpy()
    exact = torch_epilogue(conv(_t(x), _t(w), _t(b)), act, slope,
                           None if res is None else _t(res), before).numpy()
    scale = conv(_t(np.abs(xb)), _t(np.abs(wb)), _t(np.abs(b))).numpy()
    if res is not None:
        scale = scale + np.abs(res)
    assert_sum_close(ours, exact_b, scale, f"{what} vs float64 on bf16 operands", gamma(K + 5))
    assert_sum_close(ours, exact, 1.01 * scale, f"{what} vs float64", 2.0**-8 + gamma(K + 5))


@needs_bf16
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("epi", EPILOGUES, ids=str)
def test_conv2d_bf16(case, epi):
    N, Cin, H, W, Cout, k, s, p, d = case
    act, slope, use_res, before = epi
    rng = case_rng("conv2d_bf16", case, epi)
    x, w, b = randn(rng, (N, Cin, H, W)), randn(rng, (Cout, Cin, k, k)), randn(rng, (Cout,))
    Ho = (H + 2 * p - d * (k - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (k - 1) - 1) // s + 1
    res = randn(rng, (N, Cout, Ho, Wo)) if use_res else None
    ours = ops.conv2d(x, w, b, s, p, d, activation=act, negative_slope=slope, residual=res,
                      residual_before_activation=before, precision="bf16")

    def conv(xx, ww, bb):
        return F.conv2d(xx, ww, bb, stride=s, padding=p, dilation=d)

    _check(ours, x, w, b, res, act, slope, before, _Conv(conv, transposed=False), "conv2d bf16")


class _Conv:
    """A conv closure that also tells _check how K is counted."""

    def __init__(self, fn, transposed):
        self.fn, self.transposed = fn, transposed

    def __call__(self, *a):
        return self.fn(*a)


TRANSPOSED_CASES = [
    # (N, Cin, H, W, Cout, k, stride, padding, output_padding)
    (1, 64, 10, 21, 32, 4, 2, 1, 0),
    (2, 5, 7, 9, 11, 3, 2, 1, 1),
    (1, 32, 8, 40, 16, 3, 1, 1, 0),
    (2, 6, 11, 37, 10, 4, 2, 1, 0),   # several row tiles, masked column tails
    (1, 16, 9, 30, 3, 4, 2, 1, 0),    # few output channels (their own tile kernel)
]


@needs_bf16
@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=str)
@pytest.mark.parametrize("epi", EPILOGUES, ids=str)
def test_conv_transpose2d_bf16(case, epi):
    N, Cin, H, W, Cout, k, s, p, op = case
    act, slope, use_res, before = epi
    rng = case_rng("conv_transpose2d_bf16", case, epi)
    x, w, b = randn(rng, (N, Cin, H, W)), randn(rng, (Cin, Cout, k, k)), randn(rng, (Cout,))
    Ho, Wo = (H - 1) * s - 2 * p + k + op, (W - 1) * s - 2 * p + k + op
    res = randn(rng, (N, Cout, Ho, Wo)) if use_res else None
    ours = ops.conv_transpose2d(x, w, b, s, p, op, activation=act, negative_slope=slope,
                                residual=res, residual_before_activation=before,
                                precision="bf16")

    def conv(xx, ww, bb):
        return F.conv_transpose2d(xx, ww, bb, stride=s, padding=p, output_padding=op)

    _check(ours, x, w, b, res, act, slope, before, _Conv(conv, transposed=True),
           "conv_transpose2d bf16")


@needs_bf16
def test_bf16_rounds_to_nearest_even():
    # A 1x1 convolution with weight 1 returns the bf16 rounding of each input exactly:
    # halfway cases go to the even neighbour, and NaN stays NaN.
    vals = np.array([1.0, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 1.0 + 2.0**-9, -2.5e-3, 3.0e38, 1e-40],
                    dtype=np.float32)
    x = np.zeros((1, 2, 1, 32), np.float32)
    x[0, 0, 0, : len(vals)] = vals
    x[0, 1, 0, 31] = np.nan  # 0 * NaN is NaN: only output pixel 31 of both channels sees it
    w = np.zeros((2, 2, 1, 1), np.float32)
    w[0, 0], w[1, 1] = 1.0, 1.0
    out = ops.conv2d(x, w, precision="bf16")
    expect = to_bf16(vals)
    np.testing.assert_array_equal(out[0, 0, 0, : len(vals)][:-1], expect[:-1])
    assert np.isnan(out[0, 1, 0, 31])
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even gives 1.
    assert out[0, 0, 0, 1] == 1.0 and out[0, 0, 0, 2] == 1.0 + 2.0**-6


def test_precision_argument_checked():
    x, w = np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16'"):
        ops.conv2d(x, w, precision="fp16")
    if not HAS_BF16:
        with pytest.raises(ValueError, match="AVX512_BF16"):
            ops.conv2d(x, w, precision="bf16")
    elif deblurcore.cpu_isa() == "avx512":
        with pytest.raises(ValueError, match="needs instruction set avx512"):
            ops.conv2d(x, w, isa="avx2", precision="bf16")
