#!/usr/bin/env python3
"""Write a checkpoint with RANDOM weights in the official layout of STFAN, IFAN or ASPDC.

The file has the key names, shapes, wrapper dicts and serialization format of the released
checkpoints, so it exercises conversion and inference end to end on a machine without the
real weights. The weights are random: the "deblurred" output is meaningless.

    python tools/make_random_checkpoint.py stfan_random.pth.tar --arch stfan
    python tools/convert_weights.py stfan_random.pth.tar -o stfan_random.safetensors

PyTorch is not needed. Importable: ``write_random_checkpoint(path, arch='stfan',
fmt='legacy'|'zip'|None, seed=0, variant=None)``.
"""

from __future__ import annotations

import argparse
import sys

from _convert_import import import_convert



_convert = import_convert()
write_random_checkpoint = _convert.torch_writer.write_random_checkpoint
ConversionError = _convert.ConversionError

__all__ = ["write_random_checkpoint", "main"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="checkpoint file to write")
    parser.add_argument("--arch", choices=["stfan", "ifan", "aspdc"], default="stfan")
    parser.add_argument("--format", dest="fmt", choices=["legacy", "zip"], default=None,
                        help="serialization format (default: that of the official release)")
    parser.add_argument("--variant", default=None, help="IFAN variant, e.g. IFAN_8 or IFAN_dual")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        path = write_random_checkpoint(args.output, arch=args.arch, fmt=args.fmt, seed=args.seed,
                                       variant=args.variant)
    except (ConversionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({args.arch}, RANDOM weights, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
