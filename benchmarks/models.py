#!/usr/bin/env python3
"""Time the models at full size against PyTorch eager and ONNX Runtime in the same run, and
report the peak memory of each runtime.

Runtimes (--runtimes, comma-separated; default all: ours, ours-bf16, torch, ort, ov, ov-bf16):
  ours   deblurcore.load_model on random weights in the official layout
         (deblurcore.convert.write_random_weights; the speed of a network does not depend on
         its weight values), in --precision (fp32 by default).
  ours-bf16  the same with precision='bf16' (CPUs with AVX512_BF16); its accuracy against
         our fp32 output is measured by benchmarks/bf16_accuracy.py, its error against torch
         is the `err` column here.
  torch  the PyTorch reference model of the tests (tests.torch_models), eager, no_grad, with
         ours' random weights (loaded from the same file), as is the ONNX export.
  ort    ONNX Runtime (CPUExecutionProvider, intra-op threads = --threads, inter-op threads 1,
         all graph optimizations) on that same torch model exported to ONNX with the
         TorchScript exporter (opset 19). The graph computes the reference network with
         standard ops:
           stfan  one recurrent step; inputs (img_blur, last_img_blur, output_last_img,
                  output_last_fea), outputs (output_img, fea). The recurrence is carried in
                  Python as the official test does; the first frame (a warm-up frame) gets a
                  zero feature instead of the encoder's own, which costs the same. Its FAC is
                  exported as written (replicate Pad + im2col) or, with --ort-fac slices, as 25
                  shifted slices multiplied and added (same math).
           ifan   the IAC passes as 3 shifted slices each (Tensor.unfold has no ONNX export).
           aspdc  each modulated deformable conv as one DeformConv node (opset 19); the
                  dilation-0 branch builds its mask as the model does (the (h-2)x(w-2) mask
                  read as an hxw buffer, zeros past its end) with Reshape + Pad.
         Export runs once per (model, size) in its own process, into a temporary folder; its
         time is the `export s` column and is not part of the per-frame time. Before timing,
         each model's graph is exported at --check-size and compared with the torch model on
         the same inputs (max |ort - torch| must stay under 1e-4); the result is printed
         above the model's rows. A model that cannot be exported shows `error` and the
         reason under its row; the benchmark goes on.
  ov     OpenVINO (CPU plugin; `pip install openvino`) on the same ONNX file as ort, compiled
         with INFERENCE_NUM_THREADS = --threads, PERFORMANCE_HINT=LATENCY and
         INFERENCE_PRECISION_HINT=f32.
  ov-bf16  the same without a precision hint: OpenVINO's default, which is bf16 on CPUs with
         AVX512_BF16 or AMX; the precision it actually compiled with is printed above the
         model's rows.

Accuracy: with torch among the runtimes, the torch worker also runs a check step (stfan: the
second frame of a clip, whose carried state it saves; the others: one image) and saves its
inputs and output; every other runtime then runs the same step on the same inputs after its
timings, and the `err` column is max |runtime - torch| on the output image in [0, 1] (stfan and
ifan clipped to [0, 1]; aspdc clamped to [-1, 1] and mapped to [0, 1] as the official test
does). ours runs the step through Model.forward on the network's native input.
Every measurement runs in its own process, so its peak RSS (ru_maxrss, in MB) is that
runtime's own: the ort process imports only numpy and onnxruntime, the ov process only numpy
and openvino. Times are the median over
--repeat frames after --warmup frames, in seconds per frame, two different frames
alternating; ratios are torch/ours and ort/ours (> 1 means deblurcore is faster). With both
bf16 modes run, `bf16 err ov/ours` is OpenVINO bf16's error over ours-bf16's (the times ours is
the more accurate).

    python -m benchmarks.models                       # every model, 1280x720 and 640x360
    python -m benchmarks.models --models stfan --sizes 1280x720 --repeat 3 --threads 2
    python -m benchmarks.models --models aspdc --sizes 320x180 --runtimes torch,ort

Run it as a module from the repository root: the torch runtime imports the reference models
as tests.torch_models, which the root makes importable. `ours` needs the deblurcore package
on the path (e.g. PYTHONPATH=build/NAME/python).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from .model_registry import MODELS
    from .model_workers import WORKERS
except ImportError:  # run as a script: neither this package nor tests.torch_models imports
    sys.exit("run it as a module from the repository root: python -m benchmarks.models ...")

ROOT = Path(__file__).resolve().parent.parent  # workers run from here, as the benchmark does

CHECK_TOL = 1e-4  # max |ort - torch| on the check input (outputs are O(1) in magnitude)
RUNTIMES = ("ours", "ours-bf16", "torch", "ort", "ov", "ov-bf16")
ONNX_RUNTIMES = ("ort", "ov", "ov-bf16")  # the runtimes that run the exported graph


# ---- driver -----------------------------------------------------------------------------


def _make_weights(arch, folder):
    from deblurcore.convert import write_random_weights

    return write_random_weights(
        Path(folder) / f"{arch}.safetensors", arch=arch, seed=0, overwrite=True
    )


def _run_worker(kind, model, h, w, args, weights="", onnx_path="", check_ref=""):
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.models",
        "--worker",
        kind,
        "--models",
        model,
        "--height",
        str(h),
        "--width",
        str(w),
        "--threads",
        str(args.threads),
        "--repeat",
        str(args.repeat),
        "--warmup",
        str(args.warmup),
        "--weights",
        str(weights),
        "--onnx",
        str(onnx_path),
        "--ort-fac",
        args.ort_fac,
        "--check-ref",
        str(check_ref),
        "--precision",
        args.precision,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1])
    if lines and lines[-1].startswith('{"error"'):
        return json.loads(lines[-1])
    if proc.returncode < 0:
        return {"error": f"killed by signal {-proc.returncode} (out of memory?)"}
    err = proc.stderr.strip().splitlines()
    return {"error": err[-1] if err else f"exit status {proc.returncode}"}


# The two bf16 modes whose errors against torch are compared (how many times more accurate
# ours is).
_BF16_PAIR = {"ours-bf16", "ov-bf16"}


def _median(res):
    return statistics.median(res["times"])


def _parse_size(text, multiple):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected WxH like 1280x720, got {text!r}") from None
    if w <= 0 or h <= 0 or w % multiple or h % multiple:
        raise ValueError(f"width and height must be positive multiples of {multiple}")
    return w, h


def _fmt(res, key, spec):
    return "" if "error" in res or res.get(key) is None else format(res[key], spec)


def _bench_model(model, args, runtimes, tmp):
    spec = MODELS[model]
    weights = _make_weights(spec["arch"], tmp)  # every runtime runs these weights
    if "ort" in runtimes:
        try:
            cw, ch = _parse_size(args.check_size, spec["size_multiple"])
            chk = _run_worker("ort-check", model, ch, cw, args)
        except ValueError as e:
            chk = {"error": str(e)}
        if "error" in chk:
            print(f"{model}: ort check at {args.check_size} failed: {chk['error']}", flush=True)
        else:
            verdict = (
                "ok" if chk["max_abs_diff"] <= CHECK_TOL else f"FAILED (tolerance {CHECK_TOL:g})"
            )
            print(
                f"{model}: ort check at {args.check_size}: max |ort - torch| = {chk['max_abs_diff']:.2e}"
                f" (outputs up to {chk['max_abs_ref']:.2f}) {verdict}",
                flush=True,
            )
    # torch first: it saves the check step every other runtime is compared on.
    order = sorted(runtimes, key=lambda r: r != "torch")
    for size in args.sizes.split(","):
        try:
            w, h = _parse_size(size, spec["size_multiple"])
        except ValueError as e:
            print(f"{model:6} {size:>9} skipped: {e}", flush=True)
            continue
        res, export = {}, None
        check_ref = Path(tmp) / f"{model}_{w}x{h}_check.npz" if "torch" in runtimes else ""
        path = Path(tmp) / f"{model}_{w}x{h}.onnx"
        for r in order:
            if r not in ONNX_RUNTIMES:
                res[r] = _run_worker(r, model, h, w, args, weights=weights, check_ref=check_ref)
                continue
            if export is None:
                export = _run_worker(
                    "ort-export", model, h, w, args, weights=weights, onnx_path=path
                )
            res[r] = (
                export
                if "error" in export
                else _run_worker(r, model, h, w, args, onnx_path=path, check_ref=check_ref)
            )
        path.unlink(missing_ok=True)
        Path(str(path) + ".data").unlink(missing_ok=True)
        for r in runtimes:
            if r.startswith("ov") and "precision" in res[r]:
                print(f"{model} {size}: {r} compiled with INFERENCE_PRECISION_HINT="
                      f"{res[r]['precision']}", flush=True)
        cells = [f"{model:6} {size:>9}"]
        for r in runtimes:
            t = "error" if "error" in res[r] else format(_median(res[r]), ".3f")
            cells.append(f"{t:>8} {_fmt(res[r], 'err', '.1e'):>7}")
        cells += [f"{_fmt(res[r], 'peak_rss_mb', '.0f'):>7}" for r in runtimes]
        base = res.get("ours", {"error": ""})
        for r in runtimes:
            if r != "ours" and "ours" in runtimes:
                ok = "error" not in res[r] and "error" not in base
                cells.append(f"{format(_median(res[r]) / _median(base), '.2f') if ok else '':>9}")
        if _BF16_PAIR <= set(runtimes):
            a, b = res["ov-bf16"].get("err"), res["ours-bf16"].get("err")
            cells.append(f"{format(a / b, '.1f') if a is not None and b else '':>12}")
        if export is not None:
            cells.append(f"{_fmt(export, 'export_s', '.1f'):>8}")
        print(" ".join(cells), flush=True)
        for r in runtimes:
            if "error" in res[r]:
                print(f"    {r}: {res[r]['error']}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated models, from {', '.join(MODELS)} (default: all)",
    )
    p.add_argument(
        "--sizes",
        default="1280x720,640x360",
        help="comma-separated WxH frame sizes (default: %(default)s); multiples of 4 "
        "(stfan, aspdc) or 8 (ifan)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads of every runtime: ours num_threads, torch.set_num_threads, ORT "
        "intra-op threads (default: %(default)s)",
    )
    p.add_argument(
        "--repeat", type=int, default=3, help="timed frames per run (default: %(default)s)"
    )
    p.add_argument(
        "--warmup", type=int, default=1, help="untimed frames before them (default: %(default)s)"
    )
    p.add_argument(
        "--runtimes",
        default=",".join(RUNTIMES),
        help="comma-separated runtimes, from " + ", ".join(RUNTIMES) + " (default: all)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="precision of the `ours` runtime (default fp32; ours-bf16 is always bf16)",
    )
    p.add_argument(
        "--ort-fac",
        choices=("unfold", "slices"),
        default="unfold",
        help="how stfan's FAC is written in the ONNX graph: as in the reference "
        "(replicate pad + unfold, exported as im2col gathers) or as 25 shifted "
        "slices multiplied and added (default: %(default)s)",
    )
    p.add_argument(
        "--check-size",
        default="64x48",
        help="WxH of the ONNX-vs-torch check run before each model's timings "
        "(default: %(default)s)",
    )
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--height", type=int, help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    p.add_argument("--check-ref", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        args.model = args.models
        try:
            result = WORKERS[args.worker](args)
        except Exception as e:  # reported in the table; the driver goes on
            msg = str(e).strip().splitlines()
            print(json.dumps({"error": f"{type(e).__name__}: {msg[0] if msg else ''}"[:300]}))
            return 1
        print(json.dumps(result))
        return 0

    models = args.models.split(",")
    runtimes = args.runtimes.split(",")
    for name, values, allowed in (("--models", models, MODELS), ("--runtimes", runtimes, RUNTIMES)):
        bad = [v for v in values if v not in allowed]
        if bad:
            p.error(f"{name}: unknown {', '.join(bad)}; expected some of {', '.join(allowed)}")
    if args.threads < 1 or args.repeat < 1 or args.warmup < 0:
        p.error("--threads and --repeat must be >= 1, --warmup >= 0")

    print(
        f"threads={args.threads} repeat={args.repeat} warmup={args.warmup} ort-fac={args.ort_fac} "
        f"load={'/'.join(f'{v:.2f}' for v in os.getloadavg())} "
        f"(median s/frame and max error on [0, 1] against torch, peak RSS MB per runtime "
        f"process)"
    )
    header = [f"{'model':6} {'size':>9}"] + [f"{r + ' s':>8} {'err':>7}" for r in runtimes]
    header += [f"{r + ' MB':>7}" for r in runtimes]
    header += [f"{r + '/ours':>9}" for r in runtimes if r != "ours" and "ours" in runtimes]
    if _BF16_PAIR <= set(runtimes):
        header.append(f"{'bf16 err ov/ours':>12}")
    if any(r in ONNX_RUNTIMES for r in runtimes):
        header.append(f"{'export s':>8}")
    print(" ".join(header), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            _bench_model(model, args, runtimes, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
