"""The fp32 mode's accuracy per model, against a float64 reference, by convolution algorithm.

    python -m benchmarks.fp32_accuracy [--models stfan,ifan,aspdc] [--size 640x360]
        [--frames 10] [--inputs natural|noise] [--threads 2]

For each model: random weights in the official layout (deblurcore.convert.write_random_weights,
the models benchmark's weights), the PyTorch model written from the spec (tests/torch_models)
run in float64 (the reference) and in float32 (PyTorch's own rounding, for scale), and ours in
fp32 with the convolution algorithm 'auto' (the default: Winograd F(4x4, 3x3) where it pays),
'direct' (no Winograd) and 'winograd' (every 3x3 stride-1 layer). STFAN runs a clip of
--frames recurrent frames, each runtime carrying its own state (the error of every frame feeds
the next); the worst frame is reported. Errors are max |y - y64| on the output image in [0, 1]
(the clip users get) and, in brackets, on the raw network output.

Inputs: 'natural' (tests/helpers/natural.py: smooth gradients, blurred noise, soft edges; a
drifting clip for STFAN) or 'noise' (uniform noise, the models benchmark's timing frames, a
harder case: every layer sees large high-frequency activations).
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .model_registry import MODELS, _torch_net
from .model_workers import _image01

ALGORITHMS = ("auto", "direct", "winograd")


def _inputs(model, h, w, frames, kind):
    from tests.helpers.natural import natural_clip, natural_image

    n = frames if model == "stfan" else 1
    if kind == "noise":
        rng = np.random.default_rng(0)
        return [rng.random((h, w, 3), dtype=np.float32) for _ in range(n)]
    if model == "stfan":
        return [c.astype(np.float32) for c in natural_clip(h, w, n, seed=1)]
    return [natural_image(h, w, 1).astype(np.float32)]


def _torch_outputs(model, weights, images, dtype):
    """Raw outputs of the torch model in `dtype`, one per image (STFAN: recurrent)."""
    import torch

    net = _torch_net(model, str(weights))
    if dtype == "float64":
        net = copy.deepcopy(net).double()
    runner = MODELS[model]["torch_runner"](net)
    outs = []
    for img in images:
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)[None]))
        outs.append(runner(x.double() if dtype == "float64" else x).double().numpy())
    return outs


def _our_outputs(model, weights, images, algorithm, threads):
    import deblurcore

    old = os.environ.get("DEBLURCORE_CONV_ALGO")
    os.environ["DEBLURCORE_CONV_ALGO"] = algorithm
    try:
        core = deblurcore.load_model(weights, num_threads=threads)._core
    finally:
        if old is None:
            del os.environ["DEBLURCORE_CONV_ALGO"]
        else:
            os.environ["DEBLURCORE_CONV_ALGO"] = old
    outs = []
    for img in images:
        x = np.ascontiguousarray(img.transpose(2, 0, 1)[None])
        outs.append(core.forward(x * 2 - 1 if model == "aspdc" else x).astype(np.float64))
    return outs


def _errors(model, outs, refs):
    """(max error on the [0, 1] image, max error on the raw output) over all frames."""
    img = max(float(np.abs(_image01(model, o) - _image01(model, r)).max())
              for o, r in zip(outs, refs))
    raw = max(float(np.abs(o - r).max()) for o, r in zip(outs, refs))
    return img, raw


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="stfan,ifan,aspdc")
    p.add_argument("--size", default="640x360", help="WxH")
    p.add_argument("--frames", type=int, default=10, help="STFAN clip length")
    p.add_argument("--inputs", default="natural", choices=["natural", "noise"])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch

    from deblurcore.convert import write_random_weights

    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    cols = ["torch fp32"] + [f"ours {a}" for a in ALGORITHMS]
    print(f"max |y - float64 reference| on [0, 1] (raw output in brackets), {args.size}, "
          f"{args.inputs} inputs, STFAN over {args.frames} recurrent frames")
    print(f"{'model':6} " + " ".join(f"{c:>22}" for c in cols) + "   seconds", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            t0 = time.perf_counter()
            weights = write_random_weights(Path(tmp) / f"{model}.safetensors", arch=model,
                                           seed=0, overwrite=True)
            images = _inputs(model, h, w, args.frames, args.inputs)
            ref = _torch_outputs(model, weights, images, "float64")
            rows = [_errors(model, _torch_outputs(model, weights, images, "float32"), ref)]
            for algo in ALGORITHMS:
                rows.append(_errors(model, _our_outputs(model, weights, images, algo,
                                                        args.threads), ref))
            cells = " ".join(f"{f'{a:.2e} ({b:.2e})':>22}" for a, b in rows)
            print(f"{model:6} {cells}   {time.perf_counter() - t0:.0f}", flush=True)


if __name__ == "__main__":
    main()
