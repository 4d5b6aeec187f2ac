#!/usr/bin/env python3
"""Write a weights file with RANDOM weights in the official layout of STFAN, IFAN or ASPDC.

The file has the tensor names, shapes and metadata that converting a released checkpoint
gives, so it exercises inference end to end on a machine without the real weights. The
weights are random: the "deblurred" output is meaningless.

    python tools/make_random_weights.py stfan_random.safetensors --arch stfan
    deblurcore deblur clip.mp4 -o out.mp4 --weights stfan_random.safetensors

PyTorch is not needed. Importable as :func:`deblurcore.convert.write_random_weights`.
"""

from __future__ import annotations

import argparse
import sys

from _convert_import import import_convert


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    convert = import_convert()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="weights file to write (.safetensors)")
    parser.add_argument("--arch", choices=sorted(convert.ARCHITECTURES), default="stfan")
    parser.add_argument(
        "--variant", default=None, help="e.g. IFAN_8, IFAN_dual, IFAN_16bit, FT, NF"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "-f", "--force", action="store_true", help="replace an existing output file"
    )
    args = parser.parse_args(argv)
    try:
        path = convert.write_random_weights(
            args.output, arch=args.arch, seed=args.seed, variant=args.variant, overwrite=args.force
        )
    except (convert.ConversionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({args.arch}, RANDOM weights, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
