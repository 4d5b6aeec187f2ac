"""conv2d / conv_transpose2d: the per-sample affine epilogue (scale, shift) and per-side
(asymmetric) padding, against PyTorch in float64, on every kernel (reference, and the fast
kernel on each instruction set this CPU has).

Expected values: y = (conv(x) + bias) * scale + shift, then act(y + residual) or
act(y) + residual, with conv2d's per-side padding done by F.pad first and conv_transpose2d's
as a crop of the full (padding 0) output.

Tolerance (elementwise): as in test_conv_kernels.py, a float32 sum of K = Cin*kh*kw products
and the bias is within gamma(K + 2) * S of the exact value (S = sum |w||x| + |bias|); the
affine map multiplies that error by |scale| and adds up to two roundings (u * magnitude each),
the residual and the activation up to three more. So
    |ours - exact| <= gamma(K + 8) * (S * |scale| + |shift| + |residual|)
and the test allows twice that (the float64 reference is exact to far below it). One
dropped tap (on average S/K) exceeds the bound for the K used here.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import deblurcore
from deblurcore import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

U = 2.0**-24


def _gamma(n):
    return n * U / (1 - n * U)


def _kernels():
    best = deblurcore._core.cpu_isa()
    order = ["generic", "avx2", "avx512"]
    return [("ref", None)] + [("fast", isa) for isa in order[: order.index(best) + 1]]


KERNELS = _kernels()
KERNEL_IDS = [k if isa is None else isa for k, isa in KERNELS]


def _act(y, activation, slope):
    if activation == "relu":
        return torch.where(y > 0, y, torch.zeros_like(y))
    if activation == "leaky_relu":
        return torch.where(y > 0, y, y * slope)
    return y


def _finish(conv, magnitude, n, cout, rng, affine, activation, residual_before, with_residual):
    """Applies the epilogue to the float64 conv output; returns (expected, tolerance, args)."""
    scale = rng.uniform(-2, 2, (n, cout)).astype(np.float32) if "scale" in affine else None
    shift = rng.standard_normal((n, cout)).astype(np.float32) if "shift" in affine else None
    res = rng.standard_normal(conv.shape).astype(np.float32) if with_residual else None
    y = conv
    bound = magnitude
    if scale is not None:
        s = torch.from_numpy(scale).double()[:, :, None, None]
        y = y * s
        bound = bound * s.abs()
    if shift is not None:
        t = torch.from_numpy(shift).double()[:, :, None, None]
        y = y + t
        bound = bound + t.abs()
    r = None if res is None else torch.from_numpy(res).double()
    if r is not None:
        bound = bound + r.abs()
    if r is not None and residual_before:
        y = y + r
    y = _act(y, activation, 0.1)
    if r is not None and not residual_before:
        y = y + r
    kwargs = dict(scale=scale, shift=shift, residual=res,
                  residual_before_activation=residual_before, activation=activation,
                  negative_slope=0.1)
    return y.numpy(), bound.numpy(), kwargs


EPILOGUES = [
    # (affine, activation, residual, residual_before)
    ((), None, False, False),
    (("scale",), None, False, False),
    (("shift",), "relu", False, False),
    (("scale", "shift"), "leaky_relu", False, False),
    (("scale", "shift"), "leaky_relu", True, True),
    (("scale", "shift"), "relu", True, False),
]

CONV_CASES = [
    # (N, Cin, Cout, H, W, k, stride, dilation, padding (top, bottom, left, right))
    (2, 3, 5, 8, 10, 3, 2, 1, (0, 1, 0, 1)),   # TensorFlow 'same', stride 2, even size
    (1, 4, 7, 9, 12, 3, 1, 1, (1, 1, 1, 1)),
    (2, 5, 9, 11, 8, 5, 2, 1, (1, 2, 2, 1)),
    (1, 3, 17, 7, 33, 3, (1, 2), 2, (3, 0, 0, 2)),
    (1, 8, 6, 6, 6, 1, 1, 1, (2, 0, 1, 3)),
]


@pytest.mark.parametrize("kernel,isa", KERNELS, ids=KERNEL_IDS)
@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("epilogue", EPILOGUES)
def test_conv2d_affine_and_padding(kernel, isa, case, epilogue):
    n, cin, cout, h, w, k, stride, dilation, pad = case
    affine, activation, with_res, before = epilogue
    rng = np.random.default_rng(zlib.crc32(repr((case, epilogue)).encode()))
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    wt = rng.standard_normal((cout, cin, k, k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    top, bottom, left, right = pad
    xp = F.pad(torch.from_numpy(x).double(), (left, right, top, bottom))
    conv = F.conv2d(xp, torch.from_numpy(wt).double(), torch.from_numpy(b).double(), stride,
                    0, dilation)
    mag = F.conv2d(xp.abs(), torch.from_numpy(wt).double().abs(),
                   torch.from_numpy(b).double().abs(), stride, 0, dilation)
    want, bound, kw = _finish(conv, mag, n, cout, rng, affine, activation, before, with_res)
    got = ops.conv2d(x, wt, b, stride, pad, dilation, reference=kernel == "ref", isa=isa, **kw)
    assert got.shape == want.shape
    tol = 2 * _gamma(cin * k * k + 8) * bound
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) - tol)


CONVT_CASES = [
    # (N, Cin, Cout, H, W, k, stride, dilation, crop (top, bottom, left, right))
    (2, 4, 3, 5, 6, 5, 2, 1, (1, 2, 1, 2)),    # Keras Conv2DTranspose 'same', stride 2, 5x5
    (1, 3, 6, 4, 7, 4, 2, 1, (1, 1, 1, 1)),    # = PyTorch padding 1
    (1, 5, 4, 6, 5, 3, 3, 1, (0, 2, 2, 0)),
    (2, 3, 9, 5, 5, 3, (2, 1), 2, (2, 1, 0, 3)),
]


@pytest.mark.parametrize("kernel,isa", KERNELS, ids=KERNEL_IDS)
@pytest.mark.parametrize("case", CONVT_CASES)
@pytest.mark.parametrize("epilogue", EPILOGUES)
def test_conv_transpose2d_affine_and_crop(kernel, isa, case, epilogue):
    n, cin, cout, h, w, k, stride, dilation, crop = case
    affine, activation, with_res, before = epilogue
    rng = np.random.default_rng(zlib.crc32(repr((case, epilogue, "t")).encode()))
    x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
    wt = rng.standard_normal((cin, cout, k, k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    top, bottom, left, right = crop

    def full(xx, ww, bb):
        y = F.conv_transpose2d(xx, ww, bb, stride, 0, 0, 1, dilation)
        return y[:, :, top:y.shape[2] - bottom, left:y.shape[3] - right]

    xd, wd, bd = (torch.from_numpy(a).double() for a in (x, wt, b))
    conv = full(xd, wd, bd)
    mag = full(xd.abs(), wd.abs(), bd.abs())
    want, bound, kw = _finish(conv, mag, n, cout, rng, affine, activation, before, with_res)
    got = ops.conv_transpose2d(x, wt, b, stride, crop, 0, dilation, reference=kernel == "ref",
                               isa=isa, **kw)
    assert got.shape == want.shape
    tol = 2 * _gamma(cin * k * k + 8) * bound
    assert np.all(np.abs(got - want) <= tol), np.max(np.abs(got - want) - tol)


def test_symmetric_four_tuple_matches_pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(ops.conv2d(x, w, None, 2, (1, 1, 2, 2)),
                                  ops.conv2d(x, w, None, 2, (1, 2)))
    wt = rng.standard_normal((3, 4, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(ops.conv_transpose2d(x, wt, None, 2, (1, 1, 1, 1)),
                                  ops.conv_transpose2d(x, wt, None, 2, 1))


X = np.zeros((2, 3, 8, 8), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)
WT = np.zeros((3, 4, 3, 3), np.float32)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: ops.conv2d(X, W, scale=np.ones((2, 5), np.float32)), ValueError,
     r"conv2d: epilogue.scale must have shape \(N, Cout\) = \(2, 4\), got \(2, 5\)"),
    (lambda: ops.conv2d(X, W, shift=np.ones((1, 4), np.float32)), ValueError,
     r"conv2d: epilogue.shift must have shape \(N, Cout\)"),
    (lambda: ops.conv2d(X, W, scale=np.ones(4, np.float32)), ValueError, r"scale must be 2-D"),
    (lambda: ops.conv2d(X, W, scale=np.ones((2, 4))), TypeError, r"scale must have dtype float32"),
    (lambda: ops.conv_transpose2d(X, WT, scale=np.ones((2, 3), np.float32)), ValueError,
     r"conv_transpose2d: epilogue.scale must have shape"),
    (lambda: ops.conv2d(X, W, padding=(0, -1, 0, 0)), ValueError,
     r"conv2d: padding must be non-negative, got \(top, bottom, left, right\) = \(0, -1, 0, 0\)"),
    (lambda: ops.conv2d(X, W, padding=(0, 1, 0)), TypeError, r"padding must be an int or a pair"),
    (lambda: ops.conv_transpose2d(X, WT, None, 2, (1, 1, 1, 1), 1), ValueError,
     r"output_padding must be 0 when padding is given per side"),
    (lambda: ops.conv_transpose2d(X, WT, None, 1, (5, 5, 0, 0)), ValueError,
     r"conv_transpose2d: these parameters give an empty output"),
    (lambda: ops.conv2d(X, W, None, 1, (0, 0, 0, 0), 5), ValueError,
     r"conv2d: the padded input \(8x8\) is smaller than the dilated kernel"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
