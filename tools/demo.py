#!/usr/bin/env python3
"""The newcomer's demo: convert an STFAN checkpoint and deblur a video with it, end to end.

Without arguments it runs on a machine that has nothing but deblurcore (no PyTorch): it
writes a weights file with RANDOM weights in the official STFAN layout (what `deblurcore
convert` would make of such a checkpoint), generates a short synthetic clip and runs
`deblurcore deblur` on it. With random weights the "restored" video is meaningless: the demo
shows the pipeline, not the quality. Pass --checkpoint with the official STFAN file
(best-ckpt.pth.tar from the STFAN authors' release) to convert it with `deblurcore convert`,
and --input with your own video, to deblur for real.

    python tools/demo.py [--checkpoint best-ckpt.pth.tar] [--input clip.mp4] [--out demo_output]
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np


def synthetic_clip(path: Path, frames: int = 24, size=(320, 180), fps: int = 12) -> None:
    """A clip with shapes moving fast enough to be motion-blurred (averaged sub-frames)."""
    import av

    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for t in range(frames):
            acc = np.zeros((h, w, 3), np.float32)
            for s in range(8):  # motion blur: average 8 positions within the exposure
                p = t + s / 8
                img = np.stack([xx / w, yy / h, np.full_like(xx, 0.4)], -1) * 0.5
                img[((xx - 10 * p) % w < 40) & ((yy - 30) % h < 40)] = (0.9, 0.8, 0.2)
                img[(xx - w / 2) ** 2 + (yy - h / 2 - 30 * np.sin(p / 3)) ** 2 < 400] = (
                    0.1,
                    0.3,
                    0.9,
                )
                acc += img
            frame = av.VideoFrame.from_ndarray((acc / 8 * 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="official STFAN checkpoint (default: random weights)")
    parser.add_argument("--input", help="video or folder of frames (default: a synthetic clip)")
    parser.add_argument("--out", default="demo_output", help="folder for the demo's files")
    args = parser.parse_args(argv)

    from deblurcore import cli
    from deblurcore.convert import write_random_weights

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.checkpoint:
        checkpoint = Path(args.checkpoint)
        weights = out / (checkpoint.name.split(".")[0] + ".safetensors")
        status = cli.main(["convert", str(checkpoint), "-o", str(weights), "--force"])
        if status:
            return status
        print(f"[1/3] converted {checkpoint} to {weights}")
    else:
        weights = write_random_weights(
            out / "stfan_random.safetensors", "stfan", seed=0, overwrite=True
        )
        print(
            f"[1/3] wrote {weights}: RANDOM weights in the official STFAN layout "
            "(the output will not be deblurred; use --checkpoint with the official file)"
        )
    clip = Path(args.input) if args.input else out / "blurry.mp4"
    if not args.input:
        synthetic_clip(clip)
        print(f"[2/3] generated {clip}")
    result = out / "deblurred.mp4"
    status = cli.main(
        [
            "deblur",
            str(clip),
            "-o",
            str(result),
            "--weights",
            str(weights),
            "--side-by-side",
            "--force",
        ]
    )
    if status == 0:
        print(f"[3/3] wrote {result} (input | output side by side)")
    return status


if __name__ == "__main__":
    sys.exit(main())
