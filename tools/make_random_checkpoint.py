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
from pathlib import Path



def _import_convert():
    """Import ``deblurcore.convert``: the installed package if there is one, else the
    sources of this checkout. The converter is pure Python, so in the second case the
    package's ``__init__`` (which loads the compiled core) is bypassed."""
    try:
        import deblurcore.convert as convert

        return convert
    except ImportError:
        src = Path(__file__).resolve().parent.parent / "python" / "deblurcore"
        if not (src / "convert" / "__init__.py").is_file():
            raise
        import types

        pkg = types.ModuleType("deblurcore")
        pkg.__path__ = [str(src)]
        sys.modules["deblurcore"] = pkg
        import deblurcore.convert as convert

        return convert


_convert = _import_convert()
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
