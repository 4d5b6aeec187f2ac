"""The interface of every output: frames go in, then :meth:`Sink.commit` moves the finished
output into place or :meth:`Sink.abort` discards it (see :mod:`deblurcore.media`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .sources import Frame


class Sink:
    """Output written through a temporary file/folder; see :mod:`deblurcore.media`."""

    path: Path

    def write(self, image: np.ndarray, frame: Frame) -> None:
        raise NotImplementedError

    def on_audio(self, packet) -> None:
        """Receive an audio packet of the source (ignored by image outputs)."""

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Committing is explicit: leaving the block without commit() (error, Ctrl-C)
        # discards the temporary output.
        self.abort()
