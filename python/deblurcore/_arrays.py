"""Checks and conversions of user arguments before they reach the C++ core."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

IntPair = Union[int, tuple[int, int], Sequence[int]]


def as_float32(value, name: str, ndim: int | None = None, layout: str = "") -> np.ndarray:
    """Return ``value`` as a C-contiguous float32 ndarray.

    float32 input is used as is (copied only when it is not C-contiguous). Any other dtype,
    float64 included, is refused: a silent down-cast would hide precision loss, so callers
    convert explicitly with ``x.astype(np.float32)``.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of float32, got {type(value).__name__}")
    if value.dtype != np.float32:
        raise TypeError(
            f"{name} must have dtype float32, got {value.dtype}; convert it with "
            f"{name}.astype(numpy.float32)"
        )
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {value.shape}")
    return np.ascontiguousarray(value)


def as_pair(value: IntPair, name: str) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, as PyTorch accepts for stride/padding/dilation."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in items
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


_PADDING_MESSAGE = (
    "{name} must be an int or a pair of ints, or 4 ints (top, bottom, left, right), got {value!r}"
)


def as_padding(value, name: str = "padding") -> tuple[int, ...]:
    """An int, an (h, w) pair, or per-side (top, bottom, left, right) padding."""
    if not isinstance(value, (bool, np.bool_, int, np.integer)):
        try:
            items = tuple(value)
        except TypeError:
            items = None
        if items is not None and len(items) == 4:
            if not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                for v in items
            ):
                raise TypeError(_PADDING_MESSAGE.format(name=name, value=value))
            return tuple(int(v) for v in items)
    try:
        return as_pair(value, name)
    except TypeError:
        raise TypeError(_PADDING_MESSAGE.format(name=name, value=value)) from None


def as_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def as_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def as_threads(num_threads: int | None) -> int:
    """None means every hardware thread (0 for the core)."""
    if num_threads is None:
        return 0
    n = as_int(num_threads, "num_threads")
    if n < 1:
        raise ValueError(f"num_threads must be None or >= 1, got {n}")
    return n


def as_device(device: str) -> str:
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return device


#: The layout of image arrays, as error messages name it.
NCHW = "(N, C, H, W)"


def run_opts(device: str, num_threads: int | None, reference: bool) -> tuple[str, int, bool]:
    """The keyword-only options every op takes, checked, in the order the core takes them."""
    return as_device(device), as_threads(num_threads), bool(reference)
