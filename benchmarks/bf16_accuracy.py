"""precision='bf16' against our own fp32 output, per model, on natural-looking images.

    python -m benchmarks.bf16_accuracy --sizes 640x360 --frames 10

For each model: random weights in the official layout (deblurcore.convert.write_random_weights,
scaled so that activations stay O(1)), the same images (tests/helpers/natural.py: smooth
gradients, blurred noise, soft edges) run by a fp32 and a bf16 instance; prints the max
absolute difference of the [0, 1] outputs (also in 8-bit levels) and the PSNR of the bf16
output against the fp32 one (peak 1). STFAN runs a clip of --frames frames (the recurrence
carries the error on); the worst frame is reported. Run from the repository root with the
deblurcore package on the path.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import deblurcore
from deblurcore.convert import write_random_weights
from tests.helpers.natural import natural_clip, natural_image

MODELS = ("stfan", "ifan", "aspdc", "analysis_synthesis")


def _weights(arch, folder):
    if arch != "analysis_synthesis":
        return write_random_weights(folder / f"{arch}.safetensors", arch=arch, seed=0,
                                    overwrite=True)
    # Keras .h5 pair in the official layout, converted as a user would.
    from deblurcore.convert import convert_checkpoint
    from tests.torch_models import analysis_synthesis as R

    _, pa, ps = R.write_pair(str(folder), seed=0)
    out = folder / "analysis_synthesis.safetensors"
    convert_checkpoint([pa, ps], str(out))
    return out


def compare(arch, h, w, frames, folder, threads=None):
    """(max abs, PSNR dB, fp32 s, bf16 s) of bf16 vs fp32 over the images of one model."""
    path = _weights(arch, Path(folder))
    m32 = deblurcore.load_model(path, num_threads=threads)
    m16 = deblurcore.load_model(path, num_threads=threads, precision="bf16")
    imgs = natural_clip(h, w, frames, seed=1) if arch == "stfan" else [natural_image(h, w, 1)]
    worst, mse_worst, t32, t16 = 0.0, 0.0, 0.0, 0.0
    for img in imgs:
        t0 = time.perf_counter()
        a = m32(img)
        t1 = time.perf_counter()
        b = m16(img)
        t2 = time.perf_counter()
        t32, t16 = t32 + t1 - t0, t16 + t2 - t1
        d = np.abs(a.astype(np.float64) - b)
        worst = max(worst, float(d.max()))
        mse_worst = max(mse_worst, float(np.mean(d * d)))
    psnr = float("inf") if mse_worst == 0 else 10 * np.log10(1.0 / mse_worst)
    return worst, psnr, t32 / len(imgs), t16 / len(imgs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--sizes", default="256x192", help="WxH, comma-separated")
    p.add_argument("--frames", type=int, default=10, help="STFAN clip length")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if not deblurcore.cpu_supports_bf16():
        raise SystemExit("this CPU has no AVX512_BF16: precision='bf16' is not available")
    print(f"{'model':20} {'size':>9} {'max abs':>9} {'levels':>7} {'PSNR dB':>8} "
          f"{'fp32 s':>7} {'bf16 s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.models.split(","):
            for size in args.sizes.split(","):
                w, h = (int(v) for v in size.lower().split("x"))
                e, psnr, t32, t16 = compare(arch, h, w, args.frames, tmp, args.threads)
                print(f"{arch:20} {size:>9} {e:9.2e} {e * 255:7.2f} {psnr:8.1f} {t32:7.2f} "
                      f"{t16:7.2f}", flush=True)


if __name__ == "__main__":
    main()
