#!/usr/bin/env python3
"""Time the models at full size against PyTorch eager and ONNX Runtime in the same run, and
report the peak memory of each runtime.

Runtimes (--runtimes, comma-separated, default ours, torch, ort):
  ours   deblurcore.load_model on random weights in the official layout
         (deblurcore.convert.write_random_weights; the speed of a network does not depend on
         its weight values), in --precision (fp32 by default).
  ours-bf16  the same with precision='bf16' (CPUs with AVX512_BF16); its accuracy against
         our fp32 output is measured by benchmarks/bf16_accuracy.py.
  torch  the PyTorch reference model of the tests (tests.torch_models), eager, no_grad, with
         the same random weights as the ONNX export.
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

Every measurement runs in its own process, so its peak RSS (ru_maxrss, in MB) is that
runtime's own: the ort process imports only numpy and onnxruntime. Times are the median over
--repeat frames after --warmup frames, in seconds per frame, two different frames
alternating; ratios are torch/ours and ort/ours (> 1 means deblurcore is faster).

    python -m benchmarks.models                       # every model, 1280x720 and 640x360
    python -m benchmarks.models --models stfan --sizes 1280x720 --repeat 3 --threads 2
    python -m benchmarks.models --models aspdc --sizes 320x180 --runtimes torch,ort

Run it as a module from the repository root: the torch runtime imports the reference models
as tests.torch_models, which the root makes importable. `ours` needs the deblurcore package
on the path (e.g. PYTHONPATH=build/NAME/python).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from .onnx_graphs import STFAN_INPUTS, aspdc_onnx, ifan_onnx, stfan_onnx
except ImportError:  # run as a script: neither this package nor tests.torch_models imports
    sys.exit("run it as a module from the repository root: python -m benchmarks.models ...")

ROOT = Path(__file__).resolve().parent.parent  # workers run from here, as the benchmark does

ONNX_OPSET = 19  # DeformConv is a standard ONNX op from opset 19
CHECK_TOL = 1e-4  # max |ort - torch| on the check input (outputs are O(1) in magnitude)
RUNTIMES = ("ours", "ours-bf16", "torch", "ort")
DEFAULT_RUNTIMES = ("ours", "torch", "ort")


# ---- model registry ---------------------------------------------------------------------
# Each entry: how to make the torch module, how to run one frame with it and with ONNX
# Runtime, and how to export it to ONNX.


def _stfan_torch(seed):
    from tests.torch_models.stfan import DeblurNet, random_state_dict

    net = DeblurNet()
    net.load_state_dict(random_state_dict(seed))
    return net.eval()


class _StfanTorchRunner:
    """One recurrent step per call, with the state carried as the official test does."""

    def __init__(self, net):
        self.net, self.state = net, None

    def __call__(self, x):
        import torch

        with torch.no_grad():
            if self.state is None:
                self.state = (x, x, None)
            last_blur, last_out, last_fea = self.state
            out, fea = self.net(x, last_blur, last_out, last_fea)
            self.state = (x, out.clamp(0, 1), fea)
        return out


class _StfanOrtRunner:
    """The same recurrence around the exported step; the first frame gets a zero feature."""

    NAMES = STFAN_INPUTS

    def __init__(self, sess):
        self.sess, self.state = sess, None

    def __call__(self, x):
        if self.state is None:
            n, _, h, w = x.shape
            self.state = (x, x, np.zeros((n, 256, h // 4, w // 4), np.float32))
        out, fea = self.sess.run(None, dict(zip(self.NAMES, (x,) + self.state)))
        self.state = (x, np.clip(out, 0, 1), fea)
        return out


def _aspdc_torch(seed):
    from tests.torch_models.aspdc import DeblurringNet, random_state_dict

    net = DeblurringNet()
    net.load_state_dict(random_state_dict(seed))
    return net.eval()


class _AspdcTorchRunner:
    """One image per call: [0, 1] RGB to the network's [-1, 1], raw output (spec §7)."""

    def __init__(self, net):
        self.net = net

    def __call__(self, x):
        import torch

        with torch.no_grad():
            return self.net(x * 2 - 1)[0]


def _ifan_torch(seed):
    from tests.torch_models.ifan import Network, random_state_dict

    net = Network()
    net.load_state_dict(random_state_dict(seed=seed))
    return net.eval()


