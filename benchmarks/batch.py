"""Throughput of ``deblurcore batch`` on this machine: frames per second over a corpus of
generated clips for 1 worker (all cores as its threads) and for N workers (the cores divided
among them), with the load average, since on a shared machine it decides the numbers.

    python -m benchmarks.batch                          # STFAN, 8 clips of 12 frames, 160x160
    python -m benchmarks.batch --clips 16 --size 256 --workers 1 2 4 --arch ifan
    python -m benchmarks.batch --threads 1             # 1 x 1 thread against 2 x 1 thread

Random weights (the speed does not depend on their values). Each configuration runs the
whole corpus into a fresh OUT_DIR, with the model loads and process starts included, as a
user would see it. Results are printed as a table and as one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _clip(path: Path, seed: int, frames: int, size: int) -> None:
    import av

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    base = np.kron(base, np.ones((8, 8, 1), np.uint8))  # blocks: something for x264 to code
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")
            f.pts = i
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="stfan", choices=("stfan", "ifan", "aspdc"))
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--threads", type=int, help="threads per worker (default: the cores divided among them)"
    )
    args = parser.parse_args()

    from deblurcore import batch
    from deblurcore.convert import write_random_weights

    cores = _cores()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = write_random_weights(tmp / "w.safetensors", arch=args.arch, seed=0)
        corpus = tmp / "corpus"
        corpus.mkdir()
        for i in range(args.clips):
            _clip(corpus / f"clip{i}.mp4", i, args.frames, args.size)
        for workers in args.workers:
            threads = args.threads or max(1, cores // workers)
            out = tmp / f"out{workers}"
            jobs = batch.expand_inputs([str(corpus)], str(out))
            settings = batch.Settings(
                weights=str(weights),
                weights_hash="sha256:" + batch.file_sha256(str(weights)),
                threads=threads,
            )
            load_before = os.getloadavg()
            start = time.perf_counter()
            summary = batch.run(jobs, out, settings, workers=workers, quiet=True)
            seconds = time.perf_counter() - start
            assert summary.ok and summary.done == args.clips, summary.failed
            results.append(
                {
                    "workers": workers,
                    "threads": threads,
                    "frames": summary.frames,
                    "seconds": round(seconds, 2),
                    "frames_per_s": round(summary.frames / seconds, 2),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()],
                }
            )
    print(
        f"{args.arch}, {args.clips} clips x {args.frames} frames at {args.size}x{args.size}, "
        f"{cores} cores"
    )
    print("workers  threads  frames  seconds  frames/s  load avg (1/5/15 min) before -> after")
    for r in results:
        print(
            f"{r['workers']:>7}  {r['threads']:>7}  {r['frames']:>6}  {r['seconds']:>7.2f}  "
            f"{r['frames_per_s']:>8.2f}  {r['load_before']} -> {r['load_after']}"
        )
    print(json.dumps({"arch": args.arch, "size": args.size, "cores": cores, "runs": results}))


if __name__ == "__main__":
    main()
