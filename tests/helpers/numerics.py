"""Seeded inputs and the tolerance checks of the op tests (see each test module's docstring
for the tolerance it applies and why)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest


def pair(v):
    """An int or an (h, w) pair as a pair, as torch accepts for stride/padding/dilation."""
    return (v, v) if isinstance(v, int) else tuple(v)


def case_rng(*case):
    """A generator seeded by a case's parameters: fixed per case, different across cases."""
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def randn(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


def assert_sum_close(ours, ref, scale, what, rtol):
    """|ours - ref| <= rtol * scale elementwise (scale: sum of |terms| of each element)."""
    ours = np.asarray(ours)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    assert ours.dtype == np.float32, f"{what}: dtype {ours.dtype}"
    err = np.abs(ours.astype(np.float64) - ref)
    tol = rtol * np.asarray(scale, dtype=np.float64)
    bad = err > tol
    if bad.any():
        i = np.unravel_index(np.argmax(err - tol), err.shape)
        pytest.fail(
            f"{what}: {np.count_nonzero(bad)} elements off; |diff| {err[i]:.3g} > tolerance "
            f"{tol[i]:.3g} at {i} (ours {ours[i]!r}, reference {ref[i]!r})"
        )


def assert_bitwise(ours, ref, what, any_nan_matches=False):
    """Same float32 bits. ``any_nan_matches``: a NaN matches any NaN (a GPU returns its
    canonical NaN from arithmetic on NaN where x86 keeps the input's payload)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    assert ours.dtype == np.float32 and ref.dtype == np.float32, what
    same = ours.view(np.uint32) == ref.view(np.uint32)
    if any_nan_matches:
        same |= np.isnan(ours) & np.isnan(ref)
    assert same.all(), f"{what}: {np.count_nonzero(~same)} of {same.size} elements differ"


def torch_epilogue(y, activation, slope, residual, before):
    """The fused conv epilogue in PyTorch: + residual before or after relu / leaky_relu."""
    import torch.nn.functional as F

    if residual is not None and before:
        y = y + residual
    if activation == "relu":
        y = F.relu(y)
    elif activation == "leaky_relu":
        y = F.leaky_relu(y, slope)
    if residual is not None and not before:
        y = y + residual
    return y
