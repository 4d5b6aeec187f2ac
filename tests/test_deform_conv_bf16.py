"""precision='bf16' of deform_conv2d: the samples are interpolated and modulated in float, then
they and the weights are rounded to bfloat16 (nearest, ties to even) for the products, which
vdpbf16ps accumulates in float32 (the bf16 convolutions' scheme, test_conv_bf16.py).

* The kernel itself: with integer offsets and no mask every sample is an input value, so its
  bf16 rounding is numpy's of the input. Against the float64 oracle on the same bf16-rounded
  operands only the float32 accumulation is left: |ours - exact| <= gamma(K + 4) * (S + |b|),
  S = sum |w_bf16||x_bf16| (the float64 oracle on |x_bf16|, |w_bf16|). A wrong pairing of k,
  a wrong panel or a lost tail is off by whole terms.
* The rounding, with fractional offsets and masks: against our float deform_conv2d each
  product is off by at most (1 + 2^-9)^2 - 1 < 2^-8 of itself, plus both accumulations:
  |bf16 - fp32| <= (2^-8 + 2 gamma(K + 4)) * (S + |b|), where S = deform_conv2d(|x|, offset,
  |w|, |mask|) bounds sum |w||sample| (the bilinear weights are >= 0).

Skipped on CPUs without AVX512_BF16 (there, precision='bf16' must raise ValueError).
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import assert_sum_close, case_rng, pair
from tests.test_conv_bf16 import gamma, to_bf16
from tests.test_deform_conv import _case, deform_conv2d_torch

HAS_BF16 = deblurcore.cpu_supports_bf16()
needs_bf16 = pytest.mark.skipif(not HAS_BF16, reason="this CPU has no AVX512_BF16")

CASES = [
    # N, Cin, Cout, H, W, kernel, stride, padding, dilation, offset groups
    (1, 128, 128, 12, 21, 3, 1, 1, 1, 1),  # ASPDC's layer: K = 1152, two 64-channel panels
    (2, 5, 7, 9, 11, 3, 1, 1, 1, 1),       # K = 45: odd, a half pair and a short row of 32
    (1, 16, 70, 10, 13, 3, 2, 1, 1, 2),    # stride 2, 2 offset groups, Cout past a panel
    (1, 6, 9, 8, 9, (3, 2), 1, (1, 0), (2, 1), 3),
    (2, 33, 13, 21, 19, 3, 1, 2, 2, 1),    # several 96-pixel tiles, a partial last one
]


def _inputs(case, integer_offsets):
    N, Cin, Cout, H, W, k, s, p, d, g = case
    rng = case_rng(case, integer_offsets)
    # Offsets in [-3, 3): rounded, every sample is an input value (and no mask).
    x, off, w, b, m = _case(rng, N, Cin, Cout, H, W, k, s, p, d, g, with_mask=not integer_offsets)
    if integer_offsets:
        off = np.round(off)
    kh, kw = pair(k)
    return x, off, w, b, m, Cin * kh * kw


@needs_bf16
@pytest.mark.parametrize("case", CASES)
def test_bf16_kernel_against_float64_on_rounded_operands(case):
    s, p, d = case[6], case[7], case[8]
    x, off, w, b, _, K = _inputs(case, integer_offsets=True)
    xb, wb = to_bf16(x), to_bf16(w)
    ours = ops.deform_conv2d(x, off, w, b, s, p, d, num_threads=2, precision="bf16")
    exact = deform_conv2d_torch(xb, off, wb, b, s, p, d)
    S = deform_conv2d_torch(np.abs(xb), off, np.abs(wb), None, s, p, d) + np.abs(b)[:, None, None]
    assert_sum_close(ours, exact, S, f"bf16 deform_conv2d {case}", gamma(K + 4))


@needs_bf16
@pytest.mark.parametrize("case", CASES)
def test_bf16_rounding_against_float(case):
    s, p, d = case[6], case[7], case[8]
    x, off, w, b, m, K = _inputs(case, integer_offsets=False)
    ours = ops.deform_conv2d(x, off, w, b, s, p, d, m, num_threads=2, precision="bf16")
    fp32 = ops.deform_conv2d(x, off, w, b, s, p, d, m, num_threads=2)
    S = ops.deform_conv2d(np.abs(x), off, np.abs(w), None, s, p, d, np.abs(m), num_threads=2)
    S = S.astype(np.float64) + np.abs(b)[:, None, None]
    assert_sum_close(ours, fp32, S, f"bf16 deform_conv2d {case}", 2.0**-8 + 2 * gamma(K + 4))
    # Not the float result: the products really were rounded.
    assert np.abs(ours - fp32).max() > 0


def test_bf16_needs_the_instructions_or_says_so():
    x = np.zeros((1, 2, 4, 4), np.float32)
    off = np.zeros((1, 18, 4, 4), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    if HAS_BF16:
        assert ops.deform_conv2d(x, off, w, None, 1, 1, precision="bf16").shape == (1, 3, 4, 4)
    else:
        with pytest.raises(ValueError, match="AVX512_BF16"):
            ops.deform_conv2d(x, off, w, None, 1, 1, precision="bf16")
    with pytest.raises(ValueError, match="precision"):
        ops.deform_conv2d(x, off, w, None, 1, 1, precision="fp16")
