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

from _convert_import import import_convert


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit status (0 success, 2 error)."""
    return import_convert().main_convert(argv, prog="convert_weights.py")


if __name__ == "__main__":
    sys.exit(main())