class _IfanTorchRunner:
    """One image per call: RGB in [0, 1], the raw output before the eval-mode clip."""

    def __init__(self, net):
        self.net = net

    def __call__(self, x):
        import torch

        with torch.no_grad():
            return self.net(x)


class _OrtImageRunner:
    """One image in, the first output out (the graph includes any input scaling)."""

    def __init__(self, sess):
        self.sess, self.name = sess, sess.get_inputs()[0].name

    def __call__(self, x):
        return self.sess.run(None, {self.name: x})[0]


MODELS = {
    "stfan": {
        "arch": "stfan",
        "torch": _stfan_torch,
        "torch_runner": _StfanTorchRunner,
        "ort_runner": _StfanOrtRunner,
        "onnx": stfan_onnx,
        "size_multiple": 4,
    },
    "ifan": {
        "arch": "ifan",
        "torch": _ifan_torch,
        "torch_runner": _IfanTorchRunner,
        "ort_runner": _OrtImageRunner,
        "onnx": ifan_onnx,
        "size_multiple": 8,
    },
    "aspdc": {
        "arch": "aspdc",
        "torch": _aspdc_torch,
        "torch_runner": _AspdcTorchRunner,
        "ort_runner": _OrtImageRunner,
        "onnx": aspdc_onnx,
        "size_multiple": 4,
    },
}


def _export(model, h, w, path, fac):
    """Export a fresh torch model (seed 0, as the torch worker) at (h, w); returns seconds."""
    import torch

    net = MODELS[model]["torch"](0).requires_grad_(False)
    t0 = time.perf_counter()
    graph, inputs, in_names, out_names, patches = MODELS[model]["onnx"](net, h, w, fac)
    with contextlib.ExitStack() as stack, torch.no_grad():
        for p in patches:
            stack.enter_context(p)
        torch.onnx.export(
            graph,
            inputs,
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=in_names,
            output_names=out_names,
            do_constant_folding=True,
        )
    return time.perf_counter() - t0


def _ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


# ---- workers (one process per measurement) ----------------------------------------------


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frame(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _nchw(frame):
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None])


def _time_frames(run, frames, args):
    times = []
    for i in range(args.warmup + args.repeat):
        t0 = time.perf_counter()
        run(frames[i % 2])
        times.append(time.perf_counter() - t0)
    return times[args.warmup :]


def worker_ours(args):
    import deblurcore

    h, w = args.height, args.width
    model = deblurcore.load_model(args.weights, num_threads=args.threads,
                                  precision=args.precision)
    frames = [_frame(h, w, s) for s in range(2)]
    return {"times": _time_frames(model, frames, args), "peak_rss_mb": _peak_rss_mb()}


def worker_ours_bf16(args):
    args.precision = "bf16"
    return worker_ours(args)


def worker_torch(args):
    import torch

    torch.set_num_threads(args.threads)
    spec = MODELS[args.model]
    runner = spec["torch_runner"](spec["torch"](0))
    frames = [torch.from_numpy(_nchw(_frame(args.height, args.width, s))) for s in range(2)]
    return {"times": _time_frames(runner, frames, args), "peak_rss_mb": _peak_rss_mb()}


def worker_ort_export(args):
    import torch

    torch.set_num_threads(args.threads)
    return {"export_s": _export(args.model, args.height, args.width, args.onnx, args.ort_fac)}


def worker_ort(args):
    t0 = time.perf_counter()
    sess = _ort_session(args.onnx, args.threads)
    session_s = time.perf_counter() - t0
    runner = MODELS[args.model]["ort_runner"](sess)
    frames = [_nchw(_frame(args.height, args.width, s)) for s in range(2)]
    return {
        "times": _time_frames(runner, frames, args),
        "peak_rss_mb": _peak_rss_mb(),
        "session_s": session_s,
    }


def worker_ort_check(args):
    """Export at a small size and compare ONNX Runtime with the torch model on the same
    inputs: for stfan the second step of a clip (a carried feature of the real scale)."""
    import torch

    torch.set_num_threads(args.threads)
    h, w = args.height, args.width
    net = MODELS[args.model]["torch"](0)
    x0, x1 = (torch.from_numpy(_nchw(_frame(h, w, s))) for s in (0, 1))
    with torch.no_grad():
        if args.model == "stfan":
            out0, fea0 = net(x0, x0, x0, None)
            feeds = (x1, x0, out0.clamp(0, 1), fea0)
            refs = net(*feeds)
        elif args.model == "aspdc":
            feeds, refs = (x1,), (_AspdcTorchRunner(net)(x1),)
        else:
            feeds, refs = (x1,), (net(x1),)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "check.onnx"
        _export(args.model, h, w, path, args.ort_fac)
        sess = _ort_session(path, args.threads)
        names = [i.name for i in sess.get_inputs()]
        outs = sess.run(None, {n: f.numpy() for n, f in zip(names, feeds)})
    diff = max(float(np.abs(o - r.numpy()).max()) for o, r in zip(outs, refs))
    scale = max(float(np.abs(r.numpy()).max()) for r in refs)
    return {"max_abs_diff": diff, "max_abs_ref": scale}


