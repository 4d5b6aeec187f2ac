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
    """Prefix of a hidden temporary entry for ``final``: ``.<name>.deblurcore-tmp-<pid>-``.
    The process id lets a later run tell a leftover of a killed run from a live one."""
    return "." + final.name + TEMP_TAG + f"{os.getpid()}-"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process that its parent has not reaped yet still answers ``kill(pid, 0)``
    (in a container whose first process does not reap orphans, it may stay so): it writes
    nothing more, so its temporaries are stale. Linux only; elsewhere False."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # "pid (command) state ...": the command may hold spaces and parentheses.
    end = stat.rfind(b")")
    return end >= 0 and stat[end + 2 : end + 3] == b"Z"


def remove_stale_temporaries(folder: Path, final_name: str) -> None:
    """Remove the temporaries of ``final_name`` in ``folder`` left behind by runs that were
    killed (SIGKILL, power loss): those whose process no longer exists. Temporaries of
    runs still going are left alone; anything unreadable is ignored."""
    prefix = "." + final_name + TEMP_TAG
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            remove_quietly(entry.path)


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


def temp_folder_for(final: Path) -> Path:
    """A new hidden temporary folder for the files of folder ``final``: inside ``final``
    when it exists (so each file is later renamed within one file system), else next to it."""
    parent = final if final.is_dir() else final.parent
    return Path(tempfile.mkdtemp(dir=parent, prefix=temp_prefix(final)))


def _merge_into(tmp: Path, final: Path) -> None:
    """Move every file of folder ``tmp`` into the existing folder ``final``, replacing only
    the files of the same names; the other entries of ``final`` are kept."""
    names = sorted(os.listdir(tmp))
    for name in names:  # check all before moving any
        target = final / name
        if target.is_dir() and not target.is_symlink():
            raise MediaError(f"OUTPUT {final} has a folder {name}; it would not be replaced")
    for name in names:
        os.replace(tmp / name, final / name)
    os.rmdir(tmp)


def replace_into(tmp: Path, final: Path, overwrite: bool) -> None:
    """Move ``tmp`` (file or folder) to ``final``. An existing ``final`` is replaced only
    with ``overwrite``. An existing folder is never removed: the files of ``tmp`` are moved
    into it, replacing only those of the same names."""
    # mkstemp/mkdtemp create private (0600/0700) entries; give the result the usual
    # permissions of a new file or folder.
    try:
        os.chmod(tmp, (0o777 if tmp.is_dir() else 0o666) & ~_umask())
    except OSError:
        pass
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise MediaError(f"OUTPUT {final} exists (use --force to overwrite)")
        if final.is_dir():
            if not tmp.is_dir():
                raise MediaError(f"OUTPUT {final} is a folder; give a file name")
            _merge_into(tmp, final)
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
