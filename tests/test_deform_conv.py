"""deform_conv2d against an independent float64 PyTorch reference.

The reference (modulated_deform_conv2d of tests/torch_models/aspdc.py, run in float64)
samples with explicit bilinear gathers written from the DCNv2 definition
(torchvision.ops.deform_conv2d / mmcv ModulatedDeformConv2d): offset channels (dy, dx) per tap,
row-major taps, zero outside the image, a sample is 0 unless -1 < py < H and -1 < px < W, and
each of its four corners counts only when it lies inside the image.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deblurcore import ops
from tests.helpers.numerics import pair
from tests.torch_models.aspdc import modulated_deform_conv2d


def deform_conv2d_torch(x, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """Modulated deformable convolution in float64 torch, on numpy arrays: the DCNv2 of the
    ASPDC test oracle (tests/torch_models/aspdc.py), any offset group count."""

    def t(a):
        return None if a is None else torch.as_tensor(np.asarray(a), dtype=torch.float64)

    out = modulated_deform_conv2d(
        t(x), t(offset), t(weight), t(bias), stride, padding, dilation, t(mask)
    )
    return out.numpy()


def _case(
    rng,
    N,
    Cin,
    Cout,
    H,
    W,
    k,
    stride,
    padding,
    dilation,
    groups=1,
    with_mask=True,
    offset_scale=3.0,
):
    kh, kw = pair(k)
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    Hout = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wout = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    x = rng.standard_normal((N, Cin, H, W)).astype(np.float32)
    w = (rng.standard_normal((Cout, Cin, kh, kw)) / np.sqrt(Cin * kh * kw)).astype(np.float32)
    b = rng.standard_normal(Cout).astype(np.float32)
    # Non-integer offsets of a few pixels: many samples straddle the border or leave the image.
    off = rng.uniform(-offset_scale, offset_scale, (N, 2 * groups * kh * kw, Hout, Wout)).astype(
        np.float32
    )
    m = (
        rng.uniform(0, 1, (N, groups * kh * kw, Hout, Wout)).astype(np.float32)
        if with_mask
        else None
    )
    return x, off, w, b, m


CASES = [
    # N, Cin, Cout, H, W, kernel, stride, padding, dilation, groups, mask
    (2, 5, 7, 9, 11, 3, 1, 1, 1, 1, True),
    (2, 5, 7, 9, 11, 3, 1, 1, 1, 1, False),
    (2, 4, 6, 12, 10, 3, 2, 1, 1, 1, True),
    (2, 3, 5, 10, 13, (3, 2), (1, 2), (2, 0), (2, 1), 1, True),
    (2, 6, 4, 8, 9, 3, 1, 2, 2, 2, True),
    (1, 3, 9, 7, 8, 1, 1, 0, 1, 3, True),
    # Several tiles per image, a partial last tile and Cout not a multiple of the register tile.
    (2, 16, 13, 21, 19, 3, 1, 1, 1, 1, True),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reference", [False, True])
def test_matches_float64_torch(case, reference):
    N, Cin, Cout, H, W, k, s, p, d, g, with_mask = case
    rng = np.random.default_rng(abs(hash((case, reference))) % 2**32)
    x, off, w, b, m = _case(rng, N, Cin, Cout, H, W, k, s, p, d, g, with_mask)
    got = ops.deform_conv2d(x, off, w, b, s, p, d, m, num_threads=2, reference=reference)
    want = deform_conv2d_torch(x, off, w, b, s, p, d, m)
    assert got.shape == want.shape
    # Our sample positions are float32 (py = int + float32 offset, as in mmcv/torchvision):
    # with |py| < 30 that is ~2e-6 absolute error in the interpolation weights. The fast
    # kernel adds float32 GEMM rounding over K = Cin*kh*kw <= 144 terms of O(1) size
    # (~K * 6e-8 * |terms| worst case, far less typically). 1e-4 bounds both with margin;
    # the reference kernel accumulates in double and is checked at 2e-5.
    tol = 2e-5 if reference else 1e-4
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_fast_matches_reference_kernel():
    rng = np.random.default_rng(7)
    x, off, w, b, m = _case(rng, 2, 32, 24, 23, 29, 3, 1, 1, 1, 1, True, offset_scale=4.0)
    fast = ops.deform_conv2d(x, off, w, b, 1, 1, 1, m, num_threads=2)
    ref = ops.deform_conv2d(x, off, w, b, 1, 1, 1, m, num_threads=2, reference=True)
    # Same sample positions; float32 GEMM over K = 288 terms vs double accumulation.
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-4)
    # Thread count does not change the result (tiles are independent).
    one = ops.deform_conv2d(x, off, w, b, 1, 1, 1, m, num_threads=1)
    np.testing.assert_array_equal(fast, one)


def test_zero_offsets_no_mask_is_conv2d():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 14, 15)).astype(np.float32)
    w = rng.standard_normal((8, 6, 3, 3)).astype(np.float32) * 0.2
    b = rng.standard_normal(8).astype(np.float32)
    off = np.zeros((2, 18, 7, 8), np.float32)
    got = ops.deform_conv2d(x, off, w, b, stride=2, padding=1)
    want = F.conv2d(
        torch.from_numpy(x).double(),
        torch.from_numpy(w).double(),
        torch.from_numpy(b).double(),
        stride=2,
        padding=1,
    ).numpy()
    # float32 accumulation of 54 products of O(1): well inside 1e-4.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_border_rule():
    """A 1x1 kernel reads one sample: check it around and beyond the image border."""
    x = (np.arange(12, dtype=np.float32) + 1).reshape(1, 1, 3, 4)
    w = np.ones((1, 1, 1, 1), np.float32)
    # Output = input grid (1x1 kernel), shifted by the same (dy, dx) everywhere.
    for dy, dx in [
        (-0.5, 0.0),
        (-0.999, 0.25),
        (-1.0, 0.0),
        (-1.5, 0.0),
        (2.5, 3.5),
        (0.0, 3.25),
        (0.0, -0.25),
        (3.0, 0.0),
        (2.999, 0.0),
        (0.3, 0.7),
    ]:
        off = np.empty((1, 2, 3, 4), np.float32)
        off[:, 0], off[:, 1] = dy, dx
        want = deform_conv2d_torch(x, off, w)
        for ref in (False, True):
            got = ops.deform_conv2d(x, off, w, reference=ref)
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-6, err_msg=f"{dy},{dx},{ref}")
    # Spot values: (-0.5, 0) at the top row: half of the row, half of nothing (zero padding).
    off = np.zeros((1, 2, 3, 4), np.float32)
    off[:, 0] = -0.5
    got = ops.deform_conv2d(x, off, w)
    np.testing.assert_allclose(got[0, 0, 0], 0.5 * x[0, 0, 0], rtol=0, atol=1e-6)
    # dy = -1 exactly: py = -1 on the top row is outside (the test is py > -1).
    off[:, 0] = -1.0
    got = ops.deform_conv2d(x, off, w)
    np.testing.assert_array_equal(got[0, 0, 0], np.zeros(4, np.float32))
    np.testing.assert_array_equal(got[0, 0, 1:], x[0, 0, :2])


def test_mask_scales_taps():
    rng = np.random.default_rng(11)
    x, off, w, b, m = _case(rng, 1, 3, 4, 8, 8, 3, 1, 1, 1, 1, True)
    full = ops.deform_conv2d(x, off, w, b, 1, 1, 1, np.ones_like(m))
    nomask = ops.deform_conv2d(x, off, w, b, 1, 1, 1, None)
    np.testing.assert_allclose(full, nomask, rtol=0, atol=1e-6)
    zero = ops.deform_conv2d(x, off, w, b, 1, 1, 1, np.zeros_like(m))
    np.testing.assert_allclose(zero, np.broadcast_to(b[None, :, None, None], zero.shape), atol=1e-6)


def _good():
    rng = np.random.default_rng(0)
    return _case(rng, 2, 4, 3, 6, 7, 3, 1, 1, 1, 1, True)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(offset=a["offset"][:, :17]), "offset must have 2\\*offset_groups"),
        (
            lambda a: a.update(offset=a["offset"][:, :, :5]),
            "offset must have the output's spatial size",
        ),
        (lambda a: a.update(offset=a["offset"][:1]), "offset has batch size"),
        (lambda a: a.update(mask=a["mask"][:, :8]), "mask must have shape"),
        (lambda a: a.update(mask=a["mask"][:, :, :, :6]), "mask must have shape"),
        (lambda a: a.update(weight=a["weight"][:, :3]), "weight has 3 input channels"),
        (lambda a: a.update(bias=a["bias"][:2]), "bias must have shape"),
        # 3 offset groups do not divide 4 input channels.
        (
            lambda a: a.update(offset=np.zeros((2, 54, 6, 7), np.float32), mask=None),
            "offset groups",
        ),
        (lambda a: a.update(x=a["x"][0]), "x must be 4-D"),
        (lambda a: a.update(stride=0), "stride must be positive"),
        (lambda a: a.update(padding=-1), "padding must be non-negative"),
    ],
)
def test_bad_arguments_refused(change, message):
    x, off, w, b, m = _good()
    args = dict(x=x, offset=off, weight=w, bias=b, stride=1, padding=1, dilation=1, mask=m)
    change(args)
    for ref in (False, True):
        with pytest.raises(ValueError, match=message):
            ops.deform_conv2d(**args, reference=ref)


def test_wrong_dtype_refused():
    x, off, w, b, m = _good()
    with pytest.raises(TypeError, match="offset must have dtype float32"):
        ops.deform_conv2d(x, off.astype(np.float64), w, b, 1, 1, 1, m)
    with pytest.raises(TypeError):
        ops.deform_conv2d(x, off, w, b, 1, 1, 1, m.tolist())
