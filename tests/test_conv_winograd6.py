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
from tests.helpers.numerics import case_rng, torch_epilogue
from tests.test_conv_winograd import EPILOGUES, assert_within

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.skipif(deblurcore._core.cpu_isa() != "avx512",
                                reason="the F(6x6, 3x3) kernel is AVX-512 only")

U = 2.0**-24
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


def _tiles(x, padding, Hout, Wout):
    """The 8x8 input tiles (N, C, th, tw, 8, 8) of the 6x6 output tiles, zero outside."""
    top, _, left, _ = padding
    th, tw = -(-Hout // 6), -(-Wout // 6)
    N, C, H, W = x.shape
    xp = np.zeros((N, C, 6 * th + 2, 6 * tw + 2))
    h = min(H, 6 * th + 2 - top)
    w = min(W, 6 * tw + 2 - left)
    xp[:, :, top:top + h, left:left + w] = x[:, :, :h, :w]
    out = np.empty((N, C, th, tw, 8, 8))
    for i in range(th):
        for j in range(tw):
            out[:, :, i, j] = xp[:, :, 6 * i:6 * i + 8, 6 * j:6 * j + 8]
    return out


def _winograd(x, w, padding, Hout, Wout, absolute):
    """The F(6x6, 3x3) formula in float64, or (absolute) the chain on absolute values."""
    f = np.abs if absolute else (lambda a: a)
    d = _tiles(f(x.astype(np.float64)), padding, Hout, Wout)
    v = np.einsum("ab,ncyxbd,ed->ncyxae", f(BT), d, f(BT))
    u = np.einsum("ab,ocbd,ed->ocae", f(G), f(w.astype(np.float64)), f(G))
    y = np.einsum("ia,noyxae,je->noyixj", f(AT), np.einsum("ncyxae,ocae->noyxae", v, u), f(AT))
    N, Co, th, _, tw, _ = y.shape
    return y.reshape(N, Co, 6 * th, 6 * tw)[:, :, :Hout, :Wout]


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
    top, bottom, left, right = (padding,) * 4 if isinstance(padding, int) else padding
    pads = (top, bottom, left, right)
    xt = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    y = F.conv2d(xt, torch.from_numpy(w).double(),
                 None if b is None else torch.from_numpy(b).double())
    Hout, Wout = y.shape[2], y.shape[3]
    # The matrices themselves (exact arithmetic up to float64 rounding).
    ywin = _winograd(x, w, pads, Hout, Wout, False)
    assert np.allclose(ywin + (0 if b is None else b[None, :, None, None]), y.numpy(),
                       rtol=1e-9, atol=1e-9 * np.abs(y.numpy()).max())
    scale = shift = None
    if affine:
        scale = rng.uniform(-2, 2, (N, Cout)).astype(np.float32)
        shift = rng.standard_normal((N, Cout), dtype=np.float32)
        y = y * torch.from_numpy(scale).double()[:, :, None, None] \
            + torch.from_numpy(shift).double()[:, :, None, None]
    res = rng.standard_normal(tuple(y.shape), dtype=np.float32) if use_res else None
    y = torch_epilogue(y, act, slope, None if res is None else torch.from_numpy(res).double(),
                       before).numpy()

    s = _winograd(x, w, pads, Hout, Wout, True)
    s = s + (0 if b is None else np.abs(b)[None, :, None, None])
    if affine:
        s = s * np.abs(scale)[:, :, None, None] + np.abs(shift)[:, :, None, None]
    if res is not None:
        s = s + np.abs(res)
    n = Cin + 40
    tol = n * U / (1 - n * U) * s

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
