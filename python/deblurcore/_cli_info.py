"""``deblurcore convert`` and ``deblurcore info`` (see :mod:`deblurcore.cli`)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from pathlib import Path

from ._cli_common import EXIT_OK, PROG, UsageError, read_weights_info


def cmd_convert(args) -> int:
    try:
        import deblurcore.convert as convert
    except ImportError as exc:
        raise UsageError(f"the converter is not available in this installation ({exc})") from None
    run = getattr(convert, "run_convert", None)
    if run is not None:
        # The converter reports its errors as 'error: ...'; the command line's other commands
        # as 'deblurcore COMMAND: error: ...', which scripts and users grep for.
        captured = io.StringIO()
        with contextlib.redirect_stderr(captured):
            status = run(args)
        for line in captured.getvalue().splitlines():
            if line.startswith("error: "):
                line = f"{PROG} convert: {line}"
            print(line, file=sys.stderr)
        return EXIT_OK if status is None else int(status)
    convert.convert_checkpoint(args.checkpoint, args.output, arch=args.arch, overwrite=args.force)
    return EXIT_OK


def cmd_info(args) -> int:
    path = Path(args.weights)
    info = read_weights_info(path)
    meta = info["metadata"]
    tensors = info["tensors"]
    params = sum(math.prod(shape) for _, shape in tensors.values())
    dtypes = {dtype for dtype, _ in tensors.values()}
    if args.json:
        print(
            json.dumps(
                {
                    "file": str(path),
                    "size_bytes": path.stat().st_size,
                    "num_tensors": len(tensors),
                    "num_params": params,
                    "dtypes": sorted(dtypes),
                    "metadata": meta,
                },
                indent=2,
            )
        )
        return EXIT_OK
    rows = [
        ("file", f"{path} ({path.stat().st_size / 1e6:.1f} MB)"),
        ("architecture", meta.get("architecture", "(not recorded)")),
        ("variant", meta.get("variant", "(not recorded)")),
        (
            "tensors",
            f"{len(tensors)} ({params:,} parameters, {', '.join(sorted(dtypes)) or 'none'})",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 2}}{value}")
    others = {k: v for k, v in meta.items() if k not in ("architecture", "variant")}
    if others.get("size_policy") in ("error", "crop"):
        # Written by earlier converters (the official code's behaviour); the runtime pads.
        others["size_policy"] = f"pad (recorded as {others['size_policy']!r}; the runtime pads)"
    if others:
        print("metadata:")
        kw = max(len(k) for k in others)
        for key in sorted(others):
            print(f"  {key + ':':<{kw + 2}}{others[key]}")
    return EXIT_OK
