"""``deblurcore batch``: deblurs many videos and image folders into one output folder,
resumably, with local worker processes or on Ray (see :mod:`deblurcore.batch`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._cli_common import ARCHITECTURES, EXIT_FAILURE, EXIT_OK, PROG, UsageError, read_weights_info
from ._cli_options import check_deblur_options


def add_batch_parser(sub, positive_int, positive_fraction) -> None:
    """Register the ``batch`` command on the ``deblurcore`` sub-parsers."""
    b = sub.add_parser(
        "batch",
        help="deblur many videos and image folders, resumably, locally or on Ray",
        description=(
            "Deblur every INPUT into OUT_DIR, one job per video or image folder, as "
            "'deblurcore deblur' would one by one. INPUTS are videos, image folders, folders "
            "searched for those, or list files (.txt: one path per line; .csv: a 'path' "
            "column). Outputs mirror the inputs' paths below their common folder. "
            "OUT_DIR/batch-manifest.jsonl records each input (content and weights hashes, "
            "status, output, frames, seconds, error); a re-run skips what is done and "
            "retries what failed."
        ),
        epilog=(
            "Exit status: 0 when every input is done, 1 when some failed (each is recorded "
            "and the others still run), 2 for bad usage. With --ray, put ADDRESS right after "
            "it or write --ray=ADDRESS; every path must be visible to every node."
        ),
    )
    b.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="video, image folder, folder or list file"
    )
    b.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="output folder")
    b.add_argument(
        "-w", "--weights", metavar="W.safetensors", required=True, help="converted weights"
    )
    b.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="worker processes on this machine (default 1); with --ray, the most tasks "
        "submitted at once (default: all)",
    )
    b.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads per worker (default: the cores divided among the workers; with "
        "--ray, 1, and each task asks Ray for that many CPUs)",
    )
    b.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run as Ray tasks: on the cluster at ADDRESS (e.g. auto, host:6379, "
        "ray://host:10001), else on RAY_ADDRESS or a new local Ray instance",
    )
    b.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    b.add_argument("--redo", action="store_true", help="run the inputs already done again")
    b.add_argument("-m", "--model", choices=ARCHITECTURES, help="as for deblur")
    b.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="compute device")
    b.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="as for deblur")
    b.add_argument("--reset-every", type=positive_int, metavar="N", help="as for deblur")
    b.add_argument("--fps", type=positive_fraction, metavar="RATE", help="as for deblur")
    b.add_argument("--codec", metavar="NAME", help="video encoder, as for deblur")
    b.add_argument("--crf", type=int, metavar="Q", help="as for deblur")
    b.add_argument("--no-audio", action="store_true", help="as for deblur")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    b.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    b.set_defaults(handler=cmd_batch)


def _deblur_options(args) -> tuple[str, ...]:
    """The options handed to every ``deblurcore deblur`` job (all but device and threads,
    which do not change what is written)."""
    options: list[str] = []
    if args.model:
        options += ["--model", args.model]
    if args.precision != "fp32":
        options += ["--precision", args.precision]
    if args.reset_every:
        options += ["--reset-every", str(args.reset_every)]
    if args.fps is not None:
        options += ["--fps", str(args.fps)]
    if args.codec:
        options += ["--codec", args.codec]
    if args.crf is not None:
        options += ["--crf", str(args.crf)]
    if args.no_audio:
        options += ["--no-audio"]
    return tuple(options)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _ray_address(args) -> str | None:
    """ADDRESS of --ray; a path that ``--ray INPUT`` took for an address goes back to INPUTS."""
    if args.ray is None or args.ray == "":
        return None
    if os.path.exists(args.ray):
        args.inputs.insert(0, args.ray)
        return None
    return args.ray


def _settings(args, weights: Path, workers: int):
    from .batch import Settings, file_sha256

    threads = args.threads
    if threads is None:
        threads = 1 if args.ray is not None else max(1, _cores() // workers)
    if args.ray is None and workers * threads > _cores():
        from .media import warn

        warn(
            f"{workers} workers × {threads} threads are more than the {_cores()} cores of "
            "this machine: they will compete for them"
        )
    return Settings(
        weights=str(weights),
        weights_hash="sha256:" + file_sha256(str(weights)),
        options=_deblur_options(args),
        device=args.device,
        threads=threads,
    )


def _check_deblur_options(jobs, settings, weights: Path) -> None:
    """Refuse bad deblur options (``--crf`` out of the encoder's range, an unknown ``--codec``...)
    once, before anything runs, rather than as one failed record per input. Each job parses the
    same options again; a video output is the one case the encoder options apply to."""
    from .cli import build_parser  # cli imports this module

    job = next((j for j in jobs if j.kind == "video"), None)
    if job is None:
        return
    deblur_args = build_parser().parse_args(settings.argv(job))  # argparse exits 2 if refused
    check_deblur_options(deblur_args, read_weights_info(weights)["metadata"], "video")


def _print_plan(planned) -> None:
    for p in planned:
        if p.action == "run":
            print(f"run   {p.job.input} -> {p.job.output} ({p.reason})")
        else:
            print(f"skip  {p.job.input} ({p.reason})")
    runs = sum(p.action == "run" for p in planned)
    print(f"{runs} to run, {len(planned) - runs} already done", file=sys.stderr)


def cmd_batch(args) -> int:
    from . import batch

    address = _ray_address(args)
    if not args.inputs:
        raise UsageError("no INPUT given")
    weights = Path(args.weights).expanduser().resolve()
    recorded = read_weights_info(weights)["metadata"].get("architecture")
    if args.model and recorded and args.model != recorded:
        raise UsageError(
            f"--model {args.model} does not match the weights: {weights} holds {recorded!r} "
            "weights (omit --model to use them)"
        )
    out_dir = Path(os.path.abspath(os.path.expanduser(args.output)))
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"OUT_DIR {out_dir} is not a folder")
    if args.ray is None and args.device == "cuda":
        import deblurcore

        available = getattr(deblurcore, "cuda_available", None)
        if available is not None and not available():
            raise UsageError("--device cuda: this build has no CUDA support or no CUDA device")
    try:
        jobs = batch.expand_inputs(args.inputs, str(out_dir))
    except batch.InputError as exc:
        raise UsageError(str(exc)) from None
    if not jobs:
        raise UsageError("INPUTS hold no videos, images or image folders")
    workers = args.workers or (0 if args.ray is not None else 1)
    settings = _settings(args, weights, max(1, workers))
    _check_deblur_options(jobs, settings, weights)
    if args.dry_run:
        records = batch.read_records(out_dir / batch.MANIFEST_NAME)
        _print_plan(batch.plan(jobs, records, settings, args.redo))
        return EXIT_OK
    if args.ray is not None:
        try:
            batch.import_ray()
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
    try:
        summary = batch.run(
            jobs,
            out_dir,
            settings,
            workers=workers,
            ray=args.ray is not None,
            ray_address=address,
            redo=args.redo,
            quiet=args.quiet,
        )
    except batch.ManifestLocked as exc:
        raise UsageError(str(exc)) from None
    except BaseException as exc:
        if not isinstance(exc, Exception):  # Ctrl-C, SIGTERM: the finished inputs are kept
            print(
                f"{PROG} batch: stopped; the inputs finished so far are recorded in "
                f"{out_dir / batch.MANIFEST_NAME}; run the same command to resume",
                file=sys.stderr,
            )
        raise
    if not args.quiet:
        rate = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
        print(
            f"{PROG} batch: {len(jobs)} inputs: {summary.done} done, {summary.skipped} "
            f"skipped (done before), {len(summary.failed)} failed; {summary.frames} frames "
            f"in {summary.seconds:.2f} s ({rate:.2f} frames/s); manifest "
            f"{out_dir / batch.MANIFEST_NAME}",
            file=sys.stderr,
        )
    for record in summary.failed:
        print(f"{PROG} batch: failed: {record['input']}: {record['error']}", file=sys.stderr)
    return EXIT_OK if summary.ok else EXIT_FAILURE
