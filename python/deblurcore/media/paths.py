"""Kinds of paths: which extensions are images or videos, how folders of frames are listed."""

from __future__ import annotations

import re
from pathlib import Path

from ._common import PathLike

#: Still-image extensions read from folders and written as single images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Extensions accepted for a video OUTPUT (containers whose codec support FFmpeg can
#: report, so the codec choice is reliable). Any file that is not an image is tried as a
#: video on INPUT, so inputs are not limited to this list.
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame2`` before ``frame10``.

    ``re.split`` with a capturing group alternates text and digit runs, so the key lists
    of two names compare text with text and numbers with numbers at every position. The
    name itself breaks ties (``f01`` vs ``f1``).
    """
    parts = re.split(r"(\d+)", name)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return key, name


def is_image_path(path: PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def list_images(folder: PathLike) -> list[Path]:
    """The image files of ``folder`` (not recursive, hidden files skipped), naturally sorted."""
    folder = Path(folder)
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and is_image_path(p)
    ]
    files.sort(key=lambda p: natural_key(p.name))
    return files
