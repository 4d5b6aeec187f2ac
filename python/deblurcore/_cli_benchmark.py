"""``deblurcore benchmark W.safetensors [--size 1280x720]``: frames per second and peak memory
of a model on this machine (see :mod:`deblurcore.cli`).

The frames are synthetic (smooth gradients with noise, uint8): the speed of these networks does
not depend on the picture. One warm-up frame runs first (it also sizes the memory pools), then
``--frames`` timed frames; the rate is frames / total time of the timed frames. Peak memory is
the process's peak resident set size (RSS), which includes Python and the loaded weights; the
RSS after loading is shown beside it.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np

from ._cli_common import EXIT_OK, PROG, UsageError, read_weights_info


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise UsageError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
    return int(match[1]), int(match[2])


def peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def current_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _frame(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([xx / width, yy / height, 0.5 + 0.4 * np.sin((xx - yy) / 9.0)], -1) * 220
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def cmd_benchmark(args) -> int:
    import deblurcore

    weights = Path(args.weights)
    width, height = parse_size(args.size)
    meta = read_weights_info(weights)["metadata"]
    arch = meta.get("architecture", "")
    tile = getattr(args, "tile", None)
    if tile and arch == "stfan":
        raise UsageError("--tile: STFAN cannot be tiled (its recurrence carries whole frames)")
    kwargs = {"device": args.device, "num_threads": args.threads}
    if args.precision != "fp32":
        kwargs["precision"] = args.precision
    model = deblurcore.load_model(str(weights), **kwargs)
    loaded_mb = current_rss_mb()
    frames = [_frame(width, height, seed) for seed in range(2)]
    call_kwargs = {"tile": tile, "tile_overlap": args.tile_overlap} if tile else {}
    views = {}
    if getattr(model, "dual_pixel", False):
        views = {"right": frames[1], "left": frames[0]}

    def run(i: int) -> None:
        if model.is_video:
            model.step(frames[i % 2])
        else:
            model(frames[i % 2], **views, **call_kwargs)

    run(0)  # warm-up
    start = time.perf_counter()
    for i in range(args.frames):
        run(i + 1)
    elapsed = time.perf_counter() - start
    rate = args.frames / elapsed if elapsed > 0 else float("inf")
    threads = args.threads or "all"
    tiled = f", tiles {tile}+{args.tile_overlap}" if tile else ""
    print(f"{PROG} benchmark: {model.variant} {width}x{height} on {args.device} "
          f"({threads} threads, {deblurcore.cpu_isa()}, {model.precision}{tiled})")
    print(f"  speed:       {rate:.3f} frames/s ({elapsed / args.frames:.3f} s/frame, "
          f"{args.frames} frames after 1 warm-up)")
    loaded = f"; {loaded_mb:.0f} MB after loading" if loaded_mb is not None else ""
    print(f"  peak memory: {peak_rss_mb():.0f} MB RSS{loaded}")
    return EXIT_OK


def add_benchmark_parser(sub, positive_int) -> None:
    """Register the ``benchmark`` subcommand on ``sub`` (the CLI's subparsers)."""
    import argparse

    b = sub.add_parser(
        "benchmark",
        help="measure frames/s and peak memory of a weights file on this machine",
        description="Run a model on synthetic frames and print frames per second and the peak "
        "memory (RSS) of the process.",
    )
    b.add_argument("weights", metavar="W.safetensors")
    b.add_argument("--size", default="1280x720", metavar="WxH", help="frame size (default 1280x720)")
    b.add_argument("--frames", type=positive_int, default=3, metavar="N",
                   help="timed frames after one warm-up frame (default 3)")
    b.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    b.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads (default: all)")
    b.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    b.add_argument("--tile", type=positive_int, metavar="PX", help="run tiled (see deblur --tile)")
    b.add_argument("--tile-overlap", type=int, default=32, metavar="PX")
    b.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    b.set_defaults(handler=cmd_benchmark)
