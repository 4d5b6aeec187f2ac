"""What the command line's commands share: names, exit statuses, the usage error and the
weights-file reader (see :mod:`deblurcore.cli`)."""

from __future__ import annotations

from pathlib import Path

PROG = "deblurcore"
ARCHITECTURES = ("stfan", "ifan", "aspdc", "analysis_synthesis")
_CLASS_NAMES = {"stfan": "STFAN", "ifan": "IFAN", "aspdc": "ASPDC", "analysis_synthesis": "AnalysisSynthesis"}

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


#: File names of the official checkpoints that ``deblurcore convert`` reads.
CHECKPOINT_SUFFIXES = (".pth", ".pth.tar", ".tar", ".pt", ".pytorch", ".ckpt", ".h5")


class UsageError(Exception):
    """Bad arguments or input: reported in one line, exit status 2."""


def read_weights_info(path: Path) -> dict:
    """What a weights file holds: ``{"metadata": {key: value}, "tensors": {name: (dtype,
    shape)}}``, from the core's safetensors reader, which validates the whole header (the
    same check the models make when they load the file) without reading the tensors."""
    if not path.exists():
        raise UsageError(f"weights file {path}: no such file")
    if not path.is_file():
        raise UsageError(f"weights file {path} is not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot read weights file {path}: {exc.strerror or exc}") from None
    from . import _core

    try:
        return _core.safetensors_info(str(path))
    except ValueError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        hint = ""
        if path.name.lower().endswith(CHECKPOINT_SUFFIXES):
            hint = (f"; it looks like an official checkpoint: convert it first with "
                    f"'{PROG} convert {path} -o {path.name.split('.')[0] or 'weights'}.safetensors'")
        raise UsageError(f"weights file {path} is not a safetensors file: {reason}{hint}") from None
