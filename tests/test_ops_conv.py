"""conv2d and conv_transpose2d of deblurcore.ops against PyTorch, at the API level.

The tolerances and how they are derived: tests/helpers/op_checks.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from deblurcore import ops
from tests.helpers.numerics import (
    case_rng,
    pair,
    randn,
    torch_epilogue,
)
from tests.helpers.op_checks import ISAS, assert_f32_sum_close, t64

torch = pytest.importorskip("torch")
F = torch.nn.functional


# ---------------------------------------------------------------------------------------------
# conv2d

# (N, Cin, H, W, Cout, kernel, stride, padding, dilation, bias)
CONV2D_CASES = [
    (1, 3, 7, 9, 4, 3, 1, 1, 1, True),            # 3x3 'same', odd sizes
    (2, 5, 11, 6, 3, 1, 1, 0, 1, True),           # 1x1, batch 2
    (1, 4, 9, 10, 6, 5, 1, 2, 1, True),           # 5x5
    (1, 2, 13, 12, 3, 7, 1, 3, 1, False),         # 7x7, no bias
    (2, 3, 9, 8, 5, 3, 2, 1, 1, True),            # stride 2, odd input: ceil(H/2) rows
    (1, 3, 12, 11, 4, 3, 1, 2, 2, True),          # dilation 2
    (1, 3, 1, 1, 4, 3, 1, 1, 1, True),            # one-pixel image, only the centre tap
    (1, 3, 1, 1, 2, 1, 1, 0, 1, False),           # one pixel, 1x1
    (1, 3, 10, 7, 4, (3, 5), (2, 1), (1, 2), (1, 2), True),  # (h, w) pairs everywhere
    (1, 16, 6, 5, 8, 3, 2, 1, 1, True),           # more channels, stride 2
    (1, 3, 8, 8, 2, 3, 3, 0, 1, True),            # stride 3, no padding (ragged end)
    (1, 2, 4, 5, 1, (4, 5), 1, 0, 1, True),       # kernel as large as the input: 1x1 output
    (1, 2, 9, 9, 3, 1, 2, 0, 1, False),           # 1x1 stride 2 (subsampling)
    (2, 8, 5, 7, 3, 3, 1, 0, 1, True),            # 'valid' 3x3, batch 2
    (1, 1, 3, 2, 1, 3, 1, 3, 1, True),            # padding larger than the image
]


def _check_conv(transposed, case, reference, activation=None, slope=0.01, residual=None,
                before=False, isa=None):
    if transposed:
        N, Cin, H, W, Cout, k, stride, padding, out_pad, dilation, has_bias = case
    else:
        N, Cin, H, W, Cout, k, stride, padding, dilation, has_bias = case
        out_pad = 0
    rng = case_rng(transposed, case, activation, residual, before)
    kh, kw = pair(k)
    x = randn(rng, (N, Cin, H, W))
    w = randn(rng, (Cin, Cout, kh, kw) if transposed else (Cout, Cin, kh, kw))
    b = randn(rng, (Cout,)) if has_bias else None

    def torch_conv(xx, ww, bb):
        if transposed:
            return F.conv_transpose2d(xx, ww, bb, stride, padding, out_pad, 1, dilation)
        return F.conv2d(xx, ww, bb, stride, padding, dilation)

    bt = None if b is None else t64(b)
    y = torch_conv(t64(x), t64(w), bt)
    res = None if residual is None else randn(rng, tuple(y.shape))
    y = torch_epilogue(y, activation, slope, None if res is None else t64(res), before)
    # S = sum |terms| of each output: |bias| + sum |w||x| (+ |residual|). The activations are
    # 1-Lipschitz (slope <= 1), so they do not enlarge the error.
    scale = torch_conv(t64(x).abs(), t64(w).abs(), None if b is None else bt.abs()).numpy()
    if res is not None:
        scale = scale + np.abs(res)
    kwargs = dict(activation=activation, negative_slope=slope, residual=res,
                  residual_before_activation=before, reference=reference)
    if isa is not None:
        kwargs["isa"] = isa
    if transposed:
        ours = ops.conv_transpose2d(x, w, b, stride, padding, out_pad, dilation, **kwargs)
    else:
        ours = ops.conv2d(x, w, b, stride, padding, dilation, **kwargs)
    assert_f32_sum_close(ours, y.numpy(), scale, f"{'conv_transpose2d' if transposed else 'conv2d'}"
                      f" {case} reference={reference}")


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_matches_torch(case, reference):
    _check_conv(False, case, reference)


EPILOGUES = [
    # (activation, negative_slope, residual, residual_before_activation)
    ("leaky_relu", 0.1, None, False),
    ("relu", 0.01, None, False),
    (None, 0.01, "yes", False),
    ("leaky_relu", 0.1, "yes", False),   # act(conv) + residual
    ("leaky_relu", 0.1, "yes", True),    # act(conv + residual)
    ("relu", 0.01, "yes", True),
    ("relu", 0.01, "yes", False),
]


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("epilogue", EPILOGUES, ids=str)
@pytest.mark.parametrize("case", [CONV2D_CASES[0], CONV2D_CASES[4], CONV2D_CASES[6]], ids=str)
def test_conv2d_epilogue(case, epilogue, reference):
    act, slope, res, before = epilogue
    _check_conv(False, case, reference, act, slope, res, before)


@pytest.mark.parametrize("isa", ISAS)
def test_conv2d_every_isa(isa):
    _check_conv(False, CONV2D_CASES[2], False, "leaky_relu", 0.1, "yes", False, isa=isa)


# ---------------------------------------------------------------------------------------------
# conv_transpose2d

# (N, Cin, H, W, Cout, kernel, stride, padding, output_padding, dilation, bias)
CONVT_CASES = [
    (1, 4, 5, 6, 3, 4, 2, 1, 0, 1, True),         # STFAN's upconv: exactly 2H x 2W
    (2, 3, 4, 3, 2, 3, 2, 1, 1, 1, True),         # output_padding 1, batch 2
    (1, 2, 3, 5, 4, 3, 1, 1, 0, 1, False),        # stride 1, no bias
    (1, 3, 1, 1, 2, 4, 2, 1, 0, 1, True),         # one-pixel image
    (1, 2, 4, 4, 3, 3, 1, 0, 0, 2, True),         # dilation 2
    (1, 2, 4, 4, 3, 3, 1, 0, 1, 2, True),         # output_padding < dilation (stride 1)
    (1, 3, 3, 4, 2, (3, 5), (2, 1), (1, 2), (1, 0), (1, 1), True),  # (h, w) pairs
    (1, 5, 4, 4, 3, 1, 1, 0, 0, 1, True),         # 1x1
    (1, 2, 3, 3, 2, 5, 3, 2, 2, 1, False),        # stride 3, output_padding 2
    (1, 2, 5, 4, 2, 2, 3, 0, 0, 1, True),         # stride larger than the kernel: zero gaps
    (1, 7, 3, 5, 6, 7, 1, 3, 0, 1, True),         # 7x7
]


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
def test_conv_transpose2d_matches_torch(case, reference):
    _check_conv(True, case, reference)


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "ref"])
@pytest.mark.parametrize("epilogue", EPILOGUES, ids=str)
@pytest.mark.parametrize("case", [CONVT_CASES[0], CONVT_CASES[1]], ids=str)
def test_conv_transpose2d_epilogue(case, epilogue, reference):
    act, slope, res, before = epilogue
    _check_conv(True, case, reference, act, slope, res, before)


@pytest.mark.parametrize("isa", ISAS)
def test_conv_transpose2d_every_isa(isa):
    _check_conv(True, CONVT_CASES[0], False, "leaky_relu", 0.1, "yes", True, isa=isa)
