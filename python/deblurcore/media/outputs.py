"""Choosing the writer for an OUTPUT path: a video file, a single image or a folder."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from ._common import MediaError, PathLike, warn
from .atomic import remove_stale_temporaries
from .image_sinks import FolderSink, ImageSink
from .paths import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_image_path, is_video_path
from .sink import Sink
from .sources import Source
from .video_sink import VideoSink


def output_kind(path: PathLike) -> str:
    """'video', 'image' or 'folder' for an OUTPUT path, from its extension (an existing
    folder, or a name without extension, is a folder)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if is_video_path(path):
        return "video"
    if is_image_path(path):
        return "image"
    if path.suffix == "":
        return "folder"
    raise MediaError(
        f"OUTPUT {path}: unknown extension {path.suffix!r}; use a video "
        f"({', '.join(VIDEO_EXTENSIONS)}), an image ({', '.join(IMAGE_EXTENSIONS)}) "
        "or a folder name"
    )


def open_sink(
    path: PathLike,
    source: Source,
    *,
    overwrite: bool = False,
    fps: Fraction | None = None,
    codec: str | None = None,
    crf: int | None = None,
    audio: bool = True,
) -> Sink:
    """Create the writer for OUTPUT ``path`` matching ``source`` (see :func:`output_kind`)."""
    # Absolute and without "." or "..": "-o ." names the current folder, whose name and
    # parent the temporary entries need.
    path = Path(os.path.abspath(path))
    kind = output_kind(path)
    if not path.parent.is_dir():
        raise MediaError(f"OUTPUT folder {path.parent} does not exist")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise MediaError(f"OUTPUT {path} exists (use --force to overwrite)")
    remove_stale_temporaries(path.parent, path.name)
    if path.is_dir():
        remove_stale_temporaries(path, path.name)
    if kind == "image":
        if source.kind != "image":
            raise MediaError(
                f"OUTPUT {path} is an image file but INPUT is a {source.kind}; "
                "give a folder or a video as OUTPUT"
            )
        return ImageSink(path, overwrite)
    if kind == "folder":
        if source.kind == "video" and source.audio_stream is not None and audio:
            warn("an image folder has no sound: the audio of INPUT is not written")
        return FolderSink(path, ".png" if source.kind == "video" else None, overwrite)
    if source.kind == "video":  # keeps the source's timing; ``fps`` is for image inputs
        return VideoSink(
            path,
            fps=source.fps,
            time_base=source.time_base,
            codec=codec,
            crf=crf,
            audio_stream=source.audio_stream if audio else None,
            overwrite=overwrite,
        )
    return VideoSink(path, fps=fps or Fraction(30), codec=codec, crf=crf, overwrite=overwrite)
