"""Exception type of the checkpoint converter."""

from __future__ import annotations

import reprlib


class ConversionError(ValueError):
    """A checkpoint could not be read or does not match the expected architecture.

    The message is a single line meant for the user (the command line prints it as is).
    Mismatch errors also carry the full lists in ``missing``, ``unexpected`` and
    ``mismatched`` (``(key, got_shape, expected_shape)`` triples) for programmatic use.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[tuple[str, tuple, tuple]] | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.mismatched = list(mismatched or [])


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 60, 60


def brief(value: object) -> str:
    """A short ``repr`` of a value read from a file, for error messages. A plain ``repr``
    of a pickled structure can be exponentially long (nested containers sharing members)."""
    return _BRIEF.repr(value)
