"""What a batch runs: INPUTS (videos, image folders, images, corpus folders, list files)
expanded into jobs, each with the output path that mirrors its input below OUT_DIR.

Rules:

* a video or image file is one job; a folder that holds images is one job (a clip of
  frames, like ``deblurcore deblur`` reads it);
* any other folder is a corpus: its videos and image folders are found recursively
  (hidden entries and OUT_DIR itself are skipped);
* a ``.txt``/``.lst``/``.list`` file lists one path per line (``#`` starts a comment), a
  ``.csv`` file has a ``path`` column (or its first column); relative paths are relative to
  the list file's folder.

Outputs mirror the inputs' paths below their common folder, so two ``clip.mp4`` in
different folders give ``OUT_DIR/a/clip.mp4`` and ``OUT_DIR/b/clip.mp4``. The same INPUTS
give the same outputs on every run, which is what lets a re-run find its earlier work.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..media.paths import VIDEO_EXTENSIONS, is_image_path, list_images

#: Extensions of list files (one path per line) and CSV lists.
LIST_EXTENSIONS = (".txt", ".lst", ".list")
CSV_EXTENSIONS = (".csv",)
#: Videos found in a corpus folder: those ``deblur`` writes and other common containers
#: FFmpeg reads (their outputs get ``.mp4`` added). A video named directly or in a list may
#: have any extension.
CORPUS_VIDEO_EXTENSIONS = VIDEO_EXTENSIONS + (
    ".mpg",
    ".mpeg",
    ".flv",
    ".wmv",
    ".ts",
    ".mts",
    ".m2ts",
    ".3gp",
    ".ogv",
    ".vob",
    ".y4m",
    ".mxf",
)


class InputError(ValueError):
    """An INPUT that cannot be expanded (missing, unreadable list, collision)."""


@dataclass(frozen=True)
class Job:
    """One input to deblur into one output (absolute paths)."""

    input: str
    output: str
    kind: str  #: 'video', 'folder' (of images) or 'image'


def _has_images(folder: Path) -> bool:
    try:
        return bool(list_images(folder))
    except OSError:
        return False


def _read_list(path: Path) -> list[Path]:
    """The paths named by a list file or a CSV file, resolved against its folder."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read list file {path}: {exc}") from None
    names: list[str] = []
    if path.suffix.lower() in CSV_EXTENSIONS:
        rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
        if not rows:
            return []
        header = [c.strip().lower() for c in rows[0]]
        column = header.index("path") if "path" in header else 0
        body = rows[1:] if "path" in header else rows
        names = [r[column].strip() for r in body if len(r) > column and r[column].strip()]
    else:
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                names.append(line)
    return [(path.parent / Path(name).expanduser()) for name in names]


def _walk_corpus(folder: Path, skip: Path) -> list[tuple[Path, str]]:
    """(path, kind) of every video and image folder below ``folder``, sorted by path."""
    found: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != skip)
        if here != folder and any(is_image_path(f) and not f.startswith(".") for f in files):
            found.append((here, "folder"))
            dirs[:] = []  # the frames of a clip; its subfolders are not searched
            continue
        for name in sorted(files):
            p = here / name
            if name.startswith(".") or is_image_path(p):
                continue
            if p.suffix.lower() in CORPUS_VIDEO_EXTENSIONS:
                found.append((p, "video"))
    return found


def _classify(path: Path, skip: Path, from_list: bool) -> list[tuple[Path, str, Path]]:
    """(path, kind, base) of the jobs of one INPUT; ``base`` is the folder its output name
    is taken relative to."""
    if not path.exists():
        raise InputError(f"INPUT {path}: no such file or folder")
    if path.is_dir():
        if path.resolve() == skip:
            raise InputError(f"INPUT {path} is OUT_DIR")
        if _has_images(path):
            return [(path, "folder", path.parent)]
        return [(p, kind, path) for p, kind in _walk_corpus(path, skip)]
    suffix = path.suffix.lower()
    if not from_list and suffix in LIST_EXTENSIONS + CSV_EXTENSIONS:
        jobs = []
        for entry in _read_list(path):
            jobs += _classify(entry, skip, from_list=True)
        return jobs
    return [(path, "image" if is_image_path(path) else "video", path.parent)]


def _output_name(relative: Path, kind: str) -> Path:
    """The output path (relative to OUT_DIR) of an input at ``relative``: the same name;
    a video in a container that cannot be written keeps its name and gets ``.mp4`` added."""
    if kind == "video" and relative.suffix.lower() not in VIDEO_EXTENSIONS:
        return relative.with_name(relative.name + ".mp4")
    return relative


def expand_inputs(inputs: list[str], out_dir: str) -> list[Job]:
    """The jobs of INPUTS, each input once, in the order given (corpus folders sorted)."""
    out = Path(os.path.abspath(out_dir))
    skip = out.resolve()
    found: list[tuple[Path, str, Path]] = []
    for text in inputs:
        found += _classify(Path(text).expanduser(), skip, from_list=False)
    unique: dict[str, tuple[Path, str, Path]] = {}
    for path, kind, base in found:
        key = os.path.realpath(path)
        unique.setdefault(key, (Path(os.path.abspath(path)), kind, Path(os.path.abspath(base))))
    if not unique:
        return []
    common = Path(os.path.commonpath([str(base) for _, _, base in unique.values()]))
    jobs: list[Job] = []
    outputs: dict[str, str] = {}
    for path, kind, _ in unique.values():
        if skip == path.resolve() or skip in path.resolve().parents:
            raise InputError(f"INPUT {path} is inside OUT_DIR {out}")
        target = out / _output_name(path.relative_to(common), kind)
        if str(target) in outputs:
            raise InputError(
                f"INPUTS {outputs[str(target)]} and {path} would both be written to {target}"
            )
        if kind == "folder" and path.resolve() in target.resolve().parents:
            raise InputError(f"OUT_DIR {out} is inside INPUT folder {path}")
        outputs[str(target)] = str(path)
        jobs.append(Job(str(path), str(target), kind))
    return jobs
