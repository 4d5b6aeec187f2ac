"""The driver of a batch: decides what runs, hands it to local workers or Ray, records
each result in the manifest as it arrives and sums up.

An input is skipped when its last record is ``done`` with the same weights (by hash), the
same deblur options, the same output path, its output still exists, and the input is
unchanged: same size and modification time, or, when those changed, the same content hash.
Everything else runs: new inputs, failed ones (retried), changed ones.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .inputs import Job
from .manifest import ManifestWriter, content_hash, read_records, signature
from .worker import Settings


@dataclass
class Planned:
    job: Job
    action: str  #: 'run' or 'skip'
    reason: str
    signature: str | None = None


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)  #: the failed records
    frames: int = 0
    seconds: float = 0.0  #: wall time of the run

    @property
    def ok(self) -> bool:
        return not self.failed


def settings_record(settings: Settings) -> dict:
    """What decides the output besides the input and the weights: the deblur options."""
    return {"options": list(settings.options)}


def _why_not_done(record: dict | None, job: Job, settings: Settings) -> str | None:
    if record is None:
        return "new"
    if record.get("status") != "done":
        return f"retry, failed before: {record.get('error') or record.get('status')}"
    if record.get("weights_hash") != settings.weights_hash:
        return "other weights"
    if record.get("settings") != settings_record(settings):
        return "other options"
    if record.get("output") != job.output:
        return "other output path"
    if not os.path.lexists(job.output):
        return "output missing"
    return None


def plan(jobs: Sequence[Job], records: dict, settings: Settings, redo: bool) -> list[Planned]:
    """What to do with each job, given the manifest's last ``records``."""
    planned = []
    for job in jobs:
        try:
            sig = signature(job.input, job.kind)
        except OSError:
            sig = None  # unreadable: the worker records why
        record = records.get(job.input)
        reason = "redo" if redo else _why_not_done(record, job, settings)
        if reason is None and sig != record.get("signature"):
            try:
                same = sig is not None and content_hash(job.input, job.kind) == record.get(
                    "content_hash"
                )
            except OSError:
                same = False
            reason = None if same else "input changed"
        if reason is None:
            planned.append(Planned(job, "skip", "done", sig))
        else:
            planned.append(Planned(job, "run", reason, sig))
    return planned


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Progress:
    """One line per finished input on stderr (``tqdm.write``), and a bar on a terminal."""

    def __init__(self, total: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.quiet = quiet
        enabled = not quiet and sys.stderr is not None and sys.stderr.isatty()
        self.bar = tqdm(
            total=total, unit="input", disable=not enabled, file=sys.stderr, desc="batch"
        )
        self.count, self.total = 0, total

    def update(self, record: dict) -> None:
        self.count += 1
        self.bar.update(1)
        if self.quiet:
            return
        head = f"[{self.count}/{self.total}] {record['status']} {record['input']}"
        if record["status"] == "done":
            line = f"{head} -> {record['output']} ({record['frames']} frames, {record['seconds']:.2f} s)"
        else:
            line = f"{head}: {record['error']}"
        self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def run(
    jobs: Sequence[Job],
    out_dir: Path,
    settings: Settings,
    *,
    workers: int = 1,
    ray: bool = False,
    ray_address: str | None = None,
    redo: bool = False,
    quiet: bool = False,
) -> Summary:
    """Run a batch of ``jobs`` into ``out_dir`` (created if missing); see the module doc."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    with ManifestWriter(out_dir) as manifest:
        records = read_records(manifest.path)
        planned = plan(jobs, records, settings, redo)
        for p in planned:  # unchanged content, new size/time: remember the new signature
            if p.action == "skip" and p.signature != records[p.job.input].get("signature"):
                manifest.append({**records[p.job.input], "signature": p.signature})
        to_run = [p for p in planned if p.action == "run"]
        summary.skipped = len(planned) - len(to_run)
        signatures = {p.job.input: p.signature for p in to_run}
        progress = _Progress(len(to_run), quiet)

        def on_record(record: dict) -> None:
            record.update(
                weights=settings.weights,
                weights_hash=settings.weights_hash,
                settings=settings_record(settings),
                signature=signatures.get(record["input"]),
                finished=_now(),
            )
            manifest.append(record)
            if record["status"] == "done":
                summary.done += 1
                summary.frames += int(record["frames"])
            else:
                summary.failed.append(record)
            progress.update(record)

        start = time.perf_counter()
        try:
            if not to_run:
                pass
            elif ray:
                from .on_ray import run_on_ray

                cap = workers if workers > 0 else None
                run_on_ray([p.job for p in to_run], settings, ray_address, on_record, cap)
            else:
                from .local import run_local

                run_local([p.job for p in to_run], settings, workers, on_record)
        finally:
            progress.close()
            summary.seconds = time.perf_counter() - start
    return summary
