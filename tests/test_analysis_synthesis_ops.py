"""standardize, rgb_to_grayscale, normalize_l1, linear, crop and pad(mode='symmetric').

Fast and reference kernels against numpy / PyTorch in float64. Tolerances:
* standardize and normalize_l1 accumulate in double and round once: the result is the float64
  value rounded to float32, within 1 ulp (|diff| <= 2**-23 * |exact| + 1e-30); the fast kernel
  sums in another order than the reference, which can move the last bit.
* rgb_to_grayscale is the float32 expression (0.2989 R + 0.5870 G) + 0.1140 B, reproduced
  exactly in numpy float32 (bit-exact).
* linear is a sum of `in` float32 products: |ours - exact| <= 1e-5 * S with S = |x| @ |W|^T +
  |b| (the bound of tests/helpers/op_checks.py: n * 2**-24 * S stays below it for the n <= 7225 here
  only in the typical sqrt(n) sense, ~1.3e-6 * S with random signs; the 16-lane accumulation
  keeps the worst case near (n/16 + 4) * 2**-24 * S = 2.7e-5 * S, so 7225-input cases use
  3e-5). The reference sums in double: 1e-7 * S.
* crop and pad are copies: bit-exact against numpy slicing and numpy.pad.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from deblurcore import ops

torch = pytest.importorskip("torch")


def _rng(*case):
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def _within_ulp(ours, exact):
    exact = np.asarray(exact, np.float64)
    err = np.abs(ours.astype(np.float64) - exact)
    assert (err <= 2.0 ** -23 * np.abs(exact) + 1e-30).all(), float(err.max())


@pytest.mark.parametrize("shape", [(1, 1, 7, 9), (2, 3, 16, 16), (1, 2, 1, 1), (1, 1, 70, 130)])
@pytest.mark.parametrize("reference", [False, True])
def test_standardize(shape, reference):
    x = (_rng(shape).standard_normal(shape) * 40 + 100).astype(np.float32)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(2, 3), keepdims=True)
    var = x64.var(axis=(2, 3), keepdims=True)
    exact = (x64 - mean) / np.sqrt(var + 1e-7)
    _within_ulp(ops.standardize(x, reference=reference), exact)
    exact0 = (x64 - mean) / np.sqrt(var + 0.5)
    _within_ulp(ops.standardize(x, 0.5, reference=reference), exact0)


def test_standardize_constant_plane_is_zero():
    x = np.full((1, 1, 5, 5), 3.25, np.float32)
    for reference in (False, True):
        assert not ops.standardize(x, reference=reference).any()


@pytest.mark.parametrize("reference", [False, True])
def test_rgb_to_grayscale(reference):
    x = (_rng("gray").random((2, 3, 9, 11)) * 255).astype(np.float32)
    exact = (np.float32(0.2989) * x[:, 0] + np.float32(0.5870) * x[:, 1]) + np.float32(0.1140) * x[:, 2]
    got = ops.rgb_to_grayscale(x, reference=reference)
    assert got.shape == (2, 1, 9, 11)
    np.testing.assert_array_equal(got[:, 0], exact)


@pytest.mark.parametrize("shape", [(1, 85, 85), (3, 2, 5, 7), (2, 1)])
@pytest.mark.parametrize("reference", [False, True])
def test_normalize_l1(shape, reference):
    x = _rng(shape).standard_normal(shape).astype(np.float32)
    x64 = x.astype(np.float64).reshape(shape[0], -1)
    exact = (x64 / (np.abs(x64).sum(axis=1, keepdims=True) + 1e-7)).reshape(shape)
    _within_ulp(ops.normalize_l1(x, reference=reference), exact)
    assert not ops.normalize_l1(np.zeros(shape, np.float32), reference=reference).any()


@pytest.mark.parametrize("N,inp,out,bias,act", [
    (1, 7225, 128, True, "relu"),   # the Synthesis guidance input layer
    (1, 128, 128, True, None),
    (3, 33, 5, False, "relu"),
    (2, 1, 1, True, None),
    (1, 17, 130, True, None),
])
def test_linear(N, inp, out, bias, act):
    rng = _rng(N, inp, out, bias, act)
    x = rng.standard_normal((N, inp)).astype(np.float32)
    w = (rng.standard_normal((out, inp)) / np.sqrt(inp)).astype(np.float32)
    b = rng.standard_normal(out).astype(np.float32) if bias else None
    exact = torch.nn.functional.linear(torch.from_numpy(x).double(), torch.from_numpy(w).double(),
                                       None if b is None else torch.from_numpy(b).double()).numpy()
    scale = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64).T
    if b is not None:
        scale += np.abs(b)
    if act == "relu":
        exact = np.maximum(exact, 0)
    rtol = 3e-5 if inp > 1000 else 1e-5
    for reference, tol in ((False, rtol), (True, 1e-7)):
        got = ops.linear(x, w, b, activation=act, reference=reference)
        assert got.shape == (N, out) and got.dtype == np.float32
        assert (np.abs(got - exact) <= tol * scale + 1e-30).all()


@pytest.mark.parametrize("window", [(0, 0, 4, 6), (1, 2, 2, 3), (3, 5, 1, 1), (0, 0, 1, 6)])
def test_crop(window):
    x = _rng("crop").standard_normal((2, 3, 4, 6)).astype(np.float32)
    top, left, h, w = window
    for reference in (False, True):
        np.testing.assert_array_equal(ops.crop(x, top, left, h, w, reference=reference),
                                      x[:, :, top:top + h, left:left + w])


@pytest.mark.parametrize("shape,pads", [
    ((1, 2, 5, 6), (3, 2, 1, 4)),
    ((2, 1, 4, 4), (4, 4, 4, 4)),      # the largest pads symmetric allows
    ((1, 1, 1, 1), (1, 1, 1, 0)),
    ((1, 3, 720, 16), (0, 0, 0, 0)),
    ((1, 1, 250, 270), (1, 1, 3, 3)),  # the spec's 270x250 example: pad to 256x272
])
def test_pad_symmetric_matches_numpy(shape, pads):
    x = _rng(shape, pads).standard_normal(shape).astype(np.float32)
    left, right, top, bottom = pads
    exact = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="symmetric")
    for reference in (False, True):
        np.testing.assert_array_equal(ops.pad(x, pads, "symmetric", reference=reference), exact)


def test_bad_arguments():
    x = np.zeros((1, 3, 4, 6), np.float32)
    cases = [
        (lambda: ops.pad(x, (7, 0), "symmetric"), r"pad: symmetric padding must not exceed"),
        (lambda: ops.crop(x, 1, 0, 4, 6), r"crop: the window rows \[1, 5\) x columns \[0, 6\)"),
        (lambda: ops.crop(x, -1, 0, 1, 1), r"crop: top and left must be >= 0"),
        (lambda: ops.crop(x, 0, 0, 0, 1), r"crop: height and width must be >= 1"),
        (lambda: ops.rgb_to_grayscale(np.zeros((1, 4, 2, 2), np.float32)),
         r"rgb_to_grayscale: x must have 3 channels"),
        (lambda: ops.standardize(x, -1.0), r"standardize: eps must be finite and >= 0"),
        (lambda: ops.normalize_l1(x, float("nan")), r"normalize_l1: eps must be finite"),
        (lambda: ops.normalize_l1(np.zeros((0, 3), np.float32)), r"normalize_l1: x must have no"),
        (lambda: ops.linear(np.zeros((1, 5), np.float32), np.zeros((3, 4), np.float32)),
         r"linear: weight has 4 input features"),
        (lambda: ops.linear(np.zeros((1, 4), np.float32), np.zeros((3, 4), np.float32),
                            np.zeros(2, np.float32)), r"linear: bias must have shape \(3,\)"),
        (lambda: ops.linear(np.zeros((1, 4), np.float32), np.zeros((3, 4), np.float32),
                            activation="leaky_relu"), r"activation must be None or 'relu'"),
    ]
    for fn, msg in cases:
        with pytest.raises(ValueError, match=msg):
            fn()
