"""The record of a batch in OUT_DIR: one JSON object per line, appended as inputs finish.

Only the driver (the process that runs ``deblurcore batch``) writes the manifest, so workers
on other processes or machines never contend for it; a lock on the file keeps a second
driver from running on the same OUT_DIR at the same time. Each line is written whole and
flushed to disk before the next input is considered finished, and the last record of an
input wins; a line cut short by a kill is ignored when the manifest is read back.

A record::

    {"input": "/data/clips/a.mp4", "output": "/out/a.mp4", "kind": "video",
     "status": "done" | "failed", "content_hash": "sha256:...", "weights_hash": "sha256:...",
     "settings": {...}, "signature": "...", "frames": 120, "seconds": 8.31,
     "error": null | "one line", "worker": "host:pid", "finished": "2026-01-01T00:00:00Z"}

``content_hash`` is the SHA-256 of the input's bytes (of a folder: of its images' names and
hashes); ``signature`` is the cheap stand-in a re-run checks first (size and modification
time), so unchanged inputs are not read again just to be skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..media.paths import list_images

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one driver assumed
    fcntl = None

MANIFEST_NAME = "batch-manifest.jsonl"
_CHUNK = 1 << 20


class ManifestLocked(RuntimeError):
    """Another ``deblurcore batch`` is writing to the same OUT_DIR."""


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(path: str, kind: str) -> str:
    """``sha256:<hex>`` of a file's bytes, or of a folder's image names and their hashes."""
    if kind != "folder":
        return "sha256:" + file_sha256(path)
    digest = hashlib.sha256()
    for image in list_images(path):
        digest.update(f"{image.name}\0{file_sha256(str(image))}\n".encode())
    return "sha256:" + digest.hexdigest()


def signature(path: str, kind: str) -> str:
    """Size and modification time of a file, or of every image of a folder (hashed)."""
    if kind != "folder":
        st = os.stat(path)
        return f"{st.st_size}:{st.st_mtime_ns}"
    digest = hashlib.sha256()
    for image in list_images(path):
        st = image.stat()
        digest.update(f"{image.name}\0{st.st_size}:{st.st_mtime_ns}\n".encode())
    return "listing:" + digest.hexdigest()


def read_records(path: Path) -> dict[str, dict]:
    """The last record of each input in the manifest at ``path`` (none when missing)."""
    latest: dict[str, dict] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # cut short by a kill
                    continue
                if isinstance(record, dict) and isinstance(record.get("input"), str):
                    latest[record["input"]] = record
    except FileNotFoundError:
        pass
    return latest


class ManifestWriter:
    """Appends records to OUT_DIR's manifest; holds an exclusive lock while open."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self._file = open(self.path, "a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._file.close()
                raise ManifestLocked(
                    f"another deblurcore batch is running on {out_dir} (its manifest "
                    f"{self.path} is locked)"
                ) from None
        # A line cut short by a kill must not swallow the next record.
        self._file.seek(0, os.SEEK_END)
        if self._file.tell() > 0:
            self._file.seek(self._file.tell() - 1)
            last = self._file.read(1)
            self._file.seek(0, os.SEEK_END)
            if last != "\n":
                self._file.write("\n")

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()  # closing releases the lock

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
