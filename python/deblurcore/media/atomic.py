"""Outputs that appear complete or not at all: temporary files and folders next to the final
path, moved into place by rename, removed on failure."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ._common import MediaError, PathLike

#: Part of the name of every temporary file or folder, so leftovers are recognisable.
TEMP_TAG = ".deblurcore-tmp-"


def temp_prefix(final: Path) -> str:
    """Prefix of a hidden temporary entry for ``final``, in the same folder."""
    return "." + final.name + TEMP_TAG


def remove_quietly(path: PathLike) -> None:
    """Remove a file or a folder tree; a missing or undeletable entry is not an error."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_into(tmp: Path, final: Path, overwrite: bool) -> None:
    """Move ``tmp`` (file or folder) to ``final``. An existing ``final`` is replaced only
    with ``overwrite``; a folder is first moved aside so the swap is two renames."""
    # mkstemp/mkdtemp create private (0600/0700) entries; give the result the usual
    # permissions of a new file or folder.
    try:
        os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_umask())
    except OSError:
        pass
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise MediaError(f"OUTPUT {final} exists (use --force to overwrite)")
        if final.is_dir() and not final.is_symlink():
            old = Path(
                tempfile.mkdtemp(dir=final.parent, prefix="." + final.name + ".deblurcore-old-")
            )
            os.replace(final, old / "old")
            try:
                os.replace(tmp, final)
            except BaseException:
                os.replace(old / "old", final)  # put the previous output back
                remove_quietly(old)
                raise
            remove_quietly(old)
            return
        if tmp.is_dir():
            os.unlink(final)
    os.replace(tmp, final)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
