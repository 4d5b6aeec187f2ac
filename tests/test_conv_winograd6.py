"""conv2d by Winograd F(6x6, 3x3) (``algorithm='winograd6'``, AVX-512) against PyTorch in float64.

The tolerance is the rigorous bound of test_conv_winograd.py with F(6x6, 3x3)'s matrices:
gamma(n) times the chain evaluated on absolute values, n = the input transform (2 passes of
<= 8 terms), the weight rounding, the Cin-term GEMM and the output transform (2 passes of
<= 8 terms), plus the epilogue's roundings: gamma(Cin + 40). The kernel's blocks are 16 tiles
(96 output columns) of one tile row or of the end of one and the start of the next; the cases
cover both, the zero border of every side, and images whose width is not a multiple of 6.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import case_rng
from tests.test_conv_winograd import (
    EPILOGUES,
    _gamma,
    _torch_padding,
    assert_within,
    epilogue_abs_sum,
    winograd_chain,
    with_epilogue,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.skipif(deblurcore._core.cpu_isa() != "avx512",
                                reason="the F(6x6, 3x3) kernel is AVX-512 only")

BT = np.array([[1, 0, -21 / 4, 0, 21 / 4, 0, -1, 0],
               [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
               [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
               [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
               [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
               [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
               [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
               [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1]], np.float64)
G = np.array([[1, 0, 0], [-2 / 9, -2 / 9, -2 / 9], [-2 / 9, 2 / 9, -2 / 9],
              [1 / 90, 1 / 45, 2 / 45], [1 / 90, -1 / 45, 2 / 45], [32 / 45, 16 / 45, 8 / 45],
              [32 / 45, -16 / 45, 8 / 45], [0, 0, 1]], np.float64)
AT = np.array([[1, 1, 1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
               [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0], [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0],
               [0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0], [0, 1, -1, 32, -32, 1 / 32, -1 / 32, 1]],
              np.float64)


# (N, Cin, Cout, H, W, padding): padding an int or per side (top, bottom, left, right).
CASES = [
    (1, 3, 8, 13, 96, 1),             # exactly 16 tiles a row: one block per tile row
    (1, 9, 17, 14, 100, 1),           # 17 tiles a row: blocks span two tile rows
    (2, 16, 24, 11, 161, 1),          # 27 tiles (IFAN's 160-pixel rows), partial last row, batch
    (1, 7, 9, 5, 203, (0, 1, 0, 1)),  # per-side padding, odd width
    (1, 12, 70, 8, 110, (2, 0, 1, 3)),  # asymmetric padding, Cout past panels of 8
    (1, 64, 64, 12, 130, 1),          # the models' channel counts
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_winograd6_matches_float64(case):
    N, Cin, Cout, H, W, padding = CASES[case]
    act, slope, use_res, before, affine = EPILOGUES[case % len(EPILOGUES)]
    rng = case_rng("winograd6", case)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((Cout, Cin, 3, 3), dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32) if case % 3 else None
    top, bottom, left, right = pads = _torch_padding(padding)
    xt = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    y = F.conv2d(xt, torch.from_numpy(w).double(),
                 None if b is None else torch.from_numpy(b).double())
    Hout, Wout = y.shape[2], y.shape[3]
    # The matrices themselves (exact arithmetic up to float64 rounding).
    ywin = winograd_chain(x, w, pads, Hout, Wout, BT, G, AT)
    assert np.allclose(ywin + (0 if b is None else b[None, :, None, None]), y.numpy(),
                       rtol=1e-9, atol=1e-9 * np.abs(y.numpy()).max())
    y, scale, shift, res = with_epilogue(rng, y, act, slope, use_res, before, affine)
    s = epilogue_abs_sum(winograd_chain(np.abs(x), np.abs(w), pads, Hout, Wout, np.abs(BT),
                                        np.abs(G), np.abs(AT)), b, scale, shift, res)
    tol = _gamma(Cin + 40) * s

    ours = ops.conv2d(x, w, b, 1, padding, activation=act, negative_slope=slope, residual=res,
                      residual_before_activation=before, scale=scale, shift=shift,
                      algorithm="winograd6")
    assert_within(ours, y, tol, "avx512")
    # It is not F(4x4, 3x3): the two round differently (so the test above ran the new kernel).
    f4 = ops.conv2d(x, w, b, 1, padding, activation=act, negative_slope=slope, residual=res,
                    residual_before_activation=before, scale=scale, shift=shift,
                    algorithm="winograd")
    assert not np.array_equal(ours, f4)


def test_winograd6_dilated_and_narrow_images_match_torch():
    """The dilated path runs F(6x6, 3x3) on its sub-images where they are wide enough; images
    narrower than a block of 16 tiles run F(4x4, 3x3)."""
    rng = case_rng("winograd6-dilated")
    for (H, W, d) in ((12, 200, 2), (9, 50, 1)):
        x = rng.standard_normal((1, 16, H, W), dtype=np.float32)
        w = rng.standard_normal((20, 16, 3, 3), dtype=np.float32)
        y = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=d,
                     dilation=d).numpy()
        ours = ops.conv2d(x, w, None, 1, d, d, algorithm="winograd6")
        assert np.abs(ours - y).max() <= 1e-4 * np.abs(y).max()
