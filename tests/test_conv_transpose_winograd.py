"""conv_transpose2d of the upsampling layers (4x4 kernel, stride 2, padding 1) by Winograd.

The CPU runs the four output phases as one 3x3 convolution over the input with 4 Cout output
channels (cpu/conv_transpose2d.cpp) by Winograd F(4x4, 3x3), then interleaves them. Checked
against PyTorch in float64 on every instruction set this CPU has, with the bound of
test_conv_winograd.py applied to that phase convolution: gamma(Cin + 24) times its Winograd
chain on absolute values (plus |bias| and |residual|). The phase weights are built here from
the definition of the transposed convolution (which input pixel reaches which output pixel
through which tap), not from the C++ table.
"""

from __future__ import annotations

import numpy as np
import pytest

import deblurcore
from deblurcore import ops
from tests.helpers.numerics import case_rng, torch_epilogue
from tests.test_conv_winograd import ISAS, _gamma, assert_within, winograd_abs_sum

torch = pytest.importorskip("torch")
F = torch.nn.functional


def phase_weights(w):
    """(4 Cout, Cin, 3, 3): output (2m + py, 2j + px) as a 3x3 correlation around input (m, j).

    Transposed convolution with stride 2, padding 1: input row i reaches output row
    2i - 1 + ky; for output row 2m + py that is i = m + dy with ky = 2m + py + 1 - 2(m + dy) =
    py + 1 - 2 dy, a tap only when 0 <= ky < 4. Likewise for columns.
    """
    cin, cout = w.shape[:2]
    k3 = np.zeros((2, 2, cout, cin, 3, 3), w.dtype)
    for py in range(2):
        for px in range(2):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ky, kx = py + 1 - 2 * dy, px + 1 - 2 * dx
                    if 0 <= ky < 4 and 0 <= kx < 4:
                        k3[py, px, :, :, dy + 1, dx + 1] = w[:, :, ky, kx].T
    return k3.reshape(4 * cout, cin, 3, 3)


def interleave(phases, cout):
    """(N, 4 Cout, H, W) phases -> (N, Cout, 2H, 2W)."""
    n, _, h, w = phases.shape
    p = phases.reshape(n, 2, 2, cout, h, w)
    return p.transpose(0, 3, 4, 1, 5, 2).reshape(n, cout, 2 * h, 2 * w)


EPILOGUES = [
    # (activation, negative_slope, residual, residual_before_activation)
    (None, 0.01, False, False),
    ("leaky_relu", 0.1, False, False),
    ("leaky_relu", 0.2, True, False),
    ("relu", 0.01, True, True),
    (None, 0.01, True, False),
]

# (N, Cin, Cout, H, W, algorithm): 'auto' picks Winograd from 64-pixel rows and 4096 pixels.
CASES = [
    (1, 4, 3, 5, 6, "winograd"),     # partial tiles, 12 phase channels
    (2, 9, 17, 3, 3, "winograd"),    # batch, less than one tile
    (1, 6, 10, 11, 37, "winograd"),  # several tile rows, column tails
    (1, 3, 2, 1, 1, "winograd"),     # one input pixel
    (1, 16, 8, 64, 72, "auto"),      # the rule's choice at a size where it picks Winograd
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_upsampling_winograd_matches_float64(case):
    N, Cin, Cout, H, W, algorithm = CASES[case]
    act, slope, use_res, before = EPILOGUES[case % len(EPILOGUES)]
    rng = case_rng("conv-transpose-winograd", case)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((Cin, Cout, 4, 4), dtype=np.float32)
    b = rng.standard_normal(Cout, dtype=np.float32) if case % 2 == 0 else None
    y = F.conv_transpose2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                           None if b is None else torch.from_numpy(b).double(), 2, 1)
    # The phase convolution itself (exact up to float64 rounding).
    k3 = phase_weights(w.astype(np.float64))
    y3 = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(k3), None, 1, 1).numpy()
    assert np.allclose(interleave(y3, Cout) + (0 if b is None else b[None, :, None, None]),
                       y.numpy(), rtol=1e-12, atol=1e-12 * np.abs(y.numpy()).max())
    res = rng.standard_normal(tuple(y.shape), dtype=np.float32) if use_res else None
    want = torch_epilogue(y, act, slope, None if res is None else torch.from_numpy(res).double(),
                          before).numpy()

    s = interleave(winograd_abs_sum(x, k3, (1, 1, 1, 1), H, W), Cout)
    s = s + (0 if b is None else np.abs(b)[None, :, None, None])
    if res is not None:
        s = s + np.abs(res)
    tol = _gamma(Cin + 24) * s

    for isa in ISAS:
        ours = ops.conv_transpose2d(x, w, b, 2, 1, activation=act, negative_slope=slope,
                                    residual=res, residual_before_activation=before, isa=isa,
                                    algorithm=algorithm)
        assert_within(ours, want, tol, isa)


def test_winograd_and_direct_phases_agree():
    """'direct' runs the phases as their own GEMMs: the same transposed convolution."""
    rng = case_rng("conv-transpose-winograd-direct")
    x = rng.standard_normal((1, 32, 24, 64), dtype=np.float32)
    w = rng.standard_normal((32, 16, 4, 4), dtype=np.float32)
    y = F.conv_transpose2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), None, 2,
                           1).numpy()
    for algo in ("direct", "winograd", "auto"):
        ours = ops.conv_transpose2d(x, w, None, 2, 1, algorithm=algo)
        assert np.abs(ours - y).max() <= 1e-4 * np.abs(y).max(), algo


@pytest.mark.parametrize("stride,padding,output_padding,k,precision", [
    (2, 0, 0, 4, "fp32"),  # not the phase convolution's geometry: direct phases
    (2, 1, 1, 4, "fp32"),
    (2, 1, 0, 3, "fp32"),
    (1, 1, 0, 4, "fp32"),
    (2, 1, 0, 4, "bf16"),  # bf16 keeps its direct bf16 phases
])
def test_winograd_falls_back_where_it_does_not_apply(stride, padding, output_padding, k,
                                                     precision):
    if precision == "bf16" and not deblurcore.cpu_supports_bf16():
        pytest.skip("this CPU has no AVX512_BF16")
    rng = case_rng("conv-transpose-winograd-fallback", stride, padding, output_padding, k)
    x = rng.standard_normal((1, 6, 9, 11), dtype=np.float32)
    w = rng.standard_normal((6, 5, k, k), dtype=np.float32)
    direct = ops.conv_transpose2d(x, w, None, stride, padding, output_padding,
                                  algorithm="direct", precision=precision)
    forced = ops.conv_transpose2d(x, w, None, stride, padding, output_padding,
                                  algorithm="winograd", precision=precision)
    np.testing.assert_array_equal(forced, direct)


def test_bad_algorithm_names_the_argument():
    x = np.zeros((1, 1, 4, 4), np.float32)
    w = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="algorithm"):
        ops.conv_transpose2d(x, w, None, 2, 1, algorithm="fft")
