"""The error that rounding the weights to bf16 causes on its own.

    python -m benchmarks.bf16_weight_floor --sizes 640x360 --frames 10

A bf16 convolution rounds both its operands to 8 significant bits. This benchmark rounds only
the weights (every 4-d tensor of the model file, to nearest even, as the bf16 packing does) and
runs the model in fp32 otherwise, so the activations, the sums and every other op stay exact
to fp32. The difference against the model with its original weights is what the weight
rounding costs before any activation is rounded. A bf16 mode whose convolutions take bf16
weights rounds its activations too, so its error is expected at this size or above (not
bounded by it: independent roundings may partly cancel).

Images: the natural-looking ones of benchmarks/bf16_accuracy.py (tests/helpers/natural.py;
STFAN runs a clip of --frames frames, the worst frame counts) and the uniform-noise frames of
benchmarks/models.py (its `err` column: STFAN's second frame, one image for the others).
Weights: random, in the official layout, as both of those benchmarks use them. With
--blocks, IFAN's and STFAN's weights are also rounded one part at a time (IFAN: the blocks of
cpp/models/precision_policy.h), the rest kept in fp32.

Prints max abs on [0, 1], the same in 8-bit levels, and the PSNR against the fp32 output
(peak 1). Run from the repository root with the deblurcore package on the path.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import deblurcore
from benchmarks.bf16_accuracy import MODELS, _weights
from tests.helpers.natural import natural_clip, natural_image

# STFAN's weights by part of the network (state_dict key prefixes).
STFAN_BLOCKS = {
    "encoder conv1_*..conv3_*": r"^conv[1-3]_",
    "filter branch kconv*, fac_warp, fac_deblur": r"^(kconv|fac_)",
    "fea (after the FAC)": r"^fea\.",
    "decoder upconv*": r"^upconv",
    "last conv img_prd": r"^img_prd\.",
}

# IFAN's weights by block (state_dict key prefixes; cpp/models/precision_policy.h).
IFAN_BLOCKS = {
    "features conv1_1..conv4_3": r"^conv[1-4]_[1-3]\.",
    "filter encoder kconv*": r"^kconv",
    "filter predictor DME, conv_DME, conv4_4, F.0-F.2": r"^(DME|conv_DME|conv4_4|F\.[0-2])\.",
    "filter head F.3": r"^F\.3\.",
    "reconstructor conv_res, upconv*, out_res": r"^(conv_res|upconv|out_res)",
}


def round_bf16(a):
    """float32 -> nearest bf16 (ties to even), returned as float32."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def rounded_copy(src, dst, pattern=None):
    """Writes `src` with its 4-d tensors (those whose key matches `pattern`) rounded to bf16."""
    with safe_open(str(src), "numpy") as f:
        meta = f.metadata()
    tensors = load_file(str(src))
    for k, v in tensors.items():
        if v.ndim == 4 and (pattern is None or re.match(pattern, k)):
            tensors[k] = round_bf16(v)
    save_file(tensors, str(dst), metadata=meta)
    return dst


def _inputs(arch, h, w, frames):
    noise = [np.random.default_rng(s).random((h, w, 3), dtype=np.float32) for s in (0, 1)]
    if arch == "stfan":
        return {"natural": natural_clip(h, w, frames, seed=1), "noise": noise}
    return {"natural": [natural_image(h, w, 1)], "noise": noise[:1]}


def floor(path, rounded, arch, h, w, frames, threads):
    """{image kind: (max abs, PSNR dB)} of `rounded` against `path`, both run in fp32."""
    out = {}
    for kind, imgs in _inputs(arch, h, w, frames).items():
        ref = deblurcore.load_model(path, num_threads=threads)
        low = deblurcore.load_model(rounded, num_threads=threads)
        worst, mse = 0.0, 0.0
        for i, img in enumerate(imgs):
            d = np.abs(ref(img).astype(np.float64) - low(img))
            if kind == "noise" and arch == "stfan" and i == 0:
                continue  # models.py measures STFAN's second frame
            worst, mse = max(worst, float(d.max())), max(mse, float(np.mean(d * d)))
        out[kind] = (worst, float("inf") if mse == 0 else 10 * np.log10(1.0 / mse))
    return out


def _row(label, size, res):
    cells = "".join(f" {res[k][0]:9.2e} {res[k][0] * 255:7.2f} {res[k][1]:7.1f}"
                    for k in ("natural", "noise"))
    print(f"{label:52} {size:>9}{cells}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--sizes", default="640x360", help="WxH, comma-separated")
    p.add_argument("--frames", type=int, default=10, help="STFAN clip length")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--blocks", action="store_true", help="also IFAN and STFAN part by part")
    args = p.parse_args(argv)
    print(f"{'weights rounded to bf16, fp32 otherwise':52} {'size':>9}"
          f" {'natural: max abs':>17} {'levels':>7} {'PSNR':>7} {'noise: max abs':>9}"
          f" {'levels':>7} {'PSNR':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for arch in args.models.split(","):
            path = _weights(arch, folder)
            blocks = {"all": None}
            if args.blocks:
                blocks.update({"ifan": IFAN_BLOCKS, "stfan": STFAN_BLOCKS}.get(arch, {}))
            for label, pattern in blocks.items():
                rounded = rounded_copy(path, folder / f"{arch}.bf16w.safetensors", pattern)
                for size in args.sizes.split(","):
                    w, h = (int(v) for v in size.lower().split("x"))
                    res = floor(path, rounded, arch, h, w, args.frames, args.threads)
                    _row(f"{arch} {label}", size, res)


if __name__ == "__main__":
    main()
