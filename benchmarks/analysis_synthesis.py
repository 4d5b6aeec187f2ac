#!/usr/bin/env python3
"""Time the Analysis-Synthesis pair at full size against its PyTorch eager re-implementation.

Runtimes, each in its own process so that its peak RSS (ru_maxrss) is its own:
  ours   deblurcore on weights converted from random official-layout Keras files (speed does
         not depend on the weight values): model(image) = pad, kernel on the analysis crop,
         synthesis on the padded image, unpad, clip. Also a per-stage breakdown: the analysis
         (kernel estimation) alone, the four cross_correlation ops of its levels alone (FFT and
         window extraction, at the level sizes of the crop), and the synthesis alone.
  torch  tests/torch_models/analysis_synthesis.py in float32 with torch.fft (the float64
         reference of the tests, switched to float32 for timing), eager, no_grad, same
         weights, same pipeline (crop selection, symmetric padding).

Times are medians over --repeat runs after one warm-up run, in seconds per image. Before
timing, ours and torch are compared once at --check-size (kernel relative L1, synthesis max
abs) so that a timing of a wrong computation is visible.

    PYTHONPATH=build/python python benchmarks/analysis_synthesis.py --threads 2 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def _image(h: int, w: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w, yy / h, 0.5 + 0.4 * np.sin((xx - yy) / 9.0)], -1) * 200 + rng.normal(0, 8, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def worker_ours(args) -> dict:
    import numpy as np

    import deblurcore
    from deblurcore import ops

    m = deblurcore.load_model(args.weights, num_threads=args.threads)
    h, w = args.height, args.width
    img = _image(h, w, 0)
    total = _median_time(lambda: m(img), args.repeat)
    # Stages: the padded image and the analysis crop as the model computes them.
    padded = np.pad(img.astype(np.float32), ((0, (16 - h % 16) % 16), (0, (16 - w % 16) % 16), (0, 0)), mode="symmetric")
    x = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
    top, left, ch, cw, _ = deblurcore.AnalysisSynthesis.analysis_crop(x.shape[2], x.shape[3])
    crop = np.ascontiguousarray(x[:, :, top:top + ch, left:left + cw])
    kernel = m.analysis(crop)
    analysis = _median_time(lambda: m.analysis(crop), args.repeat)
    synthesis = _median_time(lambda: m.synthesis(x, kernel), args.repeat)
    feats = []
    hh, ww = ch, cw
    for shift in (42, 21, 11, 6):
        feats.append((np.random.default_rng(shift).random((1, 32, hh - 18, ww - 18), dtype=np.float32), shift))
        hh, ww = (hh + 1) // 2, (ww + 1) // 2
    cc = _median_time(lambda: [ops.cross_correlation(f, s) for f, s in feats], args.repeat)
    return {"total": total, "analysis": analysis, "analysis_cc": cc, "synthesis": synthesis,
            "crop": f"{ch}x{cw}", "peak_mb": _peak_mb()}


def worker_torch(args) -> dict:
    import torch
    import torch_models.analysis_synthesis as R

    torch.set_num_threads(args.threads)
    R.DTYPE = torch.float32
    weights = R.random_weights(args.seed)
    img = _image(args.height, args.width, 0).astype("float32")
    with torch.no_grad():
        total = _median_time(lambda: R.deblur(img, weights["analysis"], weights["synthesis"]), args.repeat)
    return {"total": total, "peak_mb": _peak_mb()}


def worker_check(args) -> dict:
    """ours vs the float32 torch model at a small size (both from the same weights)."""
    import numpy as np
    import torch
    import torch_models.analysis_synthesis as R

    import deblurcore

    torch.set_num_threads(args.threads)
    weights = R.random_weights(args.seed)
    m = deblurcore.load_model(args.weights, num_threads=args.threads)
    img = _image(args.height, args.width, 1).astype(np.float32)
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None])
    k = m.analysis(x)
    with torch.no_grad():
        kr = R.analysis(torch.from_numpy(x.astype(np.float64)), weights["analysis"]).numpy()
        xs = x[:, :, :64, :64].copy()
        o = m.synthesis(xs, k)
        orf = R.synthesis(torch.from_numpy(xs.astype(np.float64)), torch.from_numpy(k.astype(np.float64)),
                          weights["synthesis"]).numpy()
    return {"kernel_rel_l1": float(np.abs(k - kr).sum() / np.abs(kr).sum()),
            "synthesis_max_abs": float(np.abs(o - orf).max())}


def _run_worker(kind: str, args, height: int, width: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--weights", args.weights, "--threads", str(args.threads),
           "--repeat", str(args.repeat), "--seed", str(args.seed), "--size", f"{width}x{height}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="1280x720", help="W x H of the image (default 1280x720)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtimes", default="ours,torch")
    p.add_argument("--check-size", default="208x208", help="W x H of the correctness check ('' to skip)")
    p.add_argument("--weights", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    if args.worker:
        fn = {"ours": worker_ours, "torch": worker_torch, "check": worker_check}[args.worker]
        print(json.dumps(fn(args)))
        return 0

    import torch_models.analysis_synthesis as R

    from deblurcore.convert import convert_checkpoint

    with tempfile.TemporaryDirectory() as d:
        _, pa, ps = R.write_pair(d, seed=args.seed)
        args.weights = os.path.join(d, "as.safetensors")
        convert_checkpoint([pa, ps], args.weights)
        if args.check_size:
            cw, ch = (int(v) for v in args.check_size.lower().split("x"))
            c = _run_worker("check", args, ch, cw)
            print(f"check at {args.check_size}: kernel rel L1 {c['kernel_rel_l1']:.2e} (vs float64), "
                  f"synthesis max abs {c['synthesis_max_abs']:.2e} (0..255 scale)")
        res = {k: _run_worker(k, args, args.height, args.width) for k in args.runtimes.split(",")}
    print(f"Analysis-Synthesis at {args.size}, {args.threads} threads, median of {args.repeat}")
    print(f"{'runtime':<8} {'s/image':>9} {'peak RSS MB':>12}")
    for k, r in res.items():
        print(f"{k:<8} {r['total']:>9.2f} {r['peak_mb']:>12.0f}")
    if "ours" in res:
        o = res["ours"]
        print(f"ours, by stage: analysis {o['analysis']:.2f} s on the {o['crop']} crop "
              f"(of which cross_correlation {o['analysis_cc']:.2f} s, convs etc. "
              f"{o['analysis'] - o['analysis_cc']:.2f} s), synthesis {o['synthesis']:.2f} s")
        if "torch" in res:
            print(f"speed-up vs torch eager float32: {res['torch']['total'] / o['total']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
