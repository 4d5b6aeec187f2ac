"""Our bf16 mode and OpenVINO's bf16 against our fp32 output, on natural-looking images.

    python -m benchmarks.bf16_openvino --models stfan,ifan --size 640x360 --frames 10

benchmarks/models.py measures each runtime's error on one step of uniform noise; this one
measures the bf16 modes where the accuracy target is set: natural-looking images
(tests/helpers/natural.py) and, for STFAN, a clip whose recurrence carries the error on. Both
bf16 modes run the same network on the same frames:
  ours-bf16  deblurcore.load_model(precision='bf16'), Model.forward on the network's input;
  ov-bf16    OpenVINO (CPU plugin, no precision hint: bf16 on CPUs with AVX512_BF16) on the
             ONNX export of the torch reference model with the same weights (the graph of
             benchmarks/models.py: one STFAN step, the recurrence carried in Python);
  ov-f32     the same graph with INFERENCE_PRECISION_HINT=f32, as a control.
The reference is our fp32 output (within ~1e-6 of PyTorch: tests, benchmarks/models.py).
STFAN: every runtime runs the clip from its first frame, except that the graph runtimes get
the torch model's exact first step (its output and feature) as their starting state, since
the exported step cannot start the recurrence as the model does; errors count from the
second frame on, the worst frame reported. ASPDC is not run: OpenVINO cannot import ONNX
DeformConv. Prints max abs on [0, 1], 8-bit levels and PSNR (peak 1) per runtime, and how many
times larger OpenVINO's bf16 error is than ours. Needs torch, onnx and openvino; run from the
repository root with the deblurcore package on the path.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import deblurcore
from benchmarks.bf16_accuracy import _weights
from benchmarks.model_registry import MODELS, _export, _torch_net
from benchmarks.model_workers import _image01, _nchw, _OvSession
from tests.helpers.natural import natural_clip, natural_image


def _ov_session(onnx_path, threads, precision):
    import openvino as ov

    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision == "f32":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = ov.Core().compile_model(str(onnx_path), "CPU", config)
    return _OvSession(compiled), str(compiled.get_property("INFERENCE_PRECISION_HINT"))


def _ours(path, frames, threads, precision):
    model = deblurcore.load_model(path, num_threads=threads, precision=precision)
    model._core.reset()
    return [_image01(model.architecture, model._core.forward(x)) for x in frames]


def _graph_outputs(arch, sess, frames, path):
    if arch != "stfan":
        return [_image01(arch, MODELS[arch]["ort_runner"](sess)(x)) for x in frames]
    import torch

    net = _torch_net("stfan", str(path))
    x0 = torch.from_numpy(frames[0])
    with torch.no_grad():
        out0, fea0 = net(x0, x0, x0, None)
    runner = MODELS["stfan"]["ort_runner"](sess)
    runner.state = (frames[0], np.clip(out0.numpy(), 0, 1), fea0.numpy())
    return [_image01(arch, out0.numpy())] + [_image01(arch, runner(x)) for x in frames[1:]]


def _error(outs, refs, first):
    worst, mse = 0.0, 0.0
    for a, b in zip(outs[first:], refs[first:]):
        d = np.abs(a.astype(np.float64) - b)
        worst, mse = max(worst, float(d.max())), max(mse, float(np.mean(d * d)))
    return worst, float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="stfan,ifan")
    p.add_argument("--size", default="640x360", help="WxH")
    p.add_argument("--frames", type=int, default=10, help="STFAN clip length (>= 2)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.frames < 2:
        p.error("--frames must be >= 2")
    print(f"{'model':8} {'size':>9} {'runtime':10} {'max abs':>9} {'levels':>7} {'PSNR dB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for arch in args.models.split(","):
            if arch not in ("stfan", "ifan"):
                p.error(f"--models: {arch!r} is not one of stfan, ifan")
            path = _weights(arch, folder)
            imgs = natural_clip(h, w, args.frames, seed=1) if arch == "stfan" else [
                natural_image(h, w, 1)]
            frames = [_nchw(img) for img in imgs]
            first = 1 if arch == "stfan" else 0
            ref = _ours(path, frames, args.threads, "fp32")
            onnx_path = folder / f"{arch}.onnx"
            _export(arch, h, w, onnx_path, "unfold", str(path))
            errors = {"ours-bf16": _error(_ours(path, frames, args.threads, "bf16"), ref, first)}
            for name, precision in (("ov-f32", "f32"), ("ov-bf16", None)):
                sess, compiled = _ov_session(onnx_path, args.threads, precision)
                errors[name] = _error(_graph_outputs(arch, sess, frames, path), ref, first)
                print(f"{arch}: {name} compiled with INFERENCE_PRECISION_HINT={compiled}")
            for name, (e, psnr) in errors.items():
                print(f"{arch:8} {args.size:>9} {name:10} {e:9.2e} {e * 255:7.2f} {psnr:8.1f}",
                      flush=True)
            ours, ov = errors["ours-bf16"][0], errors["ov-bf16"][0]
            ratio = float("inf") if ours == 0 else ov / ours
            print(f"{arch}: OpenVINO bf16 error / ours = {ratio:.1f}", flush=True)


if __name__ == "__main__":
    main()