WORKERS = {
    "ours": worker_ours,
    "ours-bf16": worker_ours_bf16,
    "torch": worker_torch,
    "ort": worker_ort,
    "ort-export": worker_ort_export,
    "ort-check": worker_ort_check,
}


# ---- driver -----------------------------------------------------------------------------


def _make_weights(arch, folder):
    from deblurcore.convert import write_random_weights

    return write_random_weights(
        Path(folder) / f"{arch}.safetensors", arch=arch, seed=0, overwrite=True
    )


def _run_worker(kind, model, h, w, args, weights="", onnx_path=""):
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


def _bench_model(model, args, runtimes, tmp):
    spec = MODELS[model]
    weights = _make_weights(spec["arch"], tmp) if {"ours", "ours-bf16"} & set(runtimes) else ""
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
    for size in args.sizes.split(","):
        try:
            w, h = _parse_size(size, spec["size_multiple"])
        except ValueError as e:
            print(f"{model:6} {size:>9} skipped: {e}", flush=True)
            continue
        res, export = {}, None
        for r in runtimes:
            if r != "ort":
                res[r] = _run_worker(r, model, h, w, args, weights=weights)
                continue
            path = Path(tmp) / f"{model}_{w}x{h}.onnx"
            export = _run_worker("ort-export", model, h, w, args, onnx_path=path)
            res[r] = (
                export
                if "error" in export
                else _run_worker("ort", model, h, w, args, onnx_path=path)
            )
            path.unlink(missing_ok=True)
            Path(str(path) + ".data").unlink(missing_ok=True)
        cells = [f"{model:6} {size:>9}"]
        cells += [
            f"{'error' if 'error' in res[r] else format(_median(res[r]), '.3f'):>8}"
            for r in runtimes
        ]
        cells += [
            f"{'' if 'error' in res[r] else format(res[r]['peak_rss_mb'], '.0f'):>7}"
            for r in runtimes
        ]
        for r in runtimes:
            if r != "ours" and "ours" in runtimes:
                ok = "error" not in res[r] and "error" not in res["ours"]
                cells.append(
                    f"{format(_median(res[r]) / _median(res['ours']), '.2f') if ok else '':>9}"
                )
        if "ort" in runtimes:
            cells.append(
                f"{'' if export is None or 'error' in export else format(export['export_s'], '.1f'):>8}"
            )
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
        default=",".join(DEFAULT_RUNTIMES),
        help="comma-separated runtimes, from ours, ours-bf16, torch, ort (default: ours,torch,ort)",
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
    p.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16"),
        help="precision of the `ours` runtime (default fp32; ours-bf16 is always bf16)",
    )
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--height", type=int, help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
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
    for name, allowed in (("--models", MODELS), ("--runtimes", RUNTIMES)):
        bad = [v for v in (models if name == "--models" else runtimes) if v not in allowed]
        if bad:
            p.error(f"{name}: unknown {', '.join(bad)}; expected some of {', '.join(allowed)}")
    if args.threads < 1 or args.repeat < 1 or args.warmup < 0:
        p.error("--threads and --repeat must be >= 1, --warmup >= 0")

    print(
        f"threads={args.threads} repeat={args.repeat} warmup={args.warmup} ort-fac={args.ort_fac} "
        f"load={'/'.join(f'{v:.2f}' for v in os.getloadavg())} "
        f"(median s/frame, peak RSS MB per runtime process)"
    )
    header = [f"{'model':6} {'size':>9}"] + [f"{r + ' s':>8}" for r in runtimes]
    header += [f"{r + ' MB':>7}" for r in runtimes]
    header += [f"{r + '/ours':>9}" for r in runtimes if r != "ours" and "ours" in runtimes]
    if "ort" in runtimes:
        header.append(f"{'export s':>8}")
    print(" ".join(header), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            _bench_model(model, args, runtimes, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
