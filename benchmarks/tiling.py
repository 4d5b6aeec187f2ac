#!/usr/bin/env python3
"""Tiled inference (``model(image, tile=..., tile_overlap=...)``): its error against the
untiled result as a function of the overlap, and its peak memory on large frames.

Weights are random, in the official layout and at the real architecture sizes (IFAN and ASPDC
from deblurcore.convert.write_random_weights; the Analysis-Synthesis pair from random Keras
files converted as the official ones are), unless --weights ARCH=PATH names converted real
weights. Random weights are the worst case for tiling: nothing in them makes a pixel's
influence fade with distance, so the whole theoretical receptive field (hundreds of pixels for
IFAN, whose IAC and ~30 convolutions run at 1/8 resolution) matters; trained weights are
expected to be far more local, and the table should be rerun with them. Images are the tests' natural images
(tests/helpers/natural.py), float32 in [0, 1].

  error  for each model: the untiled result of one --error-size image, then the tiled result
         with --error-tile tiles at each overlap of --overlaps; prints max |tiled - untiled| on
         [0, 1], its 99.9th percentile and the number of pixels (of H*W*3) above one 8-bit
         level (1/255).
  rss    each case in its own process (so ru_maxrss is its own): load the model, make one
         --rss-size image, run it tiled (--rss-tile, --rss-overlap) or untiled, and print the
         peak RSS (MB) and the time. The loadavg is printed at the start and the end.

    PYTHONPATH=build/python python -m benchmarks.tiling error --threads 2
    PYTHONPATH=build/python python -m benchmarks.tiling rss --models ifan,aspdc --threads 2

Run it as a module from the repository root (tests.helpers.natural makes the images).

Measured (2 threads on a shared 2-core machine, load average 17-27; random weights):

  error, 512x384, tiles 256, max abs |tiled - untiled| on [0, 1] (p99.9; values > 1/255 of 589824)
    overlap   ifan                       aspdc
       0      0.584 (0.243; 168022)      0.0335 (0.0154; 8664)
      16      0.334 (0.179; 170590)      0.0109 (0.0051; 1389)
      32      0.271 (0.147; 166707)      0.0042 (0.0023; 4)
      64      0.224 (0.109; 154709)      0.0025 (0.0013; 0)
      96      0.220 (0.091; 145614)      0.0024 (0.0013; 0)
     120      0.172 (0.080; 144298)      0.0026 (0.0012; 0)
  analysis_synthesis (kernel estimated once, synthesis tiled): 1.000 (0.689) at 0, 0.934
  (0.470) at 16, 0.855 (0.385) at 32 (stopped there): the random synthesis network's raw
  output reaches ~1000 on the 0..255 scale, so small input changes swing clipped pixels.
  ifan, 1024x768, tiles 512 (load 2.6): 0.403 at 32, 0.185 at 128, 0.106 at 192, 0.091 at
  240 (p99.9 0.184, 0.072, 0.046, 0.039).
  ASPDC is below one 8-bit level from overlap 64; its floor (~0.0025) comes from the
  official mask quirk that makes its output depend on the padded width. IFAN with random
  weights is not local at these sizes (see above).

  rss, 3840x2160 float32, tiles 512, overlap 32 (peak RSS of the process, MB; after loading)
    ifan     868 (312)   511 s
    aspdc    855 (380)  1319 s
    analysis_synthesis  1020 (447)  1608 s   (kernel on the 1080x732 analysis crop, then tiles)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("ifan", "aspdc", "analysis_synthesis")


#: --weights ARCH=PATH: real converted weights to measure instead of random ones.
REAL_WEIGHTS: dict = {}


def _weights(arch: str, folder: Path) -> Path:
    if arch in REAL_WEIGHTS:
        return Path(REAL_WEIGHTS[arch])
    path = folder / f"{arch}.safetensors"
    if path.exists():
        return path
    if arch == "analysis_synthesis":
        sys.path.insert(0, str(ROOT / "tests"))
        import torch_models.analysis_synthesis as reference

        from deblurcore.convert import convert_checkpoint

        _, analysis, synthesis = reference.write_pair(folder, seed=0)
        convert_checkpoint([analysis, synthesis], path)
        return path
    from deblurcore.convert import write_random_weights

    return write_random_weights(path, arch=arch, seed=0)


def _image(h: int, w: int):
    from tests.helpers.natural import natural_image

    return natural_image(h, w, seed=3)


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return h, w


def _loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_error(args) -> None:
    import numpy as np

    import deblurcore

    h, w = _size(args.error_size)
    image = _image(h, w)
    overlaps = [int(v) for v in args.overlaps.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models.split(","):
            model = deblurcore.load_model(_weights(arch, Path(tmp)), num_threads=args.threads)
            t = time.perf_counter()
            full = model(image)
            untiled_s = time.perf_counter() - t
            print(f"\n{arch}: {w}x{h} image, tiles {args.error_tile}, untiled {untiled_s:.1f} s "
                  f"(load {_loadavg()})", flush=True)
            print(f"{'overlap':>8} {'max abs':>10} {'p99.9':>10} {'> 1/255':>9} {'time s':>7}")
            for ov in overlaps:
                t = time.perf_counter()
                tiled = model(image, tile=args.error_tile, tile_overlap=ov)
                dt = time.perf_counter() - t
                diff = np.abs(tiled - full)
                above = int((diff > 1 / 255).sum())
                print(f"{ov:>8} {diff.max():>10.5f} {np.quantile(diff, 0.999):>10.5f} "
                      f"{above:>9} {dt:>7.1f}", flush=True)


def _rss_worker(arch: str, weights: str, h: int, w: int, tile: int, overlap: int, threads: int):
    import numpy as np

    import deblurcore

    model = deblurcore.load_model(weights, num_threads=threads)
    rng = np.random.default_rng(0)
    # A cheap large image (natural_image's float64 blurs would dominate the peak at 4K).
    image = rng.random((h, w, 3), dtype=np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    out = model(image, tile=tile or None, tile_overlap=overlap)
    seconds = time.perf_counter() - t
    assert out.shape == image.shape
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "before_run_mb": before, "seconds": seconds}))


def run_rss(args) -> None:
    h, w = _size(args.rss_size)
    print(f"peak RSS, one process per case, {w}x{h} float32 image (load {_loadavg()})")
    print(f"{'model':<20} {'tile':>6} {'overlap':>8} {'peak MB':>9} {'loaded MB':>10} {'time s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models.split(","):
            weights = _weights(arch, Path(tmp))
            for tile in [int(v) for v in args.rss_tile.split(",")]:
                cmd = [sys.executable, "-m", "benchmarks.tiling", "_worker", arch, str(weights),
                       str(h), str(w), str(tile), str(args.rss_overlap), str(args.threads)]
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
                if res.returncode != 0:
                    print(f"{arch:<20} {tile:>6} failed: {res.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                print(f"{arch:<20} {tile or 'none':>6} {args.rss_overlap:>8} {r['peak_mb']:>9.0f} "
                      f"{r['before_run_mb']:>10.0f} {r['seconds']:>7.1f}", flush=True)
    print(f"load average at the end: {_loadavg()}")


def main(argv=None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "_worker":
        a, weights, h, w, tile, overlap, threads = argv[1:]
        _rss_worker(a, weights, int(h), int(w), int(tile), int(overlap), int(threads))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("error", "rss"))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--error-size", default="640x384", help="WxH of the error image")
    p.add_argument("--error-tile", type=int, default=256)
    p.add_argument("--overlaps", default="0,8,16,32,48,64,96")
    p.add_argument("--rss-size", default="3840x2160")
    p.add_argument("--rss-tile", default="512", help="comma-separated tile sizes; 0 = untiled")
    p.add_argument("--rss-overlap", type=int, default=32)
    p.add_argument("--weights", action="append", default=[], metavar="ARCH=PATH",
                   help="measure converted real weights for ARCH instead of random ones")
    args = p.parse_args(argv)
    for item in args.weights:
        arch, _, path = item.partition("=")
        REAL_WEIGHTS[arch] = path
    run_error(args) if args.mode == "error" else run_rss(args)


if __name__ == "__main__":
    main()
