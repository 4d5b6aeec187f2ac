"""One input deblurred in a worker process (a local process or a Ray worker).

A job runs exactly what ``deblurcore deblur INPUT -o OUTPUT -w WEIGHTS [options]`` runs (the
same parser, the same code path), so its output is the same file; only the model is loaded
once per worker process and reused for the following inputs (STFAN's recurrence is reset at
the start of every input, as ``deblur`` does). Any error becomes a ``failed`` record with a
one-line reason; nothing but an interruption escapes.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .inputs import Job
from .manifest import content_hash


@dataclass(frozen=True)
class Settings:
    """What every job of a batch shares."""

    weights: str  #: absolute path, readable by every worker
    weights_hash: str
    #: options given to ``deblurcore deblur`` (``--model``, ``--precision``, ``--codec``...)
    options: tuple[str, ...] = ()
    device: str = "cpu"
    threads: int | None = None  #: per worker; None: all cores

    def argv(self, job: Job) -> list[str]:
        argv = ["deblur", job.input, "-o", job.output, "-w", self.weights, "-q", "-f"]
        argv += ["--device", self.device, *self.options]
        if self.threads is not None:
            argv += ["--threads", str(self.threads)]
        return argv


@dataclass
class _Cache:
    key: tuple | None = None
    model: object = None
    loads: int = 0  #: how many times this process loaded a model


_CACHE = _Cache()


class _FrameCounter:
    """Stands in for the model and counts the frames it restored."""

    def __init__(self, model) -> None:
        self._model = model
        self.frames = 0

    def __getattr__(self, name):
        value = getattr(self._model, name)
        if name == "step":
            return self._counted(value)
        return value

    def _counted(self, fn):
        def call(*args, **kwargs):
            out = fn(*args, **kwargs)
            self.frames += 1
            return out

        return call

    def __call__(self, *args, **kwargs):
        return self._counted(self._model)(*args, **kwargs)


def _model_for(args, settings: Settings):
    from .._cli_common import read_weights_info
    from .._cli_deblur import _load_model

    key = (
        settings.weights,
        settings.weights_hash,
        settings.device,
        settings.threads,
        args.model,
        args.precision,
    )
    if _CACHE.key != key:
        _CACHE.key, _CACHE.model = None, None  # free the previous model first
        info = read_weights_info(Path(settings.weights))
        _CACHE.model = _load_model(args, Path(settings.weights), info["metadata"])
        _CACHE.key = key
        _CACHE.loads += 1
    return _CACHE.model


def run_job(job: Job, settings: Settings) -> dict:
    """Deblur ``job``; returns its record (see :mod:`.manifest`) without the driver's fields."""
    from .._cli_deblur import cmd_deblur
    from ..cli import _one_line, build_parser

    record = {
        "input": job.input,
        "output": job.output,
        "kind": job.kind,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "frames": 0,
        "seconds": 0.0,
        "error": None,
        "content_hash": None,
    }
    start = time.perf_counter()
    counter = None
    try:
        record["content_hash"] = content_hash(job.input, job.kind)
        args = build_parser().parse_args(settings.argv(job))
        counter = _FrameCounter(_model_for(args, settings))
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
        cmd_deblur(args, model=counter)
        record["status"] = "done"
    except Exception as exc:
        record["status"] = "failed"
        record["error"] = _one_line(exc)
    except SystemExit as exc:  # the deblur parser refused an option
        record["status"] = "failed"
        record["error"] = f"bad options for deblur (exit status {exc.code})"
    record["seconds"] = round(time.perf_counter() - start, 3)
    if counter is not None:
        record["frames"] = counter.frames
    return record
