#!/usr/bin/env python3
"""Check that memory stays flat over a long video: run STFAN (or another model) over many
frames and print the resident set size along the way.

    python -m benchmarks.memory --frames 1000 --size 320x180

Weights are random (in the official layout, see deblurcore.convert.write_random_weights),
frames are synthetic.
Prints RSS (current, from /proc/self/statm) and the minor page faults since the previous line
after the first frames and then at regular intervals, the peak RSS, and the growth between
frame 10 and the last frame.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="stfan", choices=["stfan", "ifan", "aspdc"])
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--size", default="320x180", help="WxH")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--every", type=int, default=0, help="also print every N frames (short runs at large sizes)"
    )
    args = p.parse_args(argv)

    import deblurcore
    from deblurcore.convert import write_random_weights

    w, h = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(0)
    frames = [(rng.random((h, w, 3)) * 255).astype(np.uint8) for _ in range(8)]
    with tempfile.TemporaryDirectory() as tmp:
        weights = write_random_weights(Path(tmp) / "m.safetensors", arch=args.model, seed=0)
        model = deblurcore.load_model(weights, num_threads=args.threads)
        t0 = time.perf_counter()
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        at10 = None
        marks = {1, 10, args.frames} | set(range(100, args.frames + 1, max(args.frames // 10, 1)))
        if args.every > 0:
            marks |= set(range(args.every, args.frames + 1, args.every))
        for i in range(1, args.frames + 1):
            model(frames[i % len(frames)])
            if i == 10:
                at10 = current_rss_mb()
            if i in marks:
                faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                print(
                    f"frame {i:6d}  rss {current_rss_mb():8.1f} MB  {i / (time.perf_counter() - t0):6.2f} frames/s"
                    f"  page faults {faults - faults0:9d} since the previous line",
                    flush=True,
                )
                faults0 = faults
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB (load {'/'.join(f'{v:.2f}' for v in os.getloadavg())})")
    if at10 is not None:
        print(
            f"growth from frame 10 to {args.frames}: {current_rss_mb() - at10:+.1f} MB (peak {peak:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
