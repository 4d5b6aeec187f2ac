#!/usr/bin/env python3
"""Convert an official STFAN / IFAN / ASPDC checkpoint to a deblurcore safetensors file.

    python tools/convert_weights.py best-ckpt.pth.tar -o stfan.safetensors
    python tools/convert_weights.py IFAN.pytorch -o ifan.safetensors --arch ifan
    python tools/convert_weights.py IFAN_16bit.pytorch -o ifan16.safetensors --variant 16bit

The checkpoint is parsed without PyTorch and nothing in it is executed. The architecture
and variant are detected from the parameter names and shapes; every key and shape is
checked. Errors print one line and exit with status 2. Same as ``deblurcore convert``.
"""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (0 success, 2 error)."""
    return _import_convert().main_convert(argv, prog="convert_weights.py")


if __name__ == "__main__":
    sys.exit(main())
