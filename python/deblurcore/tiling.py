"""Running an image network on overlapping tiles of a large frame, with feathered blending.

The network sees tiles of at most about ``tile`` pixels (plus less than one size multiple for
the last row/column of tiles), so its working set is bounded by the tile size whatever the
frame size. The restored tiles are blended into one float32 accumulator for the whole frame
with weights that ramp linearly across each overlap and sum to exactly 1 at every pixel, so
peak memory is about the frame's input and output plus one tile's working set.

Why the result differs from the untiled one: near a tile's border the network sees padding
instead of the neighbouring pixels. The overlap hides that error where a tile's weight is
small; the difference to the untiled result falls as the overlap approaches the network's
effective receptive field (measured in ``benchmarks/tiling.py``).

Tiles start at multiples of the network's size multiple (8 for IFAN, 4 for ASPDC, 16 for the
Analysis-Synthesis synthesis), so every tile sees the pixel grid the untiled network sees:
their downsampling layers pool the same pixel groups. The function is model-agnostic: it takes
a callable on float32 images in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._arrays import as_int

#: Default overlap (pixels on each side of a seam). See benchmarks/tiling.py for the error.
DEFAULT_OVERLAP = 32


def tile_size(tile) -> tuple[int, int]:
    """``tile`` given as an int (square) or (height, width)."""
    if isinstance(tile, (bool, np.bool_)):
        raise TypeError(f"tile must be an int or (height, width), got {tile!r}")
    if isinstance(tile, (int, np.integer)):
        th = tw = int(tile)
    else:
        try:
            th, tw = (as_int(v, "tile") for v in tile)
        except (TypeError, ValueError):
            raise TypeError(f"tile must be an int or (height, width), got {tile!r}") from None
    if th <= 0 or tw <= 0:
        raise ValueError(f"tile must be positive, got {tile!r}")
    return th, tw


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Aligned start positions of the tiles along one axis of ``length`` pixels.

    Consecutive tiles overlap by at least ``overlap`` pixels; every start is a multiple of
    ``multiple``; the last tile runs to the end (so it may be up to ``multiple - 1`` pixels
    longer than ``tile``, which the network pads internally like any other size).
    """
    if length <= tile:
        return [0]
    step = (tile - overlap) // multiple * multiple
    if step <= 0:
        raise ValueError(
            f"tile_overlap {overlap} leaves no step for tiles of {tile} px aligned to "
            f"{multiple} px; use a smaller overlap or larger tiles"
        )
    last = (length - tile) // multiple * multiple  # aligned; runs to the end of the frame
    starts = list(range(0, last, step))
    starts.append(last)
    return starts


def weights_1d(spans: Sequence[tuple[int, int]], length: int) -> list[np.ndarray]:
    """Blend weights of tiles covering ``[0, length)`` along one axis.

    ``spans`` are the (start, stop) of the tiles in order. Inside an overlap a tile's weight
    rises linearly from its border (pixel centres at 0.5 / width ...) so that the pixels
    nearest a tile border, the least reliable ones, count least; then every position is
    normalised by the sum over the tiles covering it (exactly 1 in total).
    """
    raw = []
    for i, (s, e) in enumerate(spans):
        w = np.ones(e - s, dtype=np.float64)
        if i > 0:  # overlap with the previous tile: [s, previous stop)
            ov = spans[i - 1][1] - s
            if ov > 0:
                w[:ov] = np.minimum(w[:ov], (np.arange(ov) + 0.5) / ov)
        if i + 1 < len(spans):  # overlap with the next tile: [next start, e)
            ov = e - spans[i + 1][0]
            if ov > 0:
                w[-ov:] = np.minimum(w[-ov:], (ov - np.arange(ov) - 0.5) / ov)
        raw.append(w)
    total = np.zeros(length, dtype=np.float64)
    for (s, e), w in zip(spans, raw):
        total[s:e] += w
    return [(w / total[s:e]).astype(np.float32) for (s, e), w in zip(spans, raw)]


def _spans(length: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    starts = tile_starts(length, tile, overlap, multiple)
    spans = []
    for i, s in enumerate(starts):
        e = length if i + 1 == len(starts) else min(length, s + tile)
        spans.append((s, e))
    return spans


def plan(height: int, width: int, tile, overlap: int, multiple: int):
    """The tiles of a frame: (row spans, column spans), each a list of (start, stop)."""
    th, tw = tile_size(tile)
    overlap = as_int(overlap, "tile_overlap")
    if overlap < 0:
        raise ValueError(f"tile_overlap must be >= 0, got {overlap}")
    # Tiles are whole multiples of the network's size multiple, so interior tiles need no
    # padding; at least one multiple.
    th = max(multiple, th // multiple * multiple)
    tw = max(multiple, tw // multiple * multiple)
    return _spans(height, th, overlap, multiple), _spans(width, tw, overlap, multiple)


def _to_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.float32:
        return image
    return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)


def run_tiled(
    restore: Callable[..., np.ndarray],
    images: Sequence[np.ndarray],
    tile,
    overlap: int,
    multiple: int,
    min_size: int = 1,
) -> np.ndarray:
    """Restore ``images[0]`` tile by tile: ``restore(*tiles)`` gets the same window of every
    image in ``images`` (e.g. IFAN_dual's image and its two views) as float32 in [0, 1] and
    returns the restored window (float32, same shape). The result has the dtype of
    ``images[0]``: float32 clamped to [0, 1], or integers rounded to nearest.
    """
    image = images[0]
    height, width = image.shape[:2]
    rows, cols = plan(height, width, tile, overlap, multiple)
    for spans, side in ((rows, "height"), (cols, "width")):
        short = min(e - s for s, e in spans)
        if short < min_size:
            raise ValueError(f"a tile {side} of {short} px is below the model's minimum {min_size}")
    row_w = weights_1d(rows, height)
    col_w = weights_1d(cols, width)
    out = np.zeros((height, width, image.shape[2]), dtype=np.float32)
    for (r0, r1), wr in zip(rows, row_w):
        for (c0, c1), wc in zip(cols, col_w):
            windows = [_to_unit_float(np.ascontiguousarray(im[r0:r1, c0:c1])) for im in images]
            restored = restore(*windows)
            weight = wr[:, None, None] * wc[None, :, None]
            out[r0:r1, c0:c1] += restored * weight  # accumulated in place
            del windows, restored
    np.clip(out, 0.0, 1.0, out=out)
    if image.dtype == np.float32:
        return out
    scale = np.float32(np.iinfo(image.dtype).max)
    out *= scale
    np.rint(out, out=out)
    return out.astype(image.dtype)
