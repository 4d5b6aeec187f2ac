"""conv2d by the bf16 Winograd F(4x4, 3x3) (precision='bf16', algorithm='winograd') against
PyTorch in float64, and the bf16 weights prepared at load.

Tolerance (elementwise, rigorous rather than tuned; notation of test_conv_winograd.py). The
bf16 kernel computes the transformed input V = B^T d B in float, rounds it to bfloat16, and
multiplies it by the transformed weights U = G g G^T rounded to bfloat16 (from double, through
float: relative error <= 2^-9 + 2^-24). A product of two bf16 values is exact in float, so each
product of the GEMM is off by at most (1 + 2^-9 + 2^-24)(1 + 2^-9 + gamma(8)) - 1 < 1.01 * 2^-8
of |U| |V|; the rest of the chain is the float one. So
    |ours - exact| <= (1.01 * 2^-8 + gamma(Cin + 24)) * ((S_w + |bias|) * |scale| + |shift| + |res|)
with S_w the Winograd sum of |terms| (winograd_abs_sum). One wrong term is on average
S_w / (36 Cin), still well above this bound for the channel counts here (Cin <= 40), so a
wrong pairing of channels, a wrong coefficient or a missing tile fails.

Skipped on CPUs without AVX512_BF16.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import case_rng
from tests.test_conv_winograd import (
    DILATED_CASES,
    EPILOGUES,
    _gamma,
    _torch_padding,
    assert_within,
    dilated_abs_sum,
    epilogue_abs_sum,
    winograd_abs_sum,
    with_epilogue,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

needs_bf16 = pytest.mark.skipif(not deblurcore.cpu_supports_bf16(),
                                reason="this CPU has no AVX512_BF16")

# (N, Cin, Cout, H, W, padding)
CASES = [
    (1, 3, 32, 17, 23, 1),             # few (odd) input channels: a half pair
    (2, 16, 16, 8, 8, 1),              # batch, whole tiles
    (1, 1, 1, 1, 1, 1),                # one pixel, one channel
    (1, 8, 17, 5, 7, 2),               # padding beyond the kernel radius
    (1, 9, 8, 13, 130, 1),             # several blocks of tiles in a row
    (1, 33, 20, 9, 70, (0, 1, 0, 1)),  # per-side padding, odd Cin
    (1, 40, 65, 12, 12, 1),            # Cout past a panel of 8
    (2, 7, 10, 23, 19, 1),             # odd everything, batch
    (1, 16, 24, 6, 205, 1),            # 52 tiles a row: a last block of 20 tiles
    (1, 8, 16, 10, 160, 1),            # 40 tiles: last blocks of 8 shared by two tile rows
]


@needs_bf16
@pytest.mark.parametrize("case", range(len(CASES)))
def test_winograd_bf16_matches_float64(case):
    N, Cin, Cout, H, W, padding = CASES[case]
    act, slope, use_res, before, affine = EPILOGUES[case % len(EPILOGUES)]
    rng = case_rng("winograd-bf16", case)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((Cout, Cin, 3, 3), dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32) if case % 3 else None
    top, bottom, left, right = _torch_padding(padding)
    xt = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    y = F.conv2d(xt, torch.from_numpy(w).double(),
                 None if b is None else torch.from_numpy(b).double())
    Hout, Wout = y.shape[2], y.shape[3]
    y, scale, shift, res = with_epilogue(rng, y, act, slope, use_res, before, affine)
    s = epilogue_abs_sum(winograd_abs_sum(x, w, (top, bottom, left, right), Hout, Wout), b,
                         scale, shift, res)
    tol = (1.01 * 2.0**-8 + _gamma(Cin + 24)) * s

    ours = ops.conv2d(x, w, b, 1, padding, activation=act, negative_slope=slope, residual=res,
                      residual_before_activation=before, scale=scale, shift=shift,
                      precision="bf16", algorithm="winograd")
    assert_within(ours, y, tol, "bf16")
    if ours.size:
        # And it is the bf16 kernel: the float Winograd is far more accurate on these sizes.
        if Cin >= 8:
            f32 = ops.conv2d(x, w, b, 1, padding, activation=act, negative_slope=slope,
                             residual=res, residual_before_activation=before, scale=scale,
                             shift=shift, algorithm="winograd")
            assert np.abs(ours - f32).max() > 0


@needs_bf16
@pytest.mark.parametrize("case", range(len(DILATED_CASES)))
def test_dilated_winograd_bf16_matches_float64(case):
    """Dilation d, padding d: the bf16 Winograd of the polyphase sub-images, same bound."""
    N, Cin, Cout, H, W, d = DILATED_CASES[case]
    rng = case_rng("winograd-bf16-dilated", case)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((Cout, Cin, 3, 3), dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32)
    y = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                 torch.from_numpy(b).double(), 1, d, d).numpy()
    tol = (1.01 * 2.0**-8 + _gamma(Cin + 24)) * (dilated_abs_sum(x, w, d)
                                                 + np.abs(b)[None, :, None, None])
    ours = ops.conv2d(x, w, b, 1, d, d, precision="bf16", algorithm="winograd")
    assert_within(ours, y, tol, "bf16 dilated")
    f32 = ops.conv2d(x, w, b, 1, d, d, algorithm="winograd")
    assert np.abs(ours - f32).max() > 0  # the bf16 kernel ran


@needs_bf16
def test_bf16_auto_on_a_large_layer_agrees_with_direct_bf16():
    """'auto' on a model-sized layer (Winograd where the measured rule says so) stays within
    the bf16 error of the direct bf16 GEMM: both off the float64 result by a few 2^-8 of the
    sum of |terms| at most."""
    rng = case_rng("winograd-bf16-auto")
    x = rng.standard_normal((1, 32, 72, 128), dtype=np.float32)
    w = rng.standard_normal((32, 32, 3, 3), dtype=np.float32)
    y = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    s = winograd_abs_sum(x, w, (1, 1, 1, 1), 72, 128)
    for algo in ("direct", "auto", "winograd"):
        ours = ops.conv2d(x, w, None, 1, 1, precision="bf16", algorithm=algo)
        assert np.all(np.abs(ours - y) <= 1.01 * 2.0**-8 * s + 1e-6), algo
