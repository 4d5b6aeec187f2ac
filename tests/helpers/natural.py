"""Smooth, natural-looking test images: blurred noise, straight edges and gradients.

Random-noise images are the worst case for reduced precision (every pixel a full-range
jump) and unlike what the models see; photos are mostly smooth regions, gradients and some
edges. These are made from those parts, deterministically from a seed.
"""

from __future__ import annotations

import numpy as np


def _box_blur(a, r):
    """Separable box blur of radius r (edge-replicated), twice: close to a Gaussian."""
    for _ in range(2):
        for axis in (0, 1):
            pad = [(0, 0)] * a.ndim
            pad[axis] = (r, r)
            p = np.pad(a, pad, mode="edge")
            c = np.cumsum(p, axis=axis, dtype=np.float64)
            c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
            n = a.shape[axis]
            a = (np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
                 - np.take(c, np.arange(0, n), axis=axis)) / (2 * r + 1)
    return a


def natural_image(h, w, seed=0):
    """(h, w, 3) float32 in [0, 1]: a colour gradient, blurred noise at two scales and a few
    soft-edged rectangles and a disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    for c in range(3):
        gy, gx = rng.uniform(-0.4, 0.4, 2)
        img[..., c] = 0.5 + gy * (yy / h - 0.5) + gx * (xx / w - 0.5)
    s = max(h, w)
    img += 0.25 * _box_blur(rng.standard_normal((h, w, 3)), max(1, s // 24))
    img += 0.06 * _box_blur(rng.standard_normal((h, w, 3)), max(1, s // 160))
    for _ in range(4):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = y0 + rng.integers(h // 8, h // 2), x0 + rng.integers(w // 8, w // 2)
        mask = ((yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)).astype(np.float64)
        img += _box_blur(mask, 1)[..., None] * rng.uniform(-0.25, 0.25, 3)
    cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(s / 10, s / 4)
    disc = (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r).astype(np.float64)
    img += _box_blur(disc, 1)[..., None] * rng.uniform(-0.3, 0.3, 3)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def natural_clip(h, w, frames, seed=0):
    """A short clip: one natural image drifting by about a pixel per frame (STFAN's input)."""
    big = natural_image(h + 2 * frames + 2, w + 2 * frames + 2, seed)
    return [np.ascontiguousarray(big[1 + i : 1 + i + h, 2 + i // 2 : 2 + i // 2 + w])
            for i in range(frames)]
