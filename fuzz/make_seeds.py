"""Write the seed corpora of the fuzz targets from small valid files.

    python fuzz/make_seeds.py OUT_DIR

creates ``OUT_DIR/safetensors`` (safetensors files of every dtype the reader converts, with
and without metadata, empty tensors, alignment gaps, plus bare JSON texts) and
``OUT_DIR/checkpoint`` (``torch.save`` files in the zip and the legacy format: plain and
nested state dicts, shared storages, views, parameters, half/bfloat16/double tensors, numpy
scalars). The checkpoint seeds need torch; without it only the safetensors seeds are written.
"""

from __future__ import annotations

import io
import json
import struct
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np


def safetensors_bytes(tensors: dict, metadata: dict | None = None, align: int = 1) -> bytes:
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        data += b"\0" * (-len(data) % align)
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((2, 3)).astype("<f4")
    seeds = {
        "f32.safetensors": safetensors_bytes({"w": ("F32", f32.shape, f32.tobytes())}),
        "f16_bf16_f64.safetensors": safetensors_bytes(
            {
                "h": ("F16", (3,), np.array([1.5, -np.inf, 6e-8], "<f2").tobytes()),
                "b": ("BF16", (2,), np.array([0x3F80, 0x7FC0], "<u2").tobytes()),
                "d": ("F64", (2, 1), np.array([1e-3, -2.5], "<f8").tobytes()),
            },
            metadata={"architecture": "stfan", "format_version": "1"},
        ),
        "ints_empty.safetensors": safetensors_bytes(
            {
                "i": ("I64", (2,), np.array([1, -1], "<i8").tobytes()),
                "u": ("U8", (0, 4), b""),
                "s": ("F32", (), np.float32(3).tobytes()),
                "bool": ("BOOL", (1,), b"\x01"),
            }
        ),
        "aligned.safetensors": safetensors_bytes(
            {"a": ("F32", (4,), f32.ravel()[:4].tobytes()), "b": ("F32", (1,), b"\0\0\x80\x3f")},
            metadata={},
            align=64,
        ),
        "empty_header.safetensors": safetensors_bytes({}),
        "escapes.json": json.dumps(
            {"k\u00e9y\n": ["\ud83d\ude00", 1, -2, 1.5e3, True, None]}
        ).encode(),
        "nested.json": b'{"a":[[[{"b":[]}]]],"c":{"d":"\\u0041\\/"}}',
    }
    return seeds


def checkpoint_seeds() -> dict[str, bytes]:
    import torch

    g = torch.Generator().manual_seed(0)
    w = torch.randn(2, 3, generator=g)
    base = torch.randn(8, generator=g)
    states = {
        "plain": OrderedDict(conv=w, bias=torch.zeros(3)),
        "nested": {
            "epoch": 7,
            "best": np.float64(31.5),
            "state_dict": OrderedDict(
                [
                    ("module.a.weight", w),
                    ("module.a.bias", base[:3]),
                    ("module.b", base[2:6].view(2, 2)),
                ]
            ),
            "opt": {"lr": 1e-4, "betas": (0.9, 0.999), "names": {"x", "y"}, "tag": b"\x00\xff"},
        },
        "dtypes": OrderedDict(
            h=w.half(), bf=w.bfloat16(), d=w.double(), i=torch.arange(4), b=torch.tensor([True])
        ),
        "views": OrderedDict(
            t=w.t(), e=torch.ones(1).expand(3), s=base[1::2], p=torch.nn.Parameter(w.clone())
        ),
    }
    seeds = {}
    for name, obj in states.items():
        for zipped in (True, False):
            buf = io.BytesIO()
            torch.save(obj, buf, _use_new_zipfile_serialization=zipped)
            seeds[f"{name}.{'zip' if zipped else 'legacy'}.pth"] = buf.getvalue()
    return seeds


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    groups = {"safetensors": safetensors_seeds()}
    try:
        groups["checkpoint"] = checkpoint_seeds()
    except ImportError:
        print("torch is not installed: no checkpoint seeds", file=sys.stderr)
    for group, seeds in groups.items():
        folder = out / group
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{folder}: {len(seeds)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
