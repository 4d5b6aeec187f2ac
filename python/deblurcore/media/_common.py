"""What every part of :mod:`deblurcore.media` shares: the error type, warnings, PyAV access."""

from __future__ import annotations

import os
import warnings
from typing import Union

try:  # PyAV is a hard requirement of the command line, not of the numpy API.
    import av
except ImportError:  # pragma: no cover - exercised only without PyAV installed
    av = None

PathLike = Union[str, os.PathLike]


class MediaError(ValueError):
    """A file cannot be read or written as requested (missing, unreadable, bad kind)."""


def warn(message: str) -> None:
    """Report a non-fatal problem; the command line turns these into one-line messages."""
    warnings.warn(message, UserWarning, stacklevel=2)


def require_av() -> None:
    if av is None:
        raise MediaError("reading and writing media needs PyAV: pip install av")


def av_errors() -> tuple:
    """The exceptions a PyAV call raises for a bad file or a refused setting."""
    return (av.error.FFmpegError, OSError) if av is not None else (OSError,)


def describe(exc: BaseException | None) -> str:
    """A short reason for a one-line message: FFmpeg's or the OS's text, without the path."""
    if exc is None:
        return "unknown error"
    if av is not None and isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or str(exc)
        return text.rstrip(".")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
