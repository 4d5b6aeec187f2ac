"""Fourier transforms and the ops of the Analysis-Synthesis networks, on numpy arrays.

Part of :mod:`deblurcore.ops` (which re-exports them), with its conventions.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._arrays import NCHW, as_bool, as_float32, as_int, run_opts


def _as_eps(eps) -> float:
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.floating, np.integer)):
        raise TypeError(f"eps must be a number, got {eps!r}")
    return float(eps)


def rfft2(x: np.ndarray, *, device: str = "cpu", num_threads: int | None = None,
          reference: bool = False) -> np.ndarray:
    """``numpy.fft.rfft2`` of ``(N, C, H, W)`` over its last two axes (unnormalised).

    Returns ``(N, C, H, W//2+1, 2)``: complex values as (real, imaginary) pairs in float32.
    """
    return _core.rfft2(as_float32(x, "x", 4, NCHW), *run_opts(device, num_threads, reference))


def irfft2(X: np.ndarray, width: int, *, device: str = "cpu",
           num_threads: int | None = None, reference: bool = False) -> np.ndarray:
    """``numpy.fft.irfft2(X, s=(H, width))`` of ``(N, C, H, width//2+1, 2)`` (re, im) pairs.

    Returns ``(N, C, H, width)``, normalised by ``1/(H*width)``. As numpy, the imaginary parts
    of column 0 (and of column width/2 for an even width) are ignored.
    """
    X = as_float32(X, "X", 5, "(N, C, H, width//2+1, 2)")
    return _core.irfft2(X, as_int(width, "width"), *run_opts(device, num_threads, reference))


def cross_correlation(x: np.ndarray, max_shift: int, add_flips: bool = True, *,
                      device: str = "cpu", num_threads: int | None = None,
                      reference: bool = False) -> np.ndarray:
    """The CrossCorrelationFFT layer of Kaufman & Fattal's Analysis network.

    ``x (N, C, h, w) -> (N, P*(1+add_flips), 2m+1, 2m+1)``, ``P = C(C+1)/2``, ``m = max_shift``.
    Each channel is standardised (``a = (x - mean) / (sigma*sqrt(h*w))``, zero where
    ``sigma < 1e-9``); channel ``p`` of pair ``(i, j)``, ``i <= j`` in i-major order, holds
    ``out[r, c] = sum_{y,x} a_i[(y+r-m) mod h, (x+c-m) mod w] * a_j[y, x]``; with
    ``add_flips`` the P windows reversed along both axes follow.
    """
    return _core.cross_correlation(as_float32(x, "x", 4, NCHW), as_int(max_shift, "max_shift"),
                                   as_bool(add_flips, "add_flips"),
                                   *run_opts(device, num_threads, reference))


def standardize(x: np.ndarray, eps: float = 1e-7, *, device: str = "cpu",
                num_threads: int | None = None, reference: bool = False) -> np.ndarray:
    """Keras ``Standardize(axes=[1,2])``: per (n, c) plane ``(x - mean) / sqrt(var + eps)``."""
    return _core.standardize_or_normalize("standardize", as_float32(x, "x", 4, NCHW),
                                          _as_eps(eps), *run_opts(device, num_threads, reference))


def rgb_to_grayscale(x: np.ndarray, *, device: str = "cpu", num_threads: int | None = None,
                     reference: bool = False) -> np.ndarray:
    """``tf.image.rgb_to_grayscale`` of ``(N, 3, H, W)`` float data -> ``(N, 1, H, W)``."""
    return _core.rgb_to_grayscale(as_float32(x, "x", 4, "(N, 3, H, W)"),
                                  *run_opts(device, num_threads, reference))


def normalize_l1(x: np.ndarray, eps: float = 1e-7, *, device: str = "cpu",
                 num_threads: int | None = None, reference: bool = False) -> np.ndarray:
    """``x / (sum|x| + eps)`` per sample (over every dimension but the first)."""
    return _core.standardize_or_normalize("normalize_l1", as_float32(x, "x"), _as_eps(eps),
                                          *run_opts(device, num_threads, reference))


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, *,
           activation: str | None = None, device: str = "cpu",
           num_threads: int | None = None, reference: bool = False) -> np.ndarray:
    """``torch.nn.functional.linear``: ``x (N, in)``, ``weight (out, in)``, ``bias (out)``
    -> ``(N, out)``, then ``activation`` (None or 'relu')."""
    if activation not in (None, "none", "relu"):
        raise ValueError(f"activation must be None or 'relu', got {activation!r}")
    b = None if bias is None else as_float32(bias, "bias", 1, "(out_features,)")
    return _core.linear(as_float32(x, "x", 2, "(N, in_features)"),
                        as_float32(weight, "weight", 2, "(out_features, in_features)"), b,
                        activation == "relu", *run_opts(device, num_threads, reference))


def crop(x: np.ndarray, top: int, left: int, height: int, width: int, *, device: str = "cpu",
         num_threads: int | None = None, reference: bool = False) -> np.ndarray:
    """``x[:, :, top:top+height, left:left+width]`` of ``(N, C, H, W)``; the window must lie
    inside x."""
    return _core.crop(as_float32(x, "x", 4, NCHW), as_int(top, "top"), as_int(left, "left"),
                      as_int(height, "height"), as_int(width, "width"),
                      *run_opts(device, num_threads, reference))
