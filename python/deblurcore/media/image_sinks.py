"""Still-image outputs: one image file, or a folder of images."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ._common import MediaError
from .atomic import remove_quietly, replace_into, temp_folder_for, temp_prefix
from .sink import Sink
from .stills import encode_image


class ImageSink(Sink):
    """A single image file."""

    def __init__(self, path: Path, overwrite: bool = False):
        self.path, self.overwrite = path, overwrite
        self._data: bytes | None = None
        self._tmp: str | None = None

    def write(self, image, frame):
        if self._data is not None:
            raise MediaError(
                f"OUTPUT {self.path} is a single image but INPUT has several frames; "
                "give a folder or a video as OUTPUT"
            )
        self._data = encode_image(image, self.path.suffix, getattr(frame, "meta", None))

    def commit(self):
        if self._data is None:
            raise MediaError("no frame was written")
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=temp_prefix(self.path))
        with os.fdopen(fd, "wb") as f:
            f.write(self._data)
        replace_into(Path(self._tmp), self.path, self.overwrite)
        self._tmp = None

    def abort(self):
        if self._tmp is not None:
            remove_quietly(self._tmp)
            self._tmp = None


class FolderSink(Sink):
    """A folder of images, built in a hidden temporary folder and renamed at the end; with
    ``overwrite``, into an existing folder, whose other files are kept (see
    :func:`.atomic.replace_into`).

    ``ext`` forces the extension of every file (e.g. ``.png``); ``None`` keeps each input
    name (so a folder of JPEGs stays JPEGs and 16-bit PNGs stay 16-bit PNGs).
    """

    def __init__(self, path: Path, ext: str | None = None, overwrite: bool = False):
        self.path, self.ext, self.overwrite = path, ext, overwrite
        self.tmp: Path | None = temp_folder_for(path)
        self.count = 0

    def write(self, image, frame):
        name = frame.name
        if self.ext is not None:
            name = Path(name).stem + self.ext
        meta = getattr(frame, "meta", None)
        (self.tmp / name).write_bytes(encode_image(image, Path(name).suffix, meta))
        self.count += 1

    def commit(self):
        replace_into(self.tmp, self.path, self.overwrite)
        self.tmp = None

    def abort(self):
        if self.tmp is not None:
            remove_quietly(self.tmp)
            self.tmp = None
