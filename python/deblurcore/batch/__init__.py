"""Deblurring a corpus: many videos and image folders into one output folder, resumably.

``deblurcore batch INPUTS... -o OUT_DIR -w W.safetensors [--workers N] [--ray [ADDRESS]]``
(see :mod:`deblurcore._cli_batch`). One job per video or image folder (STFAN runs through a
clip in order, so clips are the unit of parallelism); each job runs exactly what
``deblurcore deblur`` runs on that input, so outputs are identical and written the same
atomic way (a temporary file renamed into place).

The parts: :mod:`.inputs` (INPUTS to jobs and output names), :mod:`.manifest` (the JSON
lines record in OUT_DIR, hashes), :mod:`.worker` (one job in a worker process),
:mod:`.local` (worker processes on this machine, standard library only), :mod:`.on_ray`
(Ray tasks, optional), :mod:`.driver` (what to skip, recording, summary).
"""

from .driver import Planned, Summary, plan, run
from .inputs import InputError, Job, expand_inputs
from .manifest import (
    MANIFEST_NAME,
    ManifestLocked,
    content_hash,
    file_sha256,
    read_records,
    signature,
)
from .on_ray import import_ray
from .worker import Settings, run_job

__all__ = [
    "MANIFEST_NAME",
    "InputError",
    "Job",
    "ManifestLocked",
    "Planned",
    "Settings",
    "Summary",
    "content_hash",
    "expand_inputs",
    "file_sha256",
    "import_ray",
    "plan",
    "read_records",
    "run",
    "run_job",
    "signature",
]
